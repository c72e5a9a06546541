"""Confirmations that say what will happen: a broadcast shows who it reaches before it is sent,
and rejecting a staff registration asks first. In both cases the server refuses to act
without the confirmation step (a POST that skips it only asks)."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from crm import clock
from crm.auth.models import User
from crm.broadcasts.models import Broadcast, EmailOptOut
from crm.extensions import db
from crm.notifications.models import Notification


def text(resp) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", resp.get_data(as_text=True)))


def _audience(make_user):
    """Five customers: two reachable by email, one unsubscribed, one unverified, one by SMS
    only (unverified email, verified phone) — and staff, who are never in a segment."""
    make_user("customer", email="a@example.com")
    make_user("customer", email="b@example.com")
    make_user("customer", email="gone@example.com")
    make_user("customer", email="unverified@example.com", verified=False)
    texter = make_user("customer", email="texter@example.com", verified=False)
    texter.phone, texter.phone_verified_at = "+447400123456", clock.utcnow()
    db.session.add(EmailOptOut(email="gone@example.com", source="link", created_at=clock.utcnow()))
    make_user("engineer")
    db.session.commit()


FORM = {"window": "0", "subject": "Planned maintenance", "body": "Offline on Sunday\nfrom 02:00.",
        "channels": ["email", "sms"], "segment": "all", "segment_days": "30"}


def test_a_broadcast_shows_its_recipients_and_is_sent_only_when_confirmed(
    client, make_user, login, run_jobs
):
    _audience(make_user)
    login(make_user("manager"))
    resp = client.post("/broadcasts/new", data=FORM)
    assert resp.status_code == 200
    page = text(resp)
    assert "Send this broadcast to 3 customers?" in page
    assert (
        "Customers in the segment 5 " in page and "Emails 2 " in page and "Text messages 1 " in page
    )
    assert "Not reached 2 " in page
    assert "Send to 3 customers" in page and "Offline on Sunday" in page
    assert db.session.scalar(select(func.count(Broadcast.id))) == 0  # nothing sent yet

    # "Change the broadcast" goes back to the form as typed, still not sent
    resp = client.post("/broadcasts/new", data={**FORM, "edit": "1"})
    assert resp.status_code == 200 and 'value="Planned maintenance"' in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Broadcast.id))) == 0

    resp = client.post("/broadcasts/new", data={**FORM, "confirm": "yes"})
    assert resp.status_code == 302
    run_jobs()
    broadcast = db.session.scalar(select(Broadcast))
    db.session.refresh(broadcast)
    # the counts shown are the counts the send job used
    assert (broadcast.sent_email, broadcast.sent_sms, broadcast.skipped) == (2, 1, 2)


def test_the_confirm_page_carries_the_text_unchanged(client, make_user, login):
    _audience(make_user)
    login(make_user("admin"))
    page = client.post("/broadcasts/new", data={**FORM, "channels": ["email"]}).get_data(
        as_text=True
    )
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    assert hidden["subject"] == FORM["subject"] and hidden["body"] == FORM["body"]
    assert hidden["channels"] == "email" and hidden["segment"] == "all"


def test_a_broadcast_nobody_would_receive_cannot_be_sent_from_the_confirm_page(
    client, make_user, login
):
    make_user("customer", email="unverified@example.com", verified=False)
    login(make_user("manager"))
    resp = client.post("/broadcasts/new", data={**FORM, "channels": ["email"]})
    page = text(resp)
    assert resp.status_code == 200 and "Nobody would receive this broadcast" in page
    assert 'name="confirm"' not in resp.get_data(as_text=True)


def test_rejecting_a_registration_asks_first_and_says_what_happens(client, make_user, login):
    pending = make_user(
        "engineer", status="pending", name="Penny Pending", email="penny@example.com"
    )
    login(make_user("admin"))
    listing = client.get("/admin/registrations").get_data(as_text=True)
    assert f'href="/admin/registrations/{pending.id}/reject"' in listing
    assert (
        f'action="/admin/registrations/{pending.id}/reject"' not in listing
    )  # no one-click reject

    page = client.get(f"/admin/registrations/{pending.id}/reject")
    assert page.status_code == 200
    assert "Reject Penny Pending’s registration?" in text(page)
    assert "we email penny@example.com that the registration was rejected" in text(page)

    # the server refuses a reject without the confirmation
    resp = client.post(f"/admin/registrations/{pending.id}/reject")
    assert resp.status_code == 422 and "Tick the box to confirm" in text(resp)
    db.session.expire_all()
    assert db.session.get(User, pending.id).status == "pending"
    assert db.session.scalar(select(func.count(Notification.id))) == 0

    resp = client.post(f"/admin/registrations/{pending.id}/reject", data={"confirm": "yes"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, pending.id).status == "rejected"
    again = client.get(f"/admin/registrations/{pending.id}/reject")
    assert again.status_code == 409 and "not pending" in text(again)
