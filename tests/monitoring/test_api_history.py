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


def _results(monitor: Monitor, start: datetime, count: int, step=timedelta(minutes=5),
             down_every: int = 0):
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

def api_path(link: str) -> str:
    return link.removeprefix("/api/v1")


def walk_pages(api, user, path: str, **query) -> list[dict]:
    """Every item of ``path`` with ``query`` (``limit`` …), page by page along ``next_cursor``."""
    items, cursor = [], None
    for _ in range(100):
        after = {"cursor": cursor} if cursor else {}
        body = api.get(path, user, query_string={**query, **after}).json
        assert body["has_more"] == (body["next_cursor"] is not None)
        assert body["page"] is None and body["total"] is None  # no page-number members
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the cursor never ran out")


def test_logs_newest_first_in_cursor_pages(api, viewer, at_now):
    monitor = _monitor()
    rows = _results(monitor, NOW - timedelta(hours=1), 12)
    # a second result at one instant: the id breaks the tie, neither is skipped nor repeated
    rows += _results(monitor, NOW - timedelta(hours=1) + 3 * timedelta(minutes=5), 1)
    body = api.get(f"/monitors/{monitor.id}/logs?limit=5", viewer).json
    assert body["limit"] == 5 and body["has_more"] is True and len(body["items"]) == 5
    times = [item["checked_at"] for item in body["items"]]
    newest = datetime.fromisoformat(times[0])
    assert newest == NOW - timedelta(hours=1) + 11 * timedelta(minutes=5)
    assert newest.utcoffset() == timedelta(0) and times[0].endswith(("Z", "+00:00"))
    assert body["items"][0] == {"checked_at": times[0], "status": "up", "response_time_ms": 111.0,
                                "status_code": 200, "error": None, "protocol": "https"}
    walked = walk_pages(api, viewer, f"/monitors/{monitor.id}/logs", limit=5)
    expected = sorted(rows, key=lambda r: (r.checked_at, r.id), reverse=True)
    assert len(walked) == 13
    assert [datetime.fromisoformat(i["checked_at"]) for i in walked] == \
        [r.checked_at for r in expected]
    assert [i["response_time_ms"] for i in walked] == [r.response_time_ms for r in expected]


def test_logs_still_page_by_number_for_one_release(api, viewer, at_now):
    monitor = _monitor()
    _results(monitor, NOW - timedelta(hours=1), 12)
    body = api.get(f"/monitors/{monitor.id}/logs?page=1&per_page=5", viewer).json
    assert (body["total"], body["pages"], body["page"], body["prev"]) == (12, 3, 1, None)
    times = [item["checked_at"] for item in body["items"]]
    assert times == sorted(times, reverse=True)
    third = api.get(api_path(body["next"]).replace("page=2", "page=3"), viewer).json
    assert len(third["items"]) == 2 and third["next"] is None and "page=2" in third["prev"]
    second = api.get(api_path(body["next"]), viewer).json
    assert second["page"] == 2 and "per_page=5" in second["next"]
    pages = [times, [i["checked_at"] for i in second["items"]],
             [i["checked_at"] for i in third["items"]]]
    assert len({t for page in pages for t in page}) == 12
    # a numbered page hands over a cursor too: the next page by cursor is page 2
    rest = api.get(f"/monitors/{monitor.id}/logs", viewer,
                   query_string={"limit": 5, "cursor": body["next_cursor"]}).json
    assert [i["checked_at"] for i in rest["items"]] == pages[1]


def test_bad_log_cursors_are_422_problems_naming_the_cursor(api, viewer, at_now):
    monitor, other = _monitor(), _monitor()
    _results(monitor, NOW - timedelta(hours=1), 3)
    _results(other, NOW - timedelta(hours=1), 3)
    foreign = api.get(f"/monitors/{other.id}/logs?limit=1", viewer).json["next_cursor"]
    for cursor in ("not-a-cursor", "aWQ6MA", foreign):  # aWQ6MA: "id:0"
        resp = api.get(f"/monitors/{monitor.id}/logs", viewer, query_string={"cursor": cursor})
        assert list(assert_problem(resp, 422)["errors"]) == ["cursor"], cursor


def test_logs_filter_by_status_and_time_range(api, viewer, at_now):
    monitor = _monitor()
    start = NOW - timedelta(days=2)
    _results(monitor, start, 48, step=timedelta(hours=1), down_every=4)  # 12 down
    other = _monitor()
    _results(other, start, 5)
    logs = f"/monitors/{monitor.id}/logs"

    def items(**query):
        return api.get(logs, viewer, query_string={"limit": 100, **query}).json["items"]

    assert len(items()) == 48
    down = items(status="down")
    assert len(down) == 12 and {i["status"] for i in down} == {"down"}
    assert down[0]["error"] == "timed out after 10 s" and down[0]["response_time_ms"] is None
    # from inclusive, to exclusive; offsets converted to UTC
    frm = (start + timedelta(hours=10)).isoformat()
    to = (start + timedelta(hours=20)).isoformat().replace("+00:00", "Z")
    ranged = items(**{"from": frm, "to": to})
    assert len(ranged) == 10 and ranged[-1]["checked_at"].startswith("2026-03-08T22:00:00")
    assert len(items(**{"from": "2026-03-09T00:00:00+02:00"})) == 48 - 10
    # a date is that whole day (UTC)
    assert len(items(**{"from": "2026-03-09", "to": "2026-03-09"})) == 24
    assert len(items(**{"from": "2026-03-09T00:00:00", "to": "2026-03-09T06:00:00"})) == 6


@pytest.mark.parametrize("query,field", [
    ({"from": "yesterday"}, "from"),
    ({"to": "2026-13-45"}, "to"),
    ({"from": "0001-01-01T00:00:00+05:00"}, "from"),
    ({"from": "2026-03-09", "to": "2026-03-08"}, "to"),
    ({"status": "sideways"}, "status"),
    ({"page": "0"}, "page"),
    ({"per_page": "1000"}, "per_page"),
    ({"limit": "0"}, "limit"),
    ({"limit": "101"}, "limit"),
])
def test_bad_log_queries_are_422_problems(api, viewer, query, field):
    monitor = _monitor()
    resp = api.get(f"/monitors/{monitor.id}/logs", viewer, query_string=query)
    problem = assert_problem(resp, 422)
    assert field in problem["errors"]


def test_logs_are_for_staff_and_the_monitors_owner(api, make_user):
    monitor = _monitor()
    assert_problem(api.get(f"/monitors/{monitor.id}/logs", make_user("customer")), 404)
    assert_problem(api.get(f"/monitors/{monitor.id}/logs"), 401)
    assert_problem(api.get("/monitors/424242/logs", make_user("engineer")), 404)


# ---------------------------------------------------------------- uptime

def _rollup(monitor, start, period, up, down):
    db.session.add(Rollup(monitor_id=monitor.id, period=period, bucket_start=start, count_up=up,
                          count_down=down, errors=down, sum_ms=100.0 * up, min_ms=90, max_ms=110,
                          histogram=[0] * 6 + [up] + [0] * 16, status_codes={"200": up},
                          protocol="https"))


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
        Incident(monitor_id=monitor.id, opened_at=NOW - timedelta(hours=3),
                 closed_at=NOW - timedelta(hours=2, minutes=24), duration_seconds=36 * 60),
        Incident(monitor_id=monitor.id, opened_at=NOW - timedelta(days=5),
                 closed_at=NOW - timedelta(days=5) + timedelta(hours=2), duration_seconds=7200),
        Incident(monitor_id=monitor.id, opened_at=NOW - timedelta(hours=5),
                 closed_at=NOW - timedelta(hours=4), duration_seconds=3600, in_maintenance=True),
    ])
    db.session.commit()
    day = api.get(f"/monitors/{monitor.id}/uptime?period=day", viewer)
    assert day.status_code == 200, day.json
    body = day.json
    assert body["period"] == "day" and body["incidents"] == 1
    assert body["downtime_seconds"] == 36 * 60
    assert body["uptime_percent"] == pytest.approx(100 * (1 - 2160 / 86400), abs=1e-3)
    end = datetime.fromisoformat(body["end"])
    assert abs(end - NOW) < timedelta(seconds=30)  # the product clock keeps running
    assert datetime.fromisoformat(body["start"]) == end - timedelta(days=1)
    assert body["checks"] == 24 and body["failed_checks"] == 2
    week = api.get(f"/monitors/{monitor.id}/uptime?period=week", viewer).json
    assert week["incidents"] == 2 and week["downtime_seconds"] == 36 * 60 + 7200
    expected = 100 * (1 - (2160 + 7200) / (7 * 86400))
    assert week["uptime_percent"] == pytest.approx(expected, abs=1e-3)
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
    decade = api.get(f"/monitors/{monitor.id}/uptime?period=decade", viewer)
    assert "period" in assert_problem(decade, 422)["errors"]
    assert_problem(api.get("/monitors/424242/uptime", viewer), 404)
