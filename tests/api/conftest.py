"""Helpers for the API tests: a bearer-authenticated client, problem assertions, tickets."""
from __future__ import annotations

import pytest

from crm.tickets import services as tickets

PREFIX = "/api/v1"


class Api:
    """Calls ``/api/v1`` paths as a user (``as_=user`` adds their bearer token)."""

    def __init__(self, client, token_for):
        self.client = client
        self.token_for = token_for
        self.tokens: dict[int, str] = {}

    def headers(self, user) -> dict:
        """``Authorization`` header for ``user`` (token fetched once per test)."""
        if user is None:
            return {}
        if user.id not in self.tokens:
            self.tokens[user.id] = self.token_for(user)
        return {"Authorization": f"Bearer {self.tokens[user.id]}"}

    def open(self, method: str, path: str, as_=None, **kwargs):
        headers = {**self.headers(as_), **kwargs.pop("headers", {})}
        return self.client.open(PREFIX + path, method=method, headers=headers, **kwargs)

    def get(self, path, as_=None, **kwargs):
        return self.open("GET", path, as_, **kwargs)

    def post(self, path, as_=None, **kwargs):
        return self.open("POST", path, as_, **kwargs)

    def patch(self, path, as_=None, **kwargs):
        return self.open("PATCH", path, as_, **kwargs)


@pytest.fixture
def api(client, token_for) -> Api:
    """An :class:`Api` on the test client."""
    return Api(client, token_for)


def assert_problem(resp, status: int) -> dict:
    """Assert ``resp`` is an RFC 9457 problem with ``status``; return its body."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json(force=True)
    assert body["status"] == status
    assert body["title"]
    return body


@pytest.fixture
def make_ticket():
    """``make_ticket(customer, subject=..., description=..., priority=...)`` via the service
    (auto-assigned like a real one)."""
    def make(requester, subject: str = "Printer on fire", description: str = "Smoke everywhere",
             priority: str = "normal"):
        return tickets.create_ticket(requester, subject, description, priority)
    return make
