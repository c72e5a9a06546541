"""Periodic jobs, declared once as data with stable ids (registered by ``workers/scheduler.py``).

Each entry: (id, interval in seconds, dotted job path). The scheduler cancels every job it
registered before and registers these again, so deploys never pile up duplicates.
"""
from __future__ import annotations

PERIODIC_JOBS: list[tuple[str, int, str]] = [
    ("notifications.sweep", 30, "crm.notifications.jobs.sweep_notifications"),
    ("tickets.assign_waiting", 60, "crm.tickets.jobs.assign_waiting"),
]
