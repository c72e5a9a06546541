"""Check history (``/logs``) and uptime (``/uptime``) of the monitors API."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm import clock
from crm.extensions import db
from crm.monitoring import services
from crm.monitoring.models import CheckResult, Incident, Monitor, Rollup
from tests.api.conftest import assert_problem

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)




@pytest.fixture
def viewer(make_user):
    return make_user("agent")


@pytest.fixture
def at_now():
    """Freeze the product clock near :data:`NOW` (tests compare periods ending now)."""
    clock.set_offset(NOW - datetime.now(UTC))
    yield NOW


def _monitor(created_at=None) -> Monitor:
    monitor = services.create_monitor({"name": "Shop", "type": "http", "url": "https://shop.example.com"})
    if created_at:
        monitor.created_at = created_at
        db.session.commit()
    return monitor


def _results(monitor: Monitor, start: datetime, count: int, step=timedelta(minutes=5), down_every: int = 0):
    rows = []
    for i in range(count):
        down = down_every and i % down_every == 0
        rows.append(CheckResult(monitor_id=monitor.id, checked_at=start + i * step,
                                status="down" if down else "up", protocol="https",
                                response_time_ms=None if down else 100.0 + i,
                                status_code=None if down else 200,
                                error="timed out after 10 s" if down else None))
    db.session.add_all(rows)
    db.session.commit()
    return rows


# ---------------------------------------------------------------- logs

def test_logs_newest_first_with_page_numbers_and_links(api, viewer, at_now):
    monitor = _monitor()
    _results(monitor, NOW - timedelta(hours=1), 12)
    first = api.get(f"/monitors/{monitor.id}/logs?per_page=5", viewer)
    assert first.status_code == 200
    body = first.json
    assert (body["total"], body["pages"], body["page"], body["prev"]) == (12, 3, 1, None)
    times = [item["checked_at"] for item in body["items"]]
    assert times == sorted(times, reverse=True)
    newest = datetime.fromisoformat(times[0])
    assert newest == NOW - timedelta(hours=1) + 11 * timedelta(minutes=5) and newest.utcoffset() == timedelta(0)
    assert times[0].endswith(("Z", "+00:00"))
    assert body["items"][0] == {"checked_at": times[0], "status": "up", "response_time_ms": 111.0,
                                "status_code": 200, "error": None, "protocol": "https"}
    third = api.get(api_path(body["next"]).replace("page=2", "page=3"), viewer).json
    assert len(third["items"]) == 2 and third["next"] is None and "page=2" in third["prev"]
    second = api.get(api_path(body["next"]), viewer).json
    assert second["page"] == 2 and "per_page=5" in second["next"]
    all_times = times + [i["checked_at"] for i in second["items"]] + [i["checked_at"] for i in third["items"]]
    assert len(set(all_times)) == 12


def api_path(link: str) -> str:
    return link.removeprefix("/api/v1")


def test_logs_filter_by_status_and_time_range(api, viewer, at_now):
    monitor = _monitor()
    start = NOW - timedelta(days=2)
    _results(monitor, start, 48, step=timedelta(hours=1), down_every=4)  # 12 down
    other = _monitor()
    _results(other, start, 5)
    base = f"/monitors/{monitor.id}/logs?per_page=100"
    assert api.get(base, viewer).json["total"] == 48
    down = api.get(base + "&status=down", viewer).json
    assert down["total"] == 12 and {i["status"] for i in down["items"]} == {"down"}
    assert down["items"][0]["error"] == "timed out after 10 s" and down["items"][0]["response_time_ms"] is None
    # from inclusive, to exclusive; offsets converted to UTC
    frm = (start + timedelta(hours=10)).isoformat()
    to = (start + timedelta(hours=20)).isoformat().replace("+00:00", "Z")
    logs = f"/monitors/{monitor.id}/logs"
    ranged = api.get(logs, viewer, query_string={"from": frm, "to": to, "per_page": 100}).json
    assert ranged["total"] == 10
    assert ranged["items"][-1]["checked_at"].startswith("2026-03-08T22:00:00")
    shifted = api.get(logs, viewer, query_string={"from": "2026-03-09T00:00:00+02:00", "per_page": 100}).json
    assert shifted["total"] == 48 - 10
    # a date is that whole day (UTC)
    day = api.get(logs, viewer, query_string={"from": "2026-03-09", "to": "2026-03-09", "per_page": 100}).json
    assert day["total"] == 24
    naive = api.get(logs, viewer, query_string={"from": "2026-03-09T00:00:00", "to": "2026-03-09T06:00:00"}).json
    assert naive["total"] == 6


@pytest.mark.parametrize("query,field", [
    ({"from": "yesterday"}, "from"),
    ({"to": "2026-13-45"}, "to"),
    ({"from": "0001-01-01T00:00:00+05:00"}, "from"),
    ({"from": "2026-03-09", "to": "2026-03-08"}, "to"),
    ({"status": "sideways"}, "status"),
    ({"page": "0"}, "page"),
    ({"per_page": "1000"}, "per_page"),
])
def test_bad_log_queries_are_422_problems(api, viewer, query, field):
    monitor = _monitor()
    problem = assert_problem(api.get(f"/monitors/{monitor.id}/logs", viewer, query_string=query), 422)
    assert field in problem["errors"]


def test_logs_need_monitor_view(api, make_user):
    monitor = _monitor()
    assert_problem(api.get(f"/monitors/{monitor.id}/logs", make_user("customer")), 403)
    assert_problem(api.get(f"/monitors/{monitor.id}/logs"), 401)
    assert_problem(api.get("/monitors/424242/logs", make_user("engineer")), 404)


# ---------------------------------------------------------------- uptime

def _rollup(monitor, start, period, up, down):
    db.session.add(Rollup(monitor_id=monitor.id, period=period, bucket_start=start, count_up=up,
                          count_down=down, errors=down, sum_ms=100.0 * up, min_ms=90, max_ms=110,
                          histogram=[0] * 6 + [up] + [0] * 16, status_codes={"200": up}, protocol="https"))


def test_uptime_from_incidents_and_rollups(api, viewer, at_now):
    monitor = _monitor(created_at=NOW - timedelta(days=60))
    day_start = NOW.replace(hour=0)
    # two hours of the last 24 (hourly rollups), and older days (daily rollups)
    for h in range(1, 3):
        _rollup(monitor, NOW - timedelta(hours=h), "hour", 11, 1)
    for d in range(1, 6):
        _rollup(monitor, day_start - timedelta(days=d), "day", 280, 8)
    # a 36-minute incident yesterday-ish (inside the day), a 2-hour one 5 days ago, and one in
    # maintenance that does not count
    db.session.add_all([
        Incident(monitor_id=monitor.id, opened_at=NOW - timedelta(hours=3), closed_at=NOW - timedelta(hours=2, minutes=24),
                 duration_seconds=36 * 60),
        Incident(monitor_id=monitor.id, opened_at=NOW - timedelta(days=5), closed_at=NOW - timedelta(days=5) + timedelta(hours=2),
                 duration_seconds=7200),
        Incident(monitor_id=monitor.id, opened_at=NOW - timedelta(hours=5), closed_at=NOW - timedelta(hours=4),
                 duration_seconds=3600, in_maintenance=True),
    ])
    db.session.commit()
    day = api.get(f"/monitors/{monitor.id}/uptime?period=day", viewer)
    assert day.status_code == 200, day.json
    body = day.json
    assert body["period"] == "day" and body["incidents"] == 1 and body["downtime_seconds"] == 36 * 60
    assert body["uptime_percent"] == pytest.approx(100 * (1 - 2160 / 86400), abs=1e-3)
    end = datetime.fromisoformat(body["end"])
    assert abs(end - NOW) < timedelta(seconds=30)  # the product clock keeps running
    assert datetime.fromisoformat(body["start"]) == end - timedelta(days=1)
    assert body["checks"] == 24 and body["failed_checks"] == 2
    week = api.get(f"/monitors/{monitor.id}/uptime?period=week", viewer).json
    assert week["incidents"] == 2 and week["downtime_seconds"] == 36 * 60 + 7200
    assert week["uptime_percent"] == pytest.approx(100 * (1 - (2160 + 7200) / (7 * 86400)), abs=1e-3)
    assert week["checks"] == 24 + 5 * 288 and week["failed_checks"] == 2 + 5 * 8
    month = api.get(f"/monitors/{monitor.id}/uptime?period=month", viewer).json
    assert month["incidents"] == 2
    year = api.get(f"/monitors/{monitor.id}/uptime?period=year", viewer).json
    # the period is clipped to the monitor's life (created 60 days ago)
    assert year["uptime_percent"] == pytest.approx(100 * (1 - 9360 / (60 * 86400)), abs=1e-3)


def test_uptime_defaults_to_a_day_and_refuses_unknown_periods(api, viewer, at_now):
    monitor = _monitor(created_at=NOW - timedelta(days=2))
    body = api.get(f"/monitors/{monitor.id}/uptime", viewer).json
    assert body["period"] == "day" and body["uptime_percent"] == 100.0 and body["incidents"] == 0
    assert "period" in assert_problem(api.get(f"/monitors/{monitor.id}/uptime?period=decade", viewer), 422)["errors"]
    assert_problem(api.get("/monitors/424242/uptime", viewer), 404)
