"""TOTP two-factor log-in (RFC 6238): set-up, the second log-in step, turning it off, and an
admin requiring it for staff roles."""
from __future__ import annotations

import re
from datetime import timedelta

import pyotp
from sqlalchemy import select

from crm import clock
from crm.auth.models import User
from crm.extensions import db
from crm.sessions.models import UserSession
from crm.settings import get_setting
from tests.conftest import PASSWORD
from tests.helpers_matrix import fresh_request_state


def text(resp) -> str:
    return resp.get_data(as_text=True)


def fresh(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def code(secret: str, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock.utcnow() + timedelta(seconds=30 * offset_steps))


def enable_totp(client, user) -> str:
    """Set TOTP up through the pages (logged in as ``user``); returns the secret."""
    page = text(client.get("/auth/2fa"))
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page).group(1)
    resp = client.post("/auth/2fa", data={"code": code(secret)})
    assert resp.status_code == 302, text(resp)[:400]
    next_step()  # the set-up code is used up: the next code comes 30 seconds later
    return secret


def next_step() -> None:
    """Move the product clock on by one TOTP step (30 s)."""
    clock.set_offset(clock._offset + timedelta(seconds=30))


def password_step(client, user):
    fresh_request_state()
    return client.post("/auth/login", data={"email": user.email, "password": PASSWORD})


def test_setup_shows_a_key_and_needs_a_right_code(client, login, make_user):
    user = make_user("engineer")
    login(user)
    page = text(client.get("/auth/2fa"))
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page).group(1)
    assert len(secret) == 32
    uri = re.search(r'data-testid="totp-uri">([^<]+)<', page).group(1)
    assert uri.startswith("otpauth://totp/CR%20Tracker:") and f"secret={secret}" in uri
    assert text(client.get("/auth/2fa")).count(secret) == 2  # the same key until confirmed

    resp = client.post(
        "/auth/2fa", data={"code": "000000" if code(secret) != "000000" else "111111"}
    )
    assert resp.status_code == 422 and "That code is not right" in text(resp)
    assert fresh(user).totp_enabled_at is None

    assert client.post("/auth/2fa", data={"code": code(secret)}).status_code == 302
    user = fresh(user)
    assert user.totp_secret == secret and user.totp_enabled_at is not None
    assert "Two-factor log-in is <strong>on</strong>" in text(client.get("/auth/2fa"))


def test_login_with_totp_takes_a_second_step(app, client, login, make_user):
    user = make_user("agent")
    login(user)
    secret = enable_totp(client, user)
    client.post("/auth/logout")

    resp = password_step(client, user)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/auth/2fa/verify")
    fresh_request_state()
    assert client.get("/tickets/").status_code == 302  # half logged in is not logged in
    fresh_request_state()
    resp = client.post("/auth/2fa/verify", data={"code": code(secret, -5)})
    assert resp.status_code == 422 and "That code is not right." in text(resp)
    fresh_request_state()
    resp = client.post("/auth/2fa/verify", data={"code": code(secret)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/dashboard")
    fresh_request_state()
    assert client.get("/tickets/").status_code == 200
    db.session.expire_all()
    methods = db.session.scalars(
        select(UserSession.method).where(UserSession.user_id == user.id).order_by(UserSession.id)
    ).all()
    assert methods[-1] == "totp"

    # the second step does not outlive its five minutes, nor work without the password step
    fresh_request_state()
    stranger = app.test_client()
    resp = stranger.post("/auth/2fa/verify", data={"code": code(secret)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/auth/login")
    password_step(stranger, user)
    clock.set_offset(clock._offset + timedelta(seconds=301))
    fresh_request_state()
    resp = stranger.post("/auth/2fa/verify", data={"code": code(secret)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/auth/login")


def test_wrong_codes_count_towards_lockout(client, login, make_user):
    user = make_user("engineer")
    login(user)
    secret = enable_totp(client, user)
    client.post("/auth/logout")
    password_step(client, user)
    wrong = "123456" if code(secret) != "123456" else "654321"
    for _ in range(4):
        fresh_request_state()
        assert client.post("/auth/2fa/verify", data={"code": wrong}).status_code == 422
    fresh_request_state()
    resp = client.post("/auth/2fa/verify", data={"code": wrong})
    assert resp.status_code == 429 and "Too many failed log-in attempts" in text(resp)
    assert fresh(user).failed_logins == 5


def test_turning_totp_off_needs_a_code(client, login, make_user):
    user = make_user("manager")
    login(user)
    secret = enable_totp(client, user)
    assert client.post("/auth/2fa/disable", data={"code": "12"}).status_code == 422
    assert fresh(user).totp_enabled_at is not None
    assert client.post("/auth/2fa/disable", data={"code": code(secret)}).status_code == 302
    user = fresh(user)
    assert (user.totp_secret, user.totp_enabled_at) == (None, None)


def test_admin_requires_totp_for_a_role(app, client, login, make_user):
    admin = make_user("admin")
    engineer = make_user("engineer")
    agent = make_user("agent")
    login(admin)
    assert 'value="engineer"' in text(client.get("/auth/2fa/policy"))
    resp = client.post("/auth/2fa/policy", data={"roles": ["engineer"]})
    assert resp.status_code == 302
    assert get_setting("security.require_totp_roles") == ["engineer"]
    assert client.post("/auth/2fa/policy", data={"roles": ["customer"]}).status_code == 422
    client.post("/auth/logout")

    # the engineer is sent to the set-up page and can reach nothing else until done
    eng = app.test_client()
    resp = password_step(eng, engineer)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/auth/2fa")
    for path in ("/dashboard", "/tickets/", "/auth/profile"):
        fresh_request_state()
        resp = eng.get(path)
        assert resp.status_code == 302 and resp.headers["Location"].endswith("/auth/2fa"), path
    fresh_request_state()
    assert "Your role requires two-factor log-in" in text(eng.get("/auth/2fa"))
    fresh_request_state()
    secret = enable_totp(eng, engineer)
    fresh_request_state()
    assert eng.get("/tickets/").status_code == 200
    fresh_request_state()
    assert eng.post("/auth/2fa/disable", data={"code": code(secret)}).status_code == 409  # required

    # other roles are not affected
    other = app.test_client()
    resp = password_step(other, agent)
    assert resp.headers["Location"].endswith("/dashboard")
    fresh_request_state()
    assert other.get("/tickets/").status_code == 200


def test_repeating_the_password_step_buys_no_more_guesses(client, login, make_user):
    user = make_user("engineer")
    login(user)
    secret = enable_totp(client, user)
    client.post("/auth/logout")
    wrong = "123456" if code(secret) != "123456" else "654321"
    for _ in range(4):
        assert password_step(client, user).status_code == 302
        fresh_request_state()
        assert client.post("/auth/2fa/verify", data={"code": wrong}).status_code == 422
    assert fresh(user).failed_logins == 4
    password_step(client, user)
    fresh_request_state()
    assert client.post("/auth/2fa/verify", data={"code": wrong}).status_code == 429


def test_api_token_needs_the_code_when_totp_is_on(client, login, make_user):
    user = make_user("agent")
    login(user)
    secret = enable_totp(client, user)
    client.post("/auth/logout")
    body = {"email": user.email, "password": PASSWORD}
    resp = client.post("/api/v1/auth/token", json=body)
    assert resp.status_code == 401 and "send the current code" in resp.json["detail"]
    resp = client.post("/api/v1/auth/token", json={**body, "totp_code": "12345x"})
    assert resp.status_code == 401 and resp.json["detail"] == "The two-factor code is not right."
    resp = client.post("/api/v1/auth/token", json={**body, "totp_code": code(secret)})
    assert resp.status_code == 200 and resp.json["access_token"]
    assert fresh(user).failed_logins == 0


def test_api_token_refused_until_a_required_totp_is_set_up(client, make_user):
    from crm.settings import set_setting

    set_setting("security.require_totp_roles", ["manager"])
    user = make_user("manager")
    resp = client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD})
    assert resp.status_code == 403 and "set it up in the console first" in resp.json["detail"]
