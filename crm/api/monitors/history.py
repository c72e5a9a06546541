"""A monitor's history: raw check results (keyset pages, newest first) and uptime over a
period, from :mod:`crm.monitoring.engine.results` and :mod:`crm.monitoring.engine.rollups`.
Both need ``monitor.view``.
"""
from __future__ import annotations

from datetime import timedelta

from crm.api.common import answer, decode_id_cursor
from crm.api.monitors.paging import next_page, numbered_page
from crm.api.monitors.schemas import LogPage, LogQuery, UptimeOut, UptimeQuery
from crm.api.openapi import api_operation, request_query
from crm.auth.policy import acting_user, requires
from crm.clock import utcnow
from crm.monitoring.access import get_monitor_or_404
from crm.monitoring.engine import results, rollups
from crm.tickets.filters import parse_when

TAG = "Monitors"
PERIODS = {"day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30),
           "year": timedelta(days=365)}


@api_operation("GET", "/monitors/{monitor_id}/logs", query=LogQuery, response=LogPage, tag=TAG,
               summary="A monitor's check history")
@requires("monitor.use", api=True)
def monitor_logs(monitor_id: int):
    """Raw check results, newest first, between ``from`` (inclusive) and ``to`` (exclusive;
    a date means the end of that day), optionally only ``up`` or ``down``, in keyset pages of
    ``limit`` (pass ``next_cursor`` as ``cursor``; ``page``/``per_page`` still work,
    deprecated). Raw results are kept ``MONITOR_RESULT_RETENTION_DAYS`` days; use
    ``/uptime`` for longer periods."""
    monitor = get_monitor_or_404(monitor_id, acting_user())
    query: LogQuery = request_query()
    start = parse_when(query.from_, "from") if query.from_ else None
    end = parse_when(query.to, "to", end_of_day=True) if query.to else None
    numbered = query.numbered()
    after = decode_id_cursor(query.cursor) if query.cursor and not numbered else None
    stmt = results.check_history(monitor.id, start=start, end=end, status=query.status,
                                 after_id=after)
    if numbered:
        return answer(LogPage, numbered_page(stmt, query))
    rows, cursor = next_page(stmt, query.size())
    return answer(LogPage, {"items": rows, "limit": query.size(), "next_cursor": cursor,
                            "has_more": cursor is not None})


@api_operation("GET", "/monitors/{monitor_id}/uptime", query=UptimeQuery, response=UptimeOut,
               tag=TAG, summary="A monitor's uptime")
@requires("monitor.use", api=True)
def monitor_uptime(monitor_id: int):
    """Uptime percentage, incidents and downtime over the last day, week, month or year,
    computed from hourly/daily rollups and incidents (kept beyond the raw results).
    Incidents during maintenance do not count."""
    monitor = get_monitor_or_404(monitor_id, acting_user())
    query: UptimeQuery = request_query()
    end = utcnow()
    start = end - PERIODS[query.period]
    stats = rollups.uptime(monitor.id, start, end)
    return answer(UptimeOut, {"period": query.period, "start": start, "end": end, **{
        key: stats[key] for key in ("uptime_percent", "incidents", "downtime_seconds", "checks",
                                    "failed_checks")}})
