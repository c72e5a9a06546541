"""Alert delivery through the outbox: email (templates ``email/monitor_down.*`` and
``email/monitor_up.*``) and SMS to every contact of a contact group, queued in the caller's
transaction (:func:`crm.notifications.services.queue_templated`,
:func:`~crm.notifications.services.queue_sms`)."""

from __future__ import annotations

import logging

from crm.clock import utcnow
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
    # plain values only (crm.notifications.variables): templates never see ORM objects.
    # A down/reminder/escalation alert shows the incident as open even when the same batch
    # closed it again before the commit ran the handlers.
    stamp = "%Y-%m-%d %H:%M:%S"
    closed = incident.closed_at is not None and kind == "up"
    return {
        "monitor": {"id": monitor.id, "name": monitor.name, "type": monitor.type},
        "incident": {
            "opened_at": incident.opened_at.strftime(stamp),
            "cause": incident.cause or "",
            "closed_at": incident.closed_at.strftime(stamp) if closed else "",
        },
        "kind": kind,
        "cause": incident.cause or "",
        "downtime": human_duration(
            incident.duration_seconds if closed else (utcnow() - incident.opened_at).total_seconds()
        ),
    }


def queue_down(
    monitor: Monitor, incident: Incident, *, kind: str = "down", group: ContactGroup | None = None
) -> int:
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
    if (
        incident.escalated_at is not None
        and monitor.escalation_group is not None
        and monitor.escalation_group_id != monitor.contact_group_id
    ):
        count += _send(monitor.escalation_group, UP_TEMPLATE, sms, "monitor.up", **context)
    return count
