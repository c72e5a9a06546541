"""RQ jobs of the monitoring engine (ids in, rows reloaded; safe to run twice).

Periodic (see :data:`crm.schedule.PERIODIC_JOBS`): :func:`tick` (due-time scheduler),
:func:`check_heartbeats`, :func:`incident_followups`, :func:`prune_results`. Enqueued by
``tick``: :func:`run_checks`.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from crm.clock import utcnow
from crm.extensions import db
from crm.monitoring import alerts, heartbeat, results, scheduler
from crm.monitoring.checks import Target
from crm.monitoring.models import HEARTBEAT, Monitor
from crm.monitoring.runner import run_batch
from crm.workers_app import with_app_context

log = logging.getLogger(__name__)


@with_app_context
def tick() -> dict:
    """Claim the due monitors and enqueue ``run_checks`` jobs (see :mod:`crm.monitoring.scheduler`)."""
    return scheduler.tick()


@with_app_context
def run_checks(monitor_ids: list[int], due_at_iso: str | None = None) -> int:
    """Check ``monitor_ids`` concurrently and record the outcomes in one transaction.

    Paused, deleted and heartbeat monitors are skipped. The scheduling lag (start − ``due_at``)
    is recorded for :func:`crm.monitoring.scheduler.lag_stats`.

    :param due_at_iso: the earliest due time of the chunk (ISO 8601, UTC).
    :returns: results recorded.
    """
    started = utcnow()
    if due_at_iso:
        scheduler.record_lag((started - datetime.fromisoformat(due_at_iso)).total_seconds())
    monitors = list(db.session.scalars(select(Monitor).where(Monitor.id.in_(list(monitor_ids)),
                                                             Monitor.paused.is_(False),
                                                             Monitor.type != HEARTBEAT)))
    targets = [Target.from_monitor(m) for m in monitors]
    db.session.rollback()  # end the read transaction: no locks/connection held while checking
    outcomes = run_batch(targets)
    count = results.record_outcomes([(t.id, o) for t, o in zip(targets, outcomes, strict=True)])
    log.info("checked %d monitors", count)
    return count


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
