"""Health-report rules beside the end-to-end test: periods and their labels at year and
month ends, which reports are due on which day, the sweeper that re-queues lost or stuck
reports, a failed report asked for again, which monitors a report covers, ongoing incidents,
a generation that fails (no PDF renderer) recorded on the row, and the console's downloads
and subscriptions."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm import clock
from crm.errors import ServiceError
from crm.extensions import db
from crm.monitoring import reports
from crm.monitoring.models import ContactGroup, HealthReport, Incident, Monitor
from crm.queue import get_queue


def _at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.only_backend("sqlite")  # no database
def test_periods_labels_and_due_days():
    assert reports.period_bounds("weekly", _at(2026, 1, 1).date()) == (
        _at(2025, 12, 29), _at(2026, 1, 5))  # ISO week 1 of 2026 starts in 2025
    assert reports.period_bounds("monthly", _at(2024, 2, 29).date()) == (
        _at(2024, 2, 1), _at(2024, 3, 1))
    assert reports.period_bounds("monthly", _at(2025, 12, 31).date()) == (
        _at(2025, 12, 1), _at(2026, 1, 1))
    with pytest.raises(ValueError, match="unknown report period"):
        reports.period_bounds("hourly", _at(2025, 1, 1).date())
    assert reports.last_complete_period("monthly", _at(2026, 1, 1, 0, 5)) == (
        _at(2025, 12, 1), _at(2026, 1, 1))
    assert reports.last_complete_period("daily", _at(2026, 3, 1, 23)) == (
        _at(2026, 2, 28), _at(2026, 3, 1))

    assert reports.period_label("daily", _at(2026, 11, 21), _at(2026, 11, 22)) == "2026-11-21"
    assert reports.period_label("weekly", _at(2025, 12, 29), _at(2026, 1, 5)) == \
        "week 1 of 2026 (2025-12-29 – 2026-01-04)"
    assert reports.period_label("monthly", _at(2026, 11, 1), _at(2026, 12, 1)) == "November 2026"

    assert reports.reports_due(_at(2025, 9, 3, 1)) == [("daily", _at(2025, 9, 2))]
    assert reports.reports_due(_at(2025, 9, 8, 1)) == [("daily", _at(2025, 9, 7)),
                                                       ("weekly", _at(2025, 9, 1))]
    assert reports.reports_due(_at(2025, 9, 1, 1)) == [  # a Monday the 1st: all three
        ("daily", _at(2025, 8, 31)), ("weekly", _at(2025, 8, 25)), ("monthly", _at(2025, 8, 1))]


@pytest.mark.only_backend("sqlite")
def test_durations_read_like_a_person_wrote_them():
    assert [reports._fmt_duration(s) for s in (None, 0, 59, 60, 3599, 3600, 86_399)] == [
        "ongoing", "0 s", "59 s", "1 min 00 s", "59 min 59 s", "1 h 00 min", "23 h 59 min"]


def _group(name: str = "Ops", periods=()) -> ContactGroup:
    group = ContactGroup(name=name, report_periods=list(periods))
    db.session.add(group)
    db.session.commit()
    return group


def _queued_report_ids() -> list[int]:
    return [job.args[0] for job in get_queue().get_jobs() if job.func_name == reports.GENERATE_JOB]


def test_requests_sweeper_and_retries(app):
    group = _group(periods=["daily"])
    with pytest.raises(ServiceError, match="Unknown period") as refusal:
        reports.request_report(group, "hourly")
    assert (refusal.value.status, refusal.value.field) == (422, "period")

    # a failed report asked for again is queued again, its error cleared
    failed = reports.request_report(group, "weekly")
    failed.status, failed.error, failed.progress = "failed", "OSError: boom", 100
    db.session.commit()
    again = reports.request_report(group, "weekly")
    assert again.id == failed.id and (again.status, again.error, again.progress) == (
        "queued", None, 0)
    assert _queued_report_ids() == [failed.id, failed.id]

    # the sweeper: today's due daily report once, and stuck reports enqueued again
    get_queue().empty()
    assert reports.due_reports() == 1
    assert reports.due_reports() == 0
    daily = db.session.scalar(db.select(HealthReport).where(HealthReport.period == "daily"))
    assert _queued_report_ids() == [daily.id]
    get_queue().empty()
    clock.set_offset(timedelta(minutes=11))
    daily.status = "running"
    db.session.commit()
    assert reports.due_reports() == 0
    assert _queued_report_ids() == [failed.id]  # queued 11 min ago; running is stale at 30
    get_queue().empty()
    clock.set_offset(timedelta(minutes=31))
    reports.due_reports()
    assert sorted(_queued_report_ids()) == sorted([failed.id, daily.id])


def test_a_report_covers_the_groups_monitors_or_else_all_and_lists_ongoing_incidents(app):
    ops, board = _group("Ops"), _group("Board")
    now = clock.utcnow()
    alerting = Monitor(name="B shop", type="http", config={}, contact_group_id=ops.id)
    escalating = Monitor(name="A api", type="http", config={}, escalation_group_id=ops.id)
    other = Monitor(name="C mail", type="smtp", config={})
    db.session.add_all([alerting, escalating, other])
    db.session.flush()
    db.session.add(Incident(monitor_id=alerting.id, opened_at=now - timedelta(hours=2),
                            cause="HTTP 503"))
    db.session.commit()
    assert [m.name for m in reports.report_monitors(ops.id)] == ["A api", "B shop"]
    assert [m.name for m in reports.report_monitors(board.id)] == ["A api", "B shop", "C mail"]
    assert [m.name for m in reports.report_monitors(None)] == ["A api", "B shop", "C mail"]

    figures = reports.monitor_figures(alerting, now - timedelta(days=1), now)
    assert figures["incidents"] == [{
        "opened_at": (now - timedelta(hours=2)).strftime("%Y-%m-%d %H:%M UTC"), "closed_at": "",
        "duration_seconds": None, "duration_label": "ongoing", "cause": "HTTP 503",
        "in_maintenance": False}]
    quiet = reports.monitor_figures(other, now - timedelta(days=1), now)
    assert (quiet["incidents"], quiet["avg_label"], quiet["p95_label"]) == ([], "—", "—")


def test_a_generation_that_fails_is_recorded_and_a_done_one_is_not_redone(app):
    group = _group()
    report = reports.request_report(group, "daily")
    app.config["WKHTMLTOPDF"], saved = "/nonexistent/wkhtmltopdf", app.config["WKHTMLTOPDF"]
    try:
        assert reports.generate_report(report.id) == "failed"
    finally:
        app.config["WKHTMLTOPDF"] = saved
    db.session.expire_all()
    failed = db.session.get(HealthReport, report.id)
    assert (failed.status, failed.progress, failed.stage) == ("failed", 100, "Failed")
    assert failed.error and failed.finished_at is not None and failed.pdf is None
    assert reports.generate_report(report.id) == "skipped"  # failed: only a request requeues
    failed.status = "done"
    db.session.commit()
    assert reports.generate_report(report.id) == "skipped"


def test_console_downloads_wait_for_the_report_and_subscriptions_refuse_unknown_periods(
        app, login_as):
    group = _group("Ops", periods=["daily"])
    report = reports.request_report(group, "daily")
    manager = login_as("manager")
    for suffix, words in ((".pdf", "no PDF yet"), (".html", "no HTML yet")):
        resp = manager.get(f"/reports/{report.id}{suffix}")
        assert resp.status_code == 404 and words in resp.get_data(as_text=True), suffix
    report.status, report.html, report.pdf = "done", "<p>Uptime 99.9 %</p>", b"%PDF-1.4\n"
    db.session.commit()
    preview = manager.get(f"/reports/{report.id}.html")
    assert preview.status_code == 200 and preview.get_data(as_text=True) == "<p>Uptime 99.9 %</p>"
    policy = preview.headers["Content-Security-Policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy  # no script, no fetches
    download = manager.get(f"/reports/{report.id}.pdf")
    assert download.mimetype == "application/pdf" and download.data == b"%PDF-1.4\n"
    assert download.headers["Content-Disposition"] == (
        f'attachment; filename="{reports.pdf_filename(report)}"')

    resp = manager.post("/reports/subscriptions", data={f"periods-{group.id}-weekly": "y",
                                                        f"periods-{group.id}-hourly": "y"})
    assert resp.status_code == 422
    assert "Ops: unknown period 'hourly'; choose daily, weekly or monthly." in resp.get_data(
        as_text=True).replace("&#39;", "'")
    db.session.expire_all()
    assert db.session.get(ContactGroup, group.id).report_periods == ["daily"]
    assert manager.post("/reports/subscriptions",
                        data={f"periods-{group.id}-weekly": "y"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(ContactGroup, group.id).report_periods == ["weekly"]
