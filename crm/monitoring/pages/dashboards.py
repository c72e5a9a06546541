"""Read models for the monitoring console: uptime, sparklines, charts and the dashboard.

Everything here reads :class:`~crm.monitoring.models.Rollup` (hourly and daily aggregates),
:class:`~crm.monitoring.models.Incident` (counted by
:func:`crm.monitoring.engine.rollups.downtime_by_monitor`, as the API does) and
:class:`~crm.monitoring.models.Monitor` — never the raw ``check_results`` table, so pages
stay fast however long results are kept. Sums are done in SQL (``GROUP BY``); Python only
shapes the grouped rows into Plotly figures.

Figures are built with plotly (Python) and handed to the page as JSON
(:func:`figure_json`), which ``crm/static/js/monitoring_charts.js`` draws with
``Plotly.newPlot``. All times are UTC; response times are milliseconds.
"""

from __future__ import annotations

import html
import textwrap
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import plotly.graph_objects as go
import plotly.io.json
from markupsafe import Markup
from sqlalchemy import Integer, and_, case, cast, func, literal_column, or_, select, union_all

from crm.clock import utcnow
from crm.extensions import db
from crm.monitoring.engine.rollups import downtime_by_monitor, percentile
from crm.monitoring.models import DAY, HOUR, CheckResult, Monitor, Rollup

#: Range presets offered by the dashboard and the monitor page: key -> (label, length).
PRESETS: dict[str, tuple[str, timedelta]] = {
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
    "90d": ("Last 90 days", timedelta(days=90)),
    "365d": ("Last 365 days", timedelta(days=365)),
}
#: The longest custom range the dashboard accepts (a year, leap years included).
MAX_RANGE = timedelta(days=366)
#: Ranges up to this length read hourly rollups; longer ones daily rollups.
HOURLY_LIMIT = timedelta(days=7)
UNITS = ("day", "week", "month")

#: The monitoring colours, used by every figure here and (as the ``--monitor-<key>`` custom
#: properties in ``crm/static/css/monitoring.css``, which a test keeps equal to this) by the
#: badges, heartbeat bars and status-page bars. Status colours: up/success green, down/failure
#: red, maintenance blue, pending amber, paused grey; all carry white text at WCAG AA (4.5:1).
PALETTE: dict[str, str] = {
    "up": "#15803d",
    "down": "#b91c1c",
    "maintenance": "#1d4ed8",
    "pending": "#b45309",
    "paused": "#4b5563",
    "nodata": "#cbd5e1",
    # status-page day levels between up and down
    "degraded": "#a16207",
    "major": "#c2410c",
    # chart series that are not a status
    "response": "#4338ca",
    "response_p95": "#9333ea",
    "redirect": "#0e7490",
    "no_response": "#7f1d1d",
}
#: Colours of series that are neither good nor bad (one per monitor or protocol): none is
#: a status colour, so a stack of failures by monitor does not read as up/down.
SERIES_COLOURS = (
    "#4338ca",
    "#0e7490",
    "#9333ea",
    "#c2410c",
    "#be185d",
    "#334155",
    "#a16207",
    "#0369a1",
    "#6d28d9",
    "#9f1239",
)
#: Results shown in a heartbeat bar: on the overview, on a monitor's page.
OVERVIEW_BEATS = 30
DETAIL_BEATS = 50


# ---------------------------------------------------------------- small helpers


def floor_hour(at: datetime) -> datetime:
    """``at`` truncated to the hour (UTC)."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def floor_day(at: datetime) -> datetime:
    """Midnight UTC of ``at``'s day."""
    return datetime.combine(at.astimezone(UTC).date(), time(0), tzinfo=UTC)


def uptime_percent(up: int | None, down: int | None) -> float | None:
    """Share of successful checks in percent (0–100), or None when there were no checks."""
    up, down = up or 0, down or 0
    return None if up + down == 0 else 100.0 * up / (up + down)


def histogram_percentile(histogram: list | None, q: float) -> float | None:
    """The ``q``-th percentile (0–100) of a rollup histogram in ms (the upper bound of the
    bucket holding it), using the engine's :func:`crm.monitoring.engine.rollups.percentile` so the
    console and the reports agree. None for an empty histogram."""
    return percentile(histogram or [], q)


def rollup_average_ms(sum_ms: float | None, histogram: list | None) -> float | None:
    """Mean response time (ms) of one rollup: ``sum_ms`` over the checks that had a response
    time (the histogram's total), or None when none had."""
    timed = sum(histogram or [])
    return (sum_ms or 0.0) / timed if timed else None


def figure_json(fig: go.Figure | dict) -> str:
    """The figure as Plotly JSON (``{"data": [...], "layout": {...}}``) for a data attribute.

    :param fig: a ``plotly.graph_objects.Figure``, or the same figure already as a dict of
        Plotly's JSON schema (the dashboard builds its many-trace charts that way: validating
        each of 100+ traces through graph objects cost ~80 ms a page, bench/monitors.py).
    """
    if not isinstance(fig, dict):
        # graph objects fill in plotly.py's default template (~5 KB a chart) even when the
        # layout says none; the console draws every chart in Plotly.js' own theme instead
        fig = fig.to_plotly_json()
        fig["layout"].pop("template", None)
    return plotly.io.json.to_json_plotly(fig)


def _bar(x: list, y: list, name: str, **extra) -> dict:
    """One bar trace in Plotly's JSON schema (``type: bar``)."""
    return {"type": "bar", "x": x, "y": y, "name": name, **extra}


def _layout(**extra) -> dict:
    """Common chart layout: Plotly.js' own theme (no template: small JSON), tight margins,
    the series colours, and the legend beside the plot (right of it, in the margin Plotly
    widens for it) where it can cover neither the bars nor the axis labels."""
    # No axis titles: Plotly positions them with inline styles, which the CSP blocks; the
    # page's headings and tick suffixes say what is plotted.
    base = {
        "template": None,
        "margin": {"l": 50, "r": 10, "t": 20, "b": 40},
        "height": 320,
        "colorway": list(SERIES_COLOURS),
        "legend": {
            "orientation": "v",
            "x": 1.02,
            "xanchor": "left",
            "y": 1,
            "yanchor": "top",
            "font": {"size": 11},
        },
        "hovermode": "x unified",
    }
    base.update(extra)
    return base


def chart_label(name: str, width: int = 24) -> str:
    """A monitor name (or any text) as a Plotly label: HTML-escaped (Plotly reads ``<b>``,
    ``<br>`` … in labels) and wrapped with ``<br>`` at about ``width`` characters, so a long
    name is shown in full on several lines instead of cut off."""
    lines = textwrap.wrap(
        name or "", width=width, break_long_words=True, break_on_hyphens=True
    ) or [""]
    return "<br>".join(html.escape(line, quote=False) for line in lines)


def time_label(at: datetime) -> str:
    """A bucket start as Plotly date text in UTC to the minute (``2026-03-17 08:00``): no
    seconds or microseconds for Plotly to show as ``08:59:59.9995``."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def time_axis(start: datetime, end: datetime) -> dict:
    """A date x axis over [start, end] with readable ticks: hours and the day up to two days,
    days up to three months, months beyond; the hover shows the minute, in UTC."""
    span = end - start
    if span <= timedelta(days=2):
        tickformat = "%H:%M<br>%d %b"
    elif span <= timedelta(days=92):
        tickformat = "%d %b"
    else:
        tickformat = "%b %Y"
    return {
        "type": "date",
        "tickformat": tickformat,
        "hoverformat": "%Y-%m-%d %H:%M UTC",
        "range": [time_label(start), time_label(end)],
        "nticks": 8,
        "automargin": True,
    }


@dataclass
class Chart:
    """A figure for a page (Plotly's JSON schema as a dict), or the words shown instead when
    it has nothing to draw (``{{ chart(c, …) }}`` in ``monitoring/_macros.html``)."""

    figure: dict
    empty_text: str = "No data yet: the chart appears after the first checks."

    @property
    def empty(self) -> bool:
        """True when no trace has a single point."""
        return not any(
            len(trace.get("x") or ()) and len(trace.get("y") or ())
            for trace in self.figure.get("data", ())
        )

    @property
    def json(self) -> str:
        """The figure as JSON for the element's ``data-figure`` attribute."""
        return figure_json(self.figure)


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def bucket_label(column, unit: str):
    """SQL expression: the start of ``column``'s day/week (Monday)/month/hour as text
    (``YYYY-MM-DD`` or ``YYYY-MM-DD HH:00``), the same on SQLite and PostgreSQL."""
    if _dialect() == "postgresql":
        trunc = func.date_trunc(unit, func.timezone("UTC", column))
        fmt = "YYYY-MM-DD HH24:00" if unit == "hour" else "YYYY-MM-DD"
        return func.to_char(trunc, fmt)
    if unit == "hour":
        return func.strftime("%Y-%m-%d %H:00", column)
    if unit == "week":
        return func.date(column, "weekday 0", "-6 days")
    if unit == "month":
        return func.strftime("%Y-%m-01", column)
    return func.date(column)


def _bucket_key(column, unit: str):
    """SQL expression to group ``column`` by day/week/month/hour: the truncated timestamp on
    PostgreSQL (cheaper to group than text), :func:`bucket_label` text on SQLite."""
    if _dialect() == "postgresql":
        return func.date_trunc(unit, func.timezone("UTC", column))
    return bucket_label(column, unit)


def _bucket_text(key, unit: str):
    """:func:`bucket_label`'s text for a grouped :func:`_bucket_key` expression."""
    if _dialect() == "postgresql":
        return func.to_char(key, "YYYY-MM-DD HH24:00" if unit == "hour" else "YYYY-MM-DD")
    return key


# ---------------------------------------------------------------- the overview page


@dataclass
class MonitorStats:
    """What the overview shows next to one monitor."""

    uptime_24h: float | None = None
    uptime_30d: float | None = None
    sparkline: Markup | None = None


def overview_stats(monitor_ids: list[int], now: datetime) -> dict[int, MonitorStats]:
    """Uptime over 24 hours (hourly rollups) and 30 days (daily rollups) and a 24-hour
    response-time sparkline for each monitor of a page: two queries for the whole page.

    :param monitor_ids: the monitors on the page.
    :param now: the current time (UTC).
    :returns: monitor id -> :class:`MonitorStats` (every id present).
    """
    stats = {mid: MonitorStats() for mid in monitor_ids}
    if not monitor_ids:
        return stats
    since_hour = floor_hour(now) - timedelta(hours=23)
    since_day = floor_day(now) - timedelta(days=29)
    in_24h = and_(Rollup.period == HOUR, Rollup.bucket_start >= since_hour)
    in_30d = and_(Rollup.period == DAY, Rollup.bucket_start >= since_day)
    rows = db.session.execute(
        select(
            Rollup.monitor_id,
            func.sum(case((in_24h, Rollup.count_up), else_=0)),
            func.sum(case((in_24h, Rollup.count_down), else_=0)),
            func.sum(case((in_30d, Rollup.count_up), else_=0)),
            func.sum(case((in_30d, Rollup.count_down), else_=0)),
        )
        .where(Rollup.monitor_id.in_(monitor_ids), or_(in_24h, in_30d))
        .group_by(Rollup.monitor_id)
    )
    for mid, up24, down24, up30, down30 in rows:
        stats[mid].uptime_24h = uptime_percent(up24, down24)
        stats[mid].uptime_30d = uptime_percent(up30, down30)
    points: dict[int, list[tuple[datetime, float]]] = {}
    for mid, start, sum_ms, histogram in db.session.execute(
        select(Rollup.monitor_id, Rollup.bucket_start, Rollup.sum_ms, Rollup.histogram)
        .where(Rollup.monitor_id.in_(monitor_ids), in_24h)
        .order_by(Rollup.monitor_id, Rollup.bucket_start)
    ):
        avg = rollup_average_ms(sum_ms, histogram)
        if avg is not None:
            points.setdefault(mid, []).append((start, avg))
    for mid, series in points.items():
        stats[mid].sparkline = sparkline_svg(series, since_hour, since_hour + timedelta(hours=24))
    return stats


def sparkline_svg(
    points: list[tuple[datetime, float]],
    start: datetime,
    end: datetime,
    width: int = 120,
    height: int = 28,
) -> Markup:
    """A tiny inline SVG line of response times (no JavaScript), with an accessible title.

    :param points: (bucket start, average ms) in time order.
    :param start: left edge of the chart (UTC). :param end: right edge.
    :returns: ``<svg>`` markup (safe to insert in a template).
    """
    span = max((end - start).total_seconds(), 1.0)
    top = max(v for _, v in points) or 1.0
    coords = []
    for at, value in points:
        x = (at - start).total_seconds() / span * (width - 2) + 1
        y = height - 2 - (value / top) * (height - 4)
        coords.append(f"{x:.1f},{y:.1f}")
    latest = points[-1][1]
    title = (
        f"Response time over 24 hours: latest hourly average {latest:.0f} ms, highest {top:.0f} ms"
    )
    dots = (
        ""
        if len(coords) > 1
        else f'<circle cx="{coords[0].split(",")[0]}" cy="{coords[0].split(",")[1]}" r="1.5"/>'
    )
    return Markup(
        f'<svg class="sparkline" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{title}"><title>{title}</title>'
        '<polyline fill="none" stroke="currentColor" stroke-width="1.5" '
        f'points="{" ".join(coords)}"/>'
        f"{dots}</svg>"
    )


# ---------------------------------------------------------------- heartbeat bars


@dataclass
class Beat:
    """One check in a heartbeat bar (the little coloured bars of the last checks)."""

    checked_at: datetime
    status: str
    response_time_ms: float | None = None
    status_code: int | None = None
    error: str | None = None

    @property
    def title(self) -> str:
        """The bar's tooltip: time (UTC), status, response time, code or error."""
        parts = [
            self.checked_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            self.status.capitalize(),
        ]
        if self.response_time_ms is not None:
            parts.append(f"{self.response_time_ms:.0f} ms")
        if self.status_code:
            parts.append(f"code {self.status_code}")
        if self.error:
            parts.append(self.error[:120])
        return " · ".join(parts)


def recent_beats(monitor_ids: list[int], limit: int = OVERVIEW_BEATS) -> dict[int, list[Beat]]:
    """The last ``limit`` check results of each monitor, oldest first, in ONE query: a
    ``UNION ALL`` of one ``ORDER BY checked_at DESC LIMIT n`` per monitor, each an index
    range scan of ``ix_check_results_monitor_time`` (a window function would read every
    result the monitors ever kept).

    :returns: monitor id -> beats (every id present; an empty list before the first check).
    """
    beats: dict[int, list[Beat]] = {mid: [] for mid in monitor_ids}
    if not monitor_ids:
        return beats
    columns = (
        CheckResult.monitor_id,
        CheckResult.checked_at,
        CheckResult.status,
        CheckResult.response_time_ms,
        CheckResult.status_code,
        CheckResult.error,
    )
    parts = []
    for mid in dict.fromkeys(monitor_ids):
        latest = (
            select(*columns)
            .where(CheckResult.monitor_id == mid)
            .order_by(CheckResult.checked_at.desc())
            .limit(limit)
            .subquery()
        )
        parts.append(select(latest))
    stmt = parts[0] if len(parts) == 1 else union_all(*parts)
    for mid, checked_at, status, ms, code, error in db.session.execute(stmt):
        beats[mid].append(Beat(checked_at, status, ms, code, error))
    for series in beats.values():
        series.sort(key=lambda b: b.checked_at)
    return beats


def beats_from_results(results: list) -> list[Beat]:
    """:class:`Beat` s, oldest first, from check results already loaded newest first (the
    monitor page's results table: no second query)."""
    return [
        Beat(r.checked_at, r.status, r.response_time_ms, r.status_code, r.error)
        for r in reversed(results)
    ]


# ---------------------------------------------------------------- the monitor page


def response_time_figure(monitor_id: int, start: datetime, end: datetime) -> Chart:
    """Average and 95th-percentile response time (ms) of one monitor per rollup bucket
    (hourly rollups for ranges up to 7 days, daily beyond), on a :func:`time_axis` over
    [start, end].

    :returns: a :class:`Chart` (empty, with its "no data yet" text, before the first check).
    """
    period = HOUR if end - start <= HOURLY_LIMIT else DAY
    rows = db.session.execute(
        select(Rollup.bucket_start, Rollup.sum_ms, Rollup.histogram, Rollup.min_ms, Rollup.max_ms)
        .where(
            Rollup.monitor_id == monitor_id,
            Rollup.period == period,
            Rollup.bucket_start >= (floor_hour(start) if period == HOUR else floor_day(start)),
            Rollup.bucket_start < end,
        )
        .order_by(Rollup.bucket_start)
    ).all()
    xs = [time_label(r.bucket_start) for r in rows]
    avg = [_round(rollup_average_ms(r.sum_ms, r.histogram)) for r in rows]
    p95 = [_round(histogram_percentile(r.histogram, 95)) for r in rows]
    layout = _layout(
        xaxis=time_axis(start, end),
        yaxis={"ticksuffix": " ms", "rangemode": "tozero", "hoverformat": ".0f"},
    )
    figure = {
        "layout": layout,
        "data": [
            {
                "type": "scatter",
                "x": xs,
                "y": avg,
                "name": "Average",
                "mode": "lines+markers",
                "line": {"color": PALETTE["response"]},
                "marker": {"color": PALETTE["response"], "size": 5},
            },
            {
                "type": "scatter",
                "x": xs,
                "y": p95,
                "name": "95th percentile",
                "mode": "lines",
                "line": {"color": PALETTE["response_p95"], "dash": "dot"},
            },
        ],
    }
    return Chart(figure, "No checks in this period yet: the chart appears after the first ones.")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


# ---------------------------------------------------------------- the dashboard


@dataclass
class Range:
    """A dashboard period [start, end) and how to read it."""

    start: datetime
    end: datetime
    label: str
    preset: str | None

    @property
    def period(self) -> str:
        """Rollup period to read: ``hour`` up to 7 days, else ``day``."""
        return HOUR if self.end - self.start <= HOURLY_LIMIT else DAY

    @property
    def query_start(self) -> datetime:
        """``start`` floored to the rollup bucket that contains it."""
        return floor_hour(self.start) if self.period == HOUR else floor_day(self.start)


def parse_range(preset: str | None, start: str | None, end: str | None, now: datetime) -> Range:
    """The dashboard period from a preset key (:data:`PRESETS`) or a ``YYYY-MM-DD`` date
    range (end date inclusive). Defaults to the last 30 days.

    :raises ValueError: a malformed date, an end before the start, or a range over a year
        (the message is shown to the user).
    """
    if start or end:
        try:
            first = date.fromisoformat(start) if start else None
            last = date.fromisoformat(end) if end else now.date()
        except ValueError:
            raise ValueError("Dates must look like 2026-01-31.") from None
        if first is None:
            first = last - timedelta(days=29)
        if last < first:
            raise ValueError("The end date is before the start date.")
        begin = datetime.combine(first, time(0), tzinfo=UTC)
        finish = datetime.combine(last + timedelta(days=1), time(0), tzinfo=UTC)
        if finish - begin > MAX_RANGE:
            raise ValueError("Choose a period of at most one year.")
        return Range(begin, finish, f"{first.isoformat()} – {last.isoformat()}", None)
    key = preset if preset in PRESETS else "30d"
    label, length = PRESETS[key]
    return Range(now - length, now, label, key)


def _rollup_window(rng: Range):
    return and_(
        Rollup.period == rng.period,
        Rollup.bucket_start >= rng.query_start,
        Rollup.bucket_start < rng.end,
    )


def failures_by_monitor(rng: Range, unit: str) -> list[tuple[str, int, str, int, int]]:
    """Failed checks per time bucket and monitor.

    :returns: rows (bucket label, monitor id, monitor name, failed checks ``count_down``,
        of which got no response at all ``errors``), in bucket then name order.
    """
    label = bucket_label(Rollup.bucket_start, unit).label("bucket")
    stmt = (
        select(
            label, Monitor.id, Monitor.name, func.sum(Rollup.count_down), func.sum(Rollup.errors)
        )
        .join(Monitor, Monitor.id == Rollup.monitor_id)
        .where(_rollup_window(rng))
        .group_by(label, Monitor.id, Monitor.name)
        .order_by(label, Monitor.name)
    )
    return [tuple(r) for r in db.session.execute(stmt)]


def failures_by_protocol(rng: Range, unit: str) -> list[tuple[str, str, int, int]]:
    """Failed checks per time bucket and protocol (``http``, ``https``, ``tcp`` …).

    :returns: rows (bucket label, protocol, failed checks, of which no response).
    """
    label = bucket_label(Rollup.bucket_start, unit).label("bucket")
    stmt = (
        select(label, Rollup.protocol, func.sum(Rollup.count_down), func.sum(Rollup.errors))
        .where(_rollup_window(rng))
        .group_by(label, Rollup.protocol)
        .order_by(label, Rollup.protocol)
    )
    return [tuple(r) for r in db.session.execute(stmt)]


def _status_codes_table():
    """The rollups' ``status_codes`` JSON unnested as a table of (``key`` = code,
    ``value`` = count) rows: ``json_each`` on SQLite, ``jsonb_each_text`` on PostgreSQL (the
    column is JSONB there: unnesting it needs no parsing, ~2x faster on a year of rollups)."""
    if _dialect() == "postgresql":
        return func.jsonb_each_text(Rollup.status_codes).table_valued("key", "value").alias("codes")
    return func.json_each(Rollup.status_codes).table_valued("key", "value").alias("codes")


#: The pseudo response code of checks that got no answer at all (``Rollup.errors``).
NO_RESPONSE = "no response"


def responses_by_code(rng: Range) -> list[tuple[str, int]]:
    """How often each response code was seen in the period (summed from the rollups'
    ``status_codes`` in SQL, unnesting the JSON with ``json_each``), plus ``no response``
    for checks that got no answer at all (``errors``).

    :returns: (code or "no response", count) sorted by code.
    """
    codes = _status_codes_table()
    stmt = (
        select(codes.c.key, func.sum(cast(codes.c.value, Integer)))
        .select_from(Rollup)
        .join(codes, literal_column("1") == 1)
        .where(_rollup_window(rng))
        .group_by(codes.c.key)
        .order_by(codes.c.key)
    )
    rows = [(str(code), int(count or 0)) for code, count in db.session.execute(stmt)]
    no_response = db.session.scalar(select(func.sum(Rollup.errors)).where(_rollup_window(rng))) or 0
    if no_response:
        rows.append((NO_RESPONSE, int(no_response)))
    return rows


def responses_by_code_per_bucket(rng: Range, unit: str) -> list[tuple[str, str, int]]:
    """Checks per time bucket (``unit``: day, week starting Monday, or month) and response
    code, summed in SQL from the rollups' ``status_codes`` (every answered check counts under
    its code, whether the check passed or failed), plus a ``no response`` row per bucket for
    the checks that got no answer at all (``Rollup.errors``). Buckets or codes without checks
    are left out.

    :returns: rows (bucket label ``YYYY-MM-DD``, code or "no response", checks), in bucket
        then code order, ``no response`` last within its bucket.
    """
    codes = _status_codes_table()
    # Group by the truncated timestamp and format each group once, not each unnested row.
    key = _bucket_key(Rollup.bucket_start, unit).label("t")
    unnested = (
        select(key, codes.c.key.label("code"), cast(codes.c.value, Integer).label("n"))
        .select_from(Rollup)
        .join(codes, literal_column("1") == 1)
        .where(_rollup_window(rng))
        .subquery()
    )
    stmt = select(
        _bucket_text(unnested.c.t, unit), unnested.c.code, func.sum(unnested.c.n)
    ).group_by(unnested.c.t, unnested.c.code)
    rows = [(str(b), str(code), int(n or 0)) for b, code, n in db.session.execute(stmt) if n]
    failed = (
        select(key, Rollup.errors.label("n"))
        .where(_rollup_window(rng), Rollup.errors > 0)
        .subquery()
    )
    errors = select(_bucket_text(failed.c.t, unit), func.sum(failed.c.n)).group_by(failed.c.t)
    rows += [(str(b), NO_RESPONSE, int(n)) for b, n in db.session.execute(errors) if n]
    return sorted(rows, key=lambda r: (r[0], r[1] == NO_RESPONSE, r[1]))


def code_totals(rows: list[tuple[str, str, int]]) -> list[tuple[str, int]]:
    """Whole-period totals per code from :func:`responses_by_code_per_bucket` rows, shaped
    like :func:`responses_by_code` (codes sorted, ``no response`` last)."""
    totals: dict[str, int] = {}
    for _, code, n in rows:
        totals[code] = totals.get(code, 0) + n
    return sorted(totals.items(), key=lambda item: (item[0] == NO_RESPONSE, item[0]))


def codes_pivot(rows: list[tuple[str, str, int]]) -> dict:
    """Rows of :func:`responses_by_code_per_bucket` as a bucket × code grid (for the page's
    table and the stacked bars).

    :returns: ``{"buckets": [label, …], "codes": [code, …] ("no response" last),
        "counts": {code: [checks per bucket, 0 where none]}}``.
    """
    buckets = sorted({b for b, _c, _n in rows})
    codes = sorted({c for _b, c, _n in rows}, key=lambda c: (c == NO_RESPONSE, c))
    found = {(b, c): n for b, c, n in rows}
    return {
        "buckets": buckets,
        "codes": codes,
        "counts": {c: [found.get((b, c), 0) for b in buckets] for c in codes},
    }


@dataclass
class UptimeRow:
    """One monitor's line in the dashboard's uptime table."""

    monitor_id: int
    name: str
    protocol: str
    checks: int
    failed: int
    no_response: int
    uptime: float | None
    incidents: int = 0
    downtime_seconds: int = 0


def uptime_table(rng: Range) -> list[UptimeRow]:
    """Uptime, checks and failures per monitor over the period (SQL ``GROUP BY``), with the
    incidents overlapping it and their downtime clipped to the period (and to now, for an
    incident still open or a period ending in the future).

    Incidents are counted by :func:`crm.monitoring.engine.rollups.downtime_by_monitor` (one
    query), the function behind the API's ``/monitors/{id}/uptime``, so both agree: incidents
    opened during maintenance are not counted, nor is their downtime.

    :returns: rows sorted by uptime (worst first, monitors without checks last).
    """
    rows = {}
    for mid, name, protocol, up, down, errors in db.session.execute(
        select(
            Monitor.id,
            Monitor.name,
            func.max(Rollup.protocol),
            func.sum(Rollup.count_up),
            func.sum(Rollup.count_down),
            func.sum(Rollup.errors),
        )
        .join(Monitor, Monitor.id == Rollup.monitor_id)
        .where(_rollup_window(rng))
        .group_by(Monitor.id, Monitor.name)
    ):
        rows[mid] = UptimeRow(
            mid,
            name,
            protocol or "",
            int((up or 0) + (down or 0)),
            int(down or 0),
            int(errors or 0),
            uptime_percent(up, down),
        )
    # The API's uptime (crm.monitoring.engine.rollups.uptime) counts incidents through the same
    # function: those opened in maintenance are left out, open ones end at "now".
    end = min(rng.end, utcnow())
    for mid, (count, seconds) in downtime_by_monitor(rows, rng.start, end).items():
        rows[mid].incidents, rows[mid].downtime_seconds = count, int(round(seconds))
    return sorted(rows.values(), key=lambda r: (r.uptime is None, r.uptime or 0, r.name))


def uptime_over_time(rng: Range) -> list[tuple[str, float | None]]:
    """Uptime of all monitors together per bucket (hour up to 7 days, else day).

    :returns: (bucket label, uptime percent) rows in time order.
    """
    label = bucket_label(Rollup.bucket_start, "hour" if rng.period == HOUR else "day").label(
        "bucket"
    )
    stmt = (
        select(label, func.sum(Rollup.count_up), func.sum(Rollup.count_down))
        .where(_rollup_window(rng))
        .group_by(label)
        .order_by(label)
    )
    return [(b, _round(uptime_percent(up, down))) for b, up, down in db.session.execute(stmt)]


def code_colour(code: str) -> str:
    """The palette colour of a response code's bars: 2xx up, 3xx redirect, 4xx pending
    (amber), 5xx down, no response dark red."""
    if code == NO_RESPONSE:
        return PALETTE["no_response"]
    return {"2": PALETTE["up"], "3": PALETTE["redirect"], "4": PALETTE["pending"]}.get(
        code[:1], PALETTE["down"]
    )


def uptime_colour(uptime: float | None) -> str:
    """The colour of an uptime bar, by the status page's day levels (:class:`DayBar`)."""
    return PALETTE[LEVEL_COLOURS[DayBar(date.min, uptime, 0).level]]


def _bucket_axis() -> dict:
    """The x axis of per-day/week/month bars: the buckets' own ``YYYY-MM-DD`` labels as
    categories (no interpolated times between them)."""
    return {"type": "category", "automargin": True}


def _parse_bucket(label: str) -> datetime:
    """A :func:`bucket_label` (``YYYY-MM-DD`` or ``YYYY-MM-DD HH:00``) as a UTC datetime."""
    return datetime.fromisoformat(label).replace(tzinfo=UTC)


def dashboard(rng: Range, unit: str) -> dict:
    """Everything the dashboard page shows for one period, grouped per ``unit``.

    :returns: {"figures": {name: :class:`Chart`}, "by_monitor": rows, "by_protocol": rows,
        "by_code": rows, "codes_per_bucket": :func:`codes_pivot` grid, "uptime": [UptimeRow],
        "totals": {failed, no_response, checks}, "unit": unit}.
    """
    unit = unit if unit in UNITS else "day"
    by_monitor = failures_by_monitor(rng, unit)
    by_protocol = failures_by_protocol(rng, unit)
    per_bucket = responses_by_code_per_bucket(rng, unit)
    by_code = code_totals(per_bucket)  # the same sums as responses_by_code(rng), one query fewer
    codes_per_bucket = codes_pivot(per_bucket)
    table = uptime_table(rng)
    over_time = uptime_over_time(rng)

    names = sorted({r[2] for r in by_monitor})
    buckets = sorted({r[0] for r in by_monitor})
    failed = {(r[0], r[2]): r[3] for r in by_monitor}
    fig_monitor = {
        "layout": _layout(barmode="stack", xaxis=_bucket_axis()),
        "data": [
            _bar(buckets, [failed.get((b, name), 0) for b in buckets], chart_label(name))
            for name in names
        ],
    }

    p_buckets = sorted({r[0] for r in by_protocol})
    by_proto = {(r[0], r[1]): r[2] for r in by_protocol}
    fig_protocol = {
        "layout": _layout(barmode="stack", xaxis=_bucket_axis()),
        "data": [
            _bar(p_buckets, [by_proto.get((b, proto), 0) for b in p_buckets], proto or "unknown")
            for proto in sorted({r[1] for r in by_protocol})
        ],
    }

    fig_codes = {
        "layout": _layout(xaxis={"type": "category"}, hovermode="closest", showlegend=False),
        "data": [
            _bar(
                [c for c, _ in by_code],
                [n for _, n in by_code],
                "checks",
                marker={"color": [code_colour(c) for c, _ in by_code]},
            )
        ],
    }

    fig_code_bucket = {
        "layout": _layout(barmode="stack", xaxis=_bucket_axis()),
        "data": [
            _bar(
                codes_per_bucket["buckets"],
                codes_per_bucket["counts"][code],
                code,
                marker={"color": code_colour(code), "line": {"color": "#ffffff", "width": 0.5}},
            )
            for code in codes_per_bucket["codes"]
        ],
    }

    fig_uptime = {
        "layout": _layout(
            yaxis={"ticksuffix": " %", "range": [0, 100.5], "hoverformat": ".2f"},
            xaxis=time_axis(rng.query_start, rng.end),
            showlegend=False,
        ),
        "data": [
            {
                "type": "scatter",
                "x": [time_label(_parse_bucket(b)) for b, _ in over_time],
                "y": [u for _, u in over_time],
                "name": "All monitors",
                "mode": "lines+markers",
                "line": {"color": PALETTE["up"]},
                "marker": {"color": PALETTE["up"], "size": 5},
            }
        ],
    }

    labels = [chart_label(r.name, 32) for r in table]
    fig_monitors = {
        "layout": _layout(
            xaxis={"ticksuffix": " %", "range": [0, 100.5]},
            yaxis={"automargin": True, "autorange": "reversed"},
            hovermode="closest",
            showlegend=False,
            height=max(200, 60 + sum(28 + 14 * label.count("<br>") for label in labels)),
        ),
        "data": [
            _bar(
                [_round(r.uptime) for r in table],
                labels,
                "uptime %",
                orientation="h",
                marker={"color": [uptime_colour(r.uptime) for r in table]},
                customdata=[html.escape(r.name, quote=False) for r in table],
                hovertemplate="%{customdata}: %{x:.3f} %<extra></extra>",
            )
        ],
    }

    totals = {
        "failed": sum(r.failed for r in table),
        "no_response": sum(r.no_response for r in table),
        "checks": sum(r.checks for r in table),
    }
    no_checks = "No checks in this period."
    return {
        "figures": {
            "by_monitor": Chart(fig_monitor, "No failed checks in this period."),
            "by_protocol": Chart(fig_protocol, "No failed checks in this period."),
            "by_code": Chart(fig_codes, no_checks),
            "by_code_per_bucket": Chart(fig_code_bucket, no_checks),
            "uptime_over_time": Chart(fig_uptime, no_checks),
            "uptime_by_monitor": Chart(fig_monitors, no_checks),
        },
        "by_monitor": by_monitor,
        "by_protocol": by_protocol,
        "by_code": by_code,
        "codes_per_bucket": codes_per_bucket,
        "uptime": table,
        "totals": totals,
        "unit": unit,
    }


# ---------------------------------------------------------------- status pages


@dataclass
class DayBar:
    """One day on a status page's 90-day strip."""

    day: date
    uptime: float | None
    checks: int

    @property
    def level(self) -> str:
        """Colour class: ``ok`` ≥ 99.9 %, ``minor`` ≥ 99 %, ``major`` ≥ 95 %, ``outage``
        below, ``nodata`` without checks."""
        if self.uptime is None:
            return "nodata"
        if self.uptime >= 99.9:
            return "ok"
        if self.uptime >= 99.0:
            return "minor"
        if self.uptime >= 95.0:
            return "major"
        return "outage"

    @property
    def title(self) -> str:
        """Accessible text for the bar."""
        if self.uptime is None:
            return f"{self.day.isoformat()}: no data"
        return f"{self.day.isoformat()}: {self.uptime:.2f} % uptime ({self.checks} checks)"


#: :attr:`DayBar.level` -> :data:`PALETTE` key.
LEVEL_COLOURS = {
    "ok": "up",
    "minor": "degraded",
    "major": "major",
    "outage": "down",
    "nodata": "nodata",
}


def daily_bars(monitor_ids: list[int], today: date, days: int = 90) -> dict[int, list[DayBar]]:
    """One bar per day (oldest first, ending ``today``) per monitor, from daily rollups
    (one query for all monitors).

    :returns: monitor id -> ``days`` bars.
    """
    first = today - timedelta(days=days - 1)
    found: dict[tuple[int, date], tuple[int, int]] = {}
    if monitor_ids:
        for mid, start, up, down in db.session.execute(
            select(
                Rollup.monitor_id, Rollup.bucket_start, Rollup.count_up, Rollup.count_down
            ).where(
                Rollup.monitor_id.in_(monitor_ids),
                Rollup.period == DAY,
                Rollup.bucket_start >= datetime.combine(first, time(0), tzinfo=UTC),
            )
        ):
            found[(mid, start.date())] = (up or 0, down or 0)
    out = {}
    for mid in monitor_ids:
        bars = []
        for offset in range(days):
            day = first + timedelta(days=offset)
            up, down = found.get((mid, day), (0, 0))
            bars.append(DayBar(day, uptime_percent(up, down), up + down))
        out[mid] = bars
    return out


def period_uptime(bars: list[DayBar]) -> float | None:
    """Uptime over all the bars' checks (weighted by checks, not a mean of days)."""
    checks = sum(b.checks for b in bars)
    if not checks:
        return None
    up = sum(b.checks * (b.uptime or 0) / 100.0 for b in bars)
    return 100.0 * up / checks
