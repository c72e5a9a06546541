"""The Sentry-compatible ingest over HTTP: envelopes and ``/store/`` bodies, compressed or
not; authentication (401/403); the per-project quota (429 + Retry-After); size limits (413);
malformed bodies are a 400, never a 500."""
from __future__ import annotations

import gzip
import json
import zlib

import brotli
import pytest
from sqlalchemy import func, select

from crm.extensions import db
from crm.observability.errors.models import ErrorEvent, ErrorIssue
from tests.observability.conftest import event_payload, sentry_auth

PROBLEM = "application/problem+json"


def envelope(*events: dict, extra_items: tuple[tuple[dict, bytes], ...] = ()) -> bytes:
    """An envelope of ``events`` (items with and without ``length``) plus ``extra_items``."""
    lines = [json.dumps({"event_id": "9ec79c33ec9942ab8353589fcb2e04dc", "sent_at": "2026-12-03"
                         "T10:00:00Z"}).encode()]
    for i, event in enumerate(events):
        payload = json.dumps(event).encode()
        header = {"type": "event", "length": len(payload)} if i % 2 else {"type": "event"}
        lines += [json.dumps(header).encode(), payload]
    for header, payload in extra_items:
        lines += [json.dumps(header).encode(), payload]
    return b"\n".join(lines) + b"\n"


def _events() -> int:
    return db.session.scalar(select(func.count(ErrorEvent.id)))


COMPRESSORS = {
    "identity": lambda b: b,
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
}


@pytest.mark.parametrize("encoding", sorted(COMPRESSORS))
def test_envelope_bodies_in_every_encoding_are_stored(client, project, encoding):
    body = envelope(event_payload("order 1 not found"), event_payload("order 2 not found"))
    resp = client.post(f"/api/{project.id}/envelope/", data=COMPRESSORS[encoding](body),
                       headers={**sentry_auth(project), "Content-Encoding": encoding,
                                "Content-Type": "application/x-sentry-envelope"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["stored"] == 2
    issue = db.session.scalar(select(ErrorIssue).where(ErrorIssue.project_id == project.id))
    assert issue.event_count == 2 and issue.culprit == "shop.orders.load_order"


def test_store_endpoint_with_the_key_in_the_query_string(client, project):
    payload = event_payload(request={"url": "https://shop.example.com/pay?card=4111&x=1",
                                     "method": "POST",
                                     "headers": {"Authorization": "Bearer s3cret",
                                                 "Cookie": "session=abc",
                                                 "User-Agent": "Shop/2.0"},
                                     "data": {"password": "hunter2", "item": "book"}})
    resp = client.post(f"/api/{project.id}/store/?sentry_key={project.public_key}",
                       data=json.dumps(payload), content_type="application/json")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    event = db.session.scalar(select(ErrorEvent))
    stored = json.dumps(event.data) + (event.path or "")
    for secret in ("s3cret", "session=abc", "hunter2", "4111"):
        assert secret not in stored
    assert event.user_agent == "Shop/2.0" and event.method == "POST"
    assert event.data["request"]["data"] == {"password": "[Filtered]", "item": "book"}


def test_log_and_other_items_are_accepted_and_ignored(client, project):
    body = envelope(event_payload(), extra_items=(
        ({"type": "log", "item_count": 1}, b'{"items": [{"body": "hello", "level": "info"}]}'),
        ({"type": "client_report"}, b'{"discarded_events": []}')))
    resp = client.post(f"/api/{project.id}/envelope/", data=body, headers=sentry_auth(project))
    assert resp.status_code == 200
    assert resp.get_json() == {"id": "9ec79c33ec9942ab8353589fcb2e04dc", "stored": 1,
                               "ignored": 2}


def test_the_dsn_in_the_envelope_header_authenticates_a_tunnelled_envelope(client, project):
    dsn = f"https://{project.public_key}@crm.test/{project.id}"
    body = envelope(event_payload()).replace(b"{", json.dumps({"dsn": dsn})[:-1].encode() + b", ",
                                             1)
    resp = client.post(f"/api/{project.id}/envelope/", data=body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    wrong = body.replace(project.public_key.encode(), b"0" * 32)
    assert client.post(f"/api/{project.id}/envelope/", data=wrong).status_code == 403
    assert _events() == 1


@pytest.mark.parametrize("headers,query,expected", [
    ({}, "", 401),
    ({"X-Sentry-Auth": "Sentry sentry_version=7"}, "", 401),
    ({"X-Sentry-Auth": "Sentry sentry_key=0123456789abcdef0123456789abcdef"}, "", 403),
    ({}, "?sentry_key=wrong", 403),
])
def test_missing_or_wrong_keys_are_refused(client, project, headers, query, expected):
    resp = client.post(f"/api/{project.id}/envelope/{query}", data=envelope(event_payload()),
                       headers=headers)
    assert resp.status_code == expected and resp.content_type == PROBLEM
    assert _events() == 0


def test_another_projects_key_is_refused(client, project):
    from crm.observability.errors.models import ErrorProject
    other = ErrorProject(name="Other")
    db.session.add(other)
    db.session.commit()
    resp = client.post(f"/api/{other.id}/store/", data=json.dumps(event_payload()),
                       headers=sentry_auth(project))
    assert resp.status_code == 403
    assert client.post(f"/api/{other.id + 100}/store/", data=json.dumps(event_payload()),
                       headers=sentry_auth(project)).status_code == 403


def test_over_quota_is_429_with_retry_after(client, project):
    project.quota_per_minute = 2
    db.session.commit()
    answers = [client.post(f"/api/{project.id}/store/", data=json.dumps(event_payload()),
                           headers=sentry_auth(project)) for _ in range(3)]
    assert [a.status_code for a in answers[:2]] == [200, 200]
    refused = answers[2]
    if refused.status_code == 200:  # the two first fell into the previous minute
        refused = client.post(f"/api/{project.id}/store/", data=json.dumps(event_payload()),
                              headers=sentry_auth(project))
    assert refused.status_code == 429 and refused.content_type == PROBLEM
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-Sentry-Rate-Limits"].startswith(refused.headers["Retry-After"])


def test_too_large_bodies_are_413(app, client, project):
    limit = app.config["ERROR_INGEST_MAX_BYTES"]
    bomb = gzip.compress(b"{" + b" " * (limit + 10) + b"}")  # small on the wire, huge inflated
    resp = client.post(f"/api/{project.id}/store/", data=bomb,
                       headers={**sentry_auth(project), "Content-Encoding": "gzip"})
    assert resp.status_code == 413 and resp.content_type == PROBLEM
    brotli_bomb = brotli.compress(b" " * (limit + 10))
    resp = client.post(f"/api/{project.id}/store/", data=brotli_bomb,
                       headers={**sentry_auth(project), "Content-Encoding": "br"})
    assert resp.status_code == 413
    wire = b" " * (app.config["MAX_CONTENT_LENGTH"] + 1)
    resp = client.post(f"/api/{project.id}/store/", data=wire, headers=sentry_auth(project))
    assert resp.status_code == 413 and resp.content_type == PROBLEM
    assert _events() == 0


MALFORMED = {
    "empty body": (b"", None),
    "header not JSON": (b"not json\n", None),
    "header not an object": (b"[1]\n", None),
    "item header not JSON": (b"{}\n{oops\n{}\n", None),
    "item without type": (b'{}\n{"length": 2}\n{}\n', None),
    "length past the end": (b'{}\n{"type": "event", "length": 999}\n{}\n', None),
    "negative length": (b'{}\n{"type": "event", "length": -1}\n{}\n', None),
    "event not JSON": (b'{}\n{"type": "event"}\n{nope\n', None),
    "event not an object": (b'{}\n{"type": "event"}\n[1, 2]\n', None),
    "exception values not a list": (
        b'{}\n{"type": "event"}\n{"exception": {"values": 3}}\n', None),
    "frames not a list": (b'{}\n{"type": "event"}\n{"exception": {"values": [{"type": "E", '
                          b'"stacktrace": {"frames": "x"}}]}}\n', None),
    "request not an object": (b'{}\n{"type": "event"}\n{"request": "x"}\n', None),
    "NaN": (b'{}\n{"type": "event"}\n{"extra": {"x": NaN}}\n', None),
    "not UTF-8": (b'{}\n{"type": "event"}\n{"message": "\xff\xfe"}\n', None),
    "bad gzip": (b"\x1f\x8b\x08\x00garbage", "gzip"),
    "truncated gzip": (gzip.compress(b'{"message": "x"}' * 50)[:30], "gzip"),
    "bad brotli": (b"\xff\xff\xff\xff", "br"),
    "bad deflate": (b"\x00\x01\x02\x03", "deflate"),
    "unknown encoding": (b"{}\n", "zstd"),
}


def test_malformed_envelopes_are_400_never_500(client, project):
    failures = []
    for name, (body, encoding) in MALFORMED.items():
        headers = {**sentry_auth(project), **({"Content-Encoding": encoding} if encoding else {})}
        resp = client.post(f"/api/{project.id}/envelope/", data=body, headers=headers)
        if resp.status_code != 400 or resp.content_type != PROBLEM or not resp.json.get("detail"):
            failures.append(f"{name}: {resp.status_code} {resp.get_data(as_text=True)[:200]}")
    assert not failures, "\n".join(failures)
    assert _events() == 0


def test_malformed_store_bodies_are_400(client, project):
    for body in (b"", b"null", b"[]", b'{"user": 5}', b'{"message": ["x"]}', b'{"level": 3'):
        resp = client.post(f"/api/{project.id}/store/", data=body, headers=sentry_auth(project))
        assert resp.status_code == 400, (body, resp.get_data(as_text=True))
    assert _events() == 0
