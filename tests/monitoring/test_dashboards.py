"""The uptime dashboard: figures computed from prepared rollups (SQL GROUP BY) match the
expected counts per day/week/month, by monitor, protocol and response code; incidents are
counted as the API counts them (maintenance excluded); the page never queries the raw
``check_results`` table."""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from crm import clock
from crm.extensions import db
from crm.monitoring.models import DAY, HOUR, Incident, Monitor, Rollup
from crm.monitoring.pages import dashboards
from tests.api.conftest import Api
from tests.helpers_matrix import visible_text

NOW = datetime(2026, 3, 18, 12, 30, tzinfo=UTC)  # a Wednesday


@pytest.fixture
def fixed_now():
    clock.set_offset(NOW - datetime.now(UTC))
    return NOW


def _monitor(name: str, type_: str = "http", url: str = "https://x.example/") -> Monitor:
    m = Monitor(
        name=name, type=type_, config={"url": url} if type_ == "http" else {"host": "h", "port": 1}
    )
    db.session.add(m)
    db.session.flush()
    return m


def _rollup(
    monitor, period, start, up, down, errors=0, codes=None, protocol="https", hist=None, sum_ms=0.0
):
    db.session.add(
        Rollup(
            monitor_id=monitor.id,
            period=period,
            bucket_start=start,
            count_up=up,
            count_down=down,
            errors=errors,
            sum_ms=sum_ms,
            histogram=hist or [],
            status_codes=codes or {},
            protocol=protocol,
        )
    )


@pytest.fixture
def data(fixed_now):
    """Two monitors with daily rollups over March 2026 (and February), hourly for today."""
    shop = _monitor("Shop")
    mail = _monitor("Mail", "tcp")
    day = datetime(2026, 3, 18, tzinfo=UTC)
    # Shop: 3 failures on Mon 16th (1 no response), 2 on Tue 17th, 4 on Sun 1st Mar, 5 on 10th Feb
    _rollup(shop, DAY, day - timedelta(days=2), 97, 3, 1, {"200": 97, "503": 2})
    _rollup(shop, DAY, day - timedelta(days=1), 98, 2, 0, {"200": 98, "500": 2})
    _rollup(shop, DAY, datetime(2026, 3, 1, tzinfo=UTC), 96, 4, 4, {"200": 96})
    _rollup(shop, DAY, datetime(2026, 2, 10, tzinfo=UTC), 95, 5, 0, {"200": 95, "502": 5})
    # Mail: 10 failures on the 17th, all unanswered
    _rollup(mail, DAY, day - timedelta(days=1), 90, 10, 10, {}, protocol="tcp")
    # hourly rollups of today (for ranges of 7 days or less) and an old one outside the range
    _rollup(
        shop,
        HOUR,
        day + timedelta(hours=10),
        59,
        1,
        1,
        {"200": 59},
        hist=[0, 60] + [0] * 21,
        sum_ms=480.0,
    )
    _rollup(
        shop,
        HOUR,
        day + timedelta(hours=11),
        60,
        0,
        0,
        {"200": 60},
        hist=[0, 0, 60] + [0] * 20,
        sum_ms=900.0,
    )
    _rollup(mail, HOUR, day - timedelta(days=9), 0, 60, 60, {}, protocol="tcp")
    db.session.add(
        Incident(
            monitor_id=mail.id,
            opened_at=day - timedelta(days=1, hours=-2),
            closed_at=day - timedelta(days=1, hours=-3),
            duration_seconds=3600,
        )
    )
    db.session.commit()
    return {"shop": shop, "mail": mail}


def test_failures_grouped_per_day_week_and_month_by_monitor(data, fixed_now):
    rng = dashboards.parse_range("30d", None, None, fixed_now)
    assert rng.period == DAY
    per_day = {
        (b, name): (failed, errors)
        for b, _id, name, failed, errors in dashboards.failures_by_monitor(rng, "day")
    }
    assert per_day == {
        ("2026-03-01", "Shop"): (4, 4),
        ("2026-03-16", "Shop"): (3, 1),
        ("2026-03-17", "Shop"): (2, 0),
        ("2026-03-17", "Mail"): (10, 10),
    }
    per_week = {
        (b, name): failed
        for b, _id, name, failed, _e in dashboards.failures_by_monitor(rng, "week")
    }
    # Sun 1 March belongs to the week starting Mon 23 Feb; 16th and 17th to the week of Mon 16th
    assert per_week == {
        ("2026-02-23", "Shop"): 4,
        ("2026-03-16", "Shop"): 5,
        ("2026-03-16", "Mail"): 10,
    }
    year = dashboards.parse_range("365d", None, None, fixed_now)
    per_month = {
        (b, name): failed
        for b, _id, name, failed, _e in dashboards.failures_by_monitor(year, "month")
    }
    assert per_month == {
        ("2026-02-01", "Shop"): 5,
        ("2026-03-01", "Shop"): 9,
        ("2026-03-01", "Mail"): 10,
    }


def test_failures_by_protocol_and_responses_by_code(data, fixed_now):
    rng = dashboards.parse_range(None, "2026-03-01", "2026-03-18", fixed_now)
    by_proto = {(b, p): (f, e) for b, p, f, e in dashboards.failures_by_protocol(rng, "month")}
    assert by_proto == {("2026-03-01", "https"): (9, 5), ("2026-03-01", "tcp"): (10, 10)}
    codes = dict(dashboards.responses_by_code(rng))
    assert codes == {"200": 96 + 97 + 98, "503": 2, "500": 2, "no response": 15}


def test_short_ranges_read_hourly_rollups(data, fixed_now):
    rng = dashboards.parse_range("24h", None, None, fixed_now)
    assert rng.period == HOUR
    table = {r.name: r for r in dashboards.uptime_table(rng)}
    assert set(table) == {"Shop"}  # Mail's hourly rollup is 9 days old
    assert table["Shop"].checks == 120 and table["Shop"].failed == 1
    assert table["Shop"].uptime == pytest.approx(100 * 119 / 120)
    fig = dashboards.response_time_figure(
        data["shop"].id, fixed_now - timedelta(hours=24), fixed_now
    )
    avg, p95 = fig.figure["data"]
    assert list(avg["y"]) == [8.0, 15.0]  # 480 ms / 60, 900 ms / 60
    assert list(p95["y"]) == [10.0, 20.0]  # upper bounds of the histogram buckets


def test_uptime_table_with_incidents_and_downtime(data, fixed_now):
    rng = dashboards.parse_range("7d", None, None, fixed_now)
    assert rng.period == HOUR  # 7 days: hourly
    rng = dashboards.parse_range("30d", None, None, fixed_now)
    rows = {r.name: r for r in dashboards.uptime_table(rng)}
    assert rows["Mail"].uptime == pytest.approx(90.0) and rows["Mail"].incidents == 1
    assert rows["Mail"].downtime_seconds == 3600 and rows["Mail"].no_response == 10
    assert rows["Shop"].checks == 300 and rows["Shop"].failed == 9
    assert [r.name for r in dashboards.uptime_table(rng)] == ["Mail", "Shop"]  # worst first


def test_checks_per_day_week_and_month_by_response_code(data, fixed_now):
    # a third monitor answering in the same day as Shop: its codes add up with Shop's
    api = _monitor("API")
    _rollup(api, DAY, datetime(2026, 3, 16, tzinfo=UTC), 8, 2, 1, {"200": 8, "503": 1})
    db.session.commit()
    rng = dashboards.parse_range("30d", None, None, fixed_now)
    per_day = dashboards.responses_by_code_per_bucket(rng, "day")
    assert per_day == [  # bucket order, codes sorted, "no response" last in its bucket
        ("2026-03-01", "200", 96),
        ("2026-03-01", "no response", 4),
        ("2026-03-16", "200", 97 + 8),
        ("2026-03-16", "503", 2 + 1),
        ("2026-03-16", "no response", 1 + 1),
        ("2026-03-17", "200", 98),
        ("2026-03-17", "500", 2),
        ("2026-03-17", "no response", 10),
    ]  # 10 February is outside the 30 days
    per_week = {(b, c): n for b, c, n in dashboards.responses_by_code_per_bucket(rng, "week")}
    assert per_week == {
        ("2026-02-23", "200"): 96,
        ("2026-02-23", "no response"): 4,
        ("2026-03-16", "200"): 97 + 8 + 98,
        ("2026-03-16", "500"): 2,
        ("2026-03-16", "503"): 3,
        ("2026-03-16", "no response"): 2 + 10,
    }
    year = dashboards.parse_range("365d", None, None, fixed_now)
    per_month = {(b, c): n for b, c, n in dashboards.responses_by_code_per_bucket(year, "month")}
    assert per_month == {
        ("2026-02-01", "200"): 95,
        ("2026-02-01", "502"): 5,
        ("2026-03-01", "200"): 96 + 105 + 98,
        ("2026-03-01", "500"): 2,
        ("2026-03-01", "503"): 3,
        ("2026-03-01", "no response"): 4 + 2 + 10,
    }
    # 24 hours read today's hourly rollups, grouped into their day
    today = dashboards.parse_range("24h", None, None, fixed_now)
    assert dashboards.responses_by_code_per_bucket(today, "day") == [
        ("2026-03-18", "200", 59 + 60),
        ("2026-03-18", "no response", 1),
    ]


def test_dashboard_page_charts_and_tabulates_response_codes_per_month(
    client, make_user, login, data
):
    login(make_user("agent"))
    resp = client.get("/monitors/dashboard", query_string={"range": "365d", "unit": "month"})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "Checks per month, by response code" in visible_text(resp)
    fig = _figure(html, "chart-by-code-bucket")
    assert fig["layout"]["barmode"] == "stack"
    assert [t["type"] for t in fig["data"]] == ["bar"] * 5
    traces = {t["name"]: dict(zip(t["x"], t["y"], strict=True)) for t in fig["data"]}
    assert traces == {
        "200": {"2026-02-01": 95, "2026-03-01": 96 + 97 + 98},
        "500": {"2026-02-01": 0, "2026-03-01": 2},
        "502": {"2026-02-01": 5, "2026-03-01": 0},
        "503": {"2026-02-01": 0, "2026-03-01": 2},
        "no response": {"2026-02-01": 0, "2026-03-01": 15},
    }
    assert _table(html, "table-by-code-bucket") == [
        ["Month starting", "200", "500", "502", "503", "no response"],
        ["2026-02-01", "95", "0", "5", "0", "0"],
        ["2026-03-01", "291", "2", "0", "2", "15"],
    ]


def test_incidents_opened_in_maintenance_are_not_counted_as_in_the_api(
    client, make_user, login, token_for, data, fixed_now
):
    shop, mail = data["shop"], data["mail"]
    for monitor in (shop, mail):  # the API clips the period to the monitor's life
        monitor.created_at = fixed_now - timedelta(days=60)
    db.session.add_all(
        [
            Incident(
                monitor_id=shop.id,
                opened_at=datetime(2026, 3, 16, 8, tzinfo=UTC),
                closed_at=datetime(2026, 3, 16, 10, tzinfo=UTC),
                duration_seconds=7200,
                in_maintenance=True,
            ),
            Incident(
                monitor_id=shop.id,
                opened_at=datetime(2026, 3, 17, 9, tzinfo=UTC),
                closed_at=datetime(2026, 3, 17, 9, 30, tzinfo=UTC),
                duration_seconds=1800,
            ),
        ]
    )
    db.session.commit()
    rng = dashboards.parse_range("30d", None, None, fixed_now)
    rows = {r.name: r for r in dashboards.uptime_table(rng)}
    assert (rows["Shop"].incidents, rows["Shop"].downtime_seconds) == (1, 1800)  # not 2 / 9000
    assert (rows["Mail"].incidents, rows["Mail"].downtime_seconds) == (1, 3600)

    viewer = make_user("agent")
    api = Api(client, token_for)
    for monitor in (shop, mail):
        body = api.get(f"/monitors/{monitor.id}/uptime?period=month", viewer).json
        assert (body["incidents"], body["downtime_seconds"]) == (
            rows[monitor.name].incidents,
            rows[monitor.name].downtime_seconds,
        )
    login(viewer)
    page = client.get("/monitors/dashboard", query_string={"range": "30d"})
    table = {r[0]: r for r in _table(page.get_data(as_text=True), "table-uptime")}
    assert table["Shop"][6:] == ["1", "30 min"] and table["Mail"][6:] == ["1", "1 h"]


def test_parse_range_refuses_bad_input(fixed_now):
    with pytest.raises(ValueError, match="2026-01-31"):
        dashboards.parse_range(None, "18/03/2026", None, fixed_now)
    with pytest.raises(ValueError, match="before"):
        dashboards.parse_range(None, "2026-03-10", "2026-03-01", fixed_now)
    with pytest.raises(ValueError, match="one year"):
        dashboards.parse_range(None, "2024-01-01", "2026-01-01", fixed_now)
    rng = dashboards.parse_range(None, "2025-03-18", "2026-03-17", fixed_now)
    assert rng.period == DAY and (rng.end - rng.start).days == 365


def test_dashboard_page_renders_figures_without_touching_check_results(
    client, make_user, login, data, app
):
    login(make_user("agent"))
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        resp = client.get("/monitors/dashboard", query_string={"range": "30d", "unit": "week"})
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert resp.status_code == 200
    assert statements and not [s for s in statements if "check_results" in s.lower()]
    assert any("group by" in s.lower() and "rollups" in s.lower() for s in statements)
    html = resp.get_data(as_text=True)
    assert "<script>" not in html
    text = visible_text(resp)
    assert "Failed checks per week, by monitor" in text
    # the totals and figures carry the prepared numbers
    assert 'data-testid="total-checks">400<' in html and 'data-testid="total-failed">19<' in html
    assert 'data-testid="total-no-response">15<' in html
    by_monitor = _figure(html, "chart-by-monitor")
    traces = {t["name"]: dict(zip(t["x"], t["y"], strict=True)) for t in by_monitor["data"]}
    assert traces == {
        "Mail": {"2026-02-23": 0, "2026-03-16": 10},
        "Shop": {"2026-02-23": 4, "2026-03-16": 5},
    }
    codes = _figure(html, "chart-by-code")["data"][0]
    assert dict(zip(codes["x"], codes["y"], strict=True))["no response"] == 15


def test_dashboard_bad_dates_answer_422_with_a_message(client, make_user, login, fixed_now):
    login(make_user("engineer"))
    resp = client.get(
        "/monitors/dashboard", query_string={"range": "custom", "start": "2026-13-01"}
    )
    assert resp.status_code == 422
    assert "Dates must look like 2026-01-31." in visible_text(resp)
    assert (
        client.get(
            "/monitors/dashboard", query_string={"range": "365d", "unit": "bogus"}
        ).status_code
        == 200
    )


def test_customers_cannot_see_the_dashboard(client, make_user, login):
    login(make_user("customer"))
    assert client.get("/monitors/dashboard").status_code == 403


def _figure(html: str, element_id: str) -> dict:
    """The Plotly figure JSON in the data-figure attribute of the element ``element_id``."""
    from html import unescape

    tag = html.split(f'id="{element_id}"', 1)[1].split(">", 1)[0]
    raw = tag.split('data-figure="', 1)[1].split('"', 1)[0]
    return json.loads(unescape(raw))


def _table(html: str, element_id: str) -> list[list[str]]:
    """The cells' text of the table ``element_id``, one list per row (header row first)."""
    from html import unescape

    body = html.split(f'id="{element_id}"', 1)[1].split("</table>", 1)[0]
    return [
        [
            " ".join(unescape(re.sub(r"<[^>]+>", " ", cell)).split())
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)
    ]
