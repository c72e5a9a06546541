"""Synthetic steps' assertions and extractions evaluated on responses built in the test (no
network, no database; one backend): what each kind checks, its description and detail, and
that a detail quoting the response masks values under secret-looking names and is cut
short (steps are shown to ``monitor.manage`` in a manual run; the check's error never
quotes them)."""
from __future__ import annotations

import httpx
import pytest

from crm.monitoring.engine.checks.synthetic import evaluate, extract, substitute
from crm.net.redact import MASK

pytestmark = pytest.mark.only_backend("sqlite")


def _response(status=200, json=None, text=None, headers=None) -> httpx.Response:
    request = httpx.Request("GET", "https://shop.example/api")
    if json is not None:
        return httpx.Response(status, json=json, headers=headers, request=request)
    return httpx.Response(status, text=text or "", headers=headers, request=request)


def test_each_assertion_kind():
    page = _response(201, json={"data": {"id": 7, "ok": True, "items": [1, 2]}},
                     headers={"X-Request-Id": "abc-123", "Content-Type": "application/json"})
    cases = [
        ({"type": "status", "expected": "200-299"}, "status in 200-299", True, "got 201"),
        ({"type": "status"}, "status in 200-299", True, "got 201"),
        ({"type": "status", "expected": "200"}, "status in 200", False, "got 201"),
        ({"type": "header", "name": "X-Request-Id"}, "header X-Request-Id present", True,
         "got 'abc-123'"),
        ({"type": "header", "name": "content-type", "contains": "json"},
         "header content-type contains 'json'", True, "got 'application/json'"),
        ({"type": "header", "name": "X-Missing"}, "header X-Missing present", False, "absent"),
        ({"type": "body_contains", "text": '"ok": true'}, "body contains '\"ok\": true'", False,
         "not found"),  # httpx writes compact JSON
        ({"type": "body_contains", "expected": '"ok":true'}, "body contains '\"ok\":true'",
         True, "found"),
        ({"type": "json_path", "path": "$.data.id", "expected": "7"},
         "JSON $.data.id equals '7'", True, "got 7"),
        ({"type": "json_path", "path": "$.data.items"}, "JSON $.data.items exists", True,
         "got [1, 2]"),
        ({"type": "json_path", "path": "$.data.nope"}, "JSON $.data.nope exists", False,
         "\".data.nope: no key 'nope'\""),  # str() of the KeyError: quoted, without the $
        ({"type": "response_time", "max_ms": 500}, "response time ≤ 500 ms", True,
         "took 120 ms"),
        ({"type": "response_time", "max_ms": 100}, "response time ≤ 100 ms", False,
         "took 120 ms"),
        ({"type": "teleport"}, "unknown assertion 'teleport'", False, ""),
    ]
    wrong = []
    for assertion, description, ok, detail in cases:
        got = evaluate(assertion, page, 120.0)
        if got != {"description": description, "ok": ok, "detail": detail}:
            wrong.append(f"{assertion}: {got}")
    assert not wrong, "\n".join(wrong)


def test_details_mask_secret_names_and_cut_long_values():
    page = _response(json={"access_token": "eyJhbGciOi.secret", "note": "n" * 200},
                     headers={"Set-Cookie": "session=s3cr3t", "X-Trace": "t" * 200})
    cookie = evaluate({"type": "header", "name": "Set-Cookie"}, page, 1.0)
    token = evaluate({"type": "json_path", "path": "$.access_token"}, page, 1.0)
    assert cookie["ok"] and cookie["detail"] == f"got {MASK}"
    assert token["ok"] and token["detail"] == f"got {MASK}"
    trace = evaluate({"type": "header", "name": "X-Trace"}, page, 1.0)["detail"]
    note = evaluate({"type": "json_path", "path": "$.note"}, page, 1.0)["detail"]
    assert len(trace) == len("got ") + 64 and trace.endswith("…")
    assert len(note) == len("got ") + 64 and note.endswith("…")
    broken = evaluate({"type": "json_path", "path": "$.x"}, _response(text="<html>"), 1.0)
    assert not broken["ok"] and "<html>" not in broken["detail"]


def test_extractions_and_substitution():
    page = _response(json={"data": {"token": "t-1", "ids": [4, 5]}},
                     headers={"Location": "/orders/9"})
    assert extract("$.data.token", page) == "t-1"
    assert extract("data.ids[-1]", page) == 5
    assert extract("header:location", page) == "/orders/9"  # any case
    with pytest.raises(KeyError, match="no header X-Next"):
        extract("header: X-Next", page)
    with pytest.raises(ValueError):
        extract("$.data", _response(text="not json"))
    values = {"token": "t-1", "n": 5}
    assert substitute(["{{token}}", {"h": "Bearer {{ token }}"}, 3, "{{other}}/{{n}}"],
                      values) == ["t-1", {"h": "Bearer t-1"}, 3, "{{other}}/5"]
