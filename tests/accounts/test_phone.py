"""Mobile number verification at /auth/phone: E.164 storage, the texted code (read from the SMS
outbox), wrong and expired codes, changing the number un-verifies it, resend cool-down, one
verified owner per number."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from crm import clock
from crm.auth import otp
from crm.auth.models import User
from crm.extensions import db
from crm.notifications.models import SmsMessage
from tests.helpers_matrix import fresh_request_state

CODE = re.compile(r"^(\d{4,8}) is your CR Tracker phone verification code")


def text(resp) -> str:
    return resp.get_data(as_text=True)


def fresh(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def code_sent_to(run_jobs, number: str) -> str:
    run_jobs()
    db.session.expire_all()
    sent = db.session.scalars(
        select(SmsMessage).where(SmsMessage.to == number).order_by(SmsMessage.id)
    ).all()
    assert sent, f"no SMS to {number}"
    return CODE.search(sent[-1].body).group(1)


def sms_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(db.func.count()).select_from(SmsMessage))


def verify(client, run_jobs, number_typed: str, e164: str) -> None:
    assert client.post("/auth/phone", data={"phone": number_typed}).status_code == 302
    code = code_sent_to(run_jobs, e164)
    resp = client.post("/auth/phone/confirm", data={"code": code})
    assert resp.status_code == 302, text(resp)[:500]


def test_a_number_typed_nationally_is_stored_in_e164_and_verified_by_code(
    client, make_user, login, run_jobs
):
    user = make_user("customer")
    login(user)
    page = client.get("/auth/phone")
    assert page.status_code == 200 and "You have not added a mobile number." in text(page)

    resp = client.post("/auth/phone", data={"phone": "07400 123456"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/auth/phone")
    user = fresh(user)
    assert (user.phone, user.phone_verified_at) == ("+447400123456", None)
    page = text(client.get("/auth/phone"))
    assert "not verified yet" in page and 'role="timer"' in page and "Verify number" in page

    code = code_sent_to(run_jobs, "+447400123456")
    resp = client.post("/auth/phone/confirm", data={"code": code})
    assert resp.status_code == 302
    assert fresh(user).phone_verified_at is not None
    assert "verified" in text(client.get("/auth/phone"))
    row = db.session.scalar(select(otp.OtpCode))
    assert row.purpose == otp.VERIFY_PHONE and row.used_at is not None and code not in row.code_hash


def test_international_format_is_stored_as_e164(client, make_user, login, run_jobs):
    user = make_user("engineer")
    login(user)
    verify(client, run_jobs, "+1 (202) 555-0143", "+12025550143")
    assert fresh(user).phone == "+12025550143"


def test_an_invalid_number_re_renders_with_a_message(client, make_user, login):
    login(make_user("customer"))
    resp = client.post("/auth/phone", data={"phone": "12345"})
    assert resp.status_code == 422 and "Enter a valid phone number" in text(resp)
    assert 'aria-invalid="true"' in text(resp)
    assert sms_count() == 0


def test_a_wrong_code_says_how_many_attempts_are_left(client, make_user, login, run_jobs):
    user = make_user("customer")
    login(user)
    client.post("/auth/phone", data={"phone": "07400123456"})
    code = code_sent_to(run_jobs, "+447400123456")
    bad = f"{(int(code) + 1) % 10**6:06d}"
    resp = client.post("/auth/phone/confirm", data={"code": bad})
    assert resp.status_code == 422 and "4 attempts left" in text(resp)
    assert fresh(user).phone_verified_at is None
    resp = client.post("/auth/phone/confirm", data={"code": "12"})
    assert resp.status_code == 422 and "Enter the digits of the code." in text(resp)


def test_an_expired_code_is_refused(client, make_user, login, run_jobs):
    user = make_user("customer")
    login(user)
    client.post("/auth/phone", data={"phone": "07400123456"})
    code = code_sent_to(run_jobs, "+447400123456")
    clock.set_offset(timedelta(minutes=5, seconds=1))
    resp = client.post("/auth/phone/confirm", data={"code": code})
    assert resp.status_code == 410 and "expired" in text(resp)
    assert fresh(user).phone_verified_at is None


def test_changing_the_number_un_verifies_it(client, make_user, login, run_jobs):
    user = make_user("customer")
    login(user)
    verify(client, run_jobs, "07400123456", "+447400123456")
    assert fresh(user).phone_verified_at is not None

    clock.set_offset(timedelta(seconds=61))
    client.post("/auth/phone", data={"phone": "07400123457"})
    user = fresh(user)
    assert (user.phone, user.phone_verified_at) == ("+447400123457", None)
    # the old verified number cannot receive reset codes any more
    client.post("/api/v1/auth/password-reset/sms", json={"phone": "+447400123456"})
    run_jobs()
    db.session.expire_all()
    assert [
        m.body
        for m in db.session.scalars(select(SmsMessage).where(SmsMessage.to == "+447400123456"))
        if "password reset" in m.body
    ] == []


def test_resend_waits_for_the_cooldown(client, make_user, login, run_jobs):
    login(make_user("customer"))
    client.post("/auth/phone", data={"phone": "07400123456"})
    page = text(client.get("/auth/phone"))
    assert re.search(r"data-otp-resend-at=\"[^\"]+\"[^>]*disabled", page)
    resp = client.post("/auth/phone/resend", follow_redirects=True)
    assert "You can ask for a new one in" in text(resp)
    run_jobs()
    assert sms_count() == 1
    clock.set_offset(timedelta(seconds=61))
    resp = client.post("/auth/phone/resend", follow_redirects=True)
    assert "A new code is on its way." in text(resp)
    run_jobs()
    assert sms_count() == 2


def test_the_newest_verified_owner_of_a_number_wins(app, client, make_user, login, run_jobs):
    first = make_user("customer")
    second = make_user("customer")
    login(first)
    verify(client, run_jobs, "07400123456", "+447400123456")
    fresh_request_state()
    other = app.test_client()
    assert (
        other.post(
            "/auth/login", data={"email": second.email, "password": "correct-horse-42"}
        ).status_code
        == 302
    )
    verify(other, run_jobs, "07400123456", "+447400123456")
    assert fresh(first).phone_verified_at is None
    assert fresh(second).phone_verified_at is not None


def test_logged_out_visitors_are_sent_to_log_in(client):
    resp = client.get("/auth/phone")
    assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]
