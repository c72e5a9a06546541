"""Alerts through the outbox: email (templates ``email/monitor_down.*`` and
``email/monitor_up.*``) and SMS to every contact of the monitor's contact group.

The alerts are subscribers of the monitoring events (:mod:`crm.events`, ``in_transaction``):

=================  ==================================  =====================================
event              published by                        alert (outbox event)
=================  ==================================  =====================================
monitor.down       ``engine.results`` opens an         down → contact group
                   incident
monitor.up         ``engine.results`` closes it        recovery → contact group, and the
                                                       escalation group if escalated
monitor.reminded   ``engine.incidents.                 still down → contact group
                   incident_followups``
monitor.escalated  ``engine.incidents.                 escalation → escalation group
                   incident_followups``
=================  ==================================  =====================================

Payload: ``monitor_id`` and ``incident_id``. Exactly once: the handlers run in the transaction
that opens or closes the incident (the results pipeline holds the monitor's row lock, and opens
an incident only when none is open) or that claimed it for a reminder/escalation (a guarded
UPDATE), so the outbox rows commit or roll back with it; the outbox then guarantees delivery.
Nothing is sent for incidents opened in maintenance.
"""

from crm.monitoring.alerts import subscribers  # noqa: E402,F401  (registers the handlers)
from crm.monitoring.alerts.delivery import human_duration, queue_down, queue_up, recipients  # noqa: E402

__all__ = ["human_duration", "queue_down", "queue_up", "recipients"]
