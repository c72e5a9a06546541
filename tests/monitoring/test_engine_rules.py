"""Engine edge cases: which monitors the scheduler claims (paused, heartbeat, never
scheduled, bounded sessions, limits), how ticks chunk their jobs, the session mark and the lag
statistics in Redis, incident follow-ups that must not happen (paused, in maintenance, no
escalation group), and heartbeats that are not late or are down already.

The clock is :mod:`crm.clock` (offsets), never the wall clock."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm import clock
from crm.extensions import db
from crm.monitoring.engine import heartbeat, incidents, jobs, results, scheduler
from crm.monitoring.engine.checks.base import DOWN, CheckOutcome
from crm.monitoring.models import CheckResult, Incident, MaintenanceWindow, Monitor
from crm.queue import MONITORING, get_queue


def _due(make_monitor, minutes_ago: float = 1, type_: str = "tcp", **fields) -> Monitor:
    """A monitor due ``minutes_ago`` minutes ago (a TCP check of a closed port by default)."""
    fields.setdefault("host", "127.0.0.1")
    fields.setdefault("port", 9)
    return make_monitor(type_, next_check_at=clock.utcnow() - timedelta(minutes=minutes_ago),
                        **fields)


def _queued_chunks() -> list[tuple[list[int], str]]:
    queue = get_queue(MONITORING)
    return [(list(job.args[0]), job.args[1]) for job in queue.get_jobs()
            if job.func_name == scheduler.RUN_JOB]


# ---------------------------------------------------------------- claiming

def test_which_monitors_are_claimed(app, make_monitor):
    """Unpaused, scheduled, due, not heartbeats; a bounded claim only checks that fit."""
    due = _due(make_monitor)
    _due(make_monitor, paused=True)
    _due(make_monitor, type_="heartbeat", grace_seconds=60)
    make_monitor("tcp", host="127.0.0.1", port=9)  # never scheduled
    _due(make_monitor, minutes_ago=-5)  # due in five minutes
    quick = _due(make_monitor, timeout=2)
    _due(make_monitor, timeout=30)
    _due(make_monitor, type_="synthetic", timeout=2, steps=[])
    now = clock.utcnow()
    bound = 2 + scheduler.SAFETY_MARGIN_SECONDS  # a draining session: checks that fit only
    assert {mid for mid, _ in scheduler.claim_due(now, max_seconds=bound)} == {due.id, quick.id}
    assert len(scheduler.claim_due(now)) == 2  # unbounded: the slow and the synthetic one
    assert scheduler.claim_due(now) == []  # each claimed once


def test_claims_go_oldest_first_up_to_the_limit_and_keep_the_phase(app, make_monitor):
    on_time = _due(make_monitor, minutes_ago=0.5, interval=60)
    behind = _due(make_monitor, minutes_ago=10, interval=60)
    middle = _due(make_monitor, minutes_ago=5, interval=60)
    now = clock.utcnow()
    claimed = scheduler.claim_due(now, limit=2)
    assert [mid for mid, _ in claimed] == [behind.id, middle.id]
    due_times = dict(claimed + scheduler.claim_due(now))
    db.session.expire_all()
    assert db.session.get(Monitor, on_time.id).next_check_at == \
        due_times[on_time.id] + timedelta(seconds=60)  # one interval on: the phase is kept
    assert db.session.get(Monitor, behind.id).next_check_at == now + timedelta(seconds=60)


def test_tick_enqueues_chunks_each_with_its_earliest_due_time(app, make_monitor):
    monitors = [_due(make_monitor, minutes_ago=m) for m in (5, 4, 3, 2, 1)]
    due = [m.next_check_at.isoformat() for m in monitors]
    assert scheduler.tick(chunk_size=2) == {"claimed": 5, "jobs": 3}
    assert _queued_chunks() == [([monitors[0].id, monitors[1].id], due[0]),
                                ([monitors[2].id, monitors[3].id], due[2]),
                                ([monitors[4].id], due[4])]
    assert jobs.tick() == {"claimed": 0, "jobs": 0}


@pytest.mark.only_backend("sqlite")  # configuration only
def test_a_job_timeout_covers_the_session_and_the_longest_check(app):
    app.config["MONITOR_SESSION_SECONDS"] = 120
    try:
        assert scheduler.run_job_timeout() == 120 + scheduler.MAX_CHECK_SECONDS + 60
    finally:
        app.config.pop("MONITOR_SESSION_SECONDS")


# ---------------------------------------------------------------- lag statistics

@pytest.mark.only_backend("sqlite")  # Redis only
def test_lag_statistics(app):
    assert scheduler.lag_stats() == {"p50": None, "p99": None, "max": None, "samples": 0}
    scheduler.record_lag([])
    scheduler.record_lag(0.5)
    scheduler.record_lag([float(n) for n in range(1, 100)])
    stats = scheduler.lag_stats()
    assert stats == {"p50": 49.0, "p99": 98.0, "max": 99.0, "samples": 100}  # nearest rank


def test_run_checks_records_the_lag_of_each_checked_monitor(app, make_monitor, tcp_peer):
    monitors = [make_monitor("tcp", host="127.0.0.1", port=tcp_peer.port) for _ in range(3)]
    paused = make_monitor("tcp", host="127.0.0.1", port=tcp_peer.port, paused=True)
    due_at = (clock.utcnow() - timedelta(seconds=4)).isoformat()
    assert jobs.run_checks([m.id for m in monitors] + [paused.id, 999_999], due_at) == 3
    stats = scheduler.lag_stats()
    assert stats["samples"] == 3 and 4 <= stats["p50"] == stats["max"]
    assert db.session.scalar(select(func.count(CheckResult.id))) == 3


# ---------------------------------------------------------------- incident follow-ups

@pytest.fixture
def down_monitor(make_monitor, make_group):
    """A monitor down since now with reminders every 10 min and escalation after 15 min."""
    def make(**columns) -> Monitor:
        columns.setdefault("contact_group", make_group("ops", emails=["ops@example.com"]))
        columns.setdefault("remind_every_minutes", 10)
        columns.setdefault("escalate_after_minutes", 15)
        monitor = make_monitor("http", url="http://127.0.0.1:9/x", **columns)
        results.record_outcomes([(monitor.id, CheckOutcome(DOWN, error="refused"))])
        return monitor
    return make


def test_no_follow_ups_for_a_paused_monitor(down_monitor, make_group):
    monitor = down_monitor(escalation_group=make_group("bosses", emails=["b@example.com"]))
    monitor.paused = True
    db.session.commit()
    clock.set_offset(timedelta(hours=1))
    assert incidents.incident_followups() == {"reminders": 0, "escalations": 0}
    monitor.paused = False
    db.session.commit()
    assert incidents.incident_followups() == {"reminders": 1, "escalations": 1}


def test_no_follow_ups_while_a_window_covers_the_monitor(down_monitor):
    monitor = down_monitor()
    now = clock.utcnow()
    window = MaintenanceWindow(title="Fix", starts_at=now + timedelta(minutes=5),
                               ends_at=now + timedelta(minutes=30))
    window.monitors = [monitor]
    db.session.add(window)
    db.session.commit()
    clock.set_offset(timedelta(minutes=12))
    assert incidents.incident_followups() == {"reminders": 0, "escalations": 0}
    clock.set_offset(timedelta(minutes=31))
    assert incidents.incident_followups() == {"reminders": 1, "escalations": 0}


def test_no_escalation_without_an_escalation_group_and_no_reminder_unasked(down_monitor):
    down_monitor(remind_every_minutes=None)
    clock.set_offset(timedelta(hours=2))
    assert incidents.incident_followups() == {"reminders": 0, "escalations": 0}
    incident = db.session.scalar(select(Incident))
    assert incident.last_reminded_at is None and incident.escalated_at is None


def test_reminders_repeat_from_the_last_one(down_monitor):
    down_monitor()
    done = []
    for minutes in (9, 10, 15, 19, 20, 31):
        clock.set_offset(timedelta(minutes=minutes))
        done.append(incidents.incident_followups()["reminders"])
    assert done == [0, 1, 0, 0, 1, 1]


def test_incident_helpers(make_monitor):
    monitor = make_monitor("http", url="http://127.0.0.1:9/x")
    assert incidents.open_incidents([]) == {}
    now = clock.utcnow()
    incident = incidents.open_incident(monitor.id, now, "x" * 3000, in_maintenance=True)
    assert len(incident.cause) == 2000 and incident.in_maintenance
    assert incidents.open_incidents([monitor.id, 999_999]) == {monitor.id: incident}
    incidents.close_incident(incident, now - timedelta(seconds=30))  # a late, reordered result
    assert incident.closed_at == now and incident.duration_seconds == 0
    assert incidents.open_incident(monitor.id, now, "").cause is None


# ---------------------------------------------------------------- heartbeats

def test_pings_with_unknown_tokens_record_nothing_and_grace_defaults_to_a_minute(make_monitor):
    tcp = make_monitor("tcp", host="127.0.0.1", port=9, heartbeat_token="tcp-token")
    assert heartbeat.record_ping("") is None
    assert heartbeat.record_ping("no-such-token") is None
    assert heartbeat.record_ping("tcp-token") is None  # not a heartbeat monitor
    db.session.refresh(tcp)
    assert tcp.last_ping_at is None
    assert heartbeat.grace_seconds(make_monitor("heartbeat")) == heartbeat.DEFAULT_GRACE_SECONDS
    assert heartbeat.grace_seconds(make_monitor("heartbeat", grace_seconds=5)) == 5.0


def test_a_heartbeat_is_late_only_after_interval_and_grace_and_goes_down_once(make_monitor):
    beat = make_monitor("heartbeat", interval=300, grace_seconds=30, heartbeat_token="hb-1")
    assert heartbeat.record_ping("hb-1") == beat
    clock.set_offset(timedelta(seconds=320))
    assert heartbeat.check_heartbeats() == 0  # within interval + grace
    clock.set_offset(timedelta(seconds=340))
    assert heartbeat.check_heartbeats() == 1
    db.session.refresh(beat)
    assert beat.status == "down" and "expected every 300 s + 30 s grace" in beat.last_error
    clock.set_offset(timedelta(hours=1))
    assert heartbeat.check_heartbeats() == 0  # down already: one incident, one alert
    assert db.session.scalar(select(func.count(Incident.id))) == 1
    heartbeat.record_ping("hb-1")
    db.session.refresh(beat)
    assert beat.status == "up"
    assert db.session.scalar(select(Incident.closed_at)) is not None


@pytest.mark.only_backend("sqlite")  # queues only
def test_a_session_on_a_worker_of_every_queue_yields_to_work_waiting_in_another(app):
    """A worker that serves only the monitoring queue keeps claiming while mail waits for
    another worker; a single worker of every queue hands itself back to that mail."""
    from rq import SimpleWorker

    from crm.queue import DEFAULT, MONITORING, enqueue, get_queue, redis_conn

    monitoring, default = get_queue(MONITORING), get_queue(DEFAULT)
    enqueue("crm.notifications.jobs.sweep_notifications")  # waits in the default queue
    probe = "crm.monitoring.engine.jobs._other_work_waiting"
    alone = enqueue(probe, queue=MONITORING)
    SimpleWorker([monitoring], connection=redis_conn()).work(burst=True)
    shared = enqueue(probe, queue=MONITORING)
    SimpleWorker([monitoring, default], connection=redis_conn()).work(burst=True)
    assert (alone.return_value(), shared.return_value()) == (False, True)
    assert default.count == 0  # the mail sweep ran on the shared worker afterwards
    scheduler.end_session()
