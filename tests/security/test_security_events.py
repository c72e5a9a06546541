"""Security events each write one JSON line on the ``crm.security`` logger with the UTC time,
the user, the client's IP and user agent, and the outcome: failed log-ins, lockouts, 403s,
refresh-token reuse, TOTP failures, role changes, password changes and resets."""
from __future__ import annotations

import json
import logging
import re
from datetime import datetime

import pyotp
import pytest

from crm import clock
from crm.extensions import db
from tests.conftest import PASSWORD
from tests.helpers_matrix import fresh_request_state

UA = "Mozilla/5.0 (SecurityEventsTest)"
IP = "198.51.100.7"


@pytest.fixture
def events(caplog):
    """``events(name)`` → the parsed JSON lines of that event logged so far."""
    caplog.set_level(logging.INFO, logger="crm.security")

    def of(name: str) -> list[dict]:
        lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "crm.security"]
        return [e for e in lines if e["event"] == name]
    return of


@pytest.fixture
def browser_like(app):
    client = app.test_client()
    client.environ_base.update({"REMOTE_ADDR": IP, "HTTP_USER_AGENT": UA})
    return client


def assert_context(entry: dict, outcome: str) -> None:
    assert entry["outcome"] == outcome
    assert entry["ip"] == IP and entry["user_agent"] == UA
    assert datetime.fromisoformat(entry["ts"]).utcoffset().total_seconds() == 0


def test_failed_logins_and_the_lockout_are_logged(browser_like, make_user, events):
    user = make_user("customer")
    for _ in range(5):
        fresh_request_state()
        browser_like.post("/auth/login", data={"email": user.email, "password": "wrong-password"})
    failed = events("login.failed")
    assert (
        len(failed) == 5
        and failed[0]["user_id"] == user.id
        and failed[0]["reason"] == "wrong_password"
    )
    assert_context(failed[0], "failure")
    locked = events("account.locked")
    assert len(locked) == 1 and locked[0]["seconds"] == 30 and locked[0]["user"] == user.email
    fresh_request_state()
    browser_like.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD})
    assert events("login.locked")[-1]["user_id"] == user.id
    assert "wrong-password" not in json.dumps(failed) and PASSWORD not in json.dumps(failed)


def test_unknown_accounts_are_logged_by_address(browser_like, events):
    browser_like.post(
        "/api/v1/auth/token", json={"email": "Nobody@Example.com", "password": "wrong-password"}
    )
    entry = events("login.failed")[-1]
    assert entry["email"] == "nobody@example.com" and entry["reason"] == "unknown_account"
    assert "user_id" not in entry


def test_403s_are_logged(browser_like, make_user, token_for, events):
    customer = make_user("customer")
    token = token_for(customer)
    resp = browser_like.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 403
    entry = events("access.denied")[-1]
    assert entry["user_id"] == customer.id and entry["path"] == "/api/v1/users"
    assert_context(entry, "denied")


def test_refresh_token_reuse_is_logged(browser_like, make_user, events):
    user = make_user("agent")
    pair = browser_like.post(
        "/api/v1/auth/token", json={"email": user.email, "password": PASSWORD}
    ).json
    assert (
        browser_like.post(
            "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        ).status_code
        == 200
    )
    assert (
        browser_like.post(
            "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        ).status_code
        == 401
    )
    entry = events("refresh_token.reused")[-1]
    assert entry["user_id"] == user.id and entry["action"] == "family_revoked"
    assert_context(entry, "failure")


def test_totp_failures_are_logged(browser_like, make_user, events):
    user = make_user("engineer")
    secret = pyotp.random_base32()
    user.totp_secret, user.totp_enabled_at = secret, clock.utcnow()
    db.session.commit()
    body = {"email": user.email, "password": PASSWORD}
    now = pyotp.TOTP(secret).at(clock.utcnow())
    wrong = f"{(int(now) + 1) % 10**6:06d}"
    browser_like.post("/api/v1/auth/token", json={**body, "totp_code": wrong})
    assert (
        browser_like.post("/api/v1/auth/token", json={**body, "totp_code": now}).status_code == 200
    )
    browser_like.post("/api/v1/auth/token", json={**body, "totp_code": now})
    reasons = [e["reason"] for e in events("totp.failed")]
    assert reasons == ["wrong_code", "reused_code"]
    assert_context(events("totp.failed")[0], "failure")


def test_role_changes_are_logged(browser_like, make_user, token_for, events):
    admin, target = make_user("admin"), make_user("agent")
    token = token_for(admin)
    resp = browser_like.patch(
        f"/api/v1/users/{target.id}",
        json={"role": "manager"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 200
    entry = events("user.role_changed")[-1]
    assert (entry["user_id"], entry["target_user_id"], entry["old_role"], entry["new_role"]) == (
        admin.id,
        target.id,
        "agent",
        "manager",
    )
    assert_context(entry, "success")


def test_password_changes_and_resets_are_logged(browser_like, login, make_user, run_jobs, events):
    user = make_user("customer")
    browser_like.post("/auth/login", data={"email": user.email, "password": PASSWORD})
    fresh_request_state()
    resp = browser_like.post(
        "/auth/password",
        data={
            "current_password": PASSWORD,
            "password": "brand-new-Secret-77",
            "confirm": "brand-new-Secret-77",
        },
    )
    assert resp.status_code == 302
    entry = events("password.changed")[-1]
    assert entry["user_id"] == user.id and entry["reason"] == "password_changed"
    assert_context(entry, "success")

    fresh_request_state()
    browser_like.post("/api/v1/auth/password-reset", json={"email": user.email})
    run_jobs()
    from tests.accounts.helpers import outbox

    token = re.search(
        r"/auth/reset/([A-Za-z0-9_\-]+)", outbox("password_reset", user.email)[-1].body_text
    ).group(1)
    fresh_request_state()
    resp = browser_like.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": token, "password": "another-Secret-88"},
    )
    assert resp.status_code == 204
    assert events("password.changed")[-1]["reason"] == "password_reset"
