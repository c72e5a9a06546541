"""Maintenance windows: recurrence, status ``maintenance``, checks recorded, alerts suppressed."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from crm import clock
from crm.extensions import db
from crm.monitoring import maintenance
from crm.monitoring.engine import jobs
from crm.monitoring.models import CheckResult, Incident, MaintenanceWindow
from crm.notifications.models import Notification
from tests.monitoring.peers import Route


def _window(**kw) -> MaintenanceWindow:
    window = MaintenanceWindow(title=kw.pop("title", "Upgrade"), **kw)
    db.session.add(window)
    db.session.commit()
    return window


def test_recurrence_expansion(app):
    start = datetime(2025, 1, 31, 22, 0, tzinfo=UTC)
    daily = _window(starts_at=start, ends_at=start + timedelta(hours=1), recurrence="daily")
    weekly = _window(starts_at=start, ends_at=start + timedelta(hours=2), recurrence="weekly",
                     recurrence_until=datetime(2025, 3, 1, tzinfo=UTC))
    monthly = _window(starts_at=start, ends_at=start + timedelta(hours=1), recurrence="monthly")
    once = _window(starts_at=start, ends_at=start + timedelta(hours=1))
    occ = maintenance.occurrence_at
    assert occ(daily, datetime(2025, 2, 10, 22, 30, tzinfo=UTC)) is not None
    assert occ(daily, datetime(2025, 2, 10, 23, 30, tzinfo=UTC)) is None
    assert occ(weekly, datetime(2025, 2, 7, 23, 30, tzinfo=UTC)) is not None
    assert occ(weekly, datetime(2025, 2, 8, 22, 30, tzinfo=UTC)) is None
    assert occ(weekly, datetime(2025, 3, 7, 22, 30, tzinfo=UTC)) is None  # after recurrence_until
    assert occ(monthly, datetime(2025, 2, 28, 22, 30, tzinfo=UTC)) is not None  # clamped to Feb 28
    assert occ(monthly, datetime(2025, 3, 31, 22, 30, tzinfo=UTC)) is not None
    assert occ(once, datetime(2025, 1, 31, 22, 59, tzinfo=UTC)) is not None
    assert occ(once, datetime(2025, 2, 1, 22, 30, tzinfo=UTC)) is None
    active = {w.id for w in maintenance.active_windows(datetime(2025, 3, 31, 22, 30, tzinfo=UTC))}
    assert active == {daily.id, monthly.id}


def test_maintenance_suppresses_alerts_but_records_checks(
    http_peer, make_monitor, make_group, run_jobs
):
    group = make_group("ops", emails=["ops@example.com"], phones=["+447700900123"])
    http_peer.routes["/m"] = Route(503, "upgrading")
    inside = make_monitor("http", url=http_peer.url("/m"), contact_group=group)
    outside = make_monitor("http", url=http_peer.url("/m"))
    now = clock.utcnow()
    window = _window(starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(minutes=30))
    window.monitors.append(inside)
    db.session.commit()
    assert maintenance.in_maintenance(inside, now) and not maintenance.in_maintenance(outside, now)

    jobs.run_checks([inside.id, outside.id])
    db.session.refresh(inside)
    db.session.refresh(outside)
    assert inside.status == "maintenance" and outside.status == "down"
    assert db.session.scalar(select(func.count(CheckResult.id))) == 2
    incident = db.session.scalar(select(Incident).where(Incident.monitor_id == inside.id))
    assert incident.in_maintenance is True
    assert db.session.scalar(select(func.count(Notification.id))) == 0

    clock.set_offset(timedelta(hours=1))  # window over, still failing: status shows down, no alert
    jobs.run_checks([inside.id])
    db.session.refresh(inside)
    assert inside.status == "down"
    assert jobs.incident_followups() == {"reminders": 0, "escalations": 0}
    http_peer.routes["/m"] = Route(200, "ok")
    jobs.run_checks([inside.id])
    db.session.refresh(inside)
    assert inside.status == "up"
    assert db.session.scalar(select(func.count(Notification.id))) == 0


def test_all_monitors_window_covers_everything(app, make_monitor):
    m = make_monitor("tcp", host="127.0.0.1", port=1)
    now = clock.utcnow()
    _window(
        starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(minutes=1), all_monitors=True
    )
    assert maintenance.in_maintenance(m, now)
    assert not maintenance.in_maintenance(m, now + timedelta(minutes=2))
