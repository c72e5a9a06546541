"""Health reports: figures from prepared rollups and incidents, a real PDF (wkhtmltopdf,
read back with pdftotext), progress to 100, the email with the PDF attached through the real
SMTP server, an admin-edited email template used for both, idempotent scheduling, and the
console pages."""
from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from crm import clock
from crm.extensions import db
from crm.monitoring import reports
from crm.monitoring.models import (
    DAY,
    Contact,
    ContactGroup,
    HealthReport,
    Incident,
    Monitor,
    Rollup,
)
from crm.notifications.models import EmailTemplate, Notification

RECIPIENT = "ops-reports@example.com"


@pytest.fixture
def prepared(app):
    """A group with an email contact, its monitor, yesterday's day rollup and one 864 s
    incident yesterday (uptime 1 − 864/86400 = 99.000 %)."""
    now = clock.utcnow()
    yesterday = (now - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    group = ContactGroup(name="Ops", report_periods=["daily"])
    group.contacts.append(Contact(email=RECIPIENT))
    group.contacts.append(Contact(phone="+15555550100"))
    db.session.add(group)
    db.session.flush()
    monitor = Monitor(name="Shop front", type="http", config={"url": "http://shop.example/"},
                      contact_group_id=group.id, created_at=now - timedelta(days=30))
    db.session.add(monitor)
    db.session.flush()
    histogram = [0] * 23
    histogram[6] = 1000  # ≤ 100 ms
    histogram[9] = 426  # ≤ 300 ms
    db.session.add(
        Rollup(
            monitor_id=monitor.id,
            period=DAY,
            bucket_start=yesterday,
            count_up=1430,
            count_down=10,
            errors=4,
            sum_ms=1426 * 120.0,
            min_ms=20,
            max_ms=290,
            histogram=histogram,
            status_codes={"200": 1430, "500": 6},
            protocol="http",
        )
    )
    opened = yesterday + timedelta(hours=10)
    db.session.add(
        Incident(
            monitor_id=monitor.id,
            opened_at=opened,
            closed_at=opened + timedelta(seconds=864),
            duration_seconds=864,
            cause="HTTP 500",
        )
    )
    db.session.commit()
    return group, monitor


def _pdf_text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def test_report_pdf_has_the_figures_and_is_emailed_with_the_pdf_attached(
    prepared, run_jobs, smtp_server, tmp_path
):
    group, monitor = prepared
    report = reports.request_report(group, "daily")
    assert report.status == "queued" and report.progress == 0

    run_jobs()  # generate_report, then the outbox send job it queued
    run_jobs()

    report = db.session.get(HealthReport, report.id, populate_existing=True)
    assert report.status == "done", report.error
    assert report.progress == 100
    assert report.pdf.startswith(b"%PDF-")
    text = _pdf_text(report.pdf, tmp_path)
    assert "Shop front" in text
    assert "99.000 %" in text  # uptime
    assert "14 min 24 s" in text  # the incident's duration
    assert "≤ 300 ms" in text  # p95 from the histogram
    assert "HTTP 500" in text

    msg = smtp_server.wait_for(
        lambda msgs: next((m for m in msgs if RECIPIENT in m["_rcpt"]), None)
    )
    assert "99.000 %" in msg["Subject"]
    attachments = list(msg.iter_attachments())
    assert len(attachments) == 1
    assert attachments[0].get_content_type() == "application/pdf"
    assert attachments[0].get_filename() == reports.pdf_filename(report)
    assert attachments[0].get_content().startswith(b"%PDF-")
    note = db.session.scalar(select(Notification).where(Notification.template == "health_report"))
    assert note.to == [RECIPIENT] and note.status == "sent"


def test_admin_edit_of_the_health_report_template_shows_in_the_email_and_the_pdf(
    prepared, make_user, login, client, run_jobs, smtp_server, tmp_path
):
    group, _ = prepared
    login(make_user("admin"))
    resp = client.post(
        "/admin/email-templates/health_report",
        data={
            "subject": "Edited health report for {{ report.group_name }}: "
            "{{ report.uptime_label }}",
            "body_text": "Edited text part.\n{% for m in report.monitors %}Service {{ m.name }} "
            "stayed up {{ m.uptime_label }}\n{% endfor %}",
            "body_html": "<h1>Edited report for {{ report.group_name }}</h1>"
            "{% for m in report.monitors %}<p>Service {{ m.name }} stayed up "
            "{{ m.uptime_label }}</p>"
            "{% for i in m.incidents %}<p>Outage lasting {{ i.duration_label }}</p>{% endfor %}"
            "{% endfor %}",
            "save": "Save template",
        },
    )
    assert resp.status_code == 302
    assert (
        db.session.scalar(select(EmailTemplate).where(EmailTemplate.name == "health_report"))
        is not None
    )

    report = reports.request_report(group, "daily")
    run_jobs()  # generate_report, then the outbox send job it queued
    run_jobs()

    report = db.session.get(HealthReport, report.id, populate_existing=True)
    assert report.status == "done", report.error
    text = _pdf_text(report.pdf, tmp_path)
    assert "Edited report for Ops" in text
    assert "Service Shop front stayed up 99.000 %" in text
    assert "Outage lasting 14 min 24 s" in text
    assert "Checks that did not respond" not in text  # the built-in layout is not used

    msg = smtp_server.wait_for(
        lambda msgs: next(
            (m for m in msgs if RECIPIENT in m["_rcpt"] and m["Subject"].startswith("Edited")), None
        )
    )
    assert msg["Subject"] == "Edited health report for Ops: 99.000 %"
    plain = msg.get_body(preferencelist=("plain",)).get_content()
    assert "Edited text part." in plain and "Service Shop front stayed up 99.000 %" in plain
    assert "Edited report for Ops" in msg.get_body(preferencelist=("html",)).get_content()
    [attachment] = list(msg.iter_attachments())
    assert "Edited report for Ops" in _pdf_text(attachment.get_content(), tmp_path)


def test_request_report_is_idempotent_per_group_period_and_start(prepared):
    group, _ = prepared
    first = reports.request_report(group, "weekly")
    again = reports.request_report(group, "weekly")
    assert first.id == again.id
    assert db.session.scalar(select(func.count(HealthReport.id))) == 1
    start, end = first.period_start, first.period_end
    assert start.weekday() == 0 and end - start == timedelta(days=7)
    assert end <= clock.utcnow()


def test_periods_are_utc_days_iso_weeks_and_calendar_months():
    day = datetime(2027, 2, 3).date()
    assert reports.period_bounds("daily", day) == (
        datetime(2027, 2, 3, tzinfo=UTC),
        datetime(2027, 2, 4, tzinfo=UTC),
    )
    assert reports.period_bounds("weekly", day) == (
        datetime(2027, 2, 1, tzinfo=UTC),
        datetime(2027, 2, 8, tzinfo=UTC),
    )
    assert reports.period_bounds("monthly", day) == (
        datetime(2027, 2, 1, tzinfo=UTC),
        datetime(2027, 3, 1, tzinfo=UTC),
    )
    dec = datetime(2026, 12, 31).date()
    assert reports.period_bounds("monthly", dec)[1] == datetime(2027, 1, 1, tzinfo=UTC)


def test_scheduler_requests_the_due_periods_once(app):
    daily = ContactGroup(name="Daily only", report_periods=["daily"])
    everything = ContactGroup(name="Everything", report_periods=["daily", "weekly", "monthly"])
    nothing = ContactGroup(name="Nothing", report_periods=[])
    db.session.add_all([daily, everything, nothing])
    db.session.commit()
    # Monday 1 February 2027, 00:20 UTC: yesterday's daily, last week's and January's
    # reports are due
    clock.set_offset(datetime(2027, 2, 1, 0, 20, tzinfo=UTC) - datetime.now(UTC))

    assert reports.due_reports() == 4
    assert reports.due_reports() == 0  # idempotent: nothing new on the next run

    got = {
        (r.group.name, r.period, r.period_start) for r in db.session.scalars(select(HealthReport))
    }
    assert got == {
        ("Daily only", "daily", datetime(2027, 1, 31, tzinfo=UTC)),
        ("Everything", "daily", datetime(2027, 1, 31, tzinfo=UTC)),
        ("Everything", "weekly", datetime(2027, 1, 25, tzinfo=UTC)),
        ("Everything", "monthly", datetime(2027, 1, 1, tzinfo=UTC)),
    }
    # a report whose enqueue was lost (Redis down) is enqueued again once stale
    from crm.queue import get_queue

    get_queue().empty()
    clock.set_offset(datetime(2027, 2, 1, 0, 45, tzinfo=UTC) - datetime.now(UTC))
    assert reports.due_reports() == 0
    assert get_queue().count == 4
    # Tuesday: only the daily reports
    clock.set_offset(datetime(2027, 2, 2, 3, 0, tzinfo=UTC) - datetime.now(UTC))
    assert reports.due_reports() == 2


def test_console_generate_now_shows_progress_until_done_then_downloads(
    prepared, make_user, login, client, run_jobs
):
    group, _ = prepared
    login(make_user("manager"))
    resp = client.post("/reports/generate", data={"group": group.id, "period": "daily"})
    assert resp.status_code == 302
    report_id = int(resp.headers["Location"].rstrip("/").rsplit("/", 1)[1])

    fragment = client.get(f"/reports/{report_id}", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in body and "<progress" in body and 'value="0"' in body

    run_jobs()
    body = client.get(f"/reports/{report_id}", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "hx-trigger" not in body and 'value="100"' in body and "Download PDF" in body

    pdf = client.get(f"/reports/{report_id}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.headers["Content-Disposition"].startswith("attachment;")
    assert pdf.data.startswith(b"%PDF-")
    preview = client.get(f"/reports/{report_id}.html")
    assert "Shop front" in preview.get_data(as_text=True)
    assert "default-src 'none'" in preview.headers["Content-Security-Policy"]
    assert "sandbox" in preview.headers["Content-Security-Policy"]
    listing = client.get("/reports/").get_data(as_text=True)
    assert f"/reports/{report_id}.pdf" in listing


def test_console_generate_refuses_bad_input(prepared, make_user, login, client):
    group, _ = prepared
    login(make_user("admin"))
    resp = client.post("/reports/generate", data={"group": group.id, "period": "hourly"})
    assert resp.status_code == 422 and "Not a valid choice" in resp.get_data(as_text=True)
    future = (clock.utcnow() + timedelta(days=3)).date().isoformat()
    resp = client.post(
        "/reports/generate", data={"group": group.id, "period": "daily", "day": future}
    )
    assert resp.status_code == 422 and "not in the future" in resp.get_data(as_text=True)
    today = clock.utcnow().date().isoformat()
    resp = client.post(
        "/reports/generate", data={"group": group.id, "period": "weekly", "day": today}
    )
    assert resp.status_code == 422 and "has not ended yet" in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count(HealthReport.id))) == 0


def test_report_subscriptions_are_edited_by_managers_only(prepared, make_user, login, client):
    group, _ = prepared
    login(make_user("manager"))
    resp = client.post(
        "/reports/subscriptions",
        data={f"periods-{group.id}-weekly": "on", f"periods-{group.id}-monthly": "on"},
    )
    assert resp.status_code == 302
    assert db.session.get(ContactGroup, group.id, populate_existing=True).report_periods == [
        "weekly",
        "monthly",
    ]
    resp = client.post("/reports/subscriptions", data={f"periods-{group.id}-hourly": "on"})
    assert resp.status_code == 422 and "unknown period" in resp.get_data(as_text=True)

    other = make_user("engineer")
    client.post("/auth/logout")
    login(other)
    assert client.get("/reports/subscriptions").status_code == 403
    assert client.get("/reports/").status_code == 403
