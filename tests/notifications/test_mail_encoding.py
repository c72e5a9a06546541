"""Long text never breaks mail: bodies are encoded so that no line exceeds RFC 5322's 998
characters, long headers are folded, and non-ASCII text survives — checked on the raw bytes a
real SMTP server (aiosmtpd, which refuses over-long lines as real servers do) received."""
from __future__ import annotations

import threading
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from crm.extensions import db
from crm.notifications.models import SENT, Notification
from crm.notifications.services import queue_email
from crm.tickets import services as tickets
from tests.conftest import free_port

LONG_SUBJECT = "Printer" + "X" * 186 + "-broken"  # 200 characters, no space to fold at


class _RawSink:
    """aiosmtpd handler keeping each message's raw bytes (aiosmtpd itself answers
    ``500 Line too long`` to a line over its limit, before the handler sees it)."""

    def __init__(self):
        self.raw: list[bytes] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.raw.append(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


@pytest.fixture
def raw_sink(app, monkeypatch):
    """A second real SMTP server that records raw bytes; the app's mail goes there."""
    sink = _RawSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setitem(app.config, "MAIL_PORT", port)
    monkeypatch.setattr(app.extensions["mail"], "port", port)
    yield sink
    controller.stop()


def _text(msg, subtype: str) -> str:
    """A decoded part with the MIME canonical CRLF line ends as LF."""
    return msg.get_body((subtype,)).get_content().replace("\r\n", "\n").rstrip("\n")


def _assert_short_lines(raw: bytes) -> None:
    lines = raw.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998, max(lines, key=len)[:120]


def test_a_ticket_with_a_200_character_subject_gets_every_mail_delivered(
    make_user, run_jobs, raw_sink
):
    engineer = make_user("engineer")
    customer = make_user("customer")
    ticket = tickets.create_ticket(
        customer, LONG_SUBJECT, "W" * 3000
    )  # one 3000-character line too
    tickets.accept(ticket, engineer)
    tickets.add_comment(ticket, engineer, "Z" * 2500)
    notes = list(db.session.scalars(select(Notification).order_by(Notification.id)))
    assert {n.template for n in notes} == {
        "ticket_created",
        "ticket_assigned",
        "ticket_accepted",
        "ticket_reply",
    }
    run_jobs()
    db.session.expire_all()
    assert [
        (n.template, n.status, n.last_error)
        for n in db.session.scalars(select(Notification).order_by(Notification.id))
    ] == [(n.template, SENT, None) for n in notes]
    assert len(raw_sink.raw) == len(notes)
    for raw in raw_sink.raw:
        _assert_short_lines(raw)
        msg = message_from_bytes(raw, policy=policy.default)
        assert LONG_SUBJECT in msg["Subject"]  # folded on the wire, whole once unfolded
        assert LONG_SUBJECT in msg.get_body(("plain",)).get_content()
        assert LONG_SUBJECT in msg.get_body(("html",)).get_content()
    assert any(
        "W" * 3000
        in message_from_bytes(r, policy=policy.default).get_body(("plain",)).get_content()
        for r in raw_sink.raw
    )


def test_non_ascii_headers_and_bodies_arrive_intact_with_short_lines(run_jobs, raw_sink):
    subject = "Zoë Ünicode-Tester 🚀 " + "ß" * 150
    body = "Grüße aus Köln 🚀\n" + "é" * 1200
    note = queue_email(
        ["ops@example.com", "team@exämple.com"],
        subject,
        body,
        f"<p>{body}</p>",
        headers={"X-Long": "v" * 1200},
    )
    db.session.commit()
    run_jobs()
    assert db.session.get(Notification, note.id, populate_existing=True).status == SENT
    [raw] = raw_sink.raw
    _assert_short_lines(raw)
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == subject
    assert _text(msg, "plain") == body
    assert _text(msg, "html") == f"<p>{body}</p>"
    assert msg["Message-ID"] == note.message_id
    assert msg["To"] == "ops@example.com, team@xn--exmple-cua.com"  # IDNA, not an encoded word
