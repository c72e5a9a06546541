"""Grouping by fingerprint, regressions, ignored issues and the admins' throttled emails."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import requests
from sqlalchemy import select

from crm import clock
from crm.extensions import db
from crm.notifications.models import Notification
from crm.observability.errors import services
from crm.observability.errors.event import from_sentry
from crm.observability.errors.fingerprint import fingerprint, normalise_message, top_frame
from crm.observability.errors.models import IGNORED, RESOLVED, UNRESOLVED, ErrorIssue
from tests.observability.conftest import event_payload, sentry_auth


def test_ids_numbers_and_addresses_do_not_split_a_group():
    frames = [{"module": "shop.orders", "function": "load", "in_app": True}]
    messages = ["order 42 not found for user 7 (0x7f3a9c10)",
                "order 1337 not found for user 12 (0x7f3a0000)",
                "order 9 not found for user 3 (5f2b9c1e7d)"]
    assert len({fingerprint("LookupError", m, frames) for m in messages}) == 1
    assert normalise_message("job 3fa85f64-5717-4562-b3fc-2c963f66afa6 took 1.5 s") == \
        "job <uuid> took <n> s"
    assert normalise_message("cafe face 12") == "cafe face <n>"  # words without digits stay


def test_type_message_and_top_in_app_frame_each_split_a_group():
    frames = [{"module": "shop.orders", "function": "load", "in_app": True},
              {"module": "sqlalchemy.engine", "function": "execute", "in_app": False}]
    base = fingerprint("LookupError", "order 1 not found", frames)
    assert top_frame(frames) == "shop.orders.load"  # library frames below it do not count
    assert fingerprint("KeyError", "order 1 not found", frames) != base
    assert fingerprint("LookupError", "invoice 1 not found", frames) != base
    other = [{"module": "shop.invoices", "function": "load", "in_app": True}]
    assert fingerprint("LookupError", "order 1 not found", other) != base


def _mails(template: str = "error_issue") -> list[Notification]:
    db.session.expire_all()
    return list(db.session.scalars(select(Notification).where(Notification.template == template)
                                   .order_by(Notification.id)))


def test_a_regression_reopens_the_issue_and_mails_are_throttled_per_issue(
        app, project, make_user):
    admin, manager = make_user("admin"), make_user("manager")
    event, kind = services.record_event(project.id, from_sentry(event_payload("order 1 lost")))
    assert kind == "new"
    issue = db.session.get(ErrorIssue, event.issue_id)
    assert [n.to for n in _mails()] == [[admin.email]]
    assert _mails()[0].subject.startswith("[NEW ERROR] Shop: LookupError: order 1 lost")

    services.update_issue(issue, manager, status=RESOLVED, fields={"status"})
    _, kind = services.record_event(project.id, from_sentry(event_payload("order 2 lost")))
    db.session.refresh(issue)
    assert kind == "regression" and issue.status == UNRESOLVED and issue.regressed_at
    assert issue.event_count == 2
    assert len(_mails()) == 1  # within the throttle period: no second mail

    clock.set_offset(timedelta(seconds=app.config["ERROR_NOTIFY_THROTTLE_SECONDS"] + 60))
    services.update_issue(issue, manager, status=RESOLVED, fields={"status"})
    services.record_event(project.id, from_sentry(event_payload("order 3 lost")))
    mails = _mails()
    assert len(mails) == 2 and mails[1].subject.startswith("[REGRESSION] Shop: ")


def test_an_ignored_issue_stays_ignored_and_silent(project, make_user):
    make_user("admin")
    manager = make_user("manager")
    event, _ = services.record_event(project.id, from_sentry(event_payload()))
    issue = db.session.get(ErrorIssue, event.issue_id)
    services.update_issue(issue, manager, status=IGNORED, fields={"status"})
    clock.set_offset(timedelta(days=2))
    _, kind = services.record_event(project.id, from_sentry(event_payload()))
    db.session.refresh(issue)
    assert kind is None and issue.status == IGNORED and issue.event_count == 2
    assert len(_mails()) == 1


def test_concurrent_events_make_one_issue_and_lose_no_count(live_server, project):
    url = f"{live_server}/api/{project.id}/store/"
    headers = sentry_auth(project)

    def send(n: int) -> int:
        body = json.dumps(event_payload(f"order {n} not found"))
        return requests.post(url, data=body, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(send, range(24)))
    assert codes == [200] * 24
    db.session.expire_all()
    issues = list(db.session.scalars(select(ErrorIssue).where(ErrorIssue.project_id == project.id)))
    assert len(issues) == 1 and issues[0].event_count == 24


def test_events_past_their_retention_are_pruned_and_the_issue_keeps_its_count(app, project,
                                                                               monkeypatch):
    from crm.observability.errors.jobs import prune_events
    from crm.observability.errors.models import ErrorEvent

    old, _ = services.record_event(project.id, from_sentry(event_payload("order 1 lost")))
    new, _ = services.record_event(project.id, from_sentry(event_payload("order 2 lost")))
    db.session.commit()
    monkeypatch.setitem(app.config, "ERROR_EVENT_RETENTION_DAYS", 30)
    db.session.get(ErrorEvent, old.id).received_at = clock.utcnow() - timedelta(days=31)
    db.session.commit()
    assert prune_events() == 1
    db.session.expire_all()
    assert db.session.get(ErrorEvent, old.id) is None
    assert db.session.get(ErrorEvent, new.id) is not None
    assert db.session.get(ErrorIssue, new.issue_id).event_count == 2
    assert prune_events() == 0  # idempotent
