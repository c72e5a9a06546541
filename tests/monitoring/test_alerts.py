"""Alerts through the outbox: down and recovery emails over real SMTP, SMS rows, reminders,
escalation — each exactly once, written by subscribers of the monitoring events in the
transaction that recorded the result."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm import clock, events
from crm.extensions import db
from crm.monitoring import alerts
from crm.monitoring.alerts import human_duration
from crm.monitoring.engine import incidents, jobs, results
from crm.monitoring.engine.checks import CheckOutcome
from crm.monitoring.models import DOWN, CheckResult, Flip, Incident
from crm.notifications.models import Notification, SmsMessage
from tests.monitoring.peers import Route


def test_human_duration():
    assert human_duration(42) == "42 seconds"
    assert human_duration(61) == "1 minute 1 second"
    assert human_duration(3725) == "1 hour 2 minutes"
    assert human_duration(2 * 86400 + 7200) == "2 days 2 hours"


def test_down_alert_then_recovery_with_downtime_by_email_and_sms(
        http_peer, make_monitor, make_group, run_jobs, smtp_server):
    group = make_group("ops", emails=["oncall@example.com"], phones=["+447700900123"])
    http_peer.routes["/shop"] = Route(503, "down")
    m = make_monitor(
        "http", name="Shop", url=http_peer.url("/shop"), retries=2, contact_group=group
    )
    jobs.run_checks([m.id])
    run_jobs()
    assert db.session.scalar(select(func.count(Notification.id))) == 0  # not confirmed yet

    jobs.run_checks([m.id])
    run_jobs()
    down_mail = smtp_server.wait_for(lambda msgs: [x for x in msgs if "[DOWN]" in x["Subject"]])[0]
    assert "oncall@example.com" in down_mail["_rcpt"] and "Shop" in down_mail["Subject"]
    assert "status 503" in down_mail.get_body(("plain",)).get_content()
    sms = db.session.scalars(select(SmsMessage)).all()
    assert [(s.to, s.body.startswith("DOWN: Shop")) for s in sms] == [("+447700900123", True)]

    jobs.run_checks([m.id])  # still down: nothing more is queued
    run_jobs()
    assert db.session.scalar(select(func.count(Notification.id))) == 2

    http_peer.routes["/shop"] = Route(200, "ok")
    clock.set_offset(timedelta(minutes=7, seconds=5))
    jobs.run_checks([m.id])
    run_jobs()
    up_mail = smtp_server.wait_for(lambda msgs: [x for x in msgs if "[UP]" in x["Subject"]])[0]
    text = up_mail.get_body(("plain",)).get_content()
    assert "7 minutes" in up_mail["Subject"] and "down for 7 minutes" in text
    up_sms = db.session.scalar(select(SmsMessage).where(SmsMessage.body.like("UP:%")))
    assert up_sms.to == "+447700900123" and "7 minutes" in up_sms.body
    assert len(smtp_server.messages) == 2


def test_reminders_and_escalation_once_each(
    http_peer, make_monitor, make_group, run_jobs, smtp_server
):
    ops = make_group("ops", emails=["ops@example.com"])
    bosses = make_group("bosses", emails=["boss@example.com"], phones=["+447700900999"])
    http_peer.routes["/api"] = Route(500, "err")
    m = make_monitor(
        "http",
        url=http_peer.url("/api"),
        contact_group=ops,
        escalation_group=bosses,
        remind_every_minutes=10,
        escalate_after_minutes=15,
    )
    jobs.run_checks([m.id])
    assert jobs.incident_followups() == {"reminders": 0, "escalations": 0}

    clock.set_offset(timedelta(minutes=11))
    assert jobs.incident_followups() == {"reminders": 1, "escalations": 0}
    assert jobs.incident_followups() == {"reminders": 0, "escalations": 0}  # not twice

    clock.set_offset(timedelta(minutes=16))
    assert jobs.incident_followups() == {"reminders": 0, "escalations": 1}
    clock.set_offset(timedelta(minutes=22))
    assert jobs.incident_followups() == {"reminders": 1, "escalations": 0}
    run_jobs()
    subjects = smtp_server.wait_for(
        lambda msgs: len(msgs) >= 4 and sorted(x["Subject"].split("]")[0] for x in msgs)
    )
    assert subjects == ["[DOWN", "[ESCALATED", "[STILL DOWN", "[STILL DOWN"]
    assert smtp_server.by_rcpt("boss@example.com")[0]["Subject"].startswith("[ESCALATED]")
    assert db.session.scalar(select(SmsMessage.to)) == "+447700900999"
    incident = db.session.scalar(select(Incident))
    assert incident.escalated_at is not None and incident.last_reminded_at is not None

    http_peer.routes["/api"] = Route(200, "ok")
    jobs.run_checks([m.id])
    run_jobs()
    smtp_server.wait_for(
        lambda msgs: len([x for x in msgs if x["Subject"].startswith("[UP]")]) == 2
    )
    assert smtp_server.by_rcpt("boss@example.com")[-1]["Subject"].startswith("[UP]")


def test_monitor_without_contacts_opens_incident_without_alerts(http_peer, make_monitor):
    http_peer.routes["/n"] = Route(500, "err")
    m = make_monitor("http", url=http_peer.url("/n"))
    jobs.run_checks([m.id])
    assert db.session.scalar(select(func.count(Incident.id))) == 1
    assert db.session.scalar(select(func.count(Notification.id))) == 0
    assert alerts.recipients(None) == ([], [])


@pytest.fixture
def failing_subscriber():
    """Register an in-transaction subscriber of ``monitor.down`` that records how many outbox
    rows the transaction held when it ran, then raises (the whole recording must roll back)."""
    seen: list[int] = []

    def boom(ev: events.DomainEvent) -> None:
        seen.append(db.session.scalar(select(func.count(Notification.id))))
        raise RuntimeError("subscriber failed")

    events.in_transaction("monitor.down")(boom)
    yield seen
    events._in_tx["monitor.down"].remove(boom)


def test_alerts_roll_back_with_the_result_recording(make_monitor, make_group, failing_subscriber):
    group = make_group("ops", emails=["ops@example.com"], phones=["+447700900123"])
    m = make_monitor("http", url="http://127.0.0.1:9/x", retries=1, contact_group=group)
    with pytest.raises(RuntimeError, match="subscriber failed"):
        results.record_outcomes([(m.id, CheckOutcome(DOWN, error="connection refused"))])
    db.session.rollback()
    # the alert subscriber had queued the mail and the SMS in that very transaction ...
    assert failing_subscriber == [2]
    # ... and they went with it: no result, no incident, no flip, no outbox row
    assert db.session.scalar(select(func.count(CheckResult.id))) == 0
    assert db.session.scalar(select(func.count(Incident.id))) == 0
    assert db.session.scalar(select(func.count(Flip.id))) == 0
    assert db.session.scalar(select(func.count(Notification.id))) == 0
    assert db.session.scalar(select(func.count(SmsMessage.id))) == 0


def test_escalation_is_published_and_handled(make_monitor, make_group):
    ops = make_group("ops", emails=["ops@example.com"])
    bosses = make_group("bosses", emails=["boss@example.com"])
    m = make_monitor(
        "http",
        url="http://127.0.0.1:9/x",
        contact_group=ops,
        escalation_group=bosses,
        escalate_after_minutes=15,
    )
    results.record_outcomes([(m.id, CheckOutcome(DOWN, error="connection refused"))])
    seen: list[events.DomainEvent] = []
    events.after_commit("monitor.escalated")(seen.append)
    try:
        clock.set_offset(timedelta(minutes=16))
        assert incidents.incident_followups() == {"reminders": 0, "escalations": 1}
    finally:
        events._after["monitor.escalated"].remove(seen.append)
    incident = db.session.scalar(select(Incident))
    assert [(e.name, e.payload) for e in seen] == [
        ("monitor.escalated", {"monitor_id": m.id, "incident_id": incident.id})
    ]
    escalation = db.session.scalar(
        select(Notification).where(Notification.event == "monitor.escalation")
    )
    assert escalation is not None and escalation.to == ["boss@example.com"]


def test_alerts_answer_the_events_whoever_publishes_them(make_monitor, make_group):
    group = make_group("ops", emails=["ops@example.com"])
    m = make_monitor("http", url="http://127.0.0.1:9/x", contact_group=group)
    incident = incidents.open_incident(m.id, clock.utcnow(), "by hand")
    events.publish(db.session, "monitor.down", monitor_id=m.id, incident_id=incident.id)
    db.session.commit()
    incidents.close_incident(incident, clock.utcnow())
    events.publish(db.session, "monitor.up", monitor_id=m.id, incident_id=incident.id)
    db.session.commit()
    sent = db.session.execute(
        select(Notification.event, Notification.to).order_by(Notification.id)
    ).all()
    assert [(e, list(to)) for e, to in sent] == [
        ("monitor.down", ["ops@example.com"]),
        ("monitor.up", ["ops@example.com"]),
    ]
