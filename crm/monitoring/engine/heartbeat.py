"""Heartbeat (push) monitors, with Healthchecks semantics: the monitored job calls its ping
URL (carrying ``heartbeat_token``) at least every ``interval_seconds``; when no ping arrived
within ``interval_seconds + grace_seconds`` of the last one, the monitor is down. A monitor
that was never pinged stays ``pending`` (it is not late before it started). A ping to a
down monitor is its recovery.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from crm.clock import utcnow
from crm.extensions import db
from crm.monitoring.engine.checks.base import down, up
from crm.monitoring.engine.results import record_outcomes
from crm.monitoring.models import HEARTBEAT, Incident, Monitor

DEFAULT_GRACE_SECONDS = 60


def grace_seconds(monitor: Monitor) -> float:
    """The monitor's grace period (seconds): ``config.grace_seconds`` or 60."""
    value = (monitor.config or {}).get("grace_seconds")
    return float(value) if value is not None else DEFAULT_GRACE_SECONDS


def record_ping(token: str) -> Monitor | None:
    """Record a ping for the heartbeat monitor with ``token``: ``last_ping_at`` = now and an
    up result (which recovers a down monitor and closes its incident). A paused monitor only
    notes the ping. Commits.

    :returns: the monitor, or None for an unknown token.
    """
    if not token:
        return None
    monitor = db.session.scalar(select(Monitor).where(Monitor.heartbeat_token == token,
                                                      Monitor.type == HEARTBEAT))
    if monitor is None:
        return None
    now = utcnow()
    monitor.last_ping_at = now
    if monitor.paused:
        db.session.commit()
        return monitor
    record_outcomes([(monitor.id, up(HEARTBEAT, checked_at=now))])
    return monitor


def check_heartbeats() -> int:
    """Declare down every unpaused heartbeat monitor whose last ping is older than interval +
    grace and that is not down already (one down result, flip, incident and alert each).

    :returns: monitors declared down.
    """
    now = utcnow()
    has_open = select(Incident.id).where(
        Incident.monitor_id == Monitor.id, Incident.closed_at.is_(None)
    )
    candidates = db.session.scalars(
        select(Monitor)
        .where(
            Monitor.type == HEARTBEAT,
            Monitor.paused.is_(False),
            Monitor.last_ping_at.is_not(None),
            ~has_open.exists(),
        )
        .order_by(Monitor.id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    late = []
    for monitor in candidates:
        allowed = timedelta(seconds=(monitor.interval_seconds or 0) + grace_seconds(monitor))
        if now - monitor.last_ping_at > allowed:
            error = (
                f"no ping since {monitor.last_ping_at:%Y-%m-%d %H:%M:%S} UTC "
                f"(expected every {monitor.interval_seconds} s "
                f"+ {grace_seconds(monitor):g} s grace)"
            )
            late.append((monitor.id, down(HEARTBEAT, error, checked_at=now)))
    if late:
        record_outcomes(late, force_down=True)
    else:
        db.session.rollback()
    return len(late)
