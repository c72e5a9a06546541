"""The due-time scheduler: which monitors to check now, claimed exactly once.

Every ``MONITOR_TICK_SECONDS`` :func:`tick` selects unpaused monitors whose ``next_check_at``
has come (index ``ix_monitors_due``), *claims* them by moving ``next_check_at`` one interval
on in the same transaction, and enqueues ``run_checks(ids, due_at)`` jobs of at most
:data:`CHUNK_SIZE` monitors. Claiming is safe with several schedulers or workers:

* PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` — a concurrent tick skips rows being
  claimed, and sees the new ``next_check_at`` once committed;
* SQLite: a guarded ``UPDATE … WHERE id = ? AND next_check_at = <old value>`` per monitor —
  only one claimer's UPDATE matches (SQLite serialises writers).

The next due time keeps the monitor's phase (old due time + interval) unless the monitor fell
more than one interval behind, when it restarts from now.

Scheduling lag (check start − due time, seconds) is kept in Redis as a capped list
(:data:`LAG_SAMPLES`) — :func:`record_lag` / :func:`lag_stats`.
"""
from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from crm.clock import utcnow
from crm.extensions import db
from crm.monitoring.engine.runner import SAFETY_MARGIN_SECONDS
from crm.monitoring.models import HEARTBEAT, SYNTHETIC, Monitor
from crm.queue import MONITORING, enqueue, redis_conn

log = logging.getLogger(__name__)

CHUNK_SIZE = 500
#: the longest a single check may take (the schema's largest timeout, synthetic steps included)
MAX_CHECK_SECONDS = 600
CLAIM_LIMIT = 20000
LAG_SAMPLES = 50000  # one sample per check: five minutes of 10,000 monitors at 60 s
RUN_JOB = "crm.monitoring.engine.jobs.run_checks"


def next_due(old_due: datetime, interval_seconds: int, now: datetime) -> datetime:
    """The due time after ``old_due``: one interval later, or now + interval when that is
    already past (the monitor fell behind: do not run it several times to catch up)."""
    step = timedelta(seconds=max(1, interval_seconds or 1))
    candidate = old_due + step
    return candidate if candidate > now else now + step


def _due_query(now: datetime, limit: int, max_seconds: float = math.inf):
    query = (select(Monitor.id, Monitor.next_check_at, Monitor.interval_seconds)
             .where(Monitor.paused.is_(False), Monitor.next_check_at.is_not(None),
                    Monitor.next_check_at <= now, Monitor.type != HEARTBEAT))
    if max_seconds != math.inf:
        # only checks that surely end within max_seconds (a synthetic one's steps multiply it)
        query = query.where(Monitor.type != SYNTHETIC,
                            Monitor.timeout_seconds + SAFETY_MARGIN_SECONDS <= max_seconds)
    return query.order_by(Monitor.next_check_at, Monitor.id).limit(limit)


def claim_due(now: datetime | None = None, limit: int = CLAIM_LIMIT,
              max_seconds: float = math.inf) -> list[tuple[int, datetime]]:
    """Claim the monitors due at ``now`` (see module doc) and commit.

    :param max_seconds: claim only monitors whose check cannot take longer (their timeout plus
        the runner's safety margin, seconds); synthetic monitors only when unbounded.
    :returns: (monitor id, due time) of each monitor this caller claimed, oldest due first.
    """
    now = now or utcnow()
    claimed: list[tuple[int, datetime]] = []
    if db.session.get_bind().dialect.name == "postgresql":
        rows = db.session.execute(
            _due_query(now, limit, max_seconds).with_for_update(skip_locked=True)
        ).all()
        if rows:
            db.session.execute(
                update(Monitor),
                [
                    {"id": mid, "next_check_at": next_due(due, interval, now)}
                    for mid, due, interval in rows
                ],
            )
            claimed = [(mid, due) for mid, due, _ in rows]
    else:
        for mid, due, interval in db.session.execute(_due_query(now, limit, max_seconds)).all():
            result = db.session.execute(
                update(Monitor)
                .where(Monitor.id == mid, Monitor.next_check_at == due)
                .values(next_check_at=next_due(due, interval, now))
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:
                claimed.append((mid, due))
    db.session.commit()
    return claimed


def run_job_timeout() -> int:
    """RQ job timeout (seconds) of a ``run_checks`` job: its session budget
    (``MONITOR_SESSION_SECONDS``) plus the longest check it may still be draining."""
    return int(current_app.config.get("MONITOR_SESSION_SECONDS", 300)) + MAX_CHECK_SECONDS + 60


def tick(now: datetime | None = None, chunk_size: int = CHUNK_SIZE) -> dict:
    """Claim the due monitors and enqueue their checks in chunks.

    While a check session runs somewhere (:func:`session_active`) it claims monitors as they
    come due, so the tick claims only those overdue by more than :data:`SESSION_GRACE_SECONDS`
    (the session cannot keep up, or just ended): that work goes to other workers.

    :returns: ``{"claimed": n, "jobs": n}``.
    """
    now = now or utcnow()
    cutoff = now - timedelta(seconds=SESSION_GRACE_SECONDS) if session_active() else now
    claimed = claim_due(cutoff)
    jobs = 0
    for start in range(0, len(claimed), chunk_size):
        chunk = claimed[start : start + chunk_size]
        due_at = min(due for _, due in chunk)
        enqueue(
            RUN_JOB,
            [mid for mid, _ in chunk],
            due_at.isoformat(),
            job_timeout=run_job_timeout(),
            queue=MONITORING,
        )
        jobs += 1
    return {"claimed": len(claimed), "jobs": jobs}


#: seconds a running session may leave a due monitor unclaimed before ticks take it over
SESSION_GRACE_SECONDS = 2.0
#: seconds a session mark lives without renewal (a session renews it every poll)
SESSION_MARK_TTL_SECONDS = 5


def _session_key() -> str:
    return f"{current_app.config.get('RQ_QUEUE', 'crm')}:monitoring:session"


def mark_session() -> None:
    """Note in Redis that a check session is claiming (expires after
    :data:`SESSION_MARK_TTL_SECONDS` unless renewed; no-op without Redis)."""
    conn = redis_conn()
    if conn is None:
        return
    try:
        conn.set(_session_key(), "1", ex=SESSION_MARK_TTL_SECONDS)
    except Exception as exc:
        log.warning("could not mark the check session: %s", exc)


def end_session() -> None:
    """Remove the session mark (the session stopped claiming)."""
    conn = redis_conn()
    if conn is None:
        return
    try:
        conn.delete(_session_key())
    except Exception as exc:
        log.warning("could not clear the check session mark: %s", exc)


def session_active() -> bool:
    """Whether a check session renewed its mark within :data:`SESSION_MARK_TTL_SECONDS`."""
    conn = redis_conn()
    if conn is None:
        return False
    try:
        return bool(conn.exists(_session_key()))
    except Exception as exc:
        log.warning("could not read the check session mark: %s", exc)
        return False


def _lag_key() -> str:
    return f"{current_app.config.get('RQ_QUEUE', 'crm')}:monitoring:lag"


def record_lag(seconds: float | list[float]) -> None:
    """Add scheduling-lag samples (seconds; one per check) to the capped list in Redis
    (:data:`LAG_SAMPLES` newest kept; no-op without Redis)."""
    values = seconds if isinstance(seconds, list) else [seconds]
    conn = redis_conn()
    if conn is None or not values:
        return
    try:
        pipe = conn.pipeline()
        pipe.lpush(_lag_key(), *(f"{v:.6f}" for v in values))
        pipe.ltrim(_lag_key(), 0, LAG_SAMPLES - 1)
        pipe.execute()
    except Exception as exc:  # Redis trouble must never fail the checks
        log.warning("could not record scheduling lag: %s", exc)


def lag_stats() -> dict:
    """Scheduling lag over the recent samples (seconds).

    :returns: ``{"p50": float | None, "p99": float | None, "max": float | None, "samples": n}``.
    """
    conn = redis_conn()
    values = []
    if conn is not None:
        try:
            values = sorted(float(v) for v in conn.lrange(_lag_key(), 0, -1))
        except Exception as exc:
            log.warning("could not read scheduling lag: %s", exc)
    if not values:
        return {"p50": None, "p99": None, "max": None, "samples": 0}

    def pick(q: float) -> float:
        return round(values[min(len(values) - 1, max(0, int(-(-len(values) * q // 1)) - 1))], 6)

    return {
        "p50": pick(0.50),
        "p99": pick(0.99),
        "max": round(values[-1], 6),
        "samples": len(values),
    }
