"""Heartbeat monitors: late → down (incident, alert), ping → up (recovery)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from crm import clock
from crm.extensions import db
from crm.monitoring.engine import jobs
from crm.monitoring.engine.heartbeat import record_ping
from crm.monitoring.models import CheckResult, Flip, Incident
from crm.notifications.models import Notification


def test_never_pinged_is_not_late(make_monitor):
    make_monitor("heartbeat", interval=60, grace_seconds=30, heartbeat_token="tok-new")
    clock.set_offset(timedelta(hours=2))
    assert jobs.check_heartbeats() == 0


def test_late_heartbeat_goes_down_and_ping_recovers(
    make_monitor, make_group, run_jobs, smtp_server
):
    group = make_group("ops", emails=["ops@example.com"])
    m = make_monitor(
        "heartbeat",
        name="Nightly backup",
        interval=60,
        grace_seconds=30,
        heartbeat_token="tok-1",
        contact_group=group,
    )
    assert record_ping("tok-1").id == m.id
    assert record_ping("unknown") is None
    db.session.refresh(m)
    assert m.status == "up" and m.last_ping_at is not None

    clock.set_offset(timedelta(seconds=80))  # within interval + grace
    assert jobs.check_heartbeats() == 0
    clock.set_offset(timedelta(seconds=95))
    assert jobs.check_heartbeats() == 1
    assert jobs.check_heartbeats() == 0  # already down: not again
    db.session.refresh(m)
    assert m.status == "down" and "no ping since" in m.last_error
    incident = db.session.scalar(select(Incident))
    assert incident.closed_at is None
    run_jobs()
    smtp_server.wait_for(lambda msgs: any("[DOWN] Nightly backup" in x["Subject"] for x in msgs))

    clock.set_offset(timedelta(seconds=200))
    record_ping("tok-1")
    db.session.refresh(m)
    db.session.refresh(incident)
    assert (
        m.status == "up"
        and incident.closed_at is not None
        and 100 <= incident.duration_seconds <= 110
    )
    flips = [
        (f.old_status, f.new_status) for f in db.session.scalars(select(Flip).order_by(Flip.id))
    ]
    assert flips == [("pending", "up"), ("up", "down"), ("down", "up")]
    assert db.session.scalar(select(func.count(CheckResult.id))) == 3
    run_jobs()
    smtp_server.wait_for(
        lambda msgs: any(x["Subject"].startswith("[UP] Nightly backup") for x in msgs)
    )
    assert db.session.scalar(select(func.count(Notification.id))) == 2


def test_paused_heartbeat_notes_ping_only(make_monitor):
    m = make_monitor("heartbeat", interval=60, heartbeat_token="tok-p", paused=True)
    record_ping("tok-p")
    db.session.refresh(m)
    assert m.last_ping_at is not None
    assert db.session.scalar(select(func.count(CheckResult.id))) == 0
    clock.set_offset(timedelta(hours=1))
    assert jobs.check_heartbeats() == 0
