"""Account lockout: after LOCKOUT_THRESHOLD failures a lock of LOCKOUT_BASE_SECONDS that
doubles with each further failure up to LOCKOUT_MAX_SECONDS; the same answer whether or
not the password is right, and for unknown addresses; a success resets."""
from __future__ import annotations

from datetime import timedelta

import pytest

from crm import clock
from crm.auth import lockout
from crm.auth.models import User
from crm.extensions import db
from tests.conftest import PASSWORD
from tests.helpers_matrix import fresh_request_state

PROBLEM = "application/problem+json"


def text(resp) -> str:
    return resp.get_data(as_text=True)


def attempt(client, email: str, password: str = "wrong-password"):
    fresh_request_state()
    return client.post("/auth/login", data={"email": email, "password": password})


def fresh(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def at(seconds: float) -> None:
    clock.set_offset(timedelta(seconds=seconds))


@pytest.mark.parametrize(
    "failures, seconds",
    [
        (1, 0),
        (4, 0),
        (5, 30),
        (6, 60),
        (7, 120),
        (11, 1920),
        (12, 3600),
        (40, 3600),
        (10_000, 3600),
    ],
)
def test_lock_grows_from_the_base_and_is_capped(app, failures, seconds):
    assert lockout.lock_seconds(failures) == seconds


def test_lock_doubles_after_each_further_failure(client, make_user):
    user = make_user("customer")
    for _ in range(4):
        resp = attempt(client, user.email)
        assert resp.status_code == 401 and "Wrong email or password." in text(resp)
    resp = attempt(client, user.email)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "30"
    assert "Too many failed log-in attempts. Try again in 30 seconds." in text(resp)
    assert fresh(user).failed_logins == 5

    # while locked, the right password gets exactly the same answer, and is not counted
    at(10)
    right = attempt(client, user.email, PASSWORD)
    assert right.status_code == 429 and "Try again in 20 seconds." in text(right)
    assert fresh(user).failed_logins == 5
    assert client.get("/auth/profile").status_code == 302  # not logged in

    at(31)
    resp = attempt(client, user.email)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "60"
    at(31 + 61)
    resp = attempt(client, user.email)
    assert resp.status_code == 429 and "Try again in 2 minutes." in text(resp)
    assert fresh(user).failed_logins == 7


def test_success_after_the_lock_resets_the_count(client, make_user):
    user = make_user("customer")
    for _ in range(5):
        attempt(client, user.email)
    at(30)
    assert attempt(client, user.email, PASSWORD).status_code == 302
    user = fresh(user)
    assert (user.failed_logins, user.locked_until) == (0, None)
    client.post("/auth/logout")
    for _ in range(4):  # back to the full allowance
        assert attempt(client, user.email).status_code == 401


def test_the_cap_comes_from_config(app, client, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "LOCKOUT_THRESHOLD", 2)
    monkeypatch.setitem(app.config, "LOCKOUT_MAX_SECONDS", 45)
    user = make_user("customer")
    assert attempt(client, user.email).status_code == 401
    assert attempt(client, user.email).headers["Retry-After"] == "30"
    at(31)
    assert attempt(client, user.email).headers["Retry-After"] == "45"


def test_unknown_addresses_lock_the_same_way(client, make_user):
    user = make_user("customer")
    answers = {}
    for email in (user.email, "nobody@example.com"):
        for _ in range(4):
            assert attempt(client, email).status_code == 401
        resp = attempt(client, email)
        answers[email] = (
            resp.status_code,
            resp.headers.get("Retry-After"),
            "Too many failed log-in attempts. Try again in 30 seconds." in text(resp),
        )
    assert answers[user.email] == answers["nobody@example.com"] == (429, "30", True)


def test_api_token_is_refused_while_locked(client, make_user):
    user = make_user("customer")
    for _ in range(4):
        resp = client.post(
            "/api/v1/auth/token", json={"email": user.email, "password": "wrong-password"}
        )
        assert resp.status_code == 401
    resp = client.post(
        "/api/v1/auth/token", json={"email": user.email, "password": "wrong-password"}
    )
    assert resp.status_code == 429 and resp.content_type.startswith(PROBLEM)
    assert resp.headers["Retry-After"] == "30"
    assert resp.json["detail"] == "Too many failed log-in attempts. Try again in 30 seconds."
    resp = client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD})
    assert resp.status_code == 429
    at(31)
    assert (
        client.post(
            "/api/v1/auth/token", json={"email": user.email, "password": PASSWORD}
        ).status_code
        == 200
    )


def test_console_and_api_failures_share_one_count(client, make_user):
    user = make_user("customer")
    for _ in range(2):
        attempt(client, user.email)
    for _ in range(2):
        client.post("/api/v1/auth/token", json={"email": user.email, "password": "nope-nope"})
    assert attempt(client, user.email).status_code == 429
