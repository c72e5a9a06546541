"""The official ``sentry-sdk`` reports into CR Tracker served on 127.0.0.1: its events are
grouped into issues, and the admins get one email per new issue through the outbox."""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest
import sentry_sdk
from sqlalchemy import select

from crm.extensions import db
from crm.observability.errors.models import ErrorEvent, ErrorIssue


def _served_dsn(dsn: str, base_url: str) -> str:
    """The DSN the API gave (``PUBLIC_URL`` = http://crm.test) pointed at the live server."""
    parts = urlsplit(dsn)
    key = parts.netloc.partition("@")[0]
    return urlunsplit((parts.scheme, f"{key}@{urlsplit(base_url).netloc}", parts.path, "", ""))


def _report(dsn: str, errors: list[Exception], **options) -> None:
    """Send ``errors`` with a real SDK client (no integrations: nothing global is hooked)."""
    client = sentry_sdk.Client(dsn, default_integrations=False, auto_enabling_integrations=False,
                               release="shop@2.1", environment="test", **options)
    try:
        with sentry_sdk.isolation_scope() as scope:
            scope.set_client(client)
            scope.set_user({"id": "u-17", "email": "buyer@example.com"})
            for exc in errors:
                try:
                    raise exc
                except Exception as raised:  # noqa: BLE001 - captured, as an app would
                    sentry_sdk.capture_exception(raised)
        client.flush(timeout=20)
    finally:
        client.close(timeout=5)


def load_order(order_id: int) -> None:
    """The application's buggy function (the top in-app frame of the grouped issue)."""
    raise LookupError(f"order {order_id} not found (request 5f2b9c1e7d)")


def parse_price(text: str) -> float:
    """A second, different bug."""
    return float(text)


def _errors() -> list[Exception]:
    out = []
    for order in (42, 1337):
        try:
            load_order(order)
        except LookupError as exc:
            out.append(exc)
    try:
        parse_price("twelve")
    except ValueError as exc:
        out.append(exc)
    return out


@pytest.mark.parametrize("algo", ["gzip", "br"])
def test_sdk_events_are_grouped_and_admins_get_one_mail_per_new_issue(
        app, client, live_server, make_user, token_for, run_jobs, smtp_server, algo):
    admin = make_user("admin")
    created = client.post("/api/v1/projects", json={"name": f"Shop {algo}"},
                          headers={"Authorization": f"Bearer {token_for(admin)}"})
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    assert body["dsn"] == f"http://{urlsplit(body['dsn']).username}@crm.test/{body['id']}"

    _report(_served_dsn(body["dsn"], live_server), _errors(),
            _experiments={"transport_compression_algo": algo})

    db.session.expire_all()
    issues = {i.culprit: i for i in db.session.scalars(
        select(ErrorIssue).where(ErrorIssue.project_id == body["id"]))}
    assert set(issues) == {"tests.observability.test_sentry_sdk.load_order",
                           "tests.observability.test_sentry_sdk.parse_price"}
    grouped = issues["tests.observability.test_sentry_sdk.load_order"]
    assert grouped.event_count == 2 and grouped.exception_type == "LookupError"
    assert grouped.title.startswith("LookupError: order 42 not found")
    events = list(db.session.scalars(select(ErrorEvent).where(ErrorEvent.issue_id == grouped.id)))
    assert {e.release for e in events} == {"shop@2.1"}
    assert all("load_order" in e.traceback for e in events)
    assert {e.user_label for e in events} == {"buyer@example.com"}

    run_jobs()
    mails = smtp_server.wait_for(lambda ms: len(ms) >= 2 and ms)
    assert sorted(m["Subject"] for m in mails) == sorted(
        f"[NEW ERROR] Shop {algo}: {i.title}" for i in issues.values())
    assert all(admin.email in m["_rcpt"] for m in mails)
    assert f"/errors/issues/{grouped.id}" in mails[0].get_body(("plain",)).get_content() or \
        f"/errors/issues/{grouped.id}" in mails[1].get_body(("plain",)).get_content()
