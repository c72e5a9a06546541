"""Rollups: per monitor × hour and × UTC day aggregates, maintained as results arrive, and the
uptime arithmetic that reads only rollups and incidents (never the raw results, which are
pruned).

Concurrency: :func:`apply_results` first inserts any missing rollup rows with
``INSERT … ON CONFLICT DO NOTHING`` (SQLite and PostgreSQL dialect inserts), then reads the
rows ``FOR UPDATE`` (PostgreSQL; SQLite serialises writers) and adds the batch to them, all
in the caller's transaction — two batches touching the same bucket never lose an update.
"""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from crm.clock import utcnow
from crm.extensions import db
from crm.monitoring.models import (
    DAY,
    DOWN,
    HISTOGRAM_BOUNDS_MS,
    HOUR,
    UP,
    Incident,
    Monitor,
    Rollup,
)


def bucket_start(at: datetime, period: str) -> datetime:
    """Start of the hour or UTC day containing ``at``."""
    if period == HOUR:
        return at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def histogram_index(ms: float) -> int:
    """Index of the :data:`HISTOGRAM_BOUNDS_MS` bucket holding ``ms`` (bucket *i* counts
    values ≤ bound *i* and > bound *i-1*; the last bucket is open-ended)."""
    return bisect_left(HISTOGRAM_BOUNDS_MS, ms)


def empty_histogram() -> list[int]:
    """A histogram with every bucket at 0 (one more bucket than bounds)."""
    return [0] * (len(HISTOGRAM_BOUNDS_MS) + 1)


class _Partial:
    __slots__ = ("up", "down", "errors", "sum_ms", "min_ms", "max_ms", "hist", "codes", "protocol")

    def __init__(self, protocol: str):
        self.up = self.down = self.errors = 0
        self.sum_ms = 0.0
        self.min_ms = self.max_ms = None
        self.hist = empty_histogram()
        self.codes: dict[str, int] = {}
        self.protocol = protocol

    def add(self, row: dict) -> None:
        if row["status"] == UP:
            self.up += 1
        else:
            self.down += 1
        ms = row.get("response_time_ms")
        if ms is None:
            if row["status"] == DOWN:
                self.errors += 1
        else:
            self.sum_ms += ms
            self.min_ms = ms if self.min_ms is None else min(self.min_ms, ms)
            self.max_ms = ms if self.max_ms is None else max(self.max_ms, ms)
            self.hist[histogram_index(ms)] += 1
        if row.get("status_code") is not None:
            key = str(row["status_code"])
            self.codes[key] = self.codes.get(key, 0) + 1


def _insert_for(dialect_name: str):
    return postgresql.insert if dialect_name == "postgresql" else sqlite.insert


def apply_results(rows: Iterable[dict]) -> int:
    """Add raw results to their hour and day rollups in the current transaction.

    :param rows: dicts with ``monitor_id``, ``checked_at`` (UTC), ``status``,
        ``response_time_ms`` (None = no answer → ``errors``), ``status_code``, ``protocol``.
    :returns: the number of rollup rows touched.
    """
    partials: dict[tuple[int, str, datetime], _Partial] = {}
    for row in rows:
        for period in (HOUR, DAY):
            key = (row["monitor_id"], period, bucket_start(row["checked_at"], period))
            if key not in partials:
                partials[key] = _Partial(row.get("protocol") or "")
            partials[key].add(row)
    if not partials:
        return 0
    insert = _insert_for(db.session.get_bind().dialect.name)
    # Plain statements with lists of parameters (executemany: compiled once and cached) rather
    # than ORM objects: at 10,000 monitors a batch touches thousands of rollup rows.
    blank = [{"monitor_id": m, "period": p, "bucket_start": b, "count_up": 0, "count_down": 0,
              "errors": 0, "sum_ms": 0.0, "histogram": empty_histogram(), "status_codes": {},
              "protocol": partials[(m, p, b)].protocol}
             for (m, p, b) in sorted(partials)]
    db.session.execute(insert(Rollup).on_conflict_do_nothing(), blank)
    monitor_ids = sorted({k[0] for k in partials})
    starts = sorted({k[2] for k in partials})
    t = Rollup.__table__.c
    existing = db.session.execute(
        select(t.monitor_id, t.period, t.bucket_start, t.count_up, t.count_down, t.errors, t.sum_ms,
               t.min_ms, t.max_ms, t.histogram, t.status_codes)
        .where(t.monitor_id.in_(monitor_ids), t.bucket_start.in_(starts))
        .order_by(t.monitor_id, t.period, t.bucket_start)
        .with_for_update())
    updates = []
    for r in existing:
        part = partials.get((r.monitor_id, r.period, r.bucket_start))
        if part is None:
            continue
        min_ms, max_ms = r.min_ms, r.max_ms
        if part.min_ms is not None:
            min_ms = part.min_ms if min_ms is None else min(min_ms, part.min_ms)
            max_ms = part.max_ms if max_ms is None else max(max_ms, part.max_ms)
        hist = list(r.histogram or empty_histogram())
        hist += [0] * (len(part.hist) - len(hist))
        codes = dict(r.status_codes or {})
        for code, n in part.codes.items():
            codes[code] = codes.get(code, 0) + n
        values = {
            "monitor_id": r.monitor_id,
            "period": r.period,
            "bucket_start": r.bucket_start,
            "count_up": (r.count_up or 0) + part.up,
            "count_down": (r.count_down or 0) + part.down,
            "errors": (r.errors or 0) + part.errors,
            "sum_ms": (r.sum_ms or 0.0) + part.sum_ms,
            "min_ms": min_ms,
            "max_ms": max_ms,
            "histogram": [a + b for a, b in zip(hist, part.hist, strict=False)],
            "status_codes": codes,
        }
        if part.protocol:
            values["protocol"] = part.protocol
        updates.append(values)
    # rows with and without "protocol" go in separate executemany batches (same keys each)
    for keys_with_protocol in (True, False):
        batch = [u for u in updates if ("protocol" in u) == keys_with_protocol]
        if batch:
            db.session.execute(update(Rollup), batch)  # ORM bulk UPDATE by primary key
    return len(updates)


def percentile(histogram: list[int] | None, q: float) -> float | None:
    """The ``q``-th percentile (0–100) of a :data:`HISTOGRAM_BOUNDS_MS` histogram, as the
    upper bound (ms) of the bucket holding it (the last, open-ended bucket reports the last
    bound). None for an empty histogram."""
    if not histogram:
        return None
    total = sum(histogram)
    if total == 0:
        return None
    rank = max(1, -(-total * q // 100))  # ceil(total × q / 100), at least the first value
    seen = 0
    for index, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            return float(HISTOGRAM_BOUNDS_MS[min(index, len(HISTOGRAM_BOUNDS_MS) - 1)])
    return float(HISTOGRAM_BOUNDS_MS[-1])


def _floor_hour(at: datetime) -> datetime:
    return bucket_start(at, HOUR)


def _ceil_day(at: datetime) -> datetime:
    day = bucket_start(at, DAY)
    return day if day == at else day + timedelta(days=1)


def rollups_between(monitor_id: int, start: datetime, end: datetime) -> list[Rollup]:
    """The rollups covering [start, end) with as few rows as possible: day rollups for whole
    UTC days inside the range, hour rollups for the edges (hours starting in the range, plus
    the hour containing ``start``)."""
    day_lo, day_hi = _ceil_day(start), bucket_start(end, DAY)
    hour_lo = _floor_hour(start)
    if day_lo < day_hi:
        cond = or_(
            and_(Rollup.period == DAY, Rollup.bucket_start >= day_lo, Rollup.bucket_start < day_hi),
            and_(
                Rollup.period == HOUR, Rollup.bucket_start >= hour_lo, Rollup.bucket_start < day_lo
            ),
            and_(Rollup.period == HOUR, Rollup.bucket_start >= day_hi, Rollup.bucket_start < end),
        )
    else:
        cond = and_(
            Rollup.period == HOUR, Rollup.bucket_start >= hour_lo, Rollup.bucket_start < end
        )
    return list(db.session.scalars(select(Rollup).where(Rollup.monitor_id == monitor_id, cond)))


def downtime(monitor_id: int, start: datetime, end: datetime) -> tuple[int, float]:
    """Incidents (outside maintenance) overlapping [start, end) and their downtime inside it.

    :returns: (number of incidents, seconds down).
    """
    return downtime_by_monitor([monitor_id], start, end)[monitor_id]


def downtime_by_monitor(
    monitor_ids: Iterable[int], start: datetime, end: datetime
) -> dict[int, tuple[int, float]]:
    """:func:`downtime` for many monitors in one query (list pages, the dashboard).

    An incident counts when it was opened outside maintenance and overlaps [start, end) (UTC);
    its downtime is clipped to the period and, while still open, to now.

    :returns: monitor id → (number of incidents, seconds down), with (0, 0.0) for monitors
        without incidents in the period.
    """
    ids = sorted(set(monitor_ids))
    result: dict[int, tuple[int, float]] = {mid: (0, 0.0) for mid in ids}
    if not ids or end <= start:
        return result
    now = utcnow()
    rows = db.session.execute(
        select(Incident.monitor_id, Incident.opened_at, Incident.closed_at).where(
            Incident.monitor_id.in_(ids),
            Incident.in_maintenance.is_(False),
            Incident.opened_at < end,
            or_(Incident.closed_at.is_(None), Incident.closed_at > start),
        )
    )
    for monitor_id, opened_at, closed_at in rows:
        count, seconds = result[monitor_id]
        lo = max(opened_at, start)
        hi = min(closed_at or now, end)
        result[monitor_id] = (count + 1, seconds + max((hi - lo).total_seconds(), 0.0))
    return result


def uptime(monitor_id: int, start: datetime, end: datetime) -> dict:
    """Uptime of a monitor over [start, end) (UTC), from rollups and incidents only.

    The period is clipped to the monitor's life (``created_at`` … now). Downtime is the time
    covered by confirmed incidents opened outside maintenance.

    :returns: ``{uptime_percent (None for an empty period), incidents, downtime_seconds,
        checks, failed_checks, errors, avg_response_ms, p50_ms, p95_ms, p99_ms,
        period_seconds}``.
    """
    monitor = db.session.get(Monitor, monitor_id)
    lo = max(start, monitor.created_at) if monitor is not None and monitor.created_at else start
    hi = min(end, utcnow())
    period = max((hi - lo).total_seconds(), 0.0)
    rows = rollups_between(monitor_id, start, end)
    checks = sum(r.count_up + r.count_down for r in rows)
    failed = sum(r.count_down for r in rows)
    errors = sum(r.errors for r in rows)
    hist = empty_histogram()
    total_ms, answered = 0.0, 0
    for r in rows:
        for i, n in enumerate(r.histogram or []):
            if i < len(hist):
                hist[i] += n
        total_ms += r.sum_ms or 0.0
        answered += sum(r.histogram or [])
    incidents, down_seconds = downtime(monitor_id, lo, hi) if period > 0 else (0, 0.0)
    return {
        "uptime_percent": None
        if period <= 0
        else round(100.0 * (1 - min(down_seconds, period) / period), 4),
        "incidents": incidents,
        "downtime_seconds": int(round(down_seconds)),
        "checks": checks,
        "failed_checks": failed,
        "errors": errors,
        "avg_response_ms": round(total_ms / answered, 3) if answered else None,
        "p50_ms": percentile(hist, 50),
        "p95_ms": percentile(hist, 95),
        "p99_ms": percentile(hist, 99),
        "period_seconds": int(period),
    }
