"""Redirects back to the ``Referer`` stay on this site: the outbox's retry button."""
from __future__ import annotations

import pytest

from crm.security.redirects import internal_path
from tests.accounts.helpers import outbox


@pytest.fixture
def notification_id(client):
    resp = client.post("/api/v1/auth/register", json={"name": "Ann", "email": "ann@example.com",
                                                      "password": "battery-staple-99"})
    assert resp.status_code == 201
    return outbox("verify_email", "ann@example.com")[-1].id


@pytest.mark.parametrize("referer", [
    "https://evil.example.com/admin/outbox?status=failed",
    "//evil.example.com/admin/outbox",
    "http://localhost.evil.example.com/admin/outbox",
    "javascript:alert(1)//admin/outbox",
    "/admin/outbox\\@evil.example.com",
])
def test_retry_never_redirects_to_another_host(client, login, make_user, notification_id, referer):
    login(make_user("admin"))
    resp = client.post(f"/admin/outbox/{notification_id}/retry", headers={"Referer": referer})
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith("/admin/outbox") and "evil" not in location, location


def test_retry_goes_back_to_the_filtered_outbox_page(client, login, make_user, notification_id):
    login(make_user("admin"))
    resp = client.post(f"/admin/outbox/{notification_id}/retry",
                       headers={"Referer": "http://localhost/admin/outbox?status=failed"})
    assert resp.headers["Location"] == "/admin/outbox?status=failed"


def test_internal_path_rules(app):
    with app.test_request_context("/", base_url="http://crm.example.com"):
        assert (
            internal_path("http://crm.example.com/admin/outbox/3", "/admin/outbox")
            == "/admin/outbox/3"
        )
        assert internal_path("http://crm.example.com/tickets/", "/admin/outbox") is None
        assert internal_path("https://other.example.com/admin/outbox") is None
        assert internal_path("/admin/outbox?x=1") == "/admin/outbox?x=1"
