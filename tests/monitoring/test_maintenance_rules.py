"""Maintenance-window rules beyond the engine's own test: the next occurrence a listing or a
status page shows, occurrences at month ends and bounds, the console's window states and what
a public status page announces, and a stale delete form."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm import clock
from crm.extensions import db
from crm.monitoring import maintenance
from crm.monitoring.models import MaintenanceWindow
from crm.monitoring.pages.maintenance import window_state
from crm.monitoring.pages.status_pages import announced_maintenance

START = datetime(2025, 1, 31, 22, 0, tzinfo=UTC)  # a month's last day, late evening


def _window(starts_at=START, hours: float = 1, **kw) -> MaintenanceWindow:
    window = MaintenanceWindow(title=kw.pop("title", "Upgrade"), starts_at=starts_at,
                               ends_at=starts_at + timedelta(hours=hours), **kw)
    db.session.add(window)
    db.session.commit()
    return window


def _at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ---------------------------------------------------------------- next occurrence

def test_a_one_off_window_occurs_once(app):
    once = _window()
    assert maintenance.next_occurrence(once, _at(2025, 1, 1)) == (START, START + timedelta(hours=1))
    assert maintenance.next_occurrence(once, START + timedelta(minutes=30))[0] == START
    assert maintenance.next_occurrence(once, START + timedelta(hours=1)) is None


@pytest.mark.parametrize("recurrence,after,expected_start", [
    ("daily", _at(2025, 1, 1), START),  # before the first occurrence: the first
    ("daily", _at(2025, 2, 10, 12), _at(2025, 2, 10, 22)),
    ("daily", _at(2025, 2, 10, 22, 30), _at(2025, 2, 10, 22)),  # running now: this one
    ("daily", _at(2025, 2, 10, 23), _at(2025, 2, 11, 22)),  # the end is not "after"
    ("weekly", _at(2025, 2, 1), _at(2025, 2, 7, 22)),
    ("weekly", _at(2025, 2, 7, 23, 30), _at(2025, 2, 14, 22)),
    ("monthly", _at(2025, 2, 1), _at(2025, 2, 28, 22)),  # clamped to February's last day
    ("monthly", _at(2025, 3, 1), _at(2025, 3, 31, 22)),  # and back to the 31st in March
    ("monthly", _at(2025, 4, 30, 23), _at(2025, 5, 31, 22)),
    ("monthly", _at(2026, 1, 15), _at(2026, 1, 31, 22)),  # a year on
])
def test_next_occurrence_of_repeating_windows(app, recurrence, after, expected_start):
    window = _window(recurrence=recurrence)
    assert maintenance.next_occurrence(window, after) == (expected_start,
                                                          expected_start + timedelta(hours=1))


def test_no_occurrence_after_recurrence_until(app):
    weekly = _window(recurrence="weekly", recurrence_until=_at(2025, 2, 10))
    assert maintenance.next_occurrence(weekly, _at(2025, 2, 7, 22, 30))[0] == _at(2025, 2, 7, 22)
    assert maintenance.next_occurrence(weekly, _at(2025, 2, 7, 23)) is None


# ---------------------------------------------------------------- occurrence at a moment

def test_monthly_occurrence_before_the_day_of_the_month_is_last_months(app):
    """On March 15th the occurrence that began on February 28th (clamped) is long over; the
    search steps back a month instead of looking at March 31st."""
    monthly = _window(recurrence="monthly", hours=24 * 20)
    assert maintenance.occurrence_at(monthly, _at(2025, 3, 15)) == (
        _at(2025, 2, 28, 22), _at(2025, 3, 20, 22))
    assert maintenance.occurrence_at(monthly, _at(2025, 3, 25)) is None


def test_windows_without_length_or_before_their_start_never_apply(app):
    empty = _window(hours=0, recurrence="daily")
    assert maintenance.occurrence_at(empty, START) is None
    assert maintenance.occurrence_at(_window(), START - timedelta(seconds=1)) is None
    assert maintenance.active_windows(START + timedelta(days=3)) == []


def test_daily_window_stops_after_recurrence_until(app):
    daily = _window(recurrence="daily", recurrence_until=_at(2025, 2, 2, 23))
    assert maintenance.occurrence_at(daily, _at(2025, 2, 2, 22, 30)) is not None
    assert maintenance.occurrence_at(daily, _at(2025, 2, 3, 22, 30)) is None


def test_snapshot_names_the_monitors_of_every_active_window(app, make_monitor):
    a, b, c = (make_monitor("tcp", host="127.0.0.1", port=1) for _ in range(3))
    first, second = _window(), _window(recurrence="daily")
    first.monitors, second.monitors = [a], [b]
    db.session.commit()
    snap = maintenance.snapshot(START + timedelta(minutes=10))
    assert not snap.everything and snap.monitor_ids == {a.id, b.id}
    assert snap.covers(a.id) and not snap.covers(c.id)
    later = maintenance.snapshot(START + timedelta(days=1, minutes=10))
    assert later.monitor_ids == {b.id}
    assert maintenance.in_maintenance(b.id, START + timedelta(days=1, minutes=10))


# ---------------------------------------------------------------- the console's states

@pytest.mark.parametrize("kw,now,active,expected", [
    ({}, START - timedelta(hours=1), False, "upcoming"),
    ({}, START + timedelta(minutes=5), True, "current"),
    ({}, START + timedelta(hours=1), False, "past"),
    ({"recurrence": "daily"}, START + timedelta(days=400), False, "upcoming"),
    ({"recurrence": "daily", "recurrence_until": _at(2025, 2, 3, 22)}, _at(2025, 2, 2, 23, 30),
     False, "upcoming"),  # between occurrences: the 3rd's is the last
    ({"recurrence": "daily", "recurrence_until": _at(2025, 2, 3)}, _at(2025, 2, 2, 23, 30),
     False, "past"),  # the 2nd's was the last: the 3rd's would start after "until"
    ({"recurrence": "weekly", "recurrence_until": _at(2025, 2, 10)},
     _at(2025, 2, 10, 0, 30), False, "past"),
])
def test_window_state(app, kw, now, active, expected):
    window = _window(**kw)
    assert window_state(window, now, {window.id} if active else set()) == expected


# ---------------------------------------------------------------- public announcements

def test_status_pages_announce_only_announced_windows_of_their_monitors(app, make_monitor):
    shown, other = make_monitor("tcp", host="127.0.0.1", port=1), make_monitor("tcp", port=1)
    now = clock.utcnow()
    current = _window(now - timedelta(minutes=5), title="Now")
    current.monitors = [shown]
    soon = _window(now + timedelta(days=2), title="Soon", all_monitors=True)
    later = _window(now + timedelta(days=1), title="Later", recurrence="weekly")
    later.monitors = [shown]
    _window(now + timedelta(days=1), title="Quiet", all_monitors=True, announced=False)
    _window(now + timedelta(days=45), title="Far", all_monitors=True)
    elsewhere = _window(now + timedelta(hours=3), title="Elsewhere")
    elsewhere.monitors = [other]
    db.session.commit()

    running, coming = announced_maintenance({shown.id}, now)
    assert [(w.title, start) for w, start, _ in running] == [("Now", current.starts_at)]
    assert [(w.title, start) for w, start, _ in coming] == [("Later", later.starts_at),
                                                           ("Soon", soon.starts_at)]
    running, coming = announced_maintenance({other.id}, now)
    assert running == [] and [w.title for w, _, _ in coming] == ["Elsewhere", "Soon"]


def test_a_repeating_window_announces_its_next_occurrence(app, make_monitor):
    monitor = make_monitor("tcp", host="127.0.0.1", port=1)
    now = clock.utcnow()
    first = now - timedelta(days=3, hours=1)
    window = _window(first, recurrence="daily", hours=0.5, all_monitors=True)
    running, coming = announced_maintenance({monitor.id}, now)
    assert running == []
    assert coming == [(window, first + timedelta(days=4), first + timedelta(days=4, minutes=30))]


# ---------------------------------------------------------------- console delete

def test_a_stale_delete_form_keeps_the_window(app, login_as):
    window = _window(clock.utcnow() + timedelta(days=1))
    manager = login_as("manager")
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        resp = manager.post(f"/maintenance/{window.id}/delete", data={"csrf_token": "stale"})
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert resp.status_code == 400
    db.session.expire_all()
    assert db.session.get(MaintenanceWindow, window.id) is not None


def test_editing_a_missing_window_is_404(app, login_as):
    assert login_as("manager").get("/maintenance/999999").status_code == 404
