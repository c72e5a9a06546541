"""Periodic jobs, declared once as data with stable ids (registered by ``workers/scheduler.py``).

Each entry: (id, interval in seconds, dotted job path). At every start the scheduler registers
these under stable RQ job ids (one schedule per id, however often it starts) and cancels
the periodic jobs it registered before that are no longer listed, so deploys never pile up
duplicates. Ids may use letters, digits, ``.``, ``_`` and ``-``.
"""
from __future__ import annotations

PERIODIC_JOBS: list[tuple[str, int, str]] = [
    ("notifications.sweep", 30, "crm.notifications.jobs.sweep_notifications"),
    ("tickets.assign_waiting", 60, "crm.tickets.jobs.assign_waiting"),
]
