"""Maintenance broadcasts: email and SMS through the outbox to a segment, one-click
unsubscribe (RFC 8058) honoured next time, validation, and who may send."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm import clock
from crm.broadcasts import services
from crm.broadcasts.models import Broadcast, EmailOptOut
from crm.extensions import db
from crm.monitoring.models import MaintenanceWindow
from crm.notifications.models import Notification, SmsMessage
from crm.tickets.models import Ticket


@pytest.fixture
def window(app):
    start = clock.utcnow() + timedelta(days=2)
    row = MaintenanceWindow(
        title="Core switch replacement",
        starts_at=start,
        ends_at=start + timedelta(hours=3),
        all_monitors=True,
        announced=False,
    )
    db.session.add(row)
    db.session.commit()
    return row


@pytest.fixture
def customers(make_user):
    """recent: ticket 3 days ago + verified phone; old: ticket 90 days ago; phone_only: no
    ticket, verified phone; unverified: email not verified; plus staff (never included)."""
    recent = make_user("customer", email="recent@example.com")
    old = make_user("customer", email="old@example.com")
    phone_only = make_user("customer", email="phone@example.com")
    unverified = make_user("customer", email="unverified@example.com", verified=False)
    make_user("engineer", email="staff@example.com")
    now = clock.utcnow()
    recent.phone, recent.phone_verified_at = "+15555550101", now
    phone_only.phone, phone_only.phone_verified_at = "+15555550102", now
    for user, age in ((recent, 3), (old, 90)):
        created = now - timedelta(days=age)
        db.session.add(
            Ticket(
                subject="Help",
                description="x",
                priority="normal",
                status="open",
                requester_id=user.id,
                created_at=created,
                updated_at=created,
            )
        )
    db.session.commit()
    return {"recent": recent, "old": old, "phone_only": phone_only, "unverified": unverified}


def _send(client, window, **changes):
    data = {
        "window": window.id,
        "subject": "Planned maintenance",
        "body": "The portal will be offline.",
        "channels": ["email"],
        "segment": "all",
        "segment_days": "30",
        "confirm": "yes",
    }
    data.update(changes)
    return client.post("/broadcasts/new", data=data)


def test_email_and_sms_broadcast_to_customers_with_recent_tickets(
    client, make_user, login, customers, window, run_jobs, smtp_server
):
    login(make_user("manager"))
    resp = _send(
        client, window, channels=["email", "sms"], segment="recent_tickets", segment_days="30"
    )
    assert resp.status_code == 302
    broadcast = db.session.scalar(select(Broadcast))
    assert db.session.get(MaintenanceWindow, window.id, populate_existing=True).announced

    run_jobs()  # the broadcast job, which queues outbox rows
    run_jobs()  # the outbox sends

    broadcast = db.session.get(Broadcast, broadcast.id, populate_existing=True)
    assert (broadcast.status, broadcast.total, broadcast.sent_email, broadcast.sent_sms) == (
        "done",
        1,
        1,
        1,
    )
    assert broadcast.progress == 100
    msg = smtp_server.wait_for(
        lambda msgs: next((m for m in msgs if "recent@example.com" in m["_rcpt"]), None)
    )
    assert msg["Subject"] == "Planned maintenance"
    assert "Core switch replacement" in msg.get_body(preferencelist=("plain",)).get_content()
    assert msg["List-Unsubscribe"].startswith("<http://crm.test/broadcasts/unsubscribe/")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert [m["_rcpt"] for m in smtp_server.messages] == ["recent@example.com"]
    texts = list(db.session.scalars(select(SmsMessage)))
    assert [t.to for t in texts] == ["+15555550101"]
    assert "The portal will be offline." in texts[0].body

    page = client.get(f"/broadcasts/{broadcast.id}", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert 'value="100"' in page and "hx-trigger" not in page


def test_unsubscribe_link_works_and_is_honoured_next_time(
    client, make_user, login, customers, window, run_jobs, smtp_server
):
    manager = make_user("manager")
    login(manager)
    _send(client, window)
    run_jobs()
    run_jobs()
    msg = smtp_server.wait_for(
        lambda msgs: next((m for m in msgs if "old@example.com" in m["_rcpt"]), None)
    )
    assert sorted(m["_rcpt"] for m in smtp_server.messages) == [
        "old@example.com",
        "phone@example.com",
        "recent@example.com",
    ]
    url = msg["List-Unsubscribe"].strip("<>").replace("http://crm.test", "")
    assert url in msg.get_body(preferencelist=("plain",)).get_content()

    client.post("/auth/logout")
    page = client.get(url)  # GET only asks (link scanners must not unsubscribe anyone)
    assert page.status_code == 200 and "old@example.com" in page.get_data(as_text=True)
    assert db.session.scalar(select(func.count(EmailOptOut.id))) == 0
    done = client.post(url)
    assert done.status_code == 200 and "You are unsubscribed" in done.get_data(as_text=True)
    # RFC 8058 one-click POST from a mail client (no CSRF token, no session) is idempotent
    assert client.post(url, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert db.session.scalar(select(EmailOptOut.email)) == "old@example.com"

    smtp_server.clear()
    login(manager)
    _send(client, window, subject="Second notice")
    run_jobs()
    run_jobs()
    smtp_server.wait_for(lambda msgs: len(msgs) == 2)
    assert sorted(m["_rcpt"] for m in smtp_server.messages) == [
        "phone@example.com",
        "recent@example.com",
    ]
    second = db.session.scalar(select(Broadcast).where(Broadcast.subject == "Second notice"))
    assert (second.sent_email, second.skipped) == (
        2,
        2,
    )  # old opted out, unverified has no verified email


def test_forged_unsubscribe_token_is_refused(client, customers):
    token = services.unsubscribe_token("old@example.com")
    assert client.get(f"/broadcasts/unsubscribe/{token[:-2]}xx").status_code == 404
    assert client.post(f"/broadcasts/unsubscribe/{token[:-2]}xx").status_code == 404
    assert db.session.scalar(select(func.count(EmailOptOut.id))) == 0


def test_sms_only_broadcast_to_verified_phones(
    client, make_user, login, customers, window, run_jobs, smtp_server
):
    login(make_user("admin"))
    assert _send(client, window, channels=["sms"], segment="verified_phone").status_code == 302
    run_jobs()
    run_jobs()
    assert sorted(t.to for t in db.session.scalars(select(SmsMessage))) == [
        "+15555550101",
        "+15555550102",
    ]
    assert (
        db.session.scalar(
            select(func.count(Notification.id)).where(Notification.channel == "email")
        )
        == 0
    )


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"channels": []}, "Choose email, SMS or both."),
        ({"subject": ""}, "This field is required."),
        ({"segment": "everyone"}, "Not a valid choice"),
        ({"segment": "recent_tickets", "segment_days": ""}, "Give the number of days."),
        (
            {"segment": "recent_tickets", "segment_days": "99999"},
            "Number must be between 1 and 3650.",
        ),
        ({"channels": ["fax"]}, "not a valid choice"),
    ],
)
def test_bad_broadcasts_are_refused(client, make_user, login, window, changes, message):
    login(make_user("admin"))
    resp = _send(client, window, **changes)
    assert resp.status_code == 422
    assert message in resp.get_data(as_text=True).replace("&#39;", "'")
    assert db.session.scalar(select(func.count(Broadcast.id))) == 0


@pytest.mark.parametrize("role", ["customer", "engineer", "agent"])
def test_non_admins_may_not_broadcast(client, make_user, login, window, role):
    login(make_user(role))
    assert client.get("/broadcasts/new").status_code == 403
    assert _send(client, window).status_code == 403
    assert db.session.scalar(select(func.count(Broadcast.id))) == 0


def test_new_broadcast_form_is_prefilled_from_the_window(client, make_user, login, window):
    login(make_user("manager"))
    page = client.get(f"/broadcasts/new?window={window.id}").get_data(as_text=True)
    assert "Planned maintenance: Core switch replacement" in page
