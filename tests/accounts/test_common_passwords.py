"""Common, breached and easily guessed passwords are refused at every door that sets a password
(NIST SP 800-63B §5.1.1.2), with a message that says why; the suite's own passwords pass."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from crm import clock
from crm.auth import passwords
from crm.auth.models import User
from crm.extensions import db
from crm.notifications.models import SmsMessage
from tests.accounts.helpers import outbox
from tests.conftest import PASSWORD
from tests.helpers_matrix import fresh_request_state

COMMON = ["password", "12345678", "Password1", "qwertyuiop"]
LISTED = "on a list of common passwords"
PHONE = "+447400123457"


def text(resp) -> str:
    return resp.get_data(as_text=True)


@pytest.mark.parametrize("password", COMMON)
def test_common_passwords_are_refused_with_the_reason(app, password):
    with app.app_context():
        assert passwords.problem_with(password) is not None
    assert passwords.is_common(password)


@pytest.mark.parametrize("password", [PASSWORD, "demo-pass-123", "brand-new-Secret-77"])
def test_the_suites_and_demos_passwords_are_accepted(app, password):
    assert passwords.problem_with(password) is None


def test_guessable_non_listed_passwords_are_refused():
    assert not passwords.is_common("aaaaaaaaaaaa")
    assert "too easy to guess" in passwords.problem_with("aaaaaaaaaaaa")
    # built from the account's own address: refused only with that context
    assert passwords.problem_with("dorothea1987", ("dorothea@example.com",)) is not None


def test_console_registration_refuses_a_common_password(client):
    resp = client.post(
        "/auth/register",
        data={
            "name": "Pat",
            "email": "pat@example.com",
            "role": "customer",
            "password": "password",
            "confirm": "password",
        },
    )
    assert resp.status_code == 422 and LISTED in text(resp)
    assert db.session.scalar(select(User).where(User.email == "pat@example.com")) is None


def test_api_registration_refuses_a_common_password(client):
    resp = client.post(
        "/api/v1/auth/register",
        json={"name": "Pat", "email": "pat@example.com", "password": "12345678"},
    )
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert LISTED in resp.json["errors"]["password"][0]


def test_console_password_change_refuses_a_common_password(client, login, make_user):
    user = make_user("agent")
    login(user)
    resp = client.post(
        "/auth/password",
        data={"current_password": PASSWORD, "password": "password", "confirm": "password"},
    )
    assert resp.status_code == 422 and LISTED in text(resp)
    db.session.expire_all()
    assert db.session.get(User, user.id).check_password(PASSWORD)


def test_admin_created_user_needs_a_good_password(client, login, make_user):
    login(make_user("admin"))
    resp = client.post(
        "/admin/users/new",
        data={
            "name": "New",
            "email": "new@example.com",
            "role": "agent",
            "status": "active",
            "password": "12345678",
            "confirm": "12345678",
        },
    )
    assert resp.status_code == 422 and LISTED in text(resp)
    assert db.session.scalar(select(User).where(User.email == "new@example.com")) is None


def test_email_reset_refuses_a_common_password(client, make_user, run_jobs):
    user = make_user("customer")
    client.post("/api/v1/auth/password-reset", json={"email": user.email})
    run_jobs()
    body = outbox("password_reset", user.email)[-1].body_text
    token = re.search(r"/auth/reset/([A-Za-z0-9_\-]+)", body).group(1)
    resp = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": "password"}
    )
    assert resp.status_code == 422 and LISTED in resp.json["errors"]["password"][0]
    fresh_request_state()
    resp = client.post(f"/auth/reset/{token}", data={"password": "12345678", "confirm": "12345678"})
    assert resp.status_code == 422 and LISTED in text(resp)
    db.session.expire_all()
    assert db.session.get(User, user.id).check_password(PASSWORD)


def test_sms_reset_refuses_a_common_password(client, make_user, run_jobs):
    user = make_user("customer")
    user.phone, user.phone_verified_at = PHONE, clock.utcnow()
    db.session.commit()
    assert client.post("/api/v1/auth/password-reset/sms", json={"phone": PHONE}).status_code == 202
    run_jobs()
    db.session.expire_all()
    sms = db.session.scalars(select(SmsMessage).where(SmsMessage.to == PHONE)).all()[-1]
    code = re.search(r"^(\d{4,8})", sms.body).group(1)
    resp = client.post(
        "/api/v1/auth/password-reset/sms/confirm",
        json={"phone": PHONE, "code": code, "password": "password"},
    )
    assert resp.status_code == 422 and LISTED in resp.json["errors"]["password"][0]
    db.session.expire_all()
    assert db.session.get(User, user.id).check_password(PASSWORD)
