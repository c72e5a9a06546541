"""``Cache-Control: no-store`` on everything private: a logged-in user's pages, API answers
(the token and refresh answers included), downloads; static assets keep their caching."""
from __future__ import annotations

import pytest

from tests.conftest import PASSWORD


def no_store(resp) -> bool:
    return "no-store" in resp.headers.get("Cache-Control", "")


def test_token_and_refresh_answers_are_not_stored(client, make_user):
    user = make_user("customer")
    resp = client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD})
    assert resp.status_code == 200 and no_store(resp)
    resp = client.post("/api/v1/auth/refresh", json={"refresh_token": resp.json["refresh_token"]})
    assert resp.status_code == 200 and no_store(resp)


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/me", "/api/v1/tickets/999999", "/api/v1/monitors/export"]
)
def test_api_answers_are_not_stored(client, make_user, token_for, path):
    token = token_for(make_user("admin"))
    resp = client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert no_store(resp), (path, resp.status_code, resp.headers)


def test_logged_in_pages_are_not_stored_but_static_assets_are_cached(client, login, make_user):
    login(make_user("agent"))
    for path in ("/dashboard", "/tickets/", "/auth/profile"):
        assert no_store(client.get(path)), path
    css = client.get("/static/css/app.css")
    assert css.status_code == 200 and not no_store(css)


def test_anonymous_public_pages_are_left_alone(client):
    resp = client.get("/auth/login")
    assert resp.status_code == 200 and not no_store(resp)
