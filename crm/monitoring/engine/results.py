"""Recording check outcomes: raw results in bulk, rollups, runtime state, confirmation,
flips and incidents — one transaction per batch. Opening an incident publishes
``monitor.down``, closing it ``monitor.up`` (payload ``monitor_id``, ``incident_id``); the
alerts subscribe to them in the transaction (:mod:`crm.monitoring.alerts`).

State rules (per monitor, outcomes applied in ``checked_at`` order):

* an *up* outcome resets ``consecutive_failures``; if the monitor was down (it has an open
  incident) the incident is closed and a ``down → up`` flip stored;
* a *down* outcome increments ``consecutive_failures``; the monitor is declared down only when
  that reaches ``retries`` (confirmation) — then a flip ``<old> → down`` is stored, an
  incident opened (cause = the error, for synthetic checks the step and assertion). Before
  confirmation the status stays what it was (``pending`` for a new one);
* during maintenance the status shows ``maintenance``, incidents opened then are marked
  ``in_maintenance`` and the alerts send nothing for them.

The monitor rows are locked (``SELECT … FOR UPDATE`` on PostgreSQL, ordered by id) before the
open incidents are read, so concurrent batches for one monitor cannot open two incidents nor
queue an alert twice.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import Select, and_, insert, or_, select

from crm import events
from crm.clock import utcnow
from crm.errors import ServiceError
from crm.extensions import db
from crm.monitoring import maintenance
from crm.monitoring.engine import incidents, rollups
from crm.monitoring.engine.checks import CheckOutcome
from crm.monitoring.models import DOWN, MAINTENANCE, PAUSED, PENDING, UP, CheckResult, Flip, Monitor
from crm.retention import delete_older_than

log = logging.getLogger(__name__)

PRUNE_CHUNK = 5000
#: How far a pushed result may be in the future (agent clock skew), and in the past.
MAX_FUTURE_SKEW = timedelta(minutes=5)
MAX_RESULT_AGE = timedelta(days=7)


def real_status(monitor: Monitor, is_down: bool) -> str:
    """The monitor's up/down/pending state behind a displayed ``maintenance``/``paused``."""
    if is_down:
        return DOWN
    if monitor.status in (UP, DOWN, PENDING):
        return monitor.status
    checked_fine = monitor.last_checked_at is not None and monitor.consecutive_failures == 0
    return UP if checked_fine else PENDING


def _flip(monitor: Monitor, at: datetime, old: str, new: str, reason: str | None) -> None:
    db.session.add(Flip(monitor_id=monitor.id, created_at=at, old_status=old, new_status=new,
                        reason=(reason or "")[:2000] or None))
    monitor.last_flip_at = at


def _apply(monitor: Monitor, outcome: CheckOutcome, at: datetime, open_incident, in_maint: bool,
           force_down: bool):
    """Apply one outcome to ``monitor``; returns the open incident after it (or None)."""
    old = real_status(monitor, open_incident is not None)
    new = old
    if outcome.status == UP:
        monitor.consecutive_failures = 0
        if open_incident is not None:
            incidents.close_incident(open_incident, at)
            _flip(monitor, at, DOWN, UP, "recovered")
            events.publish(db.session, "monitor.up", monitor_id=monitor.id,
                           incident_id=open_incident.id)
            open_incident = None
        elif old != UP:
            _flip(monitor, at, old, UP, None)
        new = UP
    else:
        monitor.consecutive_failures = (monitor.consecutive_failures or 0) + 1
        confirmed = force_down or monitor.consecutive_failures >= max(1, monitor.retries or 1)
        if confirmed and open_incident is None:
            open_incident = incidents.open_incident(monitor.id, at, outcome.error,
                                                    in_maintenance=in_maint)
            _flip(monitor, at, old, DOWN, outcome.error)
            events.publish(db.session, "monitor.down", monitor_id=monitor.id,
                           incident_id=open_incident.id)
        if open_incident is not None:
            new = DOWN
    if monitor.paused:
        monitor.status = PAUSED
    else:
        monitor.status = MAINTENANCE if in_maint else new
    monitor.last_checked_at = at
    monitor.last_response_ms = outcome.response_time_ms
    monitor.last_status_code = outcome.status_code
    monitor.last_error = outcome.error
    return open_incident


def record_outcomes(items: Iterable[tuple[int, CheckOutcome]], *, force_down: bool = False,
                    commit: bool = True) -> int:
    """Record outcomes of checks (see module doc) in one transaction.

    :param items: (monitor id, outcome) pairs; ``outcome.checked_at`` defaults to now.
    :param force_down: a down outcome is confirmed at once (heartbeats: lateness is already
        the confirmation).
    :param commit: commit at the end (default).
    :returns: the number of results written (monitors that no longer exist are skipped).
    """
    items = list(items)
    if not items:
        return 0
    now = utcnow()
    ids = sorted({mid for mid, _ in items})
    monitors = {m.id: m for m in db.session.scalars(
        select(Monitor).where(Monitor.id.in_(ids)).order_by(Monitor.id).with_for_update()
        .execution_options(populate_existing=True))}
    rows = []
    for mid, outcome in items:
        if mid not in monitors:
            continue
        if outcome.checked_at is None:
            outcome.checked_at = now
        rows.append({"monitor_id": mid, "checked_at": outcome.checked_at, "status": outcome.status,
                     "response_time_ms": outcome.response_time_ms,
                     "status_code": outcome.status_code,
                     "error": (outcome.error or None) and outcome.error[:4000],
                     "protocol": outcome.protocol or monitors[mid].protocol})
    if not rows:
        return 0
    db.session.execute(insert(CheckResult), rows)
    rollups.apply_results(rows)
    maint = maintenance.snapshot(now)
    opened = incidents.open_incidents(monitors)
    known = ((m, o) for m, o in items if m in monitors)
    for mid, outcome in sorted(known, key=lambda pair: pair[1].checked_at):
        opened[mid] = _apply(monitors[mid], outcome, outcome.checked_at, opened.get(mid),
                             maint.covers(mid), force_down)
        if opened[mid] is None:
            opened.pop(mid)
    if commit:
        db.session.commit()
    return len(rows)


def record_agent_result(monitor: Monitor, *, status: str, checked_at: datetime | None = None,
                        response_time_ms: float | None = None, status_code: int | None = None,
                        error: str | None = None) -> Monitor:
    """Record a result a remote agent (``crm-monitor run``) measured, through the same
    pipeline as the server's own checks (:func:`record_outcomes`), and commit.

    Agents' clocks drift, so ``checked_at`` may lie up to :data:`MAX_FUTURE_SKEW` ahead and
    at most :data:`MAX_RESULT_AGE` back. While an agent reports, the server postpones its own
    check to two intervals after the result, so an agent that stops reporting is noticed by
    the server checking again.

    :param status: ``up`` or ``down``. :param checked_at: aware datetime; now when None.
    :param response_time_ms: milliseconds. :param error: why it is down (a down result
        without one reads "reported down by agent").
    :returns: the monitor after the result (``status``, ``next_check_at``).
    :raises ServiceError: 422 naming ``checked_at`` when it has no UTC offset or lies
        outside the window.
    """
    now = utcnow()
    checked_at = checked_at or now
    if checked_at.tzinfo is None:
        raise ServiceError("Include a UTC offset (Z or +00:00).", field="checked_at", status=422)
    try:
        checked_at = checked_at.astimezone(UTC)
    except OverflowError:
        checked_at = datetime.min.replace(tzinfo=UTC)  # far outside the window: refused below
    if checked_at > now + MAX_FUTURE_SKEW or checked_at < now - MAX_RESULT_AGE:
        raise ServiceError("Must be within the last 7 days and not in the future.",
                           field="checked_at", status=422)
    outcome = CheckOutcome(status=status, response_time_ms=response_time_ms,
                           status_code=status_code,
                           error=error or (None if status == UP else "reported down by agent"),
                           protocol=monitor.protocol, checked_at=checked_at)
    monitor_id = monitor.id
    record_outcomes([(monitor_id, outcome)], commit=False)
    monitor = db.session.get(Monitor, monitor_id)
    interval = timedelta(seconds=2 * (monitor.interval_seconds or 60))
    monitor.next_check_at = max(now, checked_at) + interval
    db.session.commit()
    return monitor


def check_history(monitor_id: int, *, start: datetime | None = None, end: datetime | None = None,
                  status: str | None = None, after_id: int | None = None) -> Select:
    """The raw results of a monitor, newest first (``checked_at``, then id), for the doors
    to page.

    :param start: inclusive; :param end: exclusive (aware UTC datetimes, or None).
    :param status: only ``up`` or ``down`` results.
    :param after_id: continue after this result (the last of the previous page, a keyset
        cursor). A result since pruned leaves nothing after it (pruning takes the oldest).
    :returns: ``select(CheckResult)`` ordered newest first, without a limit.
    :raises ServiceError: 422 naming ``to`` when ``end`` is not after ``start``, naming
        ``cursor`` when ``after_id`` is another monitor's result.
    """
    if start and end and end <= start:
        raise ServiceError("Must be after from.", field="to", status=422)
    stmt = select(CheckResult).where(CheckResult.monitor_id == monitor_id)
    if start:
        stmt = stmt.where(CheckResult.checked_at >= start)
    if end:
        stmt = stmt.where(CheckResult.checked_at < end)
    if status:
        stmt = stmt.where(CheckResult.status == status)
    if after_id is not None:
        last = db.session.get(CheckResult, after_id)
        if last is not None and last.monitor_id != monitor_id:
            raise ServiceError("Invalid cursor.", field="cursor", status=422)
        if last is None:
            stmt = stmt.where(db.false())
        else:
            stmt = stmt.where(or_(CheckResult.checked_at < last.checked_at,
                                  and_(CheckResult.checked_at == last.checked_at,
                                       CheckResult.id < last.id)))
    return stmt.order_by(CheckResult.checked_at.desc(), CheckResult.id.desc())


def prune_results(now: datetime | None = None, chunk: int = PRUNE_CHUNK) -> int:
    """Delete raw results older than ``MONITOR_RESULT_RETENTION_DAYS`` in chunks of ``chunk``
    rows (each its own transaction, so the table is never locked for long). Rollups, flips and
    incidents are kept.

    :returns: rows deleted.
    """
    days = current_app.config["MONITOR_RESULT_RETENTION_DAYS"]
    cutoff = (now or utcnow()) - timedelta(days=days)
    return delete_older_than(CheckResult, CheckResult.checked_at, cutoff, chunk)
