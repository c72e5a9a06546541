"""A 405 names the allowed methods in ``Allow`` (RFC 9110 §15.5.6), on the API's problem+json
and on the console's HTML page alike."""
from __future__ import annotations


def allowed(resp) -> set[str]:
    return {m.strip() for m in resp.headers.get("Allow", "").split(",") if m.strip()}


def test_api_405_carries_allow(client):
    resp = client.get("/api/v1/auth/token")
    assert resp.status_code == 405 and resp.mimetype == "application/problem+json"
    assert "POST" in allowed(resp) and "GET" not in allowed(resp)
    resp = client.delete("/api/v1/tickets")
    assert resp.status_code == 405 and {"GET", "POST"} <= allowed(resp)


def test_console_405_carries_allow(client):
    resp = client.get("/auth/logout")
    assert resp.status_code == 405 and resp.mimetype == "text/html"
    assert allowed(resp) >= {"POST"}
