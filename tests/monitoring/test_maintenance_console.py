"""Maintenance windows in the console: create, edit, delete, list grouping, validation."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from crm import clock
from crm.extensions import db
from crm.monitoring.models import MaintenanceWindow, Monitor

FMT = "%Y-%m-%dT%H:%M"


@pytest.fixture
def manager(make_user, login):
    user = make_user("manager")
    login(user)
    return user


@pytest.fixture
def monitors(app):
    rows = [
        Monitor(name=n, type="http", config={"url": f"http://{n}.example/"}) for n in ("api", "web")
    ]
    db.session.add_all(rows)
    db.session.commit()
    return rows


def _form(**changes) -> dict:
    start = (clock.utcnow() + timedelta(days=1)).replace(second=0, microsecond=0)
    data = {
        "title": "Database upgrade",
        "description": "Minor version upgrade",
        "starts_at": start.strftime(FMT),
        "ends_at": (start + timedelta(hours=2)).strftime(FMT),
        "recurrence": "",
        "recurrence_until": "",
        "announced": "y",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_create_one_off_window_for_chosen_monitors(client, manager, monitors):
    resp = client.post("/maintenance/new", data={**_form(), "monitors": [monitors[0].id]})
    assert resp.status_code == 302
    window = db.session.scalar(select(MaintenanceWindow))
    assert window.title == "Database upgrade" and window.announced and not window.all_monitors
    assert [m.name for m in window.monitors] == ["api"]
    assert window.created_by_id == manager.id
    assert window.starts_at.tzinfo is not None and window.ends_at - window.starts_at == timedelta(
        hours=2
    )
    page = client.get("/maintenance/").get_data(as_text=True)
    upcoming = page[page.index("Upcoming") : page.index("Past")]
    assert "Database upgrade" in upcoming


def test_create_recurring_window_for_all_monitors_then_edit_and_delete(client, manager, monitors):
    until = (clock.utcnow() + timedelta(days=60)).strftime(FMT)
    resp = client.post(
        "/maintenance/new",
        data=_form(recurrence="weekly", recurrence_until=until, all_monitors="y", announced=None),
    )
    assert resp.status_code == 302
    window = db.session.scalar(select(MaintenanceWindow))
    assert window.recurrence == "weekly" and window.all_monitors and not window.announced
    assert window.recurrence_until is not None

    form_page = client.get(f"/maintenance/{window.id}").get_data(as_text=True)
    assert 'value="Database upgrade"' in form_page
    resp = client.post(
        f"/maintenance/{window.id}",
        data={
            **_form(title="Kernel patching", recurrence="daily"),
            "monitors": [m.id for m in monitors],
        },
    )
    assert resp.status_code == 302
    window = db.session.get(MaintenanceWindow, window.id, populate_existing=True)
    assert (
        window.title == "Kernel patching"
        and window.recurrence == "daily"
        and not window.all_monitors
    )
    assert sorted(m.name for m in window.monitors) == ["api", "web"]

    assert client.post(f"/maintenance/{window.id}/delete").status_code == 302
    assert db.session.scalar(select(func.count(MaintenanceWindow.id))) == 0


def test_current_and_past_windows_are_grouped(client, manager, monitors):
    now = clock.utcnow()
    db.session.add_all(
        [
            MaintenanceWindow(
                title="Happening now",
                starts_at=now - timedelta(minutes=10),
                ends_at=now + timedelta(minutes=50),
                all_monitors=True,
            ),
            MaintenanceWindow(
                title="Long gone",
                starts_at=now - timedelta(days=3),
                ends_at=now - timedelta(days=3, hours=-1),
                all_monitors=True,
            ),
        ]
    )
    db.session.commit()
    page = client.get("/maintenance/").get_data(as_text=True)
    current = page[page.index(">Current") : page.index(">Upcoming")]
    past = page[page.index(">Past") :]
    assert "Happening now" in current and "Long gone" in past


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"ends_at": "START"}, "The end must be after the start."),
        ({"starts_at": "tomorrow"}, "Enter the start as YYYY-MM-DDTHH:MM."),
        ({"title": ""}, "This field is required."),
        ({"recurrence": "hourly"}, "Not a valid choice"),
        (
            {"recurrence": "daily", "ends_at": "PLUS25H"},
            "A daily window must last less than 1 day(s).",
        ),
        ({"recurrence": "weekly", "recurrence_until": "BEFORE"}, "must not be before the start"),
        ({"recurrence_until": "BEFORE"}, "applies to repeating windows only"),
        ({"all_monitors": None, "monitors": None}, "Choose at least one monitor"),
    ],
)
def test_bad_windows_are_refused_with_a_message(client, manager, monitors, changes, message):
    data = _form(all_monitors="y")
    start = datetime.strptime(data["starts_at"], FMT)
    replacements = {
        "START": data["starts_at"],
        "PLUS25H": (start + timedelta(hours=25)).strftime(FMT),
        "BEFORE": (start - timedelta(days=1)).strftime(FMT),
    }
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = replacements.get(value, value)
    resp = client.post("/maintenance/new", data=data)
    assert resp.status_code == 422
    assert message in resp.get_data(as_text=True).replace("&#34;", '"').replace("&#39;", "'")
    assert db.session.scalar(select(func.count(MaintenanceWindow.id))) == 0


def test_engineers_may_not_manage_windows(client, make_user, login):
    login(make_user("engineer"))
    assert client.get("/maintenance/").status_code == 403
    assert client.post("/maintenance/new", data=_form(all_monitors="y")).status_code == 403
    assert db.session.scalar(select(func.count(MaintenanceWindow.id))) == 0


def test_window_times_are_stored_in_utc(client, manager, monitors):
    client.post(
        "/maintenance/new",
        data=_form(starts_at="2030-01-02T03:04", ends_at="2030-01-02T05:00", all_monitors="y"),
    )
    window = db.session.scalar(select(MaintenanceWindow))
    assert window.starts_at == datetime(2030, 1, 2, 3, 4, tzinfo=UTC)
