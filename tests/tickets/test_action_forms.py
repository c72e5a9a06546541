"""The staff ticket page's action forms, submitted exactly as rendered.

Each action form (status, priority, assignee) preselects the ticket's current value, so a
form sent back unchanged is a no-op: a redirect to the ticket page with the info flash
"Nothing changed.", and nothing in the database moves. The API keeps refusing an unchanged
value (409 "already …"), see tests/api/test_tickets.py.
"""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm.extensions import db
from crm.tickets.models import Ticket, TicketChange
from tests.monitoring.forms_html import form_fields

ACTIONS = {
    "manager": ("status", "priority", "assign"),
    "agent": ("status", "priority"),
    "engineer": ("status", "priority"),
}


def _state(ticket_id: int) -> tuple:
    db.session.expire_all()
    t = db.session.get(Ticket, ticket_id)
    changes = db.session.scalar(select(func.count()).select_from(TicketChange)
                                .where(TicketChange.ticket_id == ticket_id))
    return t.status, t.priority, t.assignee_id, t.updated_at, changes


def _post_as_rendered(client, ticket_id: int, action: str):
    page = client.get(f"/tickets/{ticket_id}")
    assert page.status_code == 200
    url = f"/tickets/{ticket_id}/{action}"
    return client.post(url, data=form_fields(page.get_data(as_text=True), url))


@pytest.mark.parametrize("role", sorted(ACTIONS))
def test_every_action_form_sent_back_unchanged_is_a_friendly_no_op(
    client, login, make_user, engineer, customer, make_ticket, role
):
    make_user("engineer", name="Otto Other")  # a second engineer the assign form could pick
    t = make_ticket(customer, priority="high")
    assert t.assignee_id == engineer.id
    login(engineer if role == "engineer" else make_user(role))
    for action in ACTIONS[role]:
        before = _state(t.id)
        resp = _post_as_rendered(client, t.id, action)
        assert resp.status_code in (302, 303), (
            action,
            resp.status_code,
            resp.get_data(as_text=True)[:300],
        )
        assert resp.headers["Location"].endswith(f"/tickets/{t.id}")
        page = client.get(resp.headers["Location"]).get_data(as_text=True)
        assert 'class="alert alert-info' in page and "Nothing changed." in page, action
        assert _state(t.id) == before, action


def test_the_status_form_preselects_the_current_status(
    client, login, make_user, engineer, customer, make_ticket
):
    t = make_ticket(customer)
    login(make_user("agent"))
    fields = form_fields(
        client.get(f"/tickets/{t.id}").get_data(as_text=True), f"/tickets/{t.id}/status"
    )
    assert fields["status"] == "open"


def test_an_unassigned_tickets_assign_form_does_not_assign_anyone_when_sent_unchanged(
    client, login, make_user, customer, make_ticket
):
    t = make_ticket(customer)  # nobody is approved yet: unassigned
    assert t.assignee_id is None
    make_user("engineer", name="Erin Fixwell")
    login(make_user("manager"))
    before = _state(t.id)
    resp = _post_as_rendered(client, t.id, "assign")
    assert resp.status_code in (302, 303)
    assert "Nothing changed." in client.get(resp.headers["Location"]).get_data(as_text=True)
    assert _state(t.id) == before


def test_a_changed_value_still_applies(client, login, make_user, engineer, customer, make_ticket):
    t = make_ticket(customer, priority="high")
    login(make_user("manager"))
    url = f"/tickets/{t.id}/priority"
    fields = form_fields(client.get(f"/tickets/{t.id}").get_data(as_text=True), url)
    fields["priority"] = "urgent"
    resp = client.post(url, data=fields)
    assert resp.status_code == 302
    assert "Priority set to urgent." in client.get(resp.headers["Location"]).get_data(as_text=True)
    assert _state(t.id)[1] == "urgent"
