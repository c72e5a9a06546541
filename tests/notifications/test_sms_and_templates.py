"""SMS through the outbox (built-in transport), E.164 parsing, and admin-edited email templates."""
from __future__ import annotations

import pytest

from crm.errors import ServiceError
from crm.extensions import db
from crm.notifications import jobs
from crm.notifications.models import SENT, EmailTemplate, Notification, SmsMessage
from crm.notifications.services import queue_sms, queue_templated, render_email
from crm.notifications.sms import OutboxSmsTransport, TwilioSmsTransport, normalise_phone
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
    assert {db.session.get(Notification, n.id, populate_existing=True).status for n in rows} == {SENT}
    # A stray duplicate job neither sends nor stores again.
    assert jobs.send_notification(rows[0].id) == jobs.SKIPPED
    assert OutboxSmsTransport().send("+447700900123", "again", notification_id=rows[0].id) == f"outbox-{stored[0].id}"
    assert db.session.scalar(db.select(db.func.count()).select_from(SmsMessage)) == 2


def test_queue_sms_without_numbers_creates_nothing():
    assert queue_sms(["", "  "], "Hello") is None
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count()).select_from(Notification)) == 0


@pytest.mark.parametrize("raw, expected", [
    ("07911 123456", "+447911123456"),
    ("+44 (0)7911-123456", "+447911123456"),
    ("+1 650-253-0000", "+16502530000"),
])
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

def test_admin_edit_overrides_the_file_template_and_reset_restores_it(make_user, login, client,
                                                                      smtp_server, run_jobs):
    admin = make_user("admin")
    login(admin)
    page = client.get("/admin/email-templates/ticket_created")
    assert page.status_code == 200 and "Ticket #" in page.get_data(as_text=True)
    resp = client.post("/admin/email-templates/ticket_created", data={
        "subject": "We have your request #{{ ticket.id }}",
        "body_text": "Hello {{ ticket.requester.name }}, thanks!",
        "body_html": "<p>Hello {{ ticket.requester.name }}</p>", "save": "Save template"})
    assert resp.status_code == 302
    make_user("engineer")
    customer = make_user("customer", name="Ada <b>Lovelace</b>")
    ticket = tickets.create_ticket(customer, "Broken mug", "Handle fell off")
    run_jobs()
    [msg] = smtp_server.by_rcpt(customer.email)
    assert msg["Subject"] == f"We have your request #{ticket.id}"
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "Ada &lt;b&gt;Lovelace&lt;/b&gt;" in html  # the HTML part is autoescaped
    assert "Hello Ada <b>Lovelace</b>, thanks!" in msg.get_body(preferencelist=("plain",)).get_content()

    assert client.post("/admin/email-templates/ticket_created",
                       data={"subject": "x", "body_text": "x", "body_html": "x", "reset": "Reset"}).status_code == 302
    assert db.session.scalar(db.select(EmailTemplate)) is None
    ticket = _ticket(ticket.id)  # with requester and assignee loaded, as the subscriber renders it
    assert render_email("ticket_created", ticket=ticket, user=customer)[0] != f"We have your request #{ticket.id}"


def test_a_template_that_does_not_render_is_refused_with_a_message(make_user, login, client):
    login(make_user("admin"))
    resp = client.post("/admin/email-templates/ticket_created", data={
        "subject": "Hi", "body_text": "{% if %}", "body_html": "<p>x</p>", "save": "Save"})
    assert resp.status_code == 422
    assert "does not render" in resp.get_data(as_text=True)
    assert db.session.scalar(db.select(EmailTemplate)) is None


def test_edited_templates_render_in_a_sandbox(make_user):
    db.session.add(EmailTemplate(name="direct", subject="{{ user.__class__.__mro__ }}",
                                 body_text="x", body_html="x"))
    db.session.commit()
    from jinja2.exceptions import SecurityError
    with pytest.raises(SecurityError):
        queue_templated("direct", ["a@example.com"], user=make_user("customer"))


def test_unknown_template_name_is_404(make_user, login, client):
    login(make_user("admin"))
    assert client.get("/admin/email-templates/no_such_template").status_code == 404
