"""Password reset by SMS code: codes read from the SMS outbox (``SmsMessage``) after the send
jobs ran; 5-minute validity, 5 attempts, resend cool-down, 4-digit configuration, hashed
storage, no account enumeration, the same after-effects as the emailed reset; console and API."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from crm import clock
from crm.auth import otp
from crm.auth.models import User
from crm.extensions import db
from crm.notifications.models import SmsMessage
from crm.sessions.models import UserSession
from tests.accounts.helpers import outbox
from tests.conftest import PASSWORD
from tests.helpers_matrix import fresh_request_state

NEW_PASSWORD = "brand-new-Secret-77"
PHONE = "+447400123456"
CODE = re.compile(r"^(\d{4,8}) is your CR Tracker password reset code")
PROBLEM = "application/problem+json"


def text(resp) -> str:
    return resp.get_data(as_text=True)


def fresh(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def with_phone(user: User, phone: str = PHONE, verified: bool = True) -> User:
    user.phone = phone
    user.phone_verified_at = clock.utcnow() if verified else None
    db.session.commit()
    return user


def texts(to: str = PHONE) -> list[SmsMessage]:
    db.session.expire_all()
    return db.session.scalars(
        select(SmsMessage).where(SmsMessage.to == to).order_by(SmsMessage.id)
    ).all()


def sms_code(run_jobs, to: str = PHONE) -> str:
    """Run the send jobs; return the code of the newest reset SMS to ``to``."""
    run_jobs()
    sent = texts(to)
    assert sent, f"no SMS to {to}"
    match = CODE.search(sent[-1].body)
    assert match, sent[-1].body
    return match.group(1)


def api_ask(client, **who):
    resp = client.post("/api/v1/auth/password-reset/sms", json=who)
    assert resp.status_code == 202, text(resp)
    return resp


def api_confirm(client, code: str, password: str = NEW_PASSWORD, **who):
    return client.post(
        "/api/v1/auth/password-reset/sms/confirm", json={**who, "code": code, "password": password}
    )


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


# ---------------------------------------------------------------- console


def test_console_sms_reset_with_countdown_and_after_effects(
    app, client, make_user, run_jobs, smtp_server
):
    user = with_phone(make_user("customer", email="sue@example.com"))
    user.failed_logins = 3
    db.session.commit()
    other_device = app.test_client()
    assert (
        other_device.post(
            "/auth/login", data={"email": user.email, "password": PASSWORD}
        ).status_code
        == 302
    )
    fresh_request_state()

    resp = client.post("/auth/reset/sms", data={"identifier": "sue@example.com"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/auth/reset/sms/code")
    page = text(client.get("/auth/reset/sms/code"))
    assert 'role="timer"' in page and "data-otp-expires=" in page and 'aria-live="polite"' in page
    assert "5:00" in page or "4:59" in page
    assert "otp_countdown.js" in page and "<script>" not in page
    assert re.search(r"data-otp-resend-at=\"[^\"]+\"[^>]*disabled", page)

    code = sms_code(run_jobs)
    assert len(code) == 6
    bad = client.post("/auth/reset/sms/code", data={"code": wrong(code)})
    assert bad.status_code == 422 and "4 attempts left" in text(bad)

    resp = client.post("/auth/reset/sms/code", data={"code": code})
    assert resp.status_code == 302 and "/auth/reset/" in resp.headers["Location"]
    set_password = resp.headers["Location"]
    assert "Choose a new password" in text(client.get(set_password))
    resp = client.post(set_password, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/auth/login")

    user = fresh(user)
    assert user.check_password(NEW_PASSWORD) and user.failed_logins == 0
    fresh_request_state()
    assert other_device.get("/dashboard").status_code == 302
    assert db.session.scalars(select(UserSession.end_reason)).all() == ["password_reset"]
    assert [n.to for n in outbox("password_changed")] == [[user.email]]
    # the code was single-use
    assert client.post("/auth/reset/sms/code", data={"code": code}).status_code in (302, 410)
    assert fresh(user).check_password(NEW_PASSWORD)


def test_console_code_page_without_a_request_sends_back_to_the_form(client):
    resp = client.get("/auth/reset/sms/code")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/auth/reset/sms")


def test_console_answer_is_the_same_for_unknown_accounts(client, make_user, run_jobs):
    with_phone(make_user("customer", email="kim@example.com"))
    make_user("customer", email="nophone@example.com")
    pages = []
    for who in ("kim@example.com", "ghost@example.com", "nophone@example.com"):
        fresh_request_state()
        c = client.application.test_client()
        resp = c.post("/auth/reset/sms", data={"identifier": who})
        assert resp.status_code == 302 and resp.headers["Location"].endswith("/auth/reset/sms/code")
        page = c.get("/auth/reset/sms/code")
        assert page.status_code == 200
        bad = c.post("/auth/reset/sms/code", data={"code": "000000"})
        pages.append((who, page, bad))
    run_jobs()
    assert len(texts()) == 1  # only the real account got a text

    def shape(who, resp):
        body = re.sub(r'"\d{4}-\d\d-\d\dT[^"]+"', '"T"', text(resp).replace(who, "WHO"))
        body = re.sub(r"\(in \d+ s\)", "(in N s)", body)
        # each browser session has its own CSRF token (in every form and the layout's htmx headers)
        body = re.sub(r'("X-CSRFToken": "|name="csrf_token"[^>]*value=")[^"]+', r"\1TOKEN", body)
        return resp.status_code, re.sub(r"\d:\d\d", "M:SS", body)

    first_who, first_page, first_bad = pages[0]
    for who, page, bad in pages[1:]:
        assert shape(who, page) == shape(first_who, first_page)
        if shape(first_who, first_bad)[0] == 422:  # unless the real code happened to be 000000
            assert shape(who, bad) == shape(first_who, first_bad)


def test_console_resend_waits_for_the_cooldown(client, make_user, run_jobs):
    with_phone(make_user("customer", email="ray@example.com"))
    client.post("/auth/reset/sms", data={"identifier": "ray@example.com"})
    resp = client.post("/auth/reset/sms/resend", follow_redirects=True)
    assert "You can ask for a new one in" in text(resp)
    run_jobs()
    assert len(texts()) == 1
    clock.set_offset(timedelta(seconds=61))
    resp = client.post("/auth/reset/sms/resend", follow_redirects=True)
    assert "A new code is on its way." in text(resp)
    run_jobs()
    assert len(texts()) == 2


def test_console_refuses_text_that_is_neither_email_nor_phone(client):
    resp = client.post("/auth/reset/sms", data={"identifier": "hello there"})
    assert resp.status_code == 422 and "Enter your email address or your mobile number" in text(
        resp
    )


# ---------------------------------------------------------------- rules (through the API)


def test_code_by_phone_number_in_national_format(client, make_user, run_jobs):
    user = with_phone(make_user("customer"))
    api_ask(client, phone="07400 123456")
    code = sms_code(run_jobs)
    assert api_confirm(client, code, phone="+44 7400 123456").status_code == 204
    assert fresh(user).check_password(NEW_PASSWORD)


def test_code_is_valid_for_five_minutes(client, make_user, run_jobs):
    user = with_phone(make_user("customer", email="val@example.com"))
    api_ask(client, email=user.email)
    code = sms_code(run_jobs)
    clock.set_offset(timedelta(minutes=5, seconds=1))
    resp = api_confirm(client, code, email=user.email)
    assert resp.status_code == 410 and resp.content_type.startswith(PROBLEM)
    assert "expired" in resp.json["detail"] and resp.json["attempts_left"] == 0
    assert not fresh(user).check_password(NEW_PASSWORD)


def test_code_still_works_just_before_five_minutes(client, make_user, run_jobs):
    user = with_phone(make_user("customer", email="val2@example.com"))
    api_ask(client, email=user.email)
    code = sms_code(run_jobs)
    clock.set_offset(timedelta(minutes=4, seconds=55))
    assert api_confirm(client, code, email=user.email).status_code == 204


def test_five_wrong_codes_kill_the_code(client, make_user, run_jobs):
    user = with_phone(make_user("customer", email="max@example.com"))
    api_ask(client, email=user.email)
    code = sms_code(run_jobs)
    for left in (4, 3, 2, 1):
        resp = api_confirm(client, wrong(code), email=user.email)
        assert resp.status_code == 422, text(resp)
        assert resp.json["attempts_left"] == left and f"{left} attempt" in resp.json["detail"]
    last = api_confirm(client, wrong(code), email=user.email)
    assert last.status_code == 410 and last.json["attempts_left"] == 0
    dead = api_confirm(client, code, email=user.email)
    assert dead.status_code == 410 and "Ask for a new code" in dead.json["detail"]
    assert not fresh(user).check_password(NEW_PASSWORD)
    row = db.session.scalar(select(otp.OtpCode))
    assert row.attempts == 5


def test_resend_only_after_the_cooldown_and_the_new_code_replaces_the_old(
    client, make_user, run_jobs
):
    user = with_phone(make_user("customer", email="res@example.com"))
    api_ask(client, email=user.email)
    first = sms_code(run_jobs)
    api_ask(client, email=user.email)  # still 202, but nothing is sent during the cool-down
    run_jobs()
    assert len(texts()) == 1

    clock.set_offset(timedelta(seconds=61))
    api_ask(client, email=user.email)
    second = sms_code(run_jobs)
    assert len(texts()) == 2
    if first != second:  # the old code is now just a wrong guess against the new one
        assert api_confirm(client, first, email=user.email).status_code == 422
    assert api_confirm(client, second, email=user.email).status_code == 204


@pytest.fixture
def four_digits(app):
    saved = app.config["OTP_DIGITS"]
    app.config["OTP_DIGITS"] = 4
    yield
    app.config["OTP_DIGITS"] = saved


def test_four_digit_codes_when_configured(client, make_user, run_jobs, four_digits):
    user = with_phone(make_user("customer", email="four@example.com"))
    api_ask(client, email=user.email)
    code = sms_code(run_jobs)
    assert re.fullmatch(r"\d{4}", code)
    assert api_confirm(client, code, email=user.email).status_code == 204


def test_codes_are_stored_only_as_hmac(client, make_user, run_jobs):
    user = with_phone(make_user("customer", email="hash@example.com"))
    api_ask(client, email=user.email)
    code = sms_code(run_jobs)
    row = db.session.scalar(select(otp.OtpCode))
    assert row.purpose == otp.RESET_PASSWORD and row.user_id == user.id and row.phone == PHONE
    assert code not in row.code_hash and len(row.code_hash) == 64
    assert row.code_hash == otp.hash_code(code, row.subject)
    assert (row.expires_at - row.created_at) == timedelta(minutes=5)


def test_api_answers_alike_for_unknown_or_unverified_accounts(client, make_user, run_jobs):
    with_phone(make_user("customer", email="real@example.com"))
    with_phone(
        make_user("customer", email="unverified@example.com"), phone="+447400123457", verified=False
    )
    answers = [
        api_ask(client, **who)
        for who in (
            {"email": "real@example.com"},
            {"email": "ghost@example.com"},
            {"email": "unverified@example.com"},
            {"phone": "+447400123999"},
            {"phone": "+447400123457"},
        )
    ]
    assert {(a.status_code, a.get_data()) for a in answers} == {(202, b"")}
    run_jobs()
    assert [m.to for m in db.session.scalars(select(SmsMessage))] == [PHONE]

    # guessing behaves alike too: attempts are counted for decoys as for real codes
    real = api_confirm(client, "000000", email="real@example.com")
    ghost = api_confirm(client, "000000", email="ghost@example.com")
    if real.status_code == 422:
        assert (ghost.status_code, ghost.json["attempts_left"]) == (422, 4)
        assert ghost.json["detail"] == real.json["detail"]
    never_asked = api_confirm(client, "000000", email="never@example.com")
    assert never_asked.status_code == 410


def test_api_refuses_bad_bodies_with_problem_json(client):
    both = client.post(
        "/api/v1/auth/password-reset/sms", json={"email": "a@example.com", "phone": PHONE}
    )
    neither = client.post("/api/v1/auth/password-reset/sms", json={})
    not_a_number = client.post("/api/v1/auth/password-reset/sms", json={"phone": "12"})
    letters = api_confirm(client, "abcdef", email="a@example.com")
    for resp in (both, neither, not_a_number, letters):
        assert resp.status_code == 422 and resp.content_type.startswith(PROBLEM), text(resp)
    assert not_a_number.json["errors"]["phone"]


def test_old_codes_are_purged_by_the_periodic_job(client, make_user, run_jobs):
    from crm.schedule import PERIODIC_JOBS

    assert ("auth.purge_otp_codes", 3600, "crm.auth.otp.purge_codes_job") in PERIODIC_JOBS
    user = with_phone(make_user("customer", email="purge@example.com"))
    api_ask(client, email=user.email)
    api_ask(client, email="ghost@example.com")
    assert otp.purge_codes_job() == 0
    clock.set_offset(timedelta(days=1, minutes=6))
    assert otp.purge_codes_job() == 2
    assert db.session.scalar(select(db.func.count()).select_from(otp.OtpCode)) == 0
