"""Reassigning a ticket mails the new engineer ("assigned to you") and tells the previous one
where it went — through the console and the API, delivered to the real SMTP sink."""
from __future__ import annotations

import pytest

from crm.extensions import db
from crm.tickets import services


@pytest.fixture
def reassigned(make_user):
    """A ticket auto-assigned to a first engineer, a second engineer, and the mail so far
    cleared (so only the reassignment's mail is looked at)."""
    first = make_user("engineer", name="Alan First")
    customer = make_user("customer")
    ticket = services.create_ticket(customer, "Printer on fire", "Smoke from tray 2")
    assert ticket.assignee_id == first.id
    second = make_user("engineer", name="Grace Second")
    return ticket, first, second


def _mails_after_reassign(smtp_server, run_jobs, reassign) -> dict[str, list[str]]:
    run_jobs()
    smtp_server.clear()
    reassign()
    run_jobs()
    with smtp_server.lock:
        return {rcpt: [m["Subject"] for m in smtp_server.messages if rcpt in m["_rcpt"]]
                for rcpt in {r for m in smtp_server.messages for r in m["_rcpt"].split(", ")}}


def _expect(mails, ticket, first, second):
    assert mails.get(second.email) == [f"Ticket #{ticket.id} assigned to you: Printer on fire"], (
        mails
    )
    assert mails.get(first.email) == [
        f"Ticket #{ticket.id} moved to Grace Second: Printer on fire"
    ], mails


def test_console_reassignment_mails_the_new_engineer_and_tells_the_previous_one(
    reassigned, make_user, login, client, run_jobs, smtp_server
):
    ticket, first, second = reassigned
    login(make_user("manager"))

    def reassign():
        page = client.get(
            f"/tickets/{ticket.id}"
        )  # loads the ticket with its assignee, as a user does
        assert page.status_code == 200
        resp = client.post(f"/tickets/{ticket.id}/assign", data={"assignee_id": second.id})
        assert resp.status_code in (302, 303), resp.get_data(as_text=True)[:500]

    mails = _mails_after_reassign(smtp_server, run_jobs, reassign)
    _expect(mails, ticket, first, second)
    [moved] = smtp_server.by_rcpt(first.email)
    text = moved.get_body(("plain",)).get_content()
    assert "moved to Grace Second" in text and f"/tickets/{ticket.id}" in text


def test_api_reassignment_mails_the_new_engineer_and_tells_the_previous_one(
    reassigned, make_user, token_for, client, run_jobs, smtp_server
):
    ticket, first, second = reassigned
    token = token_for(make_user("manager"))

    def reassign():
        resp = client.patch(
            f"/api/v1/tickets/{ticket.id}",
            json={"assignee_id": second.id},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert resp.status_code == 200, resp.get_data(as_text=True)

    mails = _mails_after_reassign(smtp_server, run_jobs, reassign)
    _expect(mails, ticket, first, second)
    db.session.expire_all()
