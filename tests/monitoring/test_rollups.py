"""Rollups agree with the raw results; uptime() from rollups and incidents; percentiles."""
from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from crm import clock
from crm.extensions import db
from crm.monitoring.engine import results
from crm.monitoring.engine.checks.base import CheckOutcome
from crm.monitoring.engine.rollups import histogram_index, percentile, uptime
from crm.monitoring.models import HISTOGRAM_BOUNDS_MS, CheckResult, Rollup

DAY0 = datetime(2025, 3, 10, tzinfo=UTC)


def _outcome(at, status="up", ms=50.0, code=200, error=None):
    return CheckOutcome(status=status, response_time_ms=ms, status_code=code, error=error,
                        protocol="http", checked_at=at)


def test_histogram_buckets_and_percentiles():
    assert (
        histogram_index(5) == 0
        and histogram_index(5.1) == 1
        and histogram_index(10**6) == len(HISTOGRAM_BOUNDS_MS)
    )
    hist = [0] * (len(HISTOGRAM_BOUNDS_MS) + 1)
    hist[histogram_index(40)] = 98  # ≤ 50 ms
    hist[histogram_index(900)] = 2  # ≤ 1000 ms
    assert percentile(hist, 50) == 50.0
    assert percentile(hist, 98) == 50.0
    assert percentile(hist, 99) == 1000.0
    assert percentile([0] * 3, 50) is None and percentile(None, 50) is None


def test_rollups_agree_with_raw_results(make_monitor):
    m = make_monitor("http", url="http://127.0.0.1:1/")
    items = []
    for minute in range(0, 120, 7):  # spans two hours, one day
        at = DAY0 + timedelta(hours=5, minutes=minute)
        if minute % 3 == 0:
            items.append(_outcome(at, "down", None, None, "timed out"))  # no answer
        elif minute % 5 == 0:
            items.append(_outcome(at, "down", 120.0 + minute, 500, "status 500"))
        else:
            items.append(_outcome(at, "up", 10.0 + minute * 3, 200))
    # two batches touching the same buckets (the second merges into existing rollups)
    results.record_outcomes([(m.id, o) for o in items[:7]])
    results.record_outcomes([(m.id, o) for o in items[7:]])

    raw = list(db.session.scalars(select(CheckResult).where(CheckResult.monitor_id == m.id)))
    assert len(raw) == len(items)
    for period, key in (
        ("hour", lambda r: r.checked_at.replace(minute=0, second=0, microsecond=0)),
        ("day", lambda r: r.checked_at.replace(hour=0, minute=0, second=0, microsecond=0)),
    ):
        rollups = {
            r.bucket_start: r
            for r in db.session.scalars(
                select(Rollup).where(Rollup.monitor_id == m.id, Rollup.period == period)
            )
        }
        groups: dict = {}
        for r in raw:
            groups.setdefault(key(r), []).append(r)
        assert set(rollups) == set(groups)
        for bucket, rows in groups.items():
            roll = rollups[bucket]
            timed = [r.response_time_ms for r in rows if r.response_time_ms is not None]
            assert roll.count_up == sum(r.status == "up" for r in rows)
            assert roll.count_down == sum(r.status == "down" for r in rows)
            assert roll.errors == sum(r.response_time_ms is None for r in rows)
            assert roll.min_ms == min(timed) and roll.max_ms == max(timed)
            assert abs(roll.sum_ms - sum(timed)) < 1e-6
            assert sum(roll.histogram) == len(timed)
            assert roll.status_codes == {
                str(k): v for k, v in Counter(r.status_code for r in rows if r.status_code).items()
            }
            assert roll.protocol == "http"


def test_uptime_over_a_day_with_one_incident(make_monitor):
    m = make_monitor("http", url="http://127.0.0.1:1/", created_at=DAY0 - timedelta(days=9))
    clock.set_offset(DAY0 + timedelta(days=2) - clock.utcnow())
    outcomes = []
    for minute in range(0, 24 * 60, 30):
        at = DAY0 + timedelta(minutes=minute)
        failing = 120 <= minute < 180  # 02:00 and 02:30 fail; 03:00 recovers
        outcomes.append(
            _outcome(
                at,
                "down" if failing else "up",
                None if failing else 40.0,
                None if failing else 200,
                "timed out" if failing else None,
            )
        )
    results.record_outcomes([(m.id, o) for o in outcomes])

    day = uptime(m.id, DAY0, DAY0 + timedelta(days=1))
    assert day["incidents"] == 1 and day["downtime_seconds"] == 3600
    assert day["checks"] == 48 and day["failed_checks"] == 2 and day["errors"] == 2
    assert abs(day["uptime_percent"] - 100 * (1 - 3600 / 86400)) < 1e-3
    assert day["p99_ms"] == 50.0

    # a window cutting the incident in half, across a day boundary (hour + day rollups)
    part = uptime(m.id, DAY0 - timedelta(hours=6), DAY0 + timedelta(hours=2, minutes=30))
    assert part["incidents"] == 1 and part["downtime_seconds"] == 1800
    assert part["checks"] == 6  # 00:00 … 02:00 buckets (hour granularity)
    # before the monitor existed: no period at all
    assert (
        uptime(m.id, DAY0 - timedelta(days=20), DAY0 - timedelta(days=15))["uptime_percent"] is None
    )
    week = uptime(m.id, DAY0 - timedelta(days=3), DAY0 + timedelta(days=4))
    assert week["checks"] == 48 and week["incidents"] == 1 and week["downtime_seconds"] == 3600
