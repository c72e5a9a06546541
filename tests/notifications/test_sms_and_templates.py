"""SMS through the outbox (built-in transport) and the Twilio adapter (against a local stand-in
for Twilio's REST API), E.164 parsing, and admin-edited email templates."""
from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient

from crm.errors import ServiceError
from crm.extensions import db
from crm.notifications import jobs
from crm.notifications.models import FAILED, SENT, EmailTemplate, Notification, SmsMessage
from crm.notifications.services import queue_sms, queue_templated, render_email
from crm.notifications.sms import (
    OutboxSmsTransport,
    TwilioSmsTransport,
    get_transport,
    normalise_phone,
)
from crm.notifications.subscribers import _ticket
from crm.tickets import services as tickets

# ------------------------------------------------------------------ SMS

def test_sms_is_an_outbox_row_first_then_stored_by_the_outbox_transport_once(run_jobs):
    note = queue_sms(["+447700900123", "+447700900123", "+447700900456"], "Your code is 123456")
    db.session.commit()
    rows = db.session.scalars(db.select(Notification).order_by(Notification.id)).all()
    assert [(n.channel, n.to, n.status) for n in rows] == [
        ("sms", ["+447700900123"], "pending"), ("sms", ["+447700900456"], "pending")]
    assert note.id == rows[-1].id
    assert db.session.scalar(db.select(db.func.count()).select_from(SmsMessage)) == 0

    assert run_jobs() == 2
    stored = db.session.scalars(db.select(SmsMessage).order_by(SmsMessage.to)).all()
    assert [(m.to, m.body) for m in stored] == [("+447700900123", "Your code is 123456"),
                                                ("+447700900456", "Your code is 123456")]
    assert {db.session.get(Notification, n.id, populate_existing=True).status for n in rows} == {
        SENT
    }
    # A stray duplicate job neither sends nor stores again.
    assert jobs.send_notification(rows[0].id) == jobs.SKIPPED
    assert (
        OutboxSmsTransport().send("+447700900123", "again", notification_id=rows[0].id)
        == f"outbox-{stored[0].id}"
    )
    assert db.session.scalar(db.select(db.func.count()).select_from(SmsMessage)) == 2


def test_queue_sms_without_numbers_creates_nothing():
    assert queue_sms(["", "  "], "Hello") is None
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count()).select_from(Notification)) == 0


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("07911 123456", "+447911123456"),
        ("+44 (0)7911-123456", "+447911123456"),
        ("+1 650-253-0000", "+16502530000"),
    ],
)
def test_phone_numbers_are_normalised_to_e164(raw, expected):
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "hello", "12", "+44 123"])
def test_invalid_phone_numbers_are_refused_with_a_field_message(raw):
    with pytest.raises(ServiceError) as err:
        normalise_phone(raw)
    assert err.value.field == "phone" and err.value.status == 422


def test_twilio_transport_refuses_to_start_without_its_settings():
    with pytest.raises(ServiceError, match="TWILIO_ACCOUNT_SID"):
        TwilioSmsTransport(None, "token", "+15005550006")


# ------------------------------------------------------------------ Twilio adapter

TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "twilio-test-token"
TWILIO_FROM = "+15005550006"
INVALID_TO = "+15005550001"  # the stand-in answers like Twilio does for an invalid "To"


@dataclass
class FakeTwilio:
    """A local HTTP server standing in for Twilio's REST API (``api.twilio.com``).

    ``requests``: one dict per request received (``method``, ``path``, ``auth`` — the decoded
    Basic credentials — and ``form``, the url-encoded body as a dict of single values).
    """

    host: str
    port: int
    requests: list = field(default_factory=list)


def _twilio_handler(fake: FakeTwilio):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            scheme, _, creds = (self.headers.get("Authorization") or "").partition(" ")
            auth = base64.b64decode(creds).decode() if scheme == "Basic" else None
            fake.requests.append({"method": "POST", "path": self.path, "auth": auth, "form": form})
            if form.get("To") == INVALID_TO:
                status, payload = (
                    400,
                    {
                        "code": 21211,
                        "status": 400,
                        "more_info": "",
                        "message": f"The 'To' number {INVALID_TO} is not a valid phone number.",
                    },
                )
            else:
                status, payload = (
                    201,
                    {
                        "sid": "SM" + "f" * 32,
                        "account_sid": TWILIO_SID,
                        "to": form.get("To"),
                        "from": form.get("From"),
                        "body": form.get("Body"),
                        "status": "queued",
                        "num_segments": "1",
                        "direction": "outbound-api",
                        "api_version": "2010-04-01",
                        "uri": f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/SM{'f' * 32}.json",
                    },
                )
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def fake_twilio():
    """A :class:`FakeTwilio` server on 127.0.0.1 (a thread), stopped after the test."""
    fake = FakeTwilio("127.0.0.1", 0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _twilio_handler(fake))
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(5)


class LocalTwilioHttpClient(TwilioHttpClient):
    """The twilio library's own HTTP client (requests), sending to ``base_url`` instead of
    ``https://<product>.twilio.com``; path, query, body and auth stay as the library built
    them. Environment proxies are ignored so the request really reaches 127.0.0.1."""

    def __init__(self, base_url: str):
        super().__init__(timeout=5)
        self.session.trust_env = False
        self.base_url = base_url

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        assert parts.hostname.endswith(".twilio.com"), url
        local = urlsplit(self.base_url)
        return super().request(
            method,
            urlunsplit((local.scheme, local.netloc, parts.path, parts.query, "")),
            *args,
            **kwargs,
        )


def test_twilio_transport_posts_the_message_to_the_messages_api(fake_twilio):
    transport = TwilioSmsTransport(
        TWILIO_SID,
        TWILIO_TOKEN,
        TWILIO_FROM,
        http_client=LocalTwilioHttpClient(f"http://{fake_twilio.host}:{fake_twilio.port}"),
    )
    sid = transport.send("+447700900123", "Your code is 123456", notification_id=7)

    assert sid == "SM" + "f" * 32
    [req] = fake_twilio.requests
    assert req["method"] == "POST"
    assert req["path"] == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    assert req["auth"] == f"{TWILIO_SID}:{TWILIO_TOKEN}"
    assert req["form"] == {
        "To": "+447700900123",
        "From": TWILIO_FROM,
        "Body": "Your code is 123456",
    }


def test_twilio_transport_raises_twilios_error_for_the_outbox_to_record(fake_twilio):
    transport = TwilioSmsTransport(
        TWILIO_SID,
        TWILIO_TOKEN,
        TWILIO_FROM,
        http_client=LocalTwilioHttpClient(f"http://{fake_twilio.host}:{fake_twilio.port}"),
    )
    with pytest.raises(TwilioRestException) as err:
        transport.send(INVALID_TO, "Hello")
    assert (err.value.status, err.value.code) == (400, 21211)
    assert len(fake_twilio.requests) == 1


def test_sms_transport_setting_twilio_selects_the_twilio_adapter(app, monkeypatch, fake_twilio):
    monkeypatch.setitem(app.config, "SMS_TRANSPORT", "twilio")
    monkeypatch.setitem(app.config, "TWILIO_ACCOUNT_SID", TWILIO_SID)
    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    monkeypatch.setitem(app.config, "TWILIO_FROM_NUMBER", TWILIO_FROM)
    transport = get_transport()
    assert isinstance(transport, TwilioSmsTransport)
    assert (transport.client.account_sid, transport.client.password, transport.from_number) == (
        TWILIO_SID,
        TWILIO_TOKEN,
        TWILIO_FROM,
    )
    # the selected adapter sends with the configured credentials and sender
    transport.client.http_client = LocalTwilioHttpClient(
        f"http://{fake_twilio.host}:{fake_twilio.port}"
    )
    assert transport.send("+447700900456", "Monitor api is DOWN") == "SM" + "f" * 32
    [req] = fake_twilio.requests
    assert req["auth"] == f"{TWILIO_SID}:{TWILIO_TOKEN}" and req["form"]["From"] == TWILIO_FROM

    monkeypatch.setitem(app.config, "SMS_TRANSPORT", "outbox")
    assert isinstance(get_transport(), OutboxSmsTransport)


def test_sms_job_with_twilio_selected_but_not_configured_fails_and_stores_nothing(
    app, monkeypatch, run_jobs
):
    monkeypatch.setitem(app.config, "SMS_TRANSPORT", "twilio")
    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", None)
    note = queue_sms(["+447700900123"], "Your code is 123456")
    db.session.commit()
    assert run_jobs() == 1
    note = db.session.get(Notification, note.id, populate_existing=True)
    assert note.status == FAILED and "TWILIO_AUTH_TOKEN" in note.last_error
    assert db.session.scalar(db.select(db.func.count()).select_from(SmsMessage)) == 0


def test_admin_reads_stored_sms_and_others_may_not(make_user, login, client, run_jobs):
    queue_sms(["+447700900123"], "Monitor api is DOWN")
    db.session.commit()
    run_jobs()
    login(make_user("manager"))
    assert client.get("/admin/sms").status_code == 403
    client.post("/auth/logout")
    login(make_user("admin"))
    page = client.get("/admin/sms").get_data(as_text=True)
    assert "+447700900123" in page and "Monitor api is DOWN" in page


# ------------------------------------------------------------------ email templates


def test_admin_edit_overrides_the_file_template_and_reset_restores_it(
    make_user, login, client, smtp_server, run_jobs
):
    admin = make_user("admin")
    login(admin)
    page = client.get("/admin/email-templates/ticket_created")
    assert page.status_code == 200 and "Ticket #" in page.get_data(as_text=True)
    resp = client.post(
        "/admin/email-templates/ticket_created",
        data={
            "subject": "We have your request #{{ ticket.id }}",
            "body_text": "Hello {{ ticket.requester.name }}, thanks!",
            "body_html": "<p>Hello {{ ticket.requester.name }}</p>",
            "save": "Save template",
        },
    )
    assert resp.status_code == 302
    make_user("engineer")
    customer = make_user("customer", name="Ada <b>Lovelace</b>")
    ticket = tickets.create_ticket(customer, "Broken mug", "Handle fell off")
    run_jobs()
    [msg] = smtp_server.by_rcpt(customer.email)
    assert msg["Subject"] == f"We have your request #{ticket.id}"
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "Ada &lt;b&gt;Lovelace&lt;/b&gt;" in html  # the HTML part is autoescaped
    assert (
        "Hello Ada <b>Lovelace</b>, thanks!"
        in msg.get_body(preferencelist=("plain",)).get_content()
    )

    assert (
        client.post(
            "/admin/email-templates/ticket_created",
            data={"subject": "x", "body_text": "x", "body_html": "x", "reset": "Reset"},
        ).status_code
        == 302
    )
    assert db.session.scalar(db.select(EmailTemplate)) is None
    ticket = _ticket(ticket.id)  # with requester and assignee loaded, as the subscriber renders it
    assert (
        render_email("ticket_created", ticket=ticket, user=customer)[0]
        != f"We have your request #{ticket.id}"
    )


def test_a_template_that_does_not_render_is_refused_with_a_message(make_user, login, client):
    login(make_user("admin"))
    resp = client.post(
        "/admin/email-templates/ticket_created",
        data={"subject": "Hi", "body_text": "{% if %}", "body_html": "<p>x</p>", "save": "Save"},
    )
    assert resp.status_code == 422
    assert "does not render" in resp.get_data(as_text=True)
    assert db.session.scalar(db.select(EmailTemplate)) is None


def test_edited_templates_render_in_a_sandbox_and_a_violation_falls_back_to_the_file(caplog):
    """An edit stored without the editor's checks: the sandbox refuses it at send time, the
    built-in version goes out instead, and the refusal is logged."""
    db.session.add(
        EmailTemplate(
            name="direct", subject="{{ subject.__class__.__mro__ }}", body_text="x", body_html="x"
        )
    )
    db.session.commit()
    with caplog.at_level("ERROR", logger="crm.notifications.services"):
        note = queue_templated("direct", ["a@example.com"], subject="Hello", body="Body text")
    assert (note.subject, note.body_text.strip()) == ("Hello", "Body text")
    assert "object" not in note.subject
    [record] = [r for r in caplog.records if "does not render" in r.getMessage()]
    assert record.exc_info[0].__name__ == "SecurityError"


def test_unknown_template_name_is_404(make_user, login, client):
    login(make_user("admin"))
    assert client.get("/admin/email-templates/no_such_template").status_code == 404
