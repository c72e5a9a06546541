"""Incidents: a confirmed outage opens one, the recovery closes it. At most one incident per
monitor is open at a time (the results pipeline holds the monitor row lock while it checks).
Open incidents get reminders and an escalation (:func:`incident_followups`, which publishes
``monitor.reminded`` / ``monitor.escalated``; the alerts subscribe,
:mod:`crm.monitoring.alerts`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from crm import events
from crm.clock import utcnow
from crm.extensions import db
from crm.monitoring.models import Incident


def open_incidents(monitor_ids: Iterable[int]) -> dict[int, Incident]:
    """The open incident of each monitor that has one: {monitor_id: Incident}."""
    ids = list(monitor_ids)
    if not ids:
        return {}
    rows = db.session.scalars(
        select(Incident)
        .where(Incident.monitor_id.in_(ids), Incident.closed_at.is_(None))
        .order_by(Incident.opened_at)
    )
    return {i.monitor_id: i for i in rows}


def open_incident(
    monitor_id: int, at: datetime, cause: str | None, *, in_maintenance: bool = False
) -> Incident:
    """Open (add and flush) an incident for ``monitor_id`` at ``at`` with its ``cause``."""
    incident = Incident(
        monitor_id=monitor_id,
        opened_at=at,
        cause=(cause or "")[:2000] or None,
        in_maintenance=in_maintenance,
    )
    db.session.add(incident)
    db.session.flush()
    return incident


def close_incident(incident: Incident, at: datetime) -> Incident:
    """Close ``incident`` at ``at``; ``duration_seconds`` = closed − opened (whole seconds)."""
    incident.closed_at = max(at, incident.opened_at)
    incident.duration_seconds = int(
        round((incident.closed_at - incident.opened_at).total_seconds())
    )
    return incident


def _claim(incident: Incident, column, old) -> bool:
    """Guarded UPDATE: set ``column`` to now only if it still holds ``old`` (exactly once)."""
    guard = column.is_(None) if old is None else column == old
    result = db.session.execute(
        update(Incident)
        .where(Incident.id == incident.id, Incident.closed_at.is_(None), guard)
        .values({column.key: utcnow()})
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def incident_followups() -> dict:
    """Reminders and escalations of open incidents (outside maintenance).

    * reminder every ``remind_every_minutes`` after the last alert (the opening counts):
      publishes ``monitor.reminded``;
    * escalation to ``escalation_group`` once, ``escalate_after_minutes`` after opening:
      publishes ``monitor.escalated``.

    Each one commits on its own, after claiming the incident with a guarded UPDATE, so the
    subscribers' outbox rows are written exactly once. Payload: ``monitor_id``, ``incident_id``.

    :returns: ``{"reminders": n, "escalations": n}``.
    """
    from crm.monitoring import maintenance

    now = utcnow()
    maint = maintenance.snapshot(now)
    done = {"reminders": 0, "escalations": 0}
    open_rows = list(
        db.session.scalars(
            select(Incident)
            .where(Incident.closed_at.is_(None), Incident.in_maintenance.is_(False))
            .options(selectinload(Incident.monitor))
        )
    )
    for incident in open_rows:
        monitor = incident.monitor
        if monitor is None or monitor.paused or maint.covers(monitor.id):
            continue
        if monitor.remind_every_minutes:
            last = incident.last_reminded_at or incident.opened_at
            if now - last >= timedelta(minutes=monitor.remind_every_minutes):
                if _claim(incident, Incident.last_reminded_at, incident.last_reminded_at):
                    events.publish(
                        db.session,
                        "monitor.reminded",
                        monitor_id=monitor.id,
                        incident_id=incident.id,
                    )
                    done["reminders"] += 1
                db.session.commit()
        if (
            monitor.escalate_after_minutes
            and monitor.escalation_group_id
            and incident.escalated_at is None
            and now - incident.opened_at >= timedelta(minutes=monitor.escalate_after_minutes)
        ):
            if _claim(incident, Incident.escalated_at, None):
                events.publish(
                    db.session, "monitor.escalated", monitor_id=monitor.id, incident_id=incident.id
                )
                done["escalations"] += 1
            db.session.commit()
    return done
