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
    """A window in memory (the occurrence rules read only its attributes)."""
    kw.setdefault("recurrence", "")
    return MaintenanceWindow(title=kw.pop("title", "Upgrade"), starts_at=starts_at,
                             ends_at=starts_at + timedelta(hours=hours), **kw)


def _saved(starts_at=START, hours: float = 1, monitors=(), **kw) -> MaintenanceWindow:
    window = _window(starts_at, hours, **kw)
    window.monitors = list(monitors)
    db.session.add(window)
    db.session.commit()
    return window


def _at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ---------------------------------------------------------------- occurrences (no database:
# one backend is enough)

#: (recurrence, after, start of the next occurrence) of a one-hour window first on START
NEXT = [
    ("", _at(2025, 1, 1), START),
    ("", START + timedelta(minutes=30), START),  # running now: this one
    ("", START + timedelta(hours=1), None),  # over
    ("daily", _at(2025, 1, 1), START),  # before the first occurrence: the first
    ("daily", _at(2025, 2, 10, 12), _at(2025, 2, 10, 22)),
    ("daily", _at(2025, 2, 10, 22, 30), _at(2025, 2, 10, 22)),
    ("daily", _at(2025, 2, 10, 23), _at(2025, 2, 11, 22)),  # the end is not "after"
    ("weekly", _at(2025, 2, 1), _at(2025, 2, 7, 22)),
    ("weekly", _at(2025, 2, 7, 23, 30), _at(2025, 2, 14, 22)),
    ("monthly", _at(2025, 2, 1), _at(2025, 2, 28, 22)),  # clamped to February's last day
    ("monthly", _at(2025, 3, 1), _at(2025, 3, 31, 22)),  # and back to the 31st in March
    ("monthly", _at(2025, 4, 30, 23), _at(2025, 5, 31, 22)),
    ("monthly", _at(2026, 1, 15), _at(2026, 1, 31, 22)),  # a year on
]


@pytest.mark.only_backend("sqlite")
def test_next_occurrence():
    wrong = []
    for recurrence, after, start in NEXT:
        expected = None if start is None else (start, start + timedelta(hours=1))
        got = maintenance.next_occurrence(_window(recurrence=recurrence), after)
        if got != expected:
            wrong.append(f"{recurrence or 'once'} after {after}: {got} != {expected}")
    assert not wrong, "\n".join(wrong)
    weekly = _window(recurrence="weekly", recurrence_until=_at(2025, 2, 10))
    assert maintenance.next_occurrence(weekly, _at(2025, 2, 7, 22, 30))[0] == _at(2025, 2, 7, 22)
    assert maintenance.next_occurrence(weekly, _at(2025, 2, 7, 23)) is None  # until: no more


@pytest.mark.only_backend("sqlite")
def test_occurrence_at_month_ends_bounds_and_until():
    # On March 15th the occurrence that began on February 28th (clamped) is still running;
    # the search steps back a month instead of looking at March 31st.
    monthly = _window(recurrence="monthly", hours=24 * 20)
    assert maintenance.occurrence_at(monthly, _at(2025, 3, 15)) == (
        _at(2025, 2, 28, 22), _at(2025, 3, 20, 22))
    assert maintenance.occurrence_at(monthly, _at(2025, 3, 25)) is None
    # no length, or before the start: never
    assert maintenance.occurrence_at(_window(hours=0, recurrence="daily"), START) is None
    assert maintenance.occurrence_at(_window(), START - timedelta(seconds=1)) is None
    # a daily window stops after "repeat until"
    daily = _window(recurrence="daily", recurrence_until=_at(2025, 2, 2, 23))
    assert maintenance.occurrence_at(daily, _at(2025, 2, 2, 22, 30)) is not None
    assert maintenance.occurrence_at(daily, _at(2025, 2, 3, 22, 30)) is None


#: (window settings, now, an occurrence covers now, the console's state)
STATES = [
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
]


@pytest.mark.only_backend("sqlite")
def test_window_states_in_the_console():
    wrong = []
    for settings, now, active, expected in STATES:
        window = _window(id=7, **settings)
        state = window_state(window, now, {7} if active else set())
        if state != expected:
            wrong.append(f"{settings} at {now}: {state} != {expected}")
    assert not wrong, "\n".join(wrong)


# ---------------------------------------------------------------- stored windows

def test_snapshot_names_the_monitors_of_every_active_window(app, make_monitor):
    a, b, c = (make_monitor("tcp", host="127.0.0.1", port=1) for _ in range(3))
    _saved(monitors=[a])
    _saved(recurrence="daily", monitors=[b])
    _saved(hours=0, all_monitors=True)  # no length: never active
    snap = maintenance.snapshot(START + timedelta(minutes=10))
    assert not snap.everything and snap.monitor_ids == {a.id, b.id}
    assert snap.covers(a.id) and not snap.covers(c.id)
    later = maintenance.snapshot(START + timedelta(days=1, minutes=10))
    assert later.monitor_ids == {b.id}
    assert maintenance.in_maintenance(b.id, START + timedelta(days=1, minutes=10))
    assert maintenance.active_windows(START + timedelta(days=3, hours=2)) == []


def test_status_pages_announce_only_announced_windows_of_their_monitors(app, make_monitor):
    """Current and upcoming (within 30 days) windows of the page's monitors or of all
    monitors, soonest first; a repeating window by its next occurrence."""
    shown, other = make_monitor("tcp", host="127.0.0.1", port=1), make_monitor("tcp", port=1)
    now = clock.utcnow()
    current = _saved(now - timedelta(minutes=5), title="Now", monitors=[shown])
    soon = _saved(now + timedelta(days=2), title="Soon", all_monitors=True)
    later = _saved(now + timedelta(days=1), title="Later", recurrence="weekly", monitors=[shown])
    _saved(now + timedelta(days=1), title="Quiet", all_monitors=True, announced=False)
    _saved(now + timedelta(days=45), title="Far", all_monitors=True)
    _saved(now + timedelta(hours=3), title="Elsewhere", monitors=[other])
    first = now - timedelta(days=3, hours=1)
    _saved(first, title="Nightly", recurrence="daily", hours=0.5, monitors=[other])

    running, coming = announced_maintenance({shown.id}, now)
    assert [(w.title, start) for w, start, _ in running] == [("Now", current.starts_at)]
    assert [(w.title, start) for w, start, _ in coming] == [("Later", later.starts_at),
                                                           ("Soon", soon.starts_at)]
    running, coming = announced_maintenance({other.id}, now)
    assert running == []
    assert [(w.title, start, end) for w, start, end in coming] == [
        ("Elsewhere", now + timedelta(hours=3), now + timedelta(hours=4)),
        ("Nightly", first + timedelta(days=4), first + timedelta(days=4, minutes=30)),
        ("Soon", soon.starts_at, soon.ends_at)]


def test_a_stale_delete_form_keeps_the_window_and_a_missing_one_is_404(app, login_as):
    window = _saved(clock.utcnow() + timedelta(days=1))
    manager = login_as("manager")
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        resp = manager.post(f"/maintenance/{window.id}/delete", data={"csrf_token": "stale"})
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert resp.status_code == 400
    db.session.expire_all()
    assert db.session.get(MaintenanceWindow, window.id) is not None
    assert manager.get("/maintenance/999999").status_code == 404
