"""Maintenance windows: which are active at a moment, and for which monitors.

During an active window checks still run and are recorded, the monitor's status shows
``maintenance`` and no alert is sent (incidents opened then are marked ``in_maintenance``).

Recurrence (``daily``, ``weekly``, ``monthly``): the first occurrence is ``starts_at`` …
``ends_at``; occurrence *n* starts *n* days/weeks/months later (monthly on the same day of
the month, clamped to the month's last day) and lasts as long; occurrences starting after
``recurrence_until`` (when set) do not happen.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from crm.extensions import db
from crm.monitoring.models import MaintenanceWindow

DAILY, WEEKLY, MONTHLY = "daily", "weekly", "monthly"
RECURRENCES = ("", DAILY, WEEKLY, MONTHLY)


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus ``months`` calendar months, the day clamped to the month's length."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def occurrence_at(window: MaintenanceWindow, at: datetime) -> tuple[datetime, datetime] | None:
    """The occurrence of ``window`` that contains ``at`` as (start, end), or None."""
    start, end = window.starts_at, window.ends_at
    if at < start or end <= start:
        return None
    duration = end - start
    recurrence = window.recurrence or ""
    if recurrence in (DAILY, WEEKLY):
        step = timedelta(days=1 if recurrence == DAILY else 7)
        n = int((at - start) / step)
        begin = start + n * step
    elif recurrence == MONTHLY:
        n = (at.year - start.year) * 12 + at.month - start.month
        begin = add_months(start, n)
        while begin > at and n > 0:
            n -= 1
            begin = add_months(start, n)
    else:
        begin = start
    if window.recurrence_until is not None and recurrence and begin > window.recurrence_until:
        return None
    if begin <= at < begin + duration:
        return begin, begin + duration
    return None


def active_windows(at: datetime) -> list[MaintenanceWindow]:
    """Windows active at ``at`` (UTC), recurrence expanded, with their monitors loaded."""
    query = (select(MaintenanceWindow)
             .where(MaintenanceWindow.starts_at <= at,
                    or_(MaintenanceWindow.ends_at > at, MaintenanceWindow.recurrence != ""))
             .options(selectinload(MaintenanceWindow.monitors)))
    return [w for w in db.session.scalars(query) if occurrence_at(w, at) is not None]


def next_occurrence(window: MaintenanceWindow, after: datetime) -> tuple[datetime, datetime] | None:
    """The first occurrence of ``window`` that ends after ``after`` (for listings), or None."""
    start, duration = window.starts_at, window.ends_at - window.starts_at
    recurrence = window.recurrence or ""
    if not recurrence:
        return (start, window.ends_at) if window.ends_at > after else None
    n = 0
    if after > start:
        if recurrence == MONTHLY:
            n = max(0, (after.year - start.year) * 12 + after.month - start.month - 1)
        else:
            step = timedelta(days=1 if recurrence == DAILY else 7)
            n = max(0, int((after - start) / step) - 1)
    for k in range(n, n + 40):
        begin = add_months(start, k) if recurrence == MONTHLY else \
            start + k * timedelta(days=1 if recurrence == DAILY else 7)
        if window.recurrence_until is not None and begin > window.recurrence_until:
            return None
        if begin + duration > after:
            return begin, begin + duration
    return None


@dataclass
class MaintenanceSnapshot:
    """Which monitors are in maintenance at one moment (computed once per batch)."""

    everything: bool = False
    monitor_ids: set = field(default_factory=set)

    def covers(self, monitor_id: int) -> bool:
        """True when ``monitor_id`` is in maintenance."""
        return self.everything or monitor_id in self.monitor_ids


def snapshot(at: datetime) -> MaintenanceSnapshot:
    """The :class:`MaintenanceSnapshot` at ``at``."""
    snap = MaintenanceSnapshot()
    for window in active_windows(at):
        if window.all_monitors:
            snap.everything = True
        snap.monitor_ids.update(m.id for m in window.monitors)
    return snap


def in_maintenance(monitor, at: datetime) -> bool:
    """True when ``monitor`` (or its id) is covered by a window active at ``at``."""
    monitor_id = monitor if isinstance(monitor, int) else monitor.id
    return snapshot(at).covers(monitor_id)
