"""Replies after resolution: the requester's reply reopens a resolved ticket (as in Zendesk and
Freshdesk); a closed ticket takes no reply and offers a follow-up that links to it. Staff
"Send and resolve" adds the reply and resolves in one go."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.auth.models import DISABLED
from crm.errors import ServiceError
from crm.extensions import db
from crm.notifications.models import Notification
from crm.tickets import services
from crm.tickets.models import Comment, Ticket, TicketChange
from tests.api.conftest import Api, assert_problem


def text_of(resp) -> str:
    return resp.get_data(as_text=True)


def _resolved(ticket, engineer):
    services.accept(ticket, engineer)
    services.change_status(ticket, engineer, "resolved")
    return ticket


def _status_mails(ticket_id: int) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification).where(
                Notification.template == "ticket_status", Notification.ticket_id == ticket_id
            )
        )
    )


def test_customer_reply_in_the_portal_reopens_a_resolved_ticket_to_its_engineer(
    client, login, engineer, customer, make_ticket
):
    t = _resolved(make_ticket(customer), engineer)
    mails_before = len(_status_mails(t.id))
    login(customer)
    page = text_of(client.get(f"/portal/tickets/{t.id}"))
    assert "Replying reopens this resolved ticket." in page
    resp = client.post(f"/portal/tickets/{t.id}/comments", data={"body": "Still leaking, sorry."})
    assert resp.status_code == 302
    t = db.session.get(Ticket, t.id, populate_existing=True)
    assert t.status == "open" and t.assignee_id == engineer.id and t.resolved_at is None
    change = db.session.scalars(
        select(TicketChange).where(TicketChange.ticket_id == t.id).order_by(TicketChange.id.desc())
    ).first()
    assert (change.field, change.before, change.after, change.actor_id) == (
        "status",
        "resolved",
        "open",
        customer.id,
    )
    mails = _status_mails(t.id)
    assert (
        len(mails) == mails_before + 1
        and engineer.email in mails[-1].to
        and customer.email in mails[-1].to
    )
    assert "open again" in text_of(client.get(f"/portal/tickets/{t.id}"))


def test_api_reply_reopens_too(client, token_for, engineer, customer, make_ticket):
    t = _resolved(make_ticket(customer), engineer)
    resp = Api(client, token_for).post(
        f"/tickets/{t.id}/comments", customer, json={"body": "Not fixed"}
    )
    assert resp.status_code == 201
    assert db.session.get(Ticket, t.id, populate_existing=True).status == "open"


def test_staff_reply_to_a_resolved_ticket_leaves_it_resolved(engineer, customer, make_ticket):
    t = _resolved(make_ticket(customer), engineer)
    services.add_comment(t, engineer, "Glad it works now.")
    assert db.session.get(Ticket, t.id, populate_existing=True).status == "resolved"


def test_reopened_ticket_of_a_disabled_engineer_goes_to_another(
    make_user, engineer, customer, make_ticket
):
    t = _resolved(make_ticket(customer), engineer)
    other = make_user("engineer", name="Olga Other")
    engineer.status = DISABLED
    db.session.commit()
    services.add_comment(t, customer, "It broke again")
    t = db.session.get(Ticket, t.id, populate_existing=True)
    assert t.status == "open" and t.assignee_id == other.id


def test_closed_ticket_takes_no_reply_and_offers_a_follow_up(
    client, login, engineer, customer, make_ticket
):
    t = _resolved(make_ticket(customer, subject="Kettle leaks"), engineer)
    services.change_status(t, engineer, "closed")
    with pytest.raises(ServiceError) as exc:
        services.add_comment(t, customer, "Hello?")
    assert exc.value.status == 409
    login(customer)
    page = text_of(client.get(f"/portal/tickets/{t.id}"))
    assert "This ticket is closed" in page and f"/portal/tickets/new?follow_up_of={t.id}" in page
    assert 'name="body"' not in page
    resp = client.post(f"/portal/tickets/{t.id}/comments", data={"body": "Hello?"})
    assert resp.status_code == 422 and "open a follow-up" in text_of(resp)
    assert db.session.get(Ticket, t.id, populate_existing=True).status == "closed"
    assert db.session.scalar(select(Comment).where(Comment.ticket_id == t.id)) is None

    form = text_of(client.get(f"/portal/tickets/new?follow_up_of={t.id}"))
    assert (
        f"Follow-up to #{t.id}: Kettle leaks" in form
        and f'name="follow_up_of" type="hidden" value="{t.id}"' in form
    )
    resp = client.post(
        f"/portal/tickets/new?follow_up_of={t.id}",
        data={
            "subject": f"Follow-up to #{t.id}: Kettle leaks",
            "description": "Leaks again",
            "priority": "normal",
            "follow_up_of": str(t.id),
        },
    )
    assert resp.status_code == 302
    new = db.session.scalar(select(Ticket).where(Ticket.id != t.id))
    assert new.follow_up_of_id == t.id and new.status == "open"
    page = text_of(client.get(f"/portal/tickets/{new.id}"))
    assert "Follow-up of" in page and f'href="/portal/tickets/{t.id}"' in page


def test_staff_ticket_page_shows_the_follow_up_links(
    client, login, make_user, engineer, customer, make_ticket
):
    t = _resolved(make_ticket(customer), engineer)
    services.change_status(t, engineer, "closed")
    new = services.create_follow_up(customer, t.id, "Again", "Leaks again")
    login(make_user("agent"))
    assert f'href="/tickets/{t.id}"' in text_of(client.get(f"/tickets/{new.id}"))
    assert f'href="/tickets/{new.id}"' in text_of(client.get(f"/tickets/{t.id}"))


@pytest.mark.parametrize("whose", ["open", "other"])
def test_follow_up_links_only_to_the_requesters_closed_tickets(
    make_user, engineer, customer, make_ticket, whose
):
    owner = customer if whose == "open" else make_user("customer")
    t = make_ticket(owner)
    with pytest.raises(ServiceError) as exc:
        services.create_follow_up(customer, t.id, "Again", "More")
    assert exc.value.status == 422 and exc.value.field == "follow_up_of"
    assert db.session.query(Ticket).count() == 1


def test_follow_up_form_with_a_forged_link_is_refused(
    client, login, make_user, engineer, customer, make_ticket
):
    other = make_ticket(make_user("customer"))
    login(customer)
    resp = client.post(
        "/portal/tickets/new",
        data={
            "subject": "S",
            "description": "D",
            "priority": "normal",
            "follow_up_of": str(other.id),
        },
    )
    assert resp.status_code == 422 and "closed tickets" in text_of(resp)
    assert db.session.query(Ticket).count() == 1


# ---------------------------------------------------------------- submit and resolve


@pytest.mark.parametrize("prefix, public", [("reply", True), ("note", False)])
def test_send_and_resolve_adds_the_comment_and_resolves(
    client, login, engineer, customer, make_ticket, prefix, public
):
    t = make_ticket(customer)
    services.accept(t, engineer)
    login(engineer)
    resp = client.post(
        f"/tickets/{t.id}/comments", data={f"{prefix}-body": "Fixed the valve", "resolve": "1"}
    )
    assert resp.status_code == 302
    t = db.session.get(Ticket, t.id, populate_existing=True)
    assert t.status == "resolved"
    [comment] = db.session.scalars(select(Comment).where(Comment.ticket_id == t.id))
    assert comment.body == "Fixed the valve" and comment.public is public
    templates = {
        n.template
        for n in db.session.scalars(select(Notification).where(Notification.ticket_id == t.id))
    }
    assert "ticket_status" in templates and (("ticket_reply" in templates) is public)


def test_send_and_resolve_is_all_or_nothing(client, login, engineer, customer, make_ticket):
    t = make_ticket(customer)
    services.accept(t, engineer)
    services.change_status(t, engineer, "resolved")
    services.change_status(t, engineer, "closed")
    login(engineer)
    resp = client.post(
        f"/tickets/{t.id}/comments", data={"reply-body": "One more thing", "resolve": "1"}
    )
    assert resp.status_code == 422 and "cannot become resolved" in text_of(resp)
    assert db.session.scalar(select(Comment).where(Comment.ticket_id == t.id)) is None


def test_api_problem_for_a_reply_to_a_closed_ticket(
    client, token_for, engineer, customer, make_ticket
):
    t = _resolved(make_ticket(customer), engineer)
    services.change_status(t, engineer, "closed")
    assert_problem(
        Api(client, token_for).post(f"/tickets/{t.id}/comments", customer, json={"body": "Hi"}), 409
    )
