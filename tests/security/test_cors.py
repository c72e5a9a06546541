"""CORS (flask-cors): only /api answers cross-origin requests, only for CORS_ORIGINS."""
from __future__ import annotations

import pytest

ALLOWED = "https://app.example.com"


@pytest.fixture
def cors_app(app_with):
    return app_with(CORS_ORIGINS=[ALLOWED, "https://other.example.com"])


def test_the_api_allows_a_configured_origin(cors_app, make_user, token_for):
    client = cors_app.test_client()
    resp = client.get("/api/v1/openapi.json", headers={"Origin": ALLOWED})
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Access-Control-Allow-Credentials" not in resp.headers  # bearer tokens, not cookies
    assert "Retry-After" in resp.headers["Access-Control-Expose-Headers"]
    token = token_for(make_user("customer"))
    resp = client.get(
        "/api/v1/tickets", headers={"Origin": ALLOWED, "Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 200 and resp.headers["Access-Control-Allow-Origin"] == ALLOWED


def test_a_preflight_for_the_api_is_answered(cors_app):
    resp = cors_app.test_client().options(
        "/api/v1/tickets",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    assert "authorization" in resp.headers["Access-Control-Allow-Headers"].lower()


def test_other_origins_get_no_cors_headers(cors_app):
    resp = cors_app.test_client().get(
        "/api/v1/openapi.json", headers={"Origin": "https://evil.example"}
    )
    assert resp.status_code == 200
    assert "Access-Control-Allow-Origin" not in resp.headers


@pytest.mark.parametrize(
    "path", ["/auth/login", "/docs", "/healthz", "/static/js/app.js", "/security/devconsole.json"]
)
def test_console_pages_never_get_cors_headers(cors_app, path):
    resp = cors_app.test_client().get(path, headers={"Origin": ALLOWED})
    assert resp.status_code == 200
    assert not any(h.startswith("Access-Control-") for h in resp.headers.keys())


def test_without_cors_origins_nothing_is_allowed(client):
    resp = client.get("/api/v1/openapi.json", headers={"Origin": ALLOWED})
    assert not any(h.startswith("Access-Control-") for h in resp.headers.keys())
