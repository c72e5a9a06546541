"""Recording outcomes, edge by edge: a batch applied in check order whatever order it came
in, monitors that vanished skipped, a paused monitor that still records, long errors
truncated, the flips and their reasons, and the up/down/pending state behind a displayed
``paused`` or ``maintenance``."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm import clock
from crm.extensions import db
from crm.monitoring.engine import results
from crm.monitoring.engine.checks.base import DOWN, UP, CheckOutcome
from crm.monitoring.models import CheckResult, Flip, Incident, Monitor


def _outcome(status: str, at, error: str | None = None) -> CheckOutcome:
    return CheckOutcome(status, error=error, response_time_ms=None if error else 20.0,
                        checked_at=at)


def _flips(monitor_id: int) -> list[tuple]:
    return [(f.old_status, f.new_status, f.reason) for f in db.session.scalars(
        select(Flip).where(Flip.monitor_id == monitor_id).order_by(Flip.created_at, Flip.id))]


def test_a_batch_is_applied_in_check_order_and_vanished_monitors_are_skipped(make_monitor):
    monitor = make_monitor("http", url="http://127.0.0.1:9/", retries=1)
    t0 = clock.utcnow() - timedelta(minutes=10)
    batch = [(monitor.id, _outcome(UP, t0 + timedelta(minutes=2))),  # arrived first, checked last
             (999_999, _outcome(UP, t0)),
             (monitor.id, _outcome(DOWN, t0 + timedelta(minutes=1), "refused")),
             (monitor.id, _outcome(UP, t0))]
    assert results.record_outcomes(batch) == 3
    db.session.refresh(monitor)
    assert monitor.status == UP and monitor.last_checked_at == t0 + timedelta(minutes=2)
    assert _flips(monitor.id) == [("pending", "up", None), ("up", "down", "refused"),
                                  ("down", "up", "recovered")]
    incident = db.session.scalar(select(Incident))
    assert incident.duration_seconds == 60 and incident.cause == "refused"
    assert results.record_outcomes([]) == 0
    assert results.record_outcomes([(999_999, _outcome(UP, t0))]) == 0


def test_a_paused_monitor_records_but_shows_paused_and_long_errors_are_cut(make_monitor):
    monitor = make_monitor("http", url="http://127.0.0.1:9/", retries=2, paused=True,
                           status="paused")
    long_error = "connection refused " * 400
    results.record_outcomes([(monitor.id, _outcome(DOWN, None, long_error))])
    db.session.refresh(monitor)
    assert monitor.status == "paused" and monitor.consecutive_failures == 1
    stored = db.session.scalar(select(CheckResult.error))
    assert len(stored) == 4000 and long_error.startswith(stored)
    assert db.session.scalar(select(CheckResult.checked_at)) is not None  # defaulted to now
    assert db.session.scalar(select(func.count(Incident.id))) == 0  # not confirmed yet
    results.record_outcomes([(monitor.id, _outcome(DOWN, None, "refused"))])
    db.session.refresh(monitor)
    assert monitor.status == "paused" and results.real_status(monitor, True) == DOWN
    assert db.session.scalar(select(func.count(Incident.id))) == 1


@pytest.mark.only_backend("sqlite")  # reads the row's attributes only
def test_the_state_behind_paused_or_maintenance():
    fresh = Monitor(name="db", type="tcp", config={}, status="paused", consecutive_failures=0)
    assert results.real_status(fresh, False) == "pending"  # never checked
    fresh.last_checked_at, fresh.consecutive_failures = clock.utcnow(), 0
    assert results.real_status(fresh, False) == UP
    fresh.consecutive_failures = 2
    assert results.real_status(fresh, False) == "pending"  # failing, not yet confirmed
    fresh.status = DOWN
    assert results.real_status(fresh, False) == DOWN
    fresh.status = "maintenance"
    assert results.real_status(fresh, True) == DOWN
