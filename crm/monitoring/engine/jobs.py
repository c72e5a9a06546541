"""RQ jobs of the monitoring engine (ids in, rows reloaded; safe to run twice).

Periodic (see :data:`crm.schedule.PERIODIC_JOBS`): :func:`tick` (due-time scheduler),
:func:`check_heartbeats`, :func:`incident_followups`, :func:`prune_results`. Enqueued by
``tick``: :func:`run_checks`.
"""
from __future__ import annotations

import logging
import math
from datetime import datetime

from flask import current_app
from rq import Queue, Worker, get_current_job
from rq.job import Job
from sqlalchemy import select

from crm.clock import utcnow
from crm.extensions import db
from crm.monitoring.engine import heartbeat, incidents, results, scheduler
from crm.monitoring.engine.checks import Target
from crm.monitoring.engine.runner import engine_settings, run_blocking, run_session
from crm.monitoring.models import HEARTBEAT, Monitor
from crm.queue import MONITORING, get_queue
from crm.workers_app import with_app_context

log = logging.getLogger(__name__)

TICK_JOB = "crm.monitoring.engine.jobs.tick"
RUN_JOB = scheduler.RUN_JOB
#: seconds between a session's rounds (record what finished, claim what came due)
SESSION_POLL_SECONDS = 0.25
#: how many waiting jobs a check session looks at to decide whether to hand the worker back
QUEUE_PEEK = 20


@with_app_context
def tick() -> dict:
    """Claim the due monitors and enqueue ``run_checks`` jobs (see
    :mod:`crm.monitoring.engine.scheduler`)."""
    return scheduler.tick()


@with_app_context
def run_checks(monitor_ids: list[int], due_at_iso: str | None = None) -> int:
    """Check ``monitor_ids`` concurrently and record the outcomes as they arrive.

    Paused, deleted and heartbeat monitors are skipped. The scheduling lag (start − ``due_at``)
    is recorded for :func:`crm.monitoring.engine.scheduler.lag_stats`. While slow checks are in
    flight the job claims and runs monitors that come due meanwhile
    (:func:`crm.monitoring.engine.runner.run_session`), so one hanging target does not hold back the
    monitors due after it. It stops claiming after ``MONITOR_SESSION_SECONDS`` (0: never
    claims) or as soon as a job other than ticks and check chunks waits in the queue
    (:func:`_other_work_waiting`), then drains. While it claims, ticks leave the due monitors
    to it and it takes over the check chunks waiting in the queue.

    :param due_at_iso: the earliest due time of the chunk (ISO 8601, UTC).
    :returns: results recorded.
    """
    started = utcnow()
    targets = _targets(monitor_ids)
    if due_at_iso:  # the chunk's earliest due time stands for each of its monitors (worst case)
        lag = (started - datetime.fromisoformat(due_at_iso)).total_seconds()
        scheduler.record_lag([lag] * len(targets))
    db.session.rollback()  # end the read transaction: no locks/connection held while checking
    budget = float(current_app.config.get("MONITOR_SESSION_SECONDS", 300))
    concurrency, ca_file = engine_settings()
    try:
        count = run_blocking(
            run_session(
                targets,
                record=lambda batch: results.record_outcomes(batch),
                claim_more=_claim_more if budget > 0 else None,
                budget_seconds=budget,
                should_yield=_other_work_waiting,
                poll_seconds=SESSION_POLL_SECONDS,
                concurrency=concurrency,
                ca_file=ca_file,
            )
        )
    finally:
        scheduler.end_session()
    log.info("checked %d monitors", count)
    return count


def _other_work_waiting() -> bool:
    """True when one of the next :data:`QUEUE_PEEK` jobs waiting in the monitoring queue is
    neither a due-time tick (a tick defers to a running session, see
    :func:`crm.monitoring.engine.scheduler.tick`) nor a check chunk (the session takes those over,
    :func:`_take_queued_chunks`), when a job waits in another queue this session's worker
    serves (a single worker for every queue), or when the worker is shutting down; then the
    session stops claiming and hands the worker back. Also renews the session mark."""
    scheduler.mark_session()
    try:
        return (
            _worker_stopping()
            or _other_queues_waiting()
            or any(job.func_name not in (TICK_JOB, RUN_JOB) for job in _waiting_jobs())
        )
    except Exception as exc:  # Redis trouble: keep checking, never fail the session
        log.warning("could not look at the queue: %s", exc)
    return False


def _worker_stopping() -> bool:
    """Whether the RQ worker running this job was asked to stop (warm shutdown: RQ records
    ``shutdown_requested_date`` on the worker), so a deploy does not wait a whole session."""
    job = get_current_job()
    if job is None or not job.worker_name:
        return False
    key = Worker.redis_worker_namespace_prefix + job.worker_name
    return bool(job.connection.hexists(key, "shutdown_requested_date"))


def _other_queues_waiting() -> bool:
    """Whether a job waits in a queue other than the monitoring queue that the RQ worker
    running this job also serves (RQ records a worker's queues in its hash)."""
    job = get_current_job()
    if job is None or not job.worker_name:
        return False
    raw = job.connection.hget(Worker.redis_worker_namespace_prefix + job.worker_name, "queues")
    names = [n for n in (raw or b"").decode().split(",") if n and n != get_queue(MONITORING).name]
    return any(job.connection.llen(Queue.redis_queue_namespace_prefix + n) for n in names)


def _waiting_jobs() -> list[Job]:
    """The first :data:`QUEUE_PEEK` jobs waiting in the monitoring queue (none without Redis)."""
    queue = get_queue(MONITORING)
    if queue is None:
        return []
    jobs = Job.fetch_many(queue.get_job_ids(0, QUEUE_PEEK - 1), connection=queue.connection)
    return [job for job in jobs if job is not None]


def _take_queued_chunks() -> list[tuple[list[int], str | None]]:
    """Take waiting ``run_checks`` jobs off the queue for the running session to check, and
    drop waiting ticks (the session claims what they would).

    Removal (``LREM``) is atomic, so when several workers try, exactly one owns each job; the
    owner deletes a chunk job. A tick that rq-scheduler repeats (its meta has ``interval`` or
    ``cron_string``) is only taken off the queue: the scheduler needs the job to enqueue it
    again. Without this, chunks a tick enqueued just before the session started would wait
    behind the whole session, and ticks would pile up behind it.

    :returns: (monitor ids, due_at ISO) of each chunk taken.
    """
    queue = get_queue(MONITORING)
    taken = []
    try:
        for job in _waiting_jobs():
            if job.func_name not in (RUN_JOB, TICK_JOB):
                continue
            if queue.connection.lrem(queue.key, 1, job.id) != 1:
                continue  # another worker took it
            if job.func_name == RUN_JOB:
                args = list(job.args) + [None]
                taken.append((list(args[0]), args[1]))
            if job.func_name == RUN_JOB or not ({"interval", "cron_string"} & set(job.meta or {})):
                job.delete(remove_from_queue=False)
    except Exception as exc:
        log.warning("could not take queued check chunks: %s", exc)
    return taken


def _targets(monitor_ids) -> list[Target]:
    """Check snapshots of the listed monitors that are still active (not paused, not heartbeat)."""
    monitors = db.session.scalars(
        select(Monitor).where(
            Monitor.id.in_(list(monitor_ids)), Monitor.paused.is_(False), Monitor.type != HEARTBEAT
        )
    )
    return [Target.from_monitor(m) for m in monitors]


def _claim_more(window_seconds: float) -> list[Target]:
    """Monitors for a running session (see :func:`run_checks`): while it claims freely
    (``window_seconds`` infinite) the chunks waiting in the queue and every monitor that came
    due; while draining, only due monitors whose check fits in ``window_seconds``. Records
    the scheduling lag of each batch."""
    now = utcnow()
    ids: list[int] = []
    if window_seconds == math.inf:
        for chunk_ids, due_at_iso in _take_queued_chunks():
            if due_at_iso:
                lag = (now - datetime.fromisoformat(due_at_iso)).total_seconds()
                scheduler.record_lag([lag] * len(chunk_ids))
            ids += chunk_ids
    claimed = scheduler.claim_due(now, max_seconds=window_seconds)
    if claimed:
        scheduler.record_lag([(now - due).total_seconds() for _, due in claimed])
        ids += [mid for mid, _ in claimed]
    if not ids:
        return []
    targets = _targets(ids)
    db.session.rollback()
    return targets


@with_app_context
def check_heartbeats() -> int:
    """Declare late heartbeat monitors down (see :mod:`crm.monitoring.engine.heartbeat`)."""
    return heartbeat.check_heartbeats()


@with_app_context
def incident_followups() -> dict:
    """Reminders and escalations of open incidents (see
    :func:`crm.monitoring.engine.incidents.incident_followups`)."""
    return incidents.incident_followups()


@with_app_context
def prune_results() -> int:
    """Delete raw results past ``MONITOR_RESULT_RETENTION_DAYS`` (rollups are kept)."""
    return results.prune_results()
