"""Alerts through the outbox: email (templates ``email/monitor_down.*`` and
``email/monitor_up.*``) and SMS to every contact of the monitor's contact group.

Exactly once: alerts are written in the transaction that opens or closes the incident (the
results pipeline holds the monitor's row lock, and opens an incident only when none is open),
and reminders/escalations claim their incident with a guarded UPDATE before queueing; the
outbox then guarantees delivery. Nothing is sent for incidents opened in maintenance.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from crm import events
from crm.clock import utcnow
from crm.extensions import db
from crm.monitoring.models import ContactGroup, Incident, Monitor
from crm.notifications.services import queue_sms, queue_templated

log = logging.getLogger(__name__)

DOWN_TEMPLATE, UP_TEMPLATE = "monitor_down", "monitor_up"


def human_duration(seconds: float | int | None) -> str:
    """``3725`` → ``"1 hour 2 minutes"``; ``42`` → ``"42 seconds"`` (two largest units)."""
    seconds = int(round(seconds or 0))
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    parts = []
    for name, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        value, seconds = divmod(seconds, size)
        if value:
            parts.append(f"{value} {name}{'s' if value != 1 else ''}")
    return " ".join(parts[:2])


def recipients(group: ContactGroup | None) -> tuple[list[str], list[str]]:
    """(emails, phones) of a contact group (empty lists for None)."""
    if group is None:
        return [], []
    emails = [c.email for c in group.contacts if c.email]
    phones = [c.phone for c in group.contacts if c.phone]
    return emails, phones


def _send(group: ContactGroup | None, template: str, sms_text: str, event: str, **context) -> int:
    emails, phones = recipients(group)
    if emails:
        queue_templated(template, emails, event=event, **context)
    if phones:
        queue_sms(phones, sms_text, event=event)
    return len(emails) + len(phones)


def _context(monitor: Monitor, incident: Incident, kind: str) -> dict:
    # plain values only (crm.notifications.variables): templates never see ORM objects
    stamp = "%Y-%m-%d %H:%M:%S"
    return {"monitor": {"id": monitor.id, "name": monitor.name, "type": monitor.type},
            "incident": {"opened_at": incident.opened_at.strftime(stamp), "cause": incident.cause or "",
                         "closed_at": incident.closed_at.strftime(stamp) if incident.closed_at else ""},
            "kind": kind, "cause": incident.cause or "",
            "downtime": human_duration(incident.duration_seconds if incident.closed_at else
                                       (utcnow() - incident.opened_at).total_seconds())}


def queue_down(monitor: Monitor, incident: Incident, *, kind: str = "down",
               group: ContactGroup | None = None) -> int:
    """Queue the down alert (``kind``: ``down``, ``reminder`` or ``escalation``) to ``group``
    (default: the monitor's contact group) in the current transaction.

    :returns: recipients queued.
    """
    group = group if group is not None else monitor.contact_group
    label = {"down": "DOWN", "reminder": "STILL DOWN", "escalation": "ESCALATED"}[kind]
    sms = f"{label}: {monitor.name} — {incident.cause or 'check failed'}"[:300]
    return _send(group, DOWN_TEMPLATE, sms, f"monitor.{kind}", **_context(monitor, incident, kind))


def queue_up(monitor: Monitor, incident: Incident) -> int:
    """Queue the recovery alert (with the downtime, human readable) to the contact group and,
    when the incident was escalated, to the escalation group.

    :returns: recipients queued.
    """
    context = _context(monitor, incident, "up")
    sms = f"UP: {monitor.name} is back after {context['downtime']}"
    count = _send(monitor.contact_group, UP_TEMPLATE, sms, "monitor.up", **context)
    if incident.escalated_at is not None and monitor.escalation_group is not None \
            and monitor.escalation_group_id != monitor.contact_group_id:
        count += _send(monitor.escalation_group, UP_TEMPLATE, sms, "monitor.up", **context)
    return count


def _claim(incident: Incident, column, old) -> bool:
    """Guarded UPDATE: set ``column`` to now only if it still holds ``old`` (exactly once)."""
    guard = column.is_(None) if old is None else column == old
    result = db.session.execute(update(Incident).where(Incident.id == incident.id,
                                                       Incident.closed_at.is_(None), guard)
                                .values({column.key: utcnow()}).execution_options(synchronize_session=False))
    return result.rowcount == 1


def incident_followups() -> dict:
    """Reminders and escalations of open incidents (outside maintenance).

    * reminder every ``remind_every_minutes`` after the last alert (the opening counts);
    * escalation to ``escalation_group`` once, ``escalate_after_minutes`` after opening.

    Each one commits on its own, after claiming the incident with a guarded UPDATE.

    :returns: ``{"reminders": n, "escalations": n}``.
    """
    from crm.monitoring import maintenance

    now = utcnow()
    maint = maintenance.snapshot(now)
    done = {"reminders": 0, "escalations": 0}
    open_rows = list(db.session.scalars(
        select(Incident).where(Incident.closed_at.is_(None), Incident.in_maintenance.is_(False))
        .options(selectinload(Incident.monitor))))
    for incident in open_rows:
        monitor = incident.monitor
        if monitor is None or monitor.paused or maint.covers(monitor.id):
            continue
        if monitor.remind_every_minutes:
            last = incident.last_reminded_at or incident.opened_at
            if now - last >= timedelta(minutes=monitor.remind_every_minutes):
                if _claim(incident, Incident.last_reminded_at, incident.last_reminded_at):
                    queue_down(monitor, incident, kind="reminder")
                    done["reminders"] += 1
                db.session.commit()
        if monitor.escalate_after_minutes and monitor.escalation_group_id and incident.escalated_at is None \
                and now - incident.opened_at >= timedelta(minutes=monitor.escalate_after_minutes):
            if _claim(incident, Incident.escalated_at, None):
                queue_down(monitor, incident, kind="escalation", group=monitor.escalation_group)
                events.publish(db.session, "monitor.escalated", monitor_id=monitor.id,
                               incident_id=incident.id)
                done["escalations"] += 1
            db.session.commit()
    return done
