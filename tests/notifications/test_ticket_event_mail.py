"""Ticket events → outbox rows for the right people → real RQ worker → real SMTP server."""
from __future__ import annotations

import re

from sqlalchemy import select

from crm.extensions import db
from crm.notifications.models import SENT, Notification
from crm.tickets import services


def _norm(text: str) -> str:
    return text.replace("\r\n", "\n").strip()


def _text(msg, subtype: str) -> str:
    return _norm(msg.get_body((subtype,)).get_content())


def _since(last_id: int) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(Notification.id > last_id)
                                   .order_by(Notification.id)))


def _last_id() -> int:
    return db.session.scalar(select(Notification.id).order_by(Notification.id.desc()).limit(1)) or 0


def test_each_ticket_event_notifies_the_right_people_and_the_smtp_server_gets_every_mail(
        make_user, run_jobs, smtp_server):
    engineer = make_user("engineer")
    customer = make_user("customer")
    agent = make_user("agent")
    manager = make_user("manager")
    seen: dict[str, list[tuple[str, list[str]]]] = {}

    def step(name, action):
        before = _last_id()
        action()
        seen[name] = sorted((n.template, n.to) for n in _since(before))

    holder = {}
    step(
        "created",
        lambda: holder.update(t=services.create_ticket(customer, "Printer on fire", "Smoke")),
    )
    ticket = holder["t"]
    assert ticket.assignee_id == engineer.id
    step("accepted", lambda: services.accept(ticket, engineer))
    step("status by assignee", lambda: services.change_status(ticket, engineer, "pending"))
    step("status by agent", lambda: services.change_status(ticket, agent, "in_progress"))
    engineer2 = make_user("engineer")
    step("reassigned", lambda: services.reassign(ticket, manager, engineer2.id))
    step("staff reply", lambda: services.add_comment(ticket, engineer2, "Replaced the fuser."))
    step("requester reply", lambda: services.add_comment(ticket, customer, "Thanks, works."))
    step(
        "internal note", lambda: services.add_comment(ticket, engineer2, "Toner low", public=False)
    )

    assert seen == {
        "created": [("ticket_assigned", [engineer.email]), ("ticket_created", [customer.email])],
        "accepted": [("ticket_accepted", [customer.email])],
        "status by assignee": [("ticket_status", [customer.email])],
        "status by agent": [("ticket_status", [customer.email, engineer.email])],
        "reassigned": [("ticket_assigned", [engineer2.email]), ("ticket_moved", [engineer.email])],
        "staff reply": [("ticket_reply", [customer.email])],
        "requester reply": [("ticket_reply", [engineer2.email])],
        "internal note": [],
    }

    rows = _since(0)
    expected_subjects = {
        "ticket_created": f"Ticket #{ticket.id} received: Printer on fire",
        "ticket_assigned": f"Ticket #{ticket.id} assigned to you: Printer on fire",
        "ticket_accepted": f"Ticket #{ticket.id} accepted: Printer on fire",
        "ticket_reply": f"New reply on ticket #{ticket.id}: Printer on fire",
        "ticket_moved": f"Ticket #{ticket.id} moved to {engineer2.name}: Printer on fire",
    }
    assert run_jobs() == len(rows) == 9
    smtp_server.wait_for(lambda msgs: len(msgs) == len(rows))
    for row in rows:
        row = db.session.get(Notification, row.id, populate_existing=True)
        assert (row.status, row.attempts, row.last_error) == (SENT, 1, None)
        assert row.sent_at is not None and row.next_attempt_at is None
        if row.template in expected_subjects:
            assert row.subject == expected_subjects[row.template]
        else:
            assert row.subject.startswith(f"Ticket #{ticket.id} is now ")
        assert re.search(rf"http://crm\.test/(portal/)?tickets/{ticket.id}\b", row.body_text)
        assert row.body_html.lstrip().startswith("<!doctype html>")

        [msg] = [m for m in smtp_server.messages if m["Message-ID"] == row.message_id]
        assert msg.get_all("Message-ID") == [row.message_id]  # exactly one header
        assert msg["X-CRM-Notification"] == str(row.id)
        assert sorted(msg["_rcpt"].split(", ")) == sorted(row.to)
        assert msg["Subject"] == row.subject
        assert _text(msg, "plain") == _norm(row.body_text)
        assert _text(msg, "html") == _norm(row.body_html)
    reply = [m for m in smtp_server.by_rcpt(customer.email) if "New reply" in m["Subject"]]
    assert "Replaced the fuser." in _text(reply[0], "plain")
    assert not any("Toner low" in _text(m, "plain") for m in smtp_server.messages)
