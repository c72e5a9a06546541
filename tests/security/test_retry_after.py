"""A locked account's 429 carries its own remaining time in the body and in ``Retry-After``
alike, with the rate limiter on (which otherwise writes its window's reset there); answers
that are not 429/503 carry no ``Retry-After``."""
from __future__ import annotations

import re

import pytest

from tests.conftest import PASSWORD


@pytest.fixture
def limited(app_with):
    """Rate limiting on with windows much longer than the 30-second lock."""
    return app_with(RATELIMIT_ENABLED=True, API_RATE_LIMIT="1000 per 10 minutes",
                    AUTH_RATE_LIMIT="1000 per minute")


def seconds_in(text: str) -> int:
    number, unit = re.search(r"Try again in (\d+) (second|minute)", text).groups()
    return int(number) * (60 if unit == "minute" else 1)


def test_api_lockout_retry_after_matches_the_body(limited, make_user):
    user = make_user("customer")
    client = limited.test_client()
    for _ in range(5):
        resp = client.post(
            "/api/v1/auth/token", json={"email": user.email, "password": "wrong-password"}
        )
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "30" == str(seconds_in(resp.json["detail"]))
    again = client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD})
    assert again.status_code == 429
    assert int(again.headers["Retry-After"]) == seconds_in(again.json["detail"]) <= 30


def test_console_lockout_retry_after_matches_the_body(limited, make_user):
    user = make_user("customer")
    client = limited.test_client()
    for _ in range(5):
        resp = client.post("/auth/login", data={"email": user.email, "password": "wrong-password"})
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "30" == str(seconds_in(resp.get_data(as_text=True)))


def test_ordinary_answers_carry_no_retry_after(limited):
    client = limited.test_client()
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200 and "X-RateLimit-Limit" in resp.headers
    assert "Retry-After" not in resp.headers


def test_the_limiters_own_429_keeps_its_retry_after(app_with):
    limited = app_with(RATELIMIT_ENABLED=True, API_RATE_LIMIT="2 per minute")
    client = limited.test_client()
    for _ in range(2):
        client.get("/api/v1/openapi.json")
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 429
    assert str(resp.json["retry_after"]) == resp.headers["Retry-After"]
