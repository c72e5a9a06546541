"""The engine end to end: results, confirmation with retries, flips, incidents, the due-time
scheduler (claims once, enqueues, records lag) and pruning."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm import clock
from crm.extensions import db
from crm.monitoring.engine import jobs, scheduler
from crm.monitoring.models import CheckResult, Flip, Incident, Monitor, Rollup
from tests.monitoring.peers import Route


def _flips(monitor_id):
    return [(f.old_status, f.new_status) for f in db.session.scalars(
        select(Flip).where(Flip.monitor_id == monitor_id).order_by(Flip.id))]


def test_confirmation_needs_retries_failures_then_incident_and_recovery(http_peer, make_monitor):
    http_peer.routes["/svc"] = Route(500, "boom")
    m = make_monitor("http", url=http_peer.url("/svc"), retries=2)
    jobs.run_checks([m.id])
    db.session.refresh(m)
    assert m.status == "pending" and m.consecutive_failures == 1
    assert db.session.scalar(select(func.count(Incident.id))) == 0
    assert m.last_status_code == 500 and "500" in m.last_error

    jobs.run_checks([m.id])
    db.session.refresh(m)
    assert m.status == "down" and m.consecutive_failures == 2
    incident = db.session.scalar(select(Incident))
    assert incident.closed_at is None and "status 500" in incident.cause
    assert _flips(m.id) == [("pending", "down")]

    jobs.run_checks([m.id])  # still down: no second incident, no second flip
    assert db.session.scalar(select(func.count(Incident.id))) == 1
    assert len(_flips(m.id)) == 1

    http_peer.routes["/svc"] = Route(200, "fine")
    clock.set_offset(timedelta(minutes=3))
    jobs.run_checks([m.id])
    db.session.refresh(m)
    db.session.refresh(incident)
    assert m.status == "up" and m.consecutive_failures == 0
    assert incident.closed_at is not None and 175 <= incident.duration_seconds <= 185
    assert _flips(m.id) == [("pending", "down"), ("down", "up")]
    assert db.session.scalar(select(func.count(CheckResult.id))) == 4


def test_up_flip_and_unconfirmed_blip_keeps_status(http_peer, make_monitor):
    http_peer.routes["/a"] = Route(200, "ok")
    m = make_monitor("http", url=http_peer.url("/a"), retries=3)
    jobs.run_checks([m.id])
    db.session.refresh(m)
    assert m.status == "up" and _flips(m.id) == [("pending", "up")]
    http_peer.routes["/a"] = Route(502, "bad gateway")
    jobs.run_checks([m.id])
    jobs.run_checks([m.id])
    db.session.refresh(m)
    assert m.status == "up" and m.consecutive_failures == 2
    http_peer.routes["/a"] = Route(200, "ok")
    jobs.run_checks([m.id])
    db.session.refresh(m)
    assert m.consecutive_failures == 0 and _flips(m.id) == [("pending", "up")]


def test_batch_records_many_monitors_in_one_go(http_peer, tcp_peer, make_monitor):
    http_peer.routes["/x"] = Route(200, "ok")
    ids = [make_monitor("http", url=http_peer.url("/x")).id for _ in range(10)]
    ids += [make_monitor("tcp", host="127.0.0.1", port=tcp_peer.port).id for _ in range(5)]
    paused = make_monitor("tcp", host="127.0.0.1", port=tcp_peer.port, paused=True)
    assert jobs.run_checks(ids + [paused.id]) == 15
    assert db.session.scalar(select(func.count(CheckResult.id))) == 15
    statuses = set(db.session.scalars(select(Monitor.status).where(Monitor.id.in_(ids))))
    assert statuses == {"up"}


def test_tick_claims_due_monitors_advances_and_enqueues(http_peer, make_monitor, run_jobs):
    http_peer.routes["/t"] = Route(200, "ok")
    now = clock.utcnow()
    due = [make_monitor("http", url=http_peer.url("/t"), interval=60,
                        next_check_at=now - timedelta(seconds=2)) for _ in range(3)]
    later = make_monitor("http", url=http_peer.url("/t"), next_check_at=now + timedelta(minutes=5))
    paused = make_monitor(
        "http", url=http_peer.url("/t"), paused=True, next_check_at=now - timedelta(seconds=1)
    )
    hb = make_monitor(
        "heartbeat", next_check_at=now - timedelta(seconds=1), heartbeat_token="tok-tick"
    )
    result = scheduler.tick(chunk_size=2)
    assert result == {"claimed": 3, "jobs": 2}
    assert scheduler.tick() == {"claimed": 0, "jobs": 0}  # already claimed
    for m in due:
        db.session.refresh(m)
        assert m.next_check_at > now + timedelta(seconds=50)
    from rq import SimpleWorker

    from crm.queue import MONITORING, get_queue, redis_conn

    assert get_queue(MONITORING).count == 2  # check sessions have their own queue
    SimpleWorker([get_queue(MONITORING)], connection=redis_conn()).work(burst=True)
    counts = dict(
        db.session.execute(
            select(CheckResult.monitor_id, func.count()).group_by(CheckResult.monitor_id)
        ).all()
    )
    assert counts == {m.id: 1 for m in due}
    assert later.id not in counts and paused.id not in counts and hb.id not in counts
    stats = scheduler.lag_stats()
    assert (
        stats["samples"] == 3 and 1.5 <= stats["p50"] < 30
    )  # one sample per check and stats["p99"] >= stats["p50"]


def test_next_due_keeps_phase_or_restarts_when_far_behind():
    now = clock.utcnow()
    assert scheduler.next_due(now - timedelta(seconds=10), 60, now) == now + timedelta(seconds=50)
    assert scheduler.next_due(now - timedelta(seconds=600), 60, now) == now + timedelta(seconds=60)


@pytest.mark.only_backend("postgresql")
def test_concurrent_ticks_claim_each_monitor_once(app, make_monitor):
    now = clock.utcnow()
    ids = {
        make_monitor("tcp", host="127.0.0.1", port=1, next_check_at=now - timedelta(seconds=1)).id
        for _ in range(200)
    }
    db.session.remove()
    claims: list[list] = []
    barrier = threading.Barrier(4)

    def claim():
        with app.app_context():
            barrier.wait()
            claims.append([mid for mid, _ in scheduler.claim_due(now)])
            db.session.remove()

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    everything = [mid for claim_ids in claims for mid in claim_ids]
    assert len(everything) == len(set(everything)) == 200
    assert set(everything) == ids


def test_prune_results_keeps_rollups(app, http_peer, make_monitor):
    http_peer.routes["/p"] = Route(200, "ok")
    m = make_monitor("http", url=http_peer.url("/p"))
    clock.set_offset(-timedelta(days=40))
    jobs.run_checks([m.id])
    jobs.run_checks([m.id])
    clock.set_offset(timedelta(0))
    jobs.run_checks([m.id])
    assert db.session.scalar(select(func.count(CheckResult.id))) == 3
    assert jobs.prune_results() == 2
    assert db.session.scalar(select(func.count(CheckResult.id))) == 1
    day_counts = sorted(
        r.count_up for r in db.session.scalars(select(Rollup).where(Rollup.period == "day"))
    )
    assert day_counts == [1, 2]


def test_periodic_jobs_are_registered():
    from crm.schedule import PERIODIC_JOBS

    paths = {path for _, _, path in PERIODIC_JOBS}
    assert {
        "crm.monitoring.engine.jobs.tick",
        "crm.monitoring.engine.jobs.prune_results",
        "crm.monitoring.engine.jobs.check_heartbeats",
        "crm.monitoring.engine.jobs.incident_followups",
    } <= paths


def test_a_hanging_target_does_not_hold_back_monitors_due_while_it_runs(
    app, http_peer, make_monitor
):
    """One job checks a target that hangs for 3 s; a monitor that comes due 1 s into the job is
    claimed and checked by the same job while the slow check is still in flight, not after."""
    app.config["MONITOR_SESSION_SECONDS"] = 20
    http_peer.routes["/hang"] = Route(200, "late", delay=3.0)
    http_peer.routes["/fast"] = Route(200, "ok")
    now = clock.utcnow()
    slow = make_monitor(
        "http", url=http_peer.url("/hang"), timeout=5.0, next_check_at=now + timedelta(hours=1)
    )
    fast = make_monitor(
        "http", url=http_peer.url("/fast"), timeout=2.0, next_check_at=now + timedelta(seconds=1)
    )
    assert jobs.run_checks([slow.id], now.isoformat()) == 2
    slow_result, fast_result = (
        db.session.scalar(select(CheckResult).where(CheckResult.monitor_id == m.id))
        for m in (slow, fast)
    )
    assert slow_result.status == "up" and slow_result.response_time_ms >= 2900
    assert fast_result.status == "up"
    # the fast monitor was checked within about a second of its due time, while /hang still hung
    lag = (fast_result.checked_at - (now + timedelta(seconds=1))).total_seconds()
    assert lag < 1.5
    assert fast_result.checked_at < slow_result.checked_at + timedelta(seconds=3)
    db.session.refresh(fast)
    assert fast.next_check_at > now + timedelta(seconds=30)  # claimed: moved one interval on


def test_while_draining_a_session_claims_only_checks_that_fit(app, http_peer, make_monitor):
    """Past MONITOR_SESSION_SECONDS the job claims only monitors whose timeout ends before its
    in-flight checks do, so the worker returns to its queue within the longest timeout."""
    app.config["MONITOR_SESSION_SECONDS"] = 0.001
    http_peer.routes["/hang"] = Route(200, "late", delay=2.0)
    http_peer.routes["/fast"] = Route(200, "ok")
    now = clock.utcnow()
    slow = make_monitor(
        "http", url=http_peer.url("/hang"), timeout=4.0, next_check_at=now + timedelta(hours=1)
    )
    fits = make_monitor("http", url=http_peer.url("/fast"), timeout=1.0, next_check_at=now)
    too_long = make_monitor("http", url=http_peer.url("/fast"), timeout=30.0, next_check_at=now)
    assert jobs.run_checks([slow.id]) == 2
    checked = set(db.session.scalars(select(CheckResult.monitor_id)))
    assert checked == {slow.id, fits.id}
    db.session.refresh(too_long)
    assert too_long.next_check_at == now  # left for the next tick


def test_tick_leaves_due_monitors_to_a_running_session_unless_they_are_overdue(app, make_monitor):
    """While a session claims (its mark is fresh) a tick takes only monitors overdue by more
    than the grace, so it does not split the work into tiny jobs queued behind the session."""
    now = clock.utcnow()
    just_due = make_monitor(
        "tcp", host="127.0.0.1", port=9, next_check_at=now - timedelta(seconds=0.5)
    )
    overdue = make_monitor(
        "tcp", host="127.0.0.1", port=9, next_check_at=now - timedelta(seconds=10)
    )
    scheduler.mark_session()
    try:
        assert scheduler.tick(now)["claimed"] == 1
        db.session.refresh(just_due)
        db.session.refresh(overdue)
        assert just_due.next_check_at == now - timedelta(seconds=0.5)
        assert overdue.next_check_at > now
    finally:
        scheduler.end_session()
    assert not scheduler.session_active()
    assert scheduler.tick(now)["claimed"] == 1  # no session: everything due is claimed


def test_a_session_hands_the_worker_back_when_other_jobs_wait(app):
    """Waiting ticks keep a session claiming; any other job waiting in the monitoring queue
    (pruning, say) makes it stop claiming and drain. Mail waits in another queue."""
    from crm.queue import MONITORING, enqueue, get_queue

    get_queue(MONITORING).empty()
    enqueue("crm.monitoring.engine.jobs.tick", queue=MONITORING)
    enqueue("crm.notifications.jobs.sweep_notifications")  # default queue: another worker's
    assert jobs._other_work_waiting() is False
    assert scheduler.session_active()  # the check renews the session mark
    enqueue("crm.monitoring.engine.jobs.prune_results", queue=MONITORING)
    assert jobs._other_work_waiting() is True
    get_queue(MONITORING).empty()
    get_queue().empty()
    scheduler.end_session()


def test_a_session_takes_over_check_chunks_waiting_in_the_queue(app, make_monitor):
    """A chunk a tick enqueued just before a session started is taken off the queue and run
    by the session (once: the job is removed atomically), instead of waiting behind it."""
    from crm.queue import MONITORING, enqueue, get_queue

    queue = get_queue(MONITORING)
    queue.empty()
    now = clock.utcnow()
    waiting = make_monitor("tcp", host="127.0.0.1", port=9, next_check_at=now + timedelta(hours=1))
    enqueue(
        scheduler.RUN_JOB, [waiting.id], (now - timedelta(seconds=3)).isoformat(), queue=MONITORING
    )
    assert jobs._other_work_waiting() is False  # a chunk is not a reason to hand the worker back
    targets = jobs._claim_more(float("inf"))
    assert [t.id for t in targets] == [waiting.id]
    assert queue.count == 0
    assert jobs._claim_more(float("inf")) == []  # taken once
    assert jobs._claim_more(5.0) == []  # draining: never takes queued chunks
    scheduler.end_session()


def test_a_session_drops_waiting_ticks_but_keeps_rq_scheduler_jobs(app):
    """Ticks waiting behind a session are taken off the queue (the session claims for them);
    a tick rq-scheduler repeats keeps its job so the scheduler can enqueue it again."""
    from rq.job import Job

    from crm.queue import MONITORING, enqueue, get_queue

    queue = get_queue(MONITORING)
    queue.empty()
    plain = enqueue("crm.monitoring.engine.jobs.tick", queue=MONITORING)
    scheduled = enqueue("crm.monitoring.engine.jobs.tick", queue=MONITORING)
    scheduled.meta["interval"] = 5
    scheduled.save_meta()
    assert jobs._claim_more(float("inf")) == []
    assert queue.count == 0
    assert Job.exists(scheduled.id, connection=queue.connection)
    assert not Job.exists(plain.id, connection=queue.connection)
    scheduler.end_session()
