"""Incidents: a confirmed outage opens one, the recovery closes it. At most one incident per
monitor is open at a time (the results pipeline holds the monitor row lock while it checks)."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from crm.extensions import db
from crm.monitoring.models import Incident


def open_incidents(monitor_ids: Iterable[int]) -> dict[int, Incident]:
    """The open incident of each monitor that has one: {monitor_id: Incident}."""
    ids = list(monitor_ids)
    if not ids:
        return {}
    rows = db.session.scalars(select(Incident).where(Incident.monitor_id.in_(ids),
                                                     Incident.closed_at.is_(None))
                              .order_by(Incident.opened_at))
    return {i.monitor_id: i for i in rows}


def open_incident(monitor_id: int, at: datetime, cause: str | None, *, in_maintenance: bool = False) -> Incident:
    """Open (add and flush) an incident for ``monitor_id`` at ``at`` with its ``cause``."""
    incident = Incident(monitor_id=monitor_id, opened_at=at, cause=(cause or "")[:2000] or None,
                        in_maintenance=in_maintenance)
    db.session.add(incident)
    db.session.flush()
    return incident


def close_incident(incident: Incident, at: datetime) -> Incident:
    """Close ``incident`` at ``at``; ``duration_seconds`` = closed − opened (whole seconds)."""
    incident.closed_at = max(at, incident.opened_at)
    incident.duration_seconds = int(round((incident.closed_at - incident.opened_at).total_seconds()))
    return incident
