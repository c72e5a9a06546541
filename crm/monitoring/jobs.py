"""RQ jobs of the monitoring engine (ids in, rows reloaded; safe to run twice).

Periodic (see :data:`crm.schedule.PERIODIC_JOBS`): :func:`tick` (due-time scheduler),
:func:`check_heartbeats`, :func:`incident_followups`, :func:`prune_results`. Enqueued by
``tick``: :func:`run_checks`.
"""
from __future__ import annotations

import logging
from datetime import datetime

from flask import current_app
from rq.job import Job
from sqlalchemy import select

from crm.clock import utcnow
from crm.extensions import db
from crm.monitoring import alerts, heartbeat, results, scheduler
from crm.monitoring.checks import Target
from crm.monitoring.models import HEARTBEAT, Monitor
from crm.monitoring.runner import engine_settings, run_blocking, run_session
from crm.queue import get_queue
from crm.workers_app import with_app_context

log = logging.getLogger(__name__)

TICK_JOB = "crm.monitoring.jobs.tick"
#: how many waiting jobs a check session looks at to decide whether to hand the worker back
QUEUE_PEEK = 20


@with_app_context
def tick() -> dict:
    """Claim the due monitors and enqueue ``run_checks`` jobs (see :mod:`crm.monitoring.scheduler`)."""
    return scheduler.tick()


@with_app_context
def run_checks(monitor_ids: list[int], due_at_iso: str | None = None) -> int:
    """Check ``monitor_ids`` concurrently and record the outcomes as they arrive.

    Paused, deleted and heartbeat monitors are skipped. The scheduling lag (start − ``due_at``)
    is recorded for :func:`crm.monitoring.scheduler.lag_stats`. While slow checks are in
    flight the job claims and runs monitors that come due meanwhile
    (:func:`crm.monitoring.runner.run_session`), so one hanging target does not hold back the
    monitors due after it. It stops claiming after ``MONITOR_SESSION_SECONDS`` (0: never
    claims) or as soon as another job waits in the queue (:func:`_other_work_waiting`), then
    drains. While it claims, ticks leave the due monitors to it.

    :param due_at_iso: the earliest due time of the chunk (ISO 8601, UTC).
    :returns: results recorded.
    """
    started = utcnow()
    if due_at_iso:
        scheduler.record_lag((started - datetime.fromisoformat(due_at_iso)).total_seconds())
    targets = _targets(monitor_ids)
    db.session.rollback()  # end the read transaction: no locks/connection held while checking
    budget = float(current_app.config.get("MONITOR_SESSION_SECONDS", 60))
    concurrency, ca_file = engine_settings()
    try:
        count = run_blocking(run_session(
            targets, record=lambda batch: results.record_outcomes(batch),
            claim_more=_claim_more if budget > 0 else None, budget_seconds=budget,
            should_yield=_other_work_waiting, concurrency=concurrency, ca_file=ca_file))
    finally:
        scheduler.end_session()
    log.info("checked %d monitors", count)
    return count


def _other_work_waiting() -> bool:
    """True when one of the next :data:`QUEUE_PEEK` jobs in the queue is not a due-time tick (a tick
    defers to a running session, see :func:`crm.monitoring.scheduler.tick`): mail, another
    check chunk … then the session stops claiming and hands the worker back. Also renews
    the session mark the ticks look at."""
    scheduler.mark_session()
    queue = get_queue()
    if queue is None:
        return False
    try:
        jobs = Job.fetch_many(queue.get_job_ids(0, QUEUE_PEEK - 1), connection=queue.connection)
        return any(job is not None and job.func_name != TICK_JOB for job in jobs)
    except Exception as exc:  # Redis trouble: keep checking, never fail the session
        log.warning("could not look at the queue: %s", exc)
    return False


def _targets(monitor_ids) -> list[Target]:
    """Check snapshots of the listed monitors that are still active (not paused, not heartbeat)."""
    monitors = db.session.scalars(select(Monitor).where(Monitor.id.in_(list(monitor_ids)),
                                                       Monitor.paused.is_(False),
                                                       Monitor.type != HEARTBEAT))
    return [Target.from_monitor(m) for m in monitors]


def _claim_more(window_seconds: float) -> list[Target]:
    """Claim monitors that came due while a session runs (see :func:`run_checks`); only those
    whose check fits in ``window_seconds``. Records the batch's scheduling lag."""
    now = utcnow()
    claimed = scheduler.claim_due(now, max_seconds=window_seconds)
    if not claimed:
        return []
    scheduler.record_lag((now - min(due for _, due in claimed)).total_seconds())
    targets = _targets([mid for mid, _ in claimed])
    db.session.rollback()
    return targets


@with_app_context
def check_heartbeats() -> int:
    """Declare late heartbeat monitors down (see :mod:`crm.monitoring.heartbeat`)."""
    return heartbeat.check_heartbeats()


@with_app_context
def incident_followups() -> dict:
    """Reminders and escalations of open incidents (see :func:`crm.monitoring.alerts.incident_followups`)."""
    return alerts.incident_followups()


@with_app_context
def prune_results() -> int:
    """Delete raw results past ``MONITOR_RESULT_RETENTION_DAYS`` (rollups are kept)."""
    return results.prune_results()
