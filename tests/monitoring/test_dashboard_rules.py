"""The dashboards' small rules, which every chart and status page leans on: uptime shares,
averages and percentiles of rollups, day bars and their levels (weighted by checks over a
period), the colours of codes and levels, chart labels, the response-code grid, heartbeat
tooltips and the sparkline. Only :func:`daily_bars` reads the database."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from crm.extensions import db
from crm.monitoring.engine.rollups import empty_histogram, histogram_index
from crm.monitoring.models import DAY, HOUR, Rollup
from crm.monitoring.pages import dashboards as d

T0 = datetime(2026, 3, 17, 8, 0, tzinfo=UTC)


@pytest.mark.only_backend("sqlite")  # no database
def test_shares_averages_and_percentiles():
    assert d.uptime_percent(None, None) is None and d.uptime_percent(0, 0) is None
    assert d.uptime_percent(3, 1) == 75.0 and d.uptime_percent(5, None) == 100.0
    histogram = empty_histogram()
    histogram[histogram_index(40)] = 9
    histogram[histogram_index(700)] = 1
    assert d.rollup_average_ms(9 * 40 + 700, histogram) == 106.0
    assert d.rollup_average_ms(123.0, empty_histogram()) is None  # no timed checks
    assert d.rollup_average_ms(None, None) is None
    assert d.histogram_percentile(histogram, 90) == 50.0
    assert d.histogram_percentile(histogram, 95) == 750.0  # the bucket holding 700 ms
    assert d.histogram_percentile(None, 50) is None
    assert d.floor_hour(datetime(2026, 3, 17, 10, 59, 59, tzinfo=UTC)) == T0 + timedelta(hours=2)
    assert d.floor_day(T0) == datetime(2026, 3, 17, tzinfo=UTC)


@pytest.mark.only_backend("sqlite")
def test_day_bars_levels_titles_colours_and_period_uptime():
    day = date(2026, 3, 17)
    levels = [(None, "nodata"), (100.0, "ok"), (99.9, "ok"), (99.89, "minor"), (99.0, "minor"),
              (98.99, "major"), (95.0, "major"), (94.99, "outage"), (0.0, "outage")]
    assert [d.DayBar(day, uptime, 10).level for uptime, _ in levels] == [lv for _, lv in levels]
    assert d.DayBar(day, None, 0).title == "2026-03-17: no data"
    assert d.DayBar(day, 99.5, 1440).title == "2026-03-17: 99.50 % uptime (1440 checks)"
    assert d.uptime_colour(None) == d.PALETTE["nodata"]
    assert d.uptime_colour(99.95) == d.PALETTE["up"]
    assert d.uptime_colour(99.5) == d.PALETTE["degraded"]
    assert d.uptime_colour(96) == d.PALETTE["major"] and d.uptime_colour(50) == d.PALETTE["down"]
    # weighted by checks: a busy bad day outweighs a quiet good one
    bars = [d.DayBar(day, 100.0, 10), d.DayBar(day, 50.0, 90), d.DayBar(day, None, 0)]
    assert d.period_uptime(bars) == 55.0
    assert d.period_uptime([d.DayBar(day, None, 0)]) is None


@pytest.mark.only_backend("sqlite")
def test_code_colours_labels_and_the_code_grid():
    assert [d.code_colour(c) for c in ("200", "301", "404", "503", d.NO_RESPONSE)] == [
        d.PALETTE["up"], d.PALETTE["redirect"], d.PALETTE["pending"], d.PALETTE["down"],
        d.PALETTE["no_response"]]
    assert d.chart_label("<b>shop</b> & co") == "&lt;b&gt;shop&lt;/b&gt; &amp; co"
    assert d.chart_label("a" * 30, width=24) == "a" * 24 + "<br>" + "a" * 6
    assert d.chart_label("") == ""
    assert d.time_label(datetime(2026, 3, 17, 8, 59, 59, 999_500, tzinfo=UTC)) == \
        "2026-03-17 08:59"

    rows = [("2026-03-02", "200", 5), ("2026-03-01", d.NO_RESPONSE, 1), ("2026-03-01", "500", 2),
            ("2026-03-01", "200", 7)]
    assert d.code_totals(rows) == [("200", 12), ("500", 2), (d.NO_RESPONSE, 1)]
    assert d.codes_pivot(rows) == {
        "buckets": ["2026-03-01", "2026-03-02"], "codes": ["200", "500", d.NO_RESPONSE],
        "counts": {"200": [7, 5], "500": [2, 0], d.NO_RESPONSE: [1, 0]}}
    assert d.codes_pivot([]) == {"buckets": [], "codes": [], "counts": {}}


@pytest.mark.only_backend("sqlite")
def test_heartbeat_tooltips_and_the_sparkline():
    beat = d.Beat(T0, "down", response_time_ms=None, status_code=503, error="x" * 200)
    assert beat.title == "2026-03-17 08:00:00 UTC · Down · code 503 · " + "x" * 120
    assert d.Beat(T0, "up", 41.6).title == "2026-03-17 08:00:00 UTC · Up · 42 ms"

    svg = str(d.sparkline_svg([(T0, 50.0), (T0 + timedelta(hours=12), 100.0)],
                              T0, T0 + timedelta(hours=24)))
    assert 'points="1.0,14.0 60.0,2.0"' in svg  # scaled to the highest value, left to right
    assert "latest hourly average 100 ms, highest 100 ms" in svg and "<circle" not in svg
    single = str(d.sparkline_svg([(T0, 0.0)], T0, T0 + timedelta(hours=24)))
    assert '<circle cx="1.0" cy="26.0"' in single  # one point: a dot, no division by zero


def test_daily_bars_read_day_rollups_only(make_monitor):
    monitor = make_monitor("tcp", host="127.0.0.1", port=1)
    today = date(2026, 3, 17)

    def rollup(period, start, up, down):
        db.session.add(Rollup(monitor_id=monitor.id, period=period, bucket_start=start,
                              count_up=up, count_down=down, errors=0, sum_ms=0.0,
                              histogram=empty_histogram(), status_codes={}, protocol="tcp"))

    midnight = datetime(2026, 3, 17, tzinfo=UTC)
    rollup(DAY, midnight, 95, 5)
    rollup(DAY, midnight - timedelta(days=2), 100, 0)
    rollup(DAY, midnight - timedelta(days=3), 10, 0)  # before the 3-day strip
    rollup(HOUR, midnight - timedelta(days=1), 1, 1)  # an hour row: not a bar
    db.session.commit()
    bars = d.daily_bars([monitor.id, 999_999], today, days=3)
    assert [(b.day.day, b.uptime, b.checks) for b in bars[monitor.id]] == [
        (15, 100.0, 100), (16, None, 0), (17, 95.0, 100)]
    assert [b.level for b in bars[999_999]] == ["nodata"] * 3
    assert d.daily_bars([], today) == {}
