"""Helpers for the session tests: several browsers (test clients) per test."""
from __future__ import annotations

import pytest
from flask import g

from crm.extensions import db
from tests.conftest import PASSWORD

CHROME_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/120.0.0.0 Safari/537.36")
IPHONE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
             "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1")


def fresh() -> None:
    """Start the next test-client request like a production one: the tests keep one app
    context pushed, so drop the per-request state Flask-Login and the session loader left
    in ``g`` and end the database transaction (as tests/helpers_matrix.py does)."""
    g.pop("_login_user", None)
    g.pop("user_session", None)
    db.session.rollback()


class Browser:
    """One browser: a test client with its own cookies, IP address and User-Agent."""

    def __init__(self, app, ip: str = "198.51.100.7", user_agent: str = CHROME_UA):
        self.client = app.test_client()
        self.environ = {"REMOTE_ADDR": ip, "HTTP_USER_AGENT": user_agent}

    def open(self, method: str, path: str, **kwargs):
        fresh()
        return self.client.open(path, method=method, environ_base=self.environ, **kwargs)

    def get(self, path: str, **kwargs):
        return self.open("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.open("POST", path, **kwargs)

    def log_in(self, user, remember: bool = False):
        data = {"email": user.email, "password": PASSWORD}
        if remember:
            data["remember"] = "y"
        resp = self.post("/auth/login", data=data)
        assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
        return self


def is_login_redirect(resp) -> bool:
    """A "log in first" redirect."""
    return resp.status_code == 302 and "/auth/login" in resp.headers["Location"]


@pytest.fixture
def browser(app):
    """``browser(ip=..., user_agent=...)`` → a new :class:`Browser`."""
    return lambda **kw: Browser(app, **kw)
