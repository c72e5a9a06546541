"""Monitoring charts and bars as a user reads them: time axes with readable ticks (no
``08:59:59.9995``), a "no data yet" state instead of an empty plot, legends beside their
chart, full monitor names, one palette in every figure and in the CSS, and the heartbeat bar
of the last checks (one query for a whole overview page; a poll of the monitor page leaves
the results panel as the user left it)."""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import event

from crm import clock
from crm.extensions import db
from crm.monitoring.models import DAY, HOUR, CheckResult, Monitor, Rollup
from crm.monitoring.pages import dashboards
from crm.monitoring.pages.dashboards import PALETTE, SERIES_COLOURS

NOW = datetime(2026, 3, 18, 12, 30, 17, 654321, tzinfo=UTC)  # seconds and microseconds on purpose
CSS = Path(__file__).resolve().parents[2] / "crm" / "static" / "css" / "monitoring.css"
LONG_NAME = ("Customer portal — checkout and payment confirmation endpoint behind the EU load "
             "balancer <primary>")


@pytest.fixture
def fixed_now():
    clock.set_offset(NOW - datetime.now(UTC))
    return NOW


@pytest.fixture
def staff(make_user, login):
    user = make_user("engineer")
    login(user)
    return user


def _monitor(name: str, type_: str = "http") -> Monitor:
    m = Monitor(name=name, type=type_, config={"url": "https://x.example/"} if type_ == "http"
                else {"host": "h.example", "port": 1})
    db.session.add(m)
    db.session.flush()
    return m


def _rollup(monitor, period, start, up, down, errors=0, codes=None, sum_ms=0.0, hist=None):
    db.session.add(Rollup(monitor_id=monitor.id, period=period, bucket_start=start, count_up=up,
                          count_down=down, errors=errors, sum_ms=sum_ms, histogram=hist or [],
                          status_codes=codes or {}, protocol="https"))


@pytest.fixture
def history(fixed_now):
    """Two monitors (one with a long name) with hourly rollups today and daily ones this month."""
    shop, portal = _monitor("Shop"), _monitor(LONG_NAME)
    hour = NOW.replace(minute=0, second=0, microsecond=0)
    for h in range(1, 6):
        _rollup(
            shop,
            HOUR,
            hour - timedelta(hours=h),
            59,
            1,
            1,
            {"200": 58, "503": 1},
            sum_ms=60 * 80.0,
            hist=[0, 0, 60] + [0] * 20,
        )
        _rollup(
            portal,
            HOUR,
            hour - timedelta(hours=h),
            60,
            0,
            0,
            {"200": 55, "302": 5},
            sum_ms=60 * 120.0,
            hist=[0, 0, 0, 60] + [0] * 19,
        )
    day = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
    for d in range(1, 10):
        _rollup(
            shop, DAY, day - timedelta(days=d), 1400, 40, 10, {"200": 1390, "404": 10, "500": 30}
        )
        _rollup(portal, DAY, day - timedelta(days=d), 1440, 0, 0, {"200": 1440})
    db.session.commit()
    return {"shop": shop, "portal": portal}


def _figure(html: str, element_id: str) -> dict:
    tag = html.split(f'id="{element_id}"', 1)[1].split(">", 1)[0]
    return json.loads(unescape(tag.split('data-figure="', 1)[1].split('"', 1)[0]))


def _colours(node) -> set[str]:
    """Every ``#rrggbb`` string anywhere in a figure."""
    if isinstance(node, dict):
        return set().union(*(_colours(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_colours(v) for v in node)) if node else set()
    return (
        {node.lower()}
        if isinstance(node, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", node)
        else set()
    )


# ---------------------------------------------------------------- time axes


@pytest.mark.parametrize(
    "length, tickformat",
    [
        (timedelta(hours=24), "%H:%M<br>%d %b"),
        (timedelta(days=30), "%d %b"),
        (timedelta(days=365), "%b %Y"),
    ],
)
def test_response_time_chart_has_a_readable_time_axis(history, length, tickformat):
    chart = dashboards.response_time_figure(history["shop"].id, NOW - length, NOW)
    axis = chart.figure["layout"]["xaxis"]
    assert axis["type"] == "date" and axis["tickformat"] == tickformat
    assert axis["hoverformat"] == "%Y-%m-%d %H:%M UTC"
    # the range and every point are whole minutes: nothing for Plotly to print as 08:59:59.9995
    assert axis["range"][1] == "2026-03-18 12:30"
    for trace in chart.figure["data"]:
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", x) for x in trace["x"])
    if length == timedelta(hours=24):
        assert chart.figure["data"][0]["x"][-1] == "2026-03-18 11:00"


def test_dashboard_uptime_over_time_is_a_date_axis_with_tick_and_hover_formats(history):
    for preset, tickformat in (("24h", "%H:%M<br>%d %b"), ("30d", "%d %b"), ("365d", "%b %Y")):
        data = dashboards.dashboard(dashboards.parse_range(preset, None, None, NOW), "day")
        layout = data["figures"]["uptime_over_time"].figure["layout"]
        assert layout["xaxis"]["tickformat"] == tickformat and layout["xaxis"]["type"] == "date"
        assert layout["yaxis"]["hoverformat"] == ".2f"


# ---------------------------------------------------------------- empty state


def test_monitor_page_without_checks_says_no_data_instead_of_an_empty_chart(
    client, staff, fixed_now
):
    monitor = _monitor("Brand new")
    db.session.commit()
    html = client.get(f"/monitors/{monitor.id}").get_data(as_text=True)
    assert "data-figure=" not in html
    empty = html.split('id="response-chart"', 1)[1].split("</div>", 1)[0]
    assert 'data-testid="chart-empty"' in html and "No checks in this period yet" in empty


def test_dashboard_without_checks_shows_no_data_for_every_chart(client, staff, fixed_now):
    html = client.get("/monitors/dashboard").get_data(as_text=True)
    assert "data-figure=" not in html
    assert html.count('data-testid="chart-empty"') == 6
    assert "No failed checks in this period." in html and "No checks in this period." in html


def test_dashboard_with_checks_draws_charts(client, staff, history):
    html = client.get("/monitors/dashboard", query_string={"range": "30d"}).get_data(as_text=True)
    assert html.count("data-figure=") == 6 and 'data-testid="chart-empty"' not in html


# ---------------------------------------------------------------- legends, names


def test_legends_sit_beside_their_chart_outside_the_plot(history):
    data = dashboards.dashboard(dashboards.parse_range("30d", None, None, NOW), "day")
    charts = dict(
        data["figures"],
        response=dashboards.response_time_figure(history["shop"].id, NOW - timedelta(days=1), NOW),
    )
    for name, chart in charts.items():
        layout = chart.figure["layout"]
        if layout.get("showlegend") is False:
            continue
        legend = layout["legend"]
        # right of the plot area (x >= 1 in paper coordinates), anchored by its left edge:
        # it can cover neither the bars nor the tick labels below them
        assert legend["x"] >= 1 and legend["xanchor"] == "left" and legend["orientation"] == "v", (
            name
        )


def test_long_monitor_names_are_wrapped_in_full_not_truncated(history):
    label = dashboards.chart_label(LONG_NAME)
    assert "<br>" in label and "<primary>" not in label
    assert unescape(label.replace("<br>", " ")) == LONG_NAME
    data = dashboards.dashboard(dashboards.parse_range("30d", None, None, NOW), "day")
    bars = data["figures"]["uptime_by_monitor"].figure["data"][0]
    assert [unescape(y.replace("<br>", " ")) for y in bars["y"]] == [
        "Shop",
        LONG_NAME,
    ]  # worst first
    assert unescape(bars["customdata"][1]) == LONG_NAME  # the tooltip's full name
    assert bars["y"][1].count("<br>") >= 3  # on several lines, in full


def test_long_names_and_urls_wrap_on_the_overview_and_the_monitor_page(client, staff):
    from crm.monitoring import services

    url = "https://shop.example.com/" + "very-long-path-segment/" * 12 + "?q=" + "x" * 120
    monitor = services.create_monitor(
        {"name": LONG_NAME, "type": "http", "url": url, "interval": 60, "timeout": 5}
    )
    overview = client.get("/monitors/").get_data(as_text=True)
    row = overview.split('class="monitor-name-cell"', 1)[1].split("</td>", 1)[0]
    assert "text-truncate" not in overview and row.count("text-break") == 2
    page = client.get(f"/monitors/{monitor.id}").get_data(as_text=True)
    assert re.search(r'<h1 class="[^"]*text-break[^"]*">', page)


# ---------------------------------------------------------------- one palette


def test_every_figure_takes_its_colours_from_the_palette(history):
    data = dashboards.dashboard(dashboards.parse_range("30d", None, None, NOW), "day")
    figures = {name: c.figure for name, c in data["figures"].items()}
    figures["response"] = dashboards.response_time_figure(
        history["shop"].id, NOW - timedelta(days=1), NOW
    ).figure
    allowed = (
        {c.lower() for c in PALETTE.values()} | {c.lower() for c in SERIES_COLOURS} | {"#ffffff"}
    )
    for name, figure in figures.items():
        assert _colours(figure) <= allowed, name
        assert figure["layout"]["colorway"] == list(SERIES_COLOURS)
    codes = figures["by_code"]["data"][0]
    colour = dict(zip(codes["x"], codes["marker"]["color"], strict=True))
    assert colour == {
        "200": PALETTE["up"],
        "404": PALETTE["pending"],
        "500": PALETTE["down"],
        "no response": PALETTE["no_response"],
    }
    assert dashboards.code_colour("302") == PALETTE["redirect"]
    per_bucket = {t["name"]: t["marker"]["color"] for t in figures["by_code_per_bucket"]["data"]}
    assert (
        per_bucket["200"] == PALETTE["up"] and per_bucket["no response"] == PALETTE["no_response"]
    )
    assert figures["uptime_over_time"]["data"][0]["line"]["color"] == PALETTE["up"]
    uptime = figures["uptime_by_monitor"]["data"][0]["marker"]["color"]
    assert uptime == [PALETTE["major"], PALETTE["up"]]  # Shop 97.2 %, the portal 100 %
    assert figures["response"]["data"][0]["line"]["color"] == PALETTE["response"]


def test_css_colours_are_the_palette(client):
    css = CSS.read_text()
    root = dict(re.findall(r"--monitor-([a-z_0-9]+):\s*(#[0-9a-fA-F]{6});", css.split("}", 1)[0]))
    assert root == PALETTE
    # statuses are coloured through the custom properties only
    for status in ("up", "down", "maintenance", "pending", "paused"):
        assert f".badge.monitor-{status} {{ background: var(--monitor-{status}); }}" in css
    for status in ("up", "down", "maintenance"):
        assert f".heartbeat-bar .beat-{status} {{ background: var(--monitor-{status}); }}" in css
    assert ".bar.ok, .state-ok { background: var(--monitor-up); }" in css
    assert client.get("/static/css/monitoring.css").status_code == 200


# ---------------------------------------------------------------- heartbeat bars


def _results(monitor: Monitor, statuses: str, end: datetime) -> None:
    """One result per character of ``statuses`` (``u`` up, ``d`` down), a minute apart, the
    last at ``end``."""
    for i, char in enumerate(reversed(statuses)):
        up = char == "u"
        db.session.add(
            CheckResult(
                monitor_id=monitor.id,
                checked_at=end - timedelta(minutes=i),
                status="up" if up else "down",
                response_time_ms=100.0 + i if up else None,
                status_code=200 if up else None,
                error=None if up else "timed out",
                protocol="https",
            )
        )


def _beats(html: str, monitor_name: str | None = None) -> list[tuple[str, str]]:
    """(class, title) of each beat in the first heartbeat bar (of ``monitor_name``'s row)."""
    if monitor_name:
        html = html.split(f">{monitor_name}</a>", 1)[1]
    bar = html.split('data-testid="heartbeat-bar"', 1)[1].split("</div>", 1)[0]
    return [
        (cls, unescape(title))
        for cls, title in re.findall(r'<span class="beat (beat-[a-z]+)"(?: title="([^"]*)")?', bar)
    ]


def test_overview_shows_a_heartbeat_bar_of_the_last_checks(client, staff, fixed_now):
    shop = _monitor("Shop")
    _monitor("Idle")
    _results(shop, "u" * 20 + "dd" + "u" * 12 + "d", NOW)  # 35 results: the bar keeps the last 30
    db.session.commit()
    html = client.get("/monitors/").get_data(as_text=True)
    beats = _beats(html, "Shop")
    assert len(beats) == dashboards.OVERVIEW_BEATS
    assert [c for c, _ in beats] == ["beat-up"] * 15 + ["beat-down"] * 2 + ["beat-up"] * 12 + [
        "beat-down"
    ]
    assert beats[-1][1] == "2026-03-18 12:30:17 UTC · Down · timed out"  # newest last
    assert beats[-2][1] == "2026-03-18 12:29:17 UTC · Up · 101 ms · code 200"
    assert (
        'aria-label="Last 30 checks of Shop: 27 up, 3 down; latest 2026-03-18 12:30:17 UTC' in html
    )
    idle_beats = _beats(html, "Idle")
    assert idle_beats == [("beat-empty", "")] * dashboards.OVERVIEW_BEATS
    assert "Idle has no checks yet" in html


def test_heartbeat_bars_of_a_page_are_one_query(client, staff, fixed_now):
    def check_result_queries(n_monitors: int) -> int:
        for i in range(n_monitors):
            _results(_monitor(f"M{n_monitors}-{i}"), "ud" * 3, NOW)
        db.session.commit()
        statements: list[str] = []

        def record(conn, cursor, statement, *args):
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            assert client.get("/monitors/").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        return len([s for s in statements if "check_results" in s.lower()])

    assert check_result_queries(2) == 1
    assert check_result_queries(10) == 1  # 12 monitors on the page now: still one query


def test_recent_beats_returns_each_monitors_last_results_oldest_first(fixed_now):
    a, b = _monitor("A"), _monitor("B")
    _results(a, "uuddu", NOW)
    _results(b, "d", NOW - timedelta(hours=1))
    db.session.commit()
    beats = dashboards.recent_beats([a.id, b.id, 999], limit=3)
    assert [x.status for x in beats[a.id]] == ["down", "down", "up"]
    assert [x.checked_at for x in beats[a.id]] == sorted(x.checked_at for x in beats[a.id])
    assert [x.status for x in beats[b.id]] == ["down"] and beats[999] == []


def test_monitor_page_poll_keeps_the_results_panel_and_updates_its_table(client, staff, fixed_now):
    monitor = _monitor("Shop")
    _results(monitor, "uuu", NOW - timedelta(minutes=5))
    monitor.last_checked_at = NOW - timedelta(minutes=5)
    db.session.commit()
    page = client.get(f"/monitors/{monitor.id}").get_data(as_text=True)
    assert len(_beats(page)) == dashboards.DETAIL_BEATS
    assert [c for c, _ in _beats(page)][-3:] == ["beat-up"] * 3
    # the <details> is outside the polled element: a poll cannot replace (close) it
    live = page.split('id="monitor-live"', 1)[1]
    assert live.index('id="recent-results"') > live.index('data-testid="heartbeat-bar"')
    details = page.split('<details class="mb-4" id="recent-results">', 1)[1].split("</details>", 1)[
        0
    ]
    assert 'id="recent-results-body"' in details and "hx-swap-oob" not in details
    since = unescape(re.search(r'hx-get="[^"]*since=([^"&]+)"', page).group(1))

    _results(monitor, "d", NOW)
    monitor.last_checked_at, monitor.status = NOW, "down"
    db.session.commit()
    from urllib.parse import unquote

    poll = client.get(
        f"/monitors/{monitor.id}",
        query_string={"since": unquote(since)},
        headers={"HX-Request": "true"},
    )
    assert poll.status_code == 200
    fragment = poll.get_data(as_text=True)
    assert "<details" not in fragment and "<html" not in fragment
    assert '<div id="recent-results-body" hx-swap-oob="true">' in fragment
    assert "The last 4 checks, newest first." in fragment
    assert [c for c, _ in _beats(fragment)][-4:] == ["beat-up"] * 3 + ["beat-down"]


def test_plotly_base_styles_are_served_as_a_stylesheet_the_csp_allows(client, staff, history):
    # plotly.js injects these rules with an inline <style>, which the CSP blocks: without
    # them its SVG layers stack below one another and legends land under the chart
    html = client.get(f"/monitors/{history['shop'].id}").get_data(as_text=True)
    href = re.search(r'<link rel="stylesheet" href="(/assets/plotly-[^"]+\.css)">', html).group(1)
    css = client.get(href)
    assert (
        css.status_code == 200 and css.mimetype == "text/css" and css.cache_control.max_age >= 86400
    )
    text = css.get_data(as_text=True)
    assert (
        ".js-plotly-plot .plotly .main-svg{position:absolute;top:0;left:0;pointer-events:none;}"
        in text
    )
    assert text.count("{") == text.count("}") > 50
    assert (
        "'self'"
        in client.get("/monitors/").headers["Content-Security-Policy"].split("style-src", 1)[1]
    )
