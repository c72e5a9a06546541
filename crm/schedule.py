"""Periodic jobs, declared once as data with stable ids (registered by ``workers/scheduler.py``).

Each entry: (id, interval in seconds, dotted job path). At every start the scheduler registers
these under stable RQ job ids (one schedule per id, however often it starts) and cancels
the periodic jobs it registered before that are no longer listed, so deploys never pile up
duplicates. Ids may use letters, digits, ``.``, ``_`` and ``-``.

Periodic jobs run on the ``periodic`` queue (:mod:`crm.queue`), which its own worker serves:
they are short, and the monitoring tick, heartbeats and the outbox sweeper must not wait
behind a burst of mail or a minute-long check session. :data:`PERIODIC_QUEUES` names the
exceptions (long housekeeping goes where it only delays its own kind of work).
"""
from __future__ import annotations

import os

from crm.queue import MONITORING, PERIODIC

#: how often the monitoring due-time scheduler runs (the app validates MONITOR_TICK_SECONDS).
_TICK_ENV = os.environ.get("MONITOR_TICK_SECONDS", "5").strip()
_MONITOR_TICK_SECONDS = max(1, int(_TICK_ENV)) if _TICK_ENV.isdigit() else 5

PERIODIC_JOBS: list[tuple[str, int, str]] = [
    ("notifications.sweep", 30, "crm.notifications.jobs.sweep_notifications"),
    ("tickets.assign_waiting", 60, "crm.tickets.jobs.assign_waiting"),
    # every 15 min: requests the health reports due today (idempotent; see
    # crm/monitoring/reports.py)
    ("monitoring.due_reports", 900, "crm.monitoring.reports.due_reports"),
    ("auth.purge_tokens", 900, "crm.auth.jobs.purge_tokens"),
    ("auth.purge_otp_codes", 3600, "crm.auth.otp.purge_codes_job"),
    ("api.purge_refresh_tokens", 3600, "crm.api.jobs.purge_refresh_tokens"),
    # uptime monitoring engine (crm/monitoring/engine/jobs.py)
    ("monitoring.tick", _MONITOR_TICK_SECONDS, "crm.monitoring.engine.jobs.tick"),
    ("monitoring.check_heartbeats", 10, "crm.monitoring.engine.jobs.check_heartbeats"),
    ("monitoring.incident_followups", 30, "crm.monitoring.engine.jobs.incident_followups"),
    ("monitoring.prune_results", 3600, "crm.monitoring.engine.jobs.prune_results"),
    ("errors.prune_events", 3600, "crm.observability.errors.jobs.prune_events"),
]

#: queue kind of the periodic jobs that do not run on the ``periodic`` queue: pruning a year of
#: results may take a while, so it runs beside the check sessions (they hand the monitoring
#: worker over to it) instead of holding up the tick and the sweeper.
PERIODIC_QUEUES: dict[str, str] = {
    "monitoring.prune_results": MONITORING,
}


def periodic_queue(name: str) -> str:
    """The queue kind (see :mod:`crm.queue`) periodic job ``name`` runs on."""
    return PERIODIC_QUEUES.get(name, PERIODIC)
