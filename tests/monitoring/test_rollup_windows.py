"""Which rollup rows a period reads (day rows for whole UTC days, hour rows for the edges,
nothing counted twice) and how incidents become downtime (maintenance excluded, clipped to the
period and, while open, to now; many monitors in one query). Rows are written directly so
each figure is known; the clock is :mod:`crm.clock`."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm import clock
from crm.extensions import db
from crm.monitoring.engine.rollups import (
    downtime_by_monitor,
    empty_histogram,
    histogram_index,
    rollups_between,
    uptime,
)
from crm.monitoring.models import DAY, HOUR, Incident, Rollup

DAY0 = datetime(2025, 3, 10, tzinfo=UTC)


def _rollup(monitor_id: int, period: str, start: datetime, up: int, ms: float = 40.0) -> Rollup:
    histogram = empty_histogram()
    histogram[histogram_index(ms)] = up
    row = Rollup(monitor_id=monitor_id, period=period, bucket_start=start, count_up=up,
                 count_down=0, errors=0, sum_ms=up * ms, min_ms=ms, max_ms=ms,
                 histogram=histogram, status_codes={"200": up}, protocol="http")
    db.session.add(row)
    return row


def test_a_period_reads_day_rows_inside_and_hour_rows_at_its_edges(make_monitor):
    monitor = make_monitor("http", url="http://127.0.0.1:1/", created_at=DAY0 - timedelta(days=5))
    clock.set_offset(DAY0 + timedelta(days=4) - clock.utcnow())
    # day 1 as a day row (24 checks) and as its hour rows (which a reader must not add again)
    _rollup(monitor.id, DAY, DAY0 + timedelta(days=1), 24)
    for hour in range(24):
        _rollup(monitor.id, HOUR, DAY0 + timedelta(days=1, hours=hour), 1)
    # the edges: 22:00 and 23:00 of day 0, 00:00 and 01:00 of day 2 (hour rows only)
    for at in (DAY0 + timedelta(hours=22), DAY0 + timedelta(hours=23),
               DAY0 + timedelta(days=2), DAY0 + timedelta(days=2, hours=1)):
        _rollup(monitor.id, HOUR, at, 10, ms=300.0)
    db.session.commit()

    start, end = DAY0 + timedelta(hours=22, minutes=30), DAY0 + timedelta(days=2, hours=1)
    rows = rollups_between(monitor.id, start, end)
    assert sorted((r.period, r.bucket_start) for r in rows) == [
        (DAY, DAY0 + timedelta(days=1)), (HOUR, DAY0 + timedelta(hours=22)),
        (HOUR, DAY0 + timedelta(hours=23)), (HOUR, DAY0 + timedelta(days=2))]
    figures = uptime(monitor.id, start, end)
    assert figures["checks"] == 24 + 3 * 10
    assert figures["avg_response_ms"] == round((24 * 40 + 30 * 300) / 54, 3)
    assert figures["p50_ms"] == 300.0 and figures["uptime_percent"] == 100.0

    # within one day: hour rows only, from the hour holding the start
    inside = rollups_between(monitor.id, DAY0 + timedelta(days=1, hours=5, minutes=10),
                             DAY0 + timedelta(days=1, hours=7))
    assert sorted(r.bucket_start.hour for r in inside) == [5, 6]
    assert all(r.period == HOUR for r in inside)


def test_downtime_skips_maintenance_and_clips_to_the_period_and_to_now(make_monitor):
    a, b, quiet = (make_monitor("tcp", host="127.0.0.1", port=1) for _ in range(3))
    now = clock.utcnow()
    start, end = now - timedelta(hours=10), now + timedelta(hours=2)
    db.session.add_all([
        # began before the period: only its part inside counts (1 h)
        Incident(monitor_id=a.id, opened_at=start - timedelta(hours=3),
                 closed_at=start + timedelta(hours=1), duration_seconds=4 * 3600),
        # still open: counts until now, not until the end of the period (2 h)
        Incident(monitor_id=a.id, opened_at=now - timedelta(hours=2)),
        # opened during maintenance: no downtime
        Incident(monitor_id=b.id, opened_at=start + timedelta(hours=1),
                 closed_at=start + timedelta(hours=3), duration_seconds=7200, in_maintenance=True),
        # over before the period
        Incident(monitor_id=b.id, opened_at=start - timedelta(hours=5),
                 closed_at=start - timedelta(hours=4), duration_seconds=3600),
    ])
    db.session.commit()
    got = downtime_by_monitor([a.id, b.id, quiet.id, a.id], start, end)
    assert got[b.id] == (0, 0.0) and got[quiet.id] == (0, 0.0)
    count, seconds = got[a.id]
    assert count == 2 and 3 * 3600 <= seconds < 5 * 3600  # up to the period's end: 5 h
    assert downtime_by_monitor([a.id], end, start) == {a.id: (0, 0.0)}
    assert downtime_by_monitor([], start, end) == {}
