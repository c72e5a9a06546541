"""Ticket creation is one unit of work: the ticket, its assignment and its outbox rows commit
together or not at all; a retried request with the same ``Idempotency-Key`` returns the first
ticket; session bookkeeping never commits inside another transaction's commit hook."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm import clock, events
from crm.extensions import db
from crm.notifications.models import Notification
from crm.tickets import services
from crm.tickets.models import Ticket

SESSION_TOUCH_AFTER = timedelta(seconds=62)


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


class _Injected(RuntimeError):
    """The failure a test subscriber raises inside the creating transaction."""


@pytest.fixture
def failing_created_subscriber():
    """An in-transaction subscriber of ``ticket.created`` that fails after the ticket insert
    (registered through the public decorator, removed afterwards)."""
    def boom(ev):
        raise _Injected("injected after the ticket insert")

    events.in_transaction("ticket.created")(boom)
    yield
    events._in_tx["ticket.created"].remove(boom)


def test_failure_after_insert_leaves_no_ticket_and_no_outbox_row(
    make_user, failing_created_subscriber
):
    make_user("engineer")
    customer = make_user("customer")
    with pytest.raises(_Injected):
        services.create_ticket(customer, "Broken mug", "Arrived broken")
    db.session.rollback()
    assert _count(Ticket) == 0
    assert _count(Notification) == 0


def test_ticket_assignment_and_mails_commit_together(make_user):
    engineer = make_user("engineer")
    customer = make_user("customer")
    ticket = services.create_ticket(customer, "Broken mug", "Arrived broken")
    assert ticket.assignee_id == engineer.id
    recipients = sorted(
        address for row in db.session.scalars(select(Notification)) for address in row.to
    )
    assert recipients == sorted([customer.email, engineer.email])


def test_same_idempotency_key_returns_the_first_ticket(client, make_user, token_for):
    make_user("engineer")
    customer = make_user("customer")
    headers = {
        "Authorization": f"Bearer {token_for(customer)}",
        "Idempotency-Key": "order-42-retry",
    }
    first = client.post(
        "/api/v1/tickets",
        headers=headers,
        json={"subject": "Broken mug", "description": "Arrived broken"},
    )
    second = client.post(
        "/api/v1/tickets",
        headers=headers,
        json={"subject": "Broken mug", "description": "Arrived broken"},
    )
    assert first.status_code == 201, first.get_data(as_text=True)
    assert second.status_code == 201, second.get_data(as_text=True)
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json["id"] == first.json["id"]
    assert _count(Ticket) == 1
    assert _count(Notification) == 2  # customer + engineer, once


def test_same_idempotency_key_with_another_body_is_refused(client, make_user, token_for):
    customer = make_user("customer")
    headers = {"Authorization": f"Bearer {token_for(customer)}", "Idempotency-Key": "k-1"}
    assert (
        client.post(
            "/api/v1/tickets", headers=headers, json={"subject": "A", "description": "D"}
        ).status_code
        == 201
    )
    resp = client.post(
        "/api/v1/tickets", headers=headers, json={"subject": "B", "description": "D"}
    )
    assert resp.status_code == 422
    assert resp.mimetype == "application/problem+json"
    assert _count(Ticket) == 1


def test_idempotency_key_is_per_requester(client, make_user, token_for):
    a, b = make_user("customer"), make_user("customer")
    ids = set()
    for user in (a, b):
        resp = client.post(
            "/api/v1/tickets",
            json={"subject": "S", "description": "D"},
            headers={"Authorization": f"Bearer {token_for(user)}", "Idempotency-Key": "same-key"},
        )
        assert resp.status_code == 201
        ids.add(resp.json["id"])
    assert len(ids) == 2


def test_over_long_idempotency_key_is_a_problem(client, make_user, token_for):
    customer = make_user("customer")
    resp = client.post(
        "/api/v1/tickets",
        json={"subject": "S", "description": "D"},
        headers={"Authorization": f"Bearer {token_for(customer)}", "Idempotency-Key": "k" * 300},
    )
    assert resp.status_code == 400
    assert resp.mimetype == "application/problem+json"
    assert _count(Ticket) == 0


def test_portal_double_submit_with_one_form_token_creates_one_ticket(client, make_user, login):
    make_user("engineer")
    customer = make_user("customer")
    login(customer)
    page = client.get("/portal/tickets/new").get_data(as_text=True)
    marker = 'name="idempotency_key" type="hidden" value="'
    assert marker in page
    key = page.split(marker, 1)[1].split('"', 1)[0]
    form = {
        "subject": "Broken mug",
        "description": "Arrived broken",
        "priority": "normal",
        "idempotency_key": key,
    }
    first = client.post("/portal/tickets/new", data=form)
    second = client.post("/portal/tickets/new", data=form)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert _count(Ticket) == 1


def _in_fresh_context(call):
    """Run ``call`` in a new thread: no app context (and so no ``g``) is shared with the
    test's, exactly as each request of a real server starts."""
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("value", call()))
    thread.start()
    thread.join()
    return box["value"]


def test_cookie_and_bearer_create_after_session_touch_interval_answers_201(
    client, make_user, login, token_for
):
    make_user("engineer")
    customer = make_user("customer")
    login(customer)
    token = token_for(customer)
    clock.set_offset(SESSION_TOUCH_AFTER)
    for n in range(2):
        resp = _in_fresh_context(
            lambda n=n: client.post(
                "/api/v1/tickets",
                json={"subject": f"S{n}", "description": "D"},
                headers={"Authorization": f"Bearer {token}"},
            )
        )
        assert resp.status_code == 201, resp.get_data(as_text=True)[:800]
    assert _count(Ticket) == 2
    assert _count(Notification) == 4
