"""Admin → Mailbox (the development SMTP catcher): non-ASCII mail reads as sent, whatever
its transfer encoding; and token-bearing links are masked there and in the outbox."""
from __future__ import annotations

import re
import smtplib
from html import unescape

import pytest
from sqlalchemy import select

from crm.extensions import db
from crm.notifications.catcher import start_catcher
from crm.notifications.models import CaughtMail, Notification
from crm.notifications.services import queue_email
from tests.conftest import free_port

NAME = "Zoë Ünicode-Tester 🚀"


@pytest.fixture
def catcher(app, monkeypatch):
    """The real catcher on a free port, with the app's outgoing mail pointed at it."""
    controller = start_catcher(app, port=free_port())
    monkeypatch.setitem(app.config, "MAIL_PORT", controller.port)
    monkeypatch.setattr(app.extensions["mail"], "port", controller.port)
    yield controller
    controller.stop()


@pytest.fixture
def admin_client(make_user, login, client):
    login(make_user("admin"))
    return client


def _caught() -> list[CaughtMail]:
    db.session.commit()
    return list(db.session.scalars(select(CaughtMail).order_by(CaughtMail.id)))


def _page(client, url: str) -> str:
    resp = client.get(url)
    assert resp.status_code == 200
    return unescape(resp.get_data(as_text=True))


def _assert_clean(page: str) -> None:
    assert "\ufffd" not in page and "\\U0001f680" not in page and "=?utf-8?" not in page.lower()


def test_mail_sent_by_the_app_reads_as_sent_in_the_mailbox(admin_client, catcher, run_jobs):
    queue_email(["zoe@example.com"], f"Hello {NAME}", f"Dear {NAME},\nyour ticket is ready.",
                f"<p>Dear {NAME}</p>")
    db.session.commit()
    run_jobs()
    [mail] = _caught()
    listing = _page(admin_client, "/admin/mailbox")
    assert f"Hello {NAME}" in listing
    page = _page(admin_client, f"/admin/mailbox/{mail.id}")
    assert f"Dear {NAME}," in page and f"Hello {NAME}" in page
    [srcdoc] = re.findall(r'<iframe[^>]* sandbox srcdoc="([^"]*)"', admin_client.get(
        f"/admin/mailbox/{mail.id}").get_data(as_text=True))
    assert unescape(srcdoc).strip() == f"<p>Dear {NAME}</p>"
    _assert_clean(page)


def test_8bit_utf8_mail_from_another_client_reads_as_sent(admin_client, catcher):
    """A client that sends UTF-8 bodies raw (8BITMIME, as Flask-Mail does) and a UTF-8
    encoded-word sender name."""
    raw = (f"From: =?utf-8?q?Zo=C3=AB?= <zoe@example.com>\r\nTo: ops@example.com\r\n"
           f"Subject: =?utf-8?b?Wm/DqyDDnG5pY29kZS1UZXN0ZXIg8J+agA==?=\r\n"
           f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
           f"Content-Transfer-Encoding: 8bit\r\n\r\nHallo {NAME}, schöne Grüße!\r\n").encode()
    with smtplib.SMTP(catcher.hostname, catcher.port) as smtp:
        smtp.sendmail("zoe@example.com", ["ops@example.com"], raw)
    [mail] = _caught()
    assert mail.subject == NAME
    page = _page(admin_client, f"/admin/mailbox/{mail.id}")
    assert f"Hallo {NAME}, schöne Grüße!" in page
    assert "Zoë <zoe@example.com>" in page  # the From header, decoded
    _assert_clean(page)


RESET = re.compile(r"/auth/reset/([A-Za-z0-9_\-]{20,})")


def test_reset_links_are_masked_in_the_outbox_and_the_mailbox_but_mailed_whole(
        app, admin_client, catcher, make_user, run_jobs):
    make_user("customer", email="reset-me@example.com")
    assert app.test_client().post(
        "/auth/reset", data={"email": "reset-me@example.com"}
    ).status_code in (200, 302)
    note = db.session.scalar(select(Notification).where(Notification.template == "password_reset"))
    [token] = RESET.findall(note.body_text)  # the mail itself carries the live link
    run_jobs()
    [mail] = _caught()
    assert token in mail.raw.replace("=\r\n", "")  # delivered unchanged

    for url in (
        "/admin/outbox",
        f"/admin/outbox/{note.id}",
        "/admin/mailbox",
        f"/admin/mailbox/{mail.id}",
    ):
        page = _page(admin_client, url)
        assert token not in page, url
        assert token[:12] not in page, url
    assert "/auth/reset/[token hidden]" in _page(admin_client, f"/admin/outbox/{note.id}")
    assert "/auth/reset/[token hidden]" in _page(admin_client, f"/admin/mailbox/{mail.id}")


@pytest.mark.parametrize(
    "text, masked",
    [
        (
            "https://crm.example.com/auth/verify/abcDEF123_-xyz890abc",
            "https://crm.example.com/auth/verify/[token hidden]",
        ),
        (
            "<https://crm.example.com/broadcasts/unsubscribe/eyJhbGciOi.J9xYz-abc>",
            "<https://crm.example.com/broadcasts/unsubscribe/[token hidden]>",
        ),
        (
            "ping https://crm.example.com/api/v1/heartbeat/hb_0123456789abcdef now",
            "ping https://crm.example.com/api/v1/heartbeat/[token hidden] now",
        ),
        (
            "https://crm.example.com/x/confirm?token=s3cr3t-value&next=/a",
            "https://crm.example.com/x/confirm?token=[token hidden]&next=/a",
        ),
        (
            "https://crm.example.com/tickets/12 and /auth/reset",
            "https://crm.example.com/tickets/12 and /auth/reset",
        ),
    ],
)
def test_mask_tokens(text, masked):
    from crm.notifications.masking import mask_tokens

    assert mask_tokens(text) == masked
