"""The alert handlers: in-transaction subscribers of the ``monitor.*`` domain events (see
:mod:`crm.monitoring.alerts` for the table)."""
from __future__ import annotations

from crm import events
from crm.extensions import db
from crm.monitoring.alerts.delivery import queue_down, queue_up
from crm.monitoring.models import Incident, Monitor


def _subjects(ev: events.DomainEvent) -> tuple[Monitor | None, Incident | None]:
    """The event's monitor and incident from the publishing session (already flushed)."""
    return db.session.get(Monitor, ev.payload["monitor_id"]), db.session.get(
        Incident, ev.payload["incident_id"]
    )


@events.in_transaction("monitor.down")
def on_monitor_down(ev: events.DomainEvent) -> None:
    """An incident was opened: the down alert to the monitor's contact group (none when the
    incident was opened during maintenance)."""
    monitor, incident = _subjects(ev)
    if monitor is not None and incident is not None and not incident.in_maintenance:
        queue_down(monitor, incident)


@events.in_transaction("monitor.up")
def on_monitor_up(ev: events.DomainEvent) -> None:
    """An incident was closed: the recovery alert (see :func:`queue_up`); none when the
    incident was opened during maintenance."""
    monitor, incident = _subjects(ev)
    if monitor is not None and incident is not None and not incident.in_maintenance:
        queue_up(monitor, incident)


@events.in_transaction("monitor.reminded")
def on_monitor_reminded(ev: events.DomainEvent) -> None:
    """A reminder is due (claimed by the follow-up job): ``STILL DOWN`` to the contact group."""
    monitor, incident = _subjects(ev)
    if monitor is not None and incident is not None:
        queue_down(monitor, incident, kind="reminder")


@events.in_transaction("monitor.escalated")
def on_monitor_escalated(ev: events.DomainEvent) -> None:
    """The incident was escalated (claimed by the follow-up job): ``ESCALATED`` to the
    monitor's escalation group."""
    monitor, incident = _subjects(ev)
    if monitor is not None and incident is not None and monitor.escalation_group is not None:
        queue_down(monitor, incident, kind="escalation", group=monitor.escalation_group)
