"""Hostile JSON bodies: nesting 3,000 deep and duplicate keys are a 400 problem+json on every
JSON route (the API's parsers and ``request.get_json`` alike), never a 500."""
from __future__ import annotations

import pytest

from crm.security import jsonsafe

PROBLEM = "application/problem+json"
DEEP = "[" * 3000 + "]" * 3000
DEEP_OBJECT = '{"a":' * 3000 + "1" + "}" * 3000


@pytest.fixture
def admin_token(make_user, token_for):
    return token_for(make_user("admin"))


@pytest.fixture
def customer_token(make_user, token_for):
    return token_for(make_user("customer"))


def _post(client, path, body: str, token: str | None = None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.post(path, data=body, headers=headers)


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT, '{"title": ' + DEEP + "}"])
def test_deep_nesting_is_a_400_on_ticket_creation(client, customer_token, body):
    resp = _post(client, "/api/v1/tickets", body, customer_token)
    assert resp.status_code == 400 and resp.mimetype == PROBLEM
    assert "nested more than 32 levels" in resp.json["detail"]


def test_deep_nesting_is_a_400_on_monitor_import(client, admin_token):
    resp = _post(client, "/api/v1/monitors/import", DEEP, admin_token)
    assert resp.status_code == 400 and resp.mimetype == PROBLEM
    assert "nested more than 32 levels" in resp.json["detail"]


def test_duplicate_keys_are_refused(client, customer_token):
    body = '{"title": "Printer on fire", "title": "x", "description": "It smokes."}'
    resp = _post(client, "/api/v1/tickets", body, customer_token)
    assert resp.status_code == 400 and resp.mimetype == PROBLEM
    assert "'title' more than once" in resp.json["detail"]


def test_deep_nesting_on_an_unauthenticated_sign_in_route(client):
    """The rate limiter reads the body of sign-in requests with ``request.get_json``."""
    resp = _post(client, "/api/v1/auth/token", DEEP)
    assert resp.status_code == 400 and resp.mimetype == PROBLEM


def test_request_get_json_uses_the_strict_parser(app):
    with app.test_request_context("/x", method="POST", data='{"a": 1, "a": 2}',
                                  content_type="application/json"):
        from flask import request
        from werkzeug.exceptions import BadRequest
        with pytest.raises(BadRequest):
            request.get_json()


def test_depth_is_counted_outside_strings_only():
    assert jsonsafe.nesting_depth('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}') == 1
    assert jsonsafe.nesting_depth('[[1], {"b": [2, "\\"]"]}]') == 3
    assert jsonsafe.loads("[" * 32 + "]" * 32) is not None
    with pytest.raises(jsonsafe.UnsafeJSON):
        jsonsafe.loads("[" * 33 + "]" * 33)
