"""Health reports: daily, weekly and monthly uptime summaries per recipient group, as HTML
and PDF, emailed with the PDF attached.

Figures come only from :class:`~crm.monitoring.models.Rollup` and
:class:`~crm.monitoring.models.Incident` rows, through the engine's
:func:`crm.monitoring.engine.rollups.uptime` — never from raw check results, which are pruned — so a
report of last year costs the same as one of yesterday and matches the dashboards:

* uptime % = 1 − downtime / the period (clipped to the monitor's life), downtime being the
  time covered by confirmed incidents opened outside maintenance; the group's overall figure
  is the mean over its monitors;
* "did not respond" = checks that got no answer at all (``Rollup.errors``);
* response time: mean and p95 from the rollups' log-scale histogram (p95 = upper bound of
  the bucket holding it);
* every incident overlapping the period is listed with its duration.

Which monitors a group's report covers: those alerting the group (``contact_group`` or
``escalation_group``); a group that no monitor alerts (a management list, say) receives the
overview of every monitor.

Periods are UTC and half-open ``[start, end)``: a day; an ISO week (Monday to Monday); a
calendar month. :func:`due_reports` is the periodic job that requests, after midnight UTC,
yesterday's daily report, last week's on Mondays and last month's on the 1st, for every group
subscribed (``ContactGroup.report_periods``); requests are idempotent (one row per group,
period and start: a unique constraint), so running it every few minutes is harmless.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from crm import events
from crm.clock import utcnow
from crm.extensions import db
from crm.monitoring.models import (
    REPORT_DAILY,
    REPORT_DONE,
    REPORT_FAILED,
    REPORT_MONTHLY,
    REPORT_PERIODS,
    REPORT_QUEUED,
    REPORT_RUNNING,
    REPORT_WEEKLY,
    ContactGroup,
    HealthReport,
    Incident,
    Monitor,
)
from crm.workers_app import with_app_context

log = logging.getLogger(__name__)

GENERATE_JOB = "crm.monitoring.reports.generate_report"
EMAIL_TEMPLATE = "health_report"
#: A report still queued / running after this long is enqueued again by :func:`due_reports`.
STALE_QUEUED, STALE_RUNNING = timedelta(minutes=10), timedelta(minutes=30)
PERIOD_LABELS = {REPORT_DAILY: "Daily", REPORT_WEEKLY: "Weekly", REPORT_MONTHLY: "Monthly"}


# ---------------------------------------------------------------- periods

def _midnight(day: date) -> datetime:
    from datetime import UTC
    return datetime.combine(day, time(0), tzinfo=UTC)


def period_bounds(period: str, day: date) -> tuple[datetime, datetime]:
    """The UTC period of kind ``period`` that contains ``day``.

    :param period: ``daily``, ``weekly`` (ISO week, Monday first) or ``monthly``.
    :returns: ``(start, end)``, half-open, timezone-aware UTC.
    :raises ValueError: an unknown period.
    """
    if period == REPORT_DAILY:
        start = day
        end = day + timedelta(days=1)
    elif period == REPORT_WEEKLY:
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    elif period == REPORT_MONTHLY:
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    else:
        raise ValueError(f"unknown report period {period!r}")
    return _midnight(start), _midnight(end)


def last_complete_period(period: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The latest period of kind ``period`` that has ended by ``now`` (default: the clock):
    yesterday, last ISO week, last calendar month.

    :returns: ``(start, end)`` in UTC.
    """
    now = now or utcnow()
    current_start, _ = period_bounds(period, now.date())
    return period_bounds(period, (current_start - timedelta(days=1)).date())


def period_label(period: str, start: datetime, end: datetime) -> str:
    """Human label of a period: ``2026-11-21``, ``week 47 of 2026 (2026-11-16 – 2026-11-22)``,
    ``November 2026``."""
    if period == REPORT_DAILY:
        return start.strftime("%Y-%m-%d")
    if period == REPORT_WEEKLY:
        iso = start.isocalendar()
        last = (end - timedelta(days=1)).strftime("%Y-%m-%d")
        return f"week {iso.week} of {iso.year} ({start:%Y-%m-%d} – {last})"
    return start.strftime("%B %Y")


# ---------------------------------------------------------------- requesting

def request_report(group: ContactGroup, period: str, by=None,
                   period_start: datetime | None = None) -> HealthReport:
    """Create (once) the report of ``group`` for ``period`` and queue its generation.

    Idempotent per (group, period, period_start) — the unique constraint
    ``uq_health_reports_group_period`` decides between concurrent callers. An existing report
    is returned as it is, except a failed one, which is queued again.

    :param period: ``daily``, ``weekly`` or ``monthly``.
    :param by: the requesting user (None for the scheduler).
    :param period_start: any instant inside the wanted period; default the last complete one.
    :returns: the :class:`HealthReport` (committed; generation runs in an RQ job after commit).
    :raises crm.errors.ServiceError: an unknown period (422).
    """
    from crm.errors import ServiceError
    if period not in REPORT_PERIODS:
        raise ServiceError(f"Unknown period: choose one of {', '.join(REPORT_PERIODS)}.",
                           field="period", status=422)
    if period_start is None:
        start, end = last_complete_period(period)
    else:
        start, end = period_bounds(period, period_start.date())
    existing = _find(group.id, period, start)
    if existing is None:
        report = HealthReport(group_id=group.id, period=period, period_start=start, period_end=end,
                              status=REPORT_QUEUED, progress=0, stage="Queued",
                              created_by_id=getattr(by, "id", None), created_at=utcnow())
        db.session.add(report)
        try:
            db.session.flush()
        except IntegrityError:  # another request created it first
            db.session.rollback()
            return _find(group.id, period, start)
        events.publish(db.session, "health_report.requested", report_id=report.id)
        db.session.commit()
        return report
    if existing.status == REPORT_FAILED:
        existing.status, existing.progress = REPORT_QUEUED, 0
        existing.stage, existing.error = "Queued", None
        events.publish(db.session, "health_report.requested", report_id=existing.id)
        db.session.commit()
    return existing


def _find(group_id: int, period: str, start: datetime) -> HealthReport | None:
    return db.session.scalar(
        select(HealthReport).where(
            HealthReport.group_id == group_id,
            HealthReport.period == period,
            HealthReport.period_start == start,
        )
    )


@events.after_commit("health_report.requested")
def _enqueue_after_commit(ev: events.DomainEvent) -> None:
    from crm.queue import enqueue

    enqueue(GENERATE_JOB, ev.payload["report_id"], job_timeout=600)


def reports_due(now: datetime | None = None) -> list[tuple[str, datetime]]:
    """The periods whose reports are due at ``now``: always yesterday's daily report, last
    week's on Mondays, last month's on the 1st (all UTC).

    :returns: ``[(period, period_start)]``.
    """
    now = now or utcnow()
    due = [REPORT_DAILY]
    if now.weekday() == 0:
        due.append(REPORT_WEEKLY)
    if now.day == 1:
        due.append(REPORT_MONTHLY)
    return [(p, last_complete_period(p, now)[0]) for p in due]


@with_app_context
def due_reports() -> int:
    """Periodic job (every 15 minutes, ``crm/schedule.py``): request every report due today
    for every subscribed group. Idempotent: a report already requested is left alone, so the
    interval only bounds how long after midnight UTC reports start.

    Also the sweeper of reports: one still ``queued`` after :data:`STALE_QUEUED` (its enqueue
    was lost, e.g. Redis was down) or ``running`` after :data:`STALE_RUNNING` (its worker
    died) is enqueued again; :func:`generate_report` accepts both states.

    :returns: how many reports were newly created.
    """
    from crm.queue import enqueue

    now = utcnow()
    stale = select(HealthReport.id).where(
        or_(
            (HealthReport.status == REPORT_QUEUED) & (HealthReport.created_at < now - STALE_QUEUED),
            (HealthReport.status == REPORT_RUNNING)
            & (HealthReport.created_at < now - STALE_RUNNING),
        )
    )
    for report_id in db.session.scalars(stale.limit(100)):
        enqueue(GENERATE_JOB, report_id, job_timeout=600)
    created = 0
    for group in db.session.scalars(select(ContactGroup).order_by(ContactGroup.id)):
        for period, start in reports_due():
            if period not in (group.report_periods or []):
                continue
            if _find(group.id, period, start) is None:
                request_report(group, period, period_start=start)
                created += 1
    return created


# ---------------------------------------------------------------- figures


def _fmt_duration(seconds: float | int | None) -> str:
    if seconds is None:
        return "ongoing"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def report_monitors(group_id: int | None) -> list[Monitor]:
    """Monitors a group's report covers (see the module docstring), ordered by name."""
    stmt = select(Monitor).order_by(Monitor.name, Monitor.id)
    if group_id is not None:
        own = list(
            db.session.scalars(
                stmt.where(
                    or_(
                        Monitor.contact_group_id == group_id,
                        Monitor.escalation_group_id == group_id,
                    )
                )
            )
        )
        if own:
            return own
    return list(db.session.scalars(stmt))


def monitor_figures(monitor: Monitor, start: datetime, end: datetime) -> dict:
    """One monitor's figures for ``[start, end)``: :func:`crm.monitoring.engine.rollups.uptime`
    (rollups and incidents only) plus the list of incidents overlapping the period.

    :returns: dict with ``name``, ``type``, ``checks``, ``failed_checks``, ``no_response``,
        ``uptime_percent`` (None for an empty period), ``avg_ms``, ``p95_ms``,
        ``downtime_seconds``, ``incidents`` (list of {opened_at, closed_at, duration_seconds,
        cause, in_maintenance}) and pre-formatted ``*_label`` strings for templates (an
        admin-edited template then needs no number formatting).
    """
    from crm.monitoring.engine.rollups import uptime

    figures = uptime(monitor.id, start, end)
    incidents = []
    for inc in db.session.scalars(
        select(Incident)
        .where(
            Incident.monitor_id == monitor.id,
            Incident.opened_at < end,
            or_(Incident.closed_at.is_(None), Incident.closed_at > start),
        )
        .order_by(Incident.opened_at)
    ):
        incidents.append(
            {
                "opened_at": inc.opened_at.strftime("%Y-%m-%d %H:%M UTC"),
                "closed_at": inc.closed_at.strftime("%Y-%m-%d %H:%M UTC") if inc.closed_at else "",
                "duration_seconds": inc.duration_seconds,
                "duration_label": _fmt_duration(inc.duration_seconds),
                "cause": inc.cause or "",
                "in_maintenance": bool(inc.in_maintenance),
            }
        )
    up_pct, avg, p95 = figures["uptime_percent"], figures["avg_response_ms"], figures["p95_ms"]
    downtime = figures["downtime_seconds"]
    return {
        "id": monitor.id,
        "name": monitor.name,
        "type": monitor.type,
        "checks": figures["checks"],
        "failed_checks": figures["failed_checks"],
        "no_response": figures["errors"],
        "uptime_percent": up_pct,
        "avg_ms": avg,
        "p95_ms": p95,
        "downtime_seconds": downtime,
        "incidents": incidents,
        "uptime_label": f"{up_pct:.3f} %" if up_pct is not None else "no data",
        "avg_label": f"{avg:.0f} ms" if avg is not None else "—",
        "p95_label": f"≤ {p95:.0f} ms" if p95 is not None else "—",
        "downtime_label": _fmt_duration(downtime) if downtime else "none",
    }


def _summary(group: ContactGroup | None, report: HealthReport, monitors: list[dict]) -> dict:
    checks = sum(m["checks"] for m in monitors)
    measured = [m["uptime_percent"] for m in monitors if m["uptime_percent"] is not None]
    uptime = sum(measured) / len(measured) if measured else None
    return {
        "id": report.id,
        "group_name": group.name if group else "(deleted group)",
        "period": report.period,
        "period_title": PERIOD_LABELS[report.period],
        "period_label": period_label(report.period, report.period_start, report.period_end),
        "start": report.period_start.strftime("%Y-%m-%d %H:%M UTC"),
        "end": report.period_end.strftime("%Y-%m-%d %H:%M UTC"),
        "generated_at": utcnow().strftime("%Y-%m-%d %H:%M UTC"),
        "monitors": monitors,
        "monitor_count": len(monitors),
        "checks": checks,
        "incident_count": sum(len(m["incidents"]) for m in monitors),
        "no_response": sum(m["no_response"] for m in monitors),
        "downtime_label": _fmt_duration(sum(m["downtime_seconds"] for m in monitors)),
        "uptime_label": f"{uptime:.3f} %" if uptime is not None else "no data",
    }


# ---------------------------------------------------------------- generation


def _set_progress(report_id: int, progress: int, stage: str, **values) -> None:
    """Record progress and commit (the console polls it from another connection)."""
    db.session.execute(
        update(HealthReport)
        .where(HealthReport.id == report_id)
        .values(progress=progress, stage=stage, **values)
    )
    db.session.commit()


def render_pdf(html: str) -> bytes:
    """Render ``html`` to PDF with wkhtmltopdf (``WKHTMLTOPDF`` config: the binary's path).

    Network access is cut off: every URL is sent through a proxy on the discard port of
    127.0.0.1 (nothing listens, so fetches fail at once), local files may not be read and
    JavaScript is off — an admin-edited template cannot make the worker fetch anything.

    :returns: the PDF bytes (start with ``%PDF-``).
    :raises OSError: wkhtmltopdf missing or failing.
    """
    import shutil

    import pdfkit

    binary = current_app.config["WKHTMLTOPDF"]
    # pdfkit opens the path it is given as a file: resolve a bare command name on PATH first.
    config = pdfkit.configuration(wkhtmltopdf=shutil.which(binary) or binary)
    options = {
        "quiet": "",
        "encoding": "UTF-8",
        "page-size": "A4",
        "disable-javascript": "",
        "disable-local-file-access": "",
        "proxy": "http://127.0.0.1:9",
        "load-error-handling": "ignore",
        "load-media-error-handling": "ignore",
    }
    return pdfkit.from_string(html, False, configuration=config, options=options)


def pdf_filename(report: HealthReport) -> str:
    """``health-report-<period>-<YYYY-MM-DD>-<id>.pdf``."""
    return f"health-report-{report.period}-{report.period_start:%Y-%m-%d}-{report.id}.pdf"


@with_app_context
def generate_report(report_id: int) -> str:
    """RQ job: compute, render (HTML + PDF) and email one health report.

    Updates ``progress`` (0–100) and ``stage`` as it goes. Idempotent: a report already done
    is left alone (no second email); a crash marks it failed with the error, and
    :func:`request_report` may queue it again.

    :param report_id: ``HealthReport.id``.
    :returns: the final status (``done``, ``failed``) or ``skipped``.
    """
    from crm.notifications.services import queue_email, render_email

    claimed = db.session.execute(
        update(HealthReport)
        .where(
            HealthReport.id == report_id, HealthReport.status.in_((REPORT_QUEUED, REPORT_RUNNING))
        )
        .values(status=REPORT_RUNNING, progress=1, stage="Collecting figures")
    )
    db.session.commit()
    if claimed.rowcount != 1:
        return "skipped"
    try:
        report = db.session.get(HealthReport, report_id)
        group = report.group
        monitors = report_monitors(report.group_id)
        figures = []
        for i, monitor in enumerate(monitors, 1):
            figures.append(monitor_figures(monitor, report.period_start, report.period_end))
            if i % 20 == 0 or i == len(monitors):
                _set_progress(
                    report_id,
                    1 + int(59 * i / len(monitors)),
                    f"Collecting figures ({i}/{len(monitors)} monitors)",
                )
        summary = _summary(group, report, figures)
        _set_progress(report_id, 65, "Rendering HTML")
        subject, text, html = render_email(EMAIL_TEMPLATE, report=summary)
        _set_progress(report_id, 75, "Rendering PDF", html=html)
        pdf = render_pdf(html)
        _set_progress(report_id, 90, "Queueing email", pdf=pdf)
        report = db.session.get(HealthReport, report_id)
        recipients = [c.email for c in (group.contacts if group else []) if c.email]
        if recipients:
            queue_email(
                recipients,
                subject,
                text,
                html,
                template=EMAIL_TEMPLATE,
                event="health_report.generated",
                created_by_id=report.created_by_id,
                attachments=[
                    {
                        "filename": pdf_filename(report),
                        "content_type": "application/pdf",
                        "health_report_id": report.id,
                    }
                ],
            )
        report.status, report.progress = REPORT_DONE, 100
        report.stage = (
            f"Done — emailed to {len(recipients)} recipient(s)"
            if recipients
            else "Done — no email recipients"
        )
        report.finished_at = utcnow()
        db.session.commit()
        return REPORT_DONE
    except Exception as exc:  # any failure is recorded on the row for the console
        db.session.rollback()
        log.exception("health report %s failed", report_id)
        _set_progress(
            report_id,
            100,
            "Failed",
            status=REPORT_FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=utcnow(),
        )
        return REPORT_FAILED
