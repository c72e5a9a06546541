"""Mail never waits behind monitoring: check sessions run on their own queue, periodic jobs on
another, and each queue has its own real worker (``--queues``)."""
from __future__ import annotations

from datetime import timedelta

from rq.job import Job
from rq_scheduler import Scheduler

from crm import clock
from crm.extensions import db
from crm.monitoring.engine import scheduler as monitoring_scheduler
from crm.monitoring.models import Monitor
from crm.notifications.models import SENT
from crm.notifications.services import SEND_JOB, queue_email
from crm.queue import DEFAULT, MONITORING, PERIODIC, get_queue, queue_name, redis_conn
from crm.schedule import PERIODIC_JOBS, periodic_queue
from tests.notifications.conftest import fresh, messages_with_id
from workers.scheduler import periodic_job_id, register
from workers.worker import parse_queues

from .conftest import output


def _due_tcp_monitors(count: int) -> list[int]:
    now = clock.utcnow()
    monitors = [Monitor(name=f"port {n}", type="tcp", config={"host": "127.0.0.1", "port": 9},
                        interval_seconds=60, timeout_seconds=2, retries=1,
                        next_check_at=now - timedelta(seconds=1)) for n in range(count)]
    db.session.add_all(monitors)
    db.session.commit()
    return [m.id for m in monitors]


def test_queue_names_derive_from_rq_queue_unless_configured(app, monkeypatch):
    base = app.config["RQ_QUEUE"]
    assert [queue_name(k) for k in (DEFAULT, MONITORING, PERIODIC)] == [
        base, f"{base}-monitoring", f"{base}-periodic"]
    monkeypatch.setitem(app.config, "RQ_MONITORING_QUEUE", "checks")
    assert queue_name(MONITORING) == "checks"


def test_monitoring_checks_and_mail_go_to_different_queues(app):
    ids = _due_tcp_monitors(3)
    assert monitoring_scheduler.tick()["jobs"] >= 1
    note = queue_email(["ops@example.com"], "Hello", "Body")
    db.session.commit()

    monitoring_jobs = get_queue(MONITORING).get_jobs()
    mail_jobs = get_queue(DEFAULT).get_jobs()
    assert {job.func_name for job in monitoring_jobs} == {monitoring_scheduler.RUN_JOB}
    assert sorted(mid for job in monitoring_jobs for mid in job.args[0]) == sorted(ids)
    assert [(job.func_name, job.args) for job in mail_jobs] == [(SEND_JOB, (note.id,))]
    assert get_queue(MONITORING).name != get_queue(DEFAULT).name


def test_periodic_jobs_are_scheduled_on_the_periodic_queue(app):
    scheduler = Scheduler(queue_name=app.config["RQ_QUEUE"], connection=redis_conn())
    register(scheduler)
    origins = {name: Job.fetch(periodic_job_id(app.config["RQ_QUEUE"], name),
                               connection=redis_conn()).origin for name, _, _ in PERIODIC_JOBS}
    assert (
        origins["monitoring.tick"] == origins["monitoring.check_heartbeats"] == queue_name(PERIODIC)
    )
    assert origins["notifications.sweep"] == queue_name(PERIODIC)
    assert origins["monitoring.prune_results"] == queue_name(MONITORING)
    assert {origins[name] for name, _, _ in PERIODIC_JOBS} <= {
        queue_name(PERIODIC),
        queue_name(MONITORING),
    }
    assert all(origins[name] == queue_name(periodic_queue(name)) for name in origins)


def test_worker_queues_option_is_strict():
    assert parse_queues(None) == [PERIODIC, DEFAULT, MONITORING]
    assert parse_queues(" default, periodic,default") == [DEFAULT, PERIODIC]
    try:
        parse_queues("mail")
    except ValueError as exc:
        assert "mail" in str(exc) and "monitoring" in str(exc)
    else:
        raise AssertionError("an unknown queue was accepted")


def test_a_real_mail_worker_delivers_while_the_monitoring_queue_is_busy(
    app, smtp_server, spawn_worker
):
    _due_tcp_monitors(40)
    monitoring_scheduler.tick(chunk_size=1)  # 40 check jobs nobody has taken yet
    waiting_checks = get_queue(MONITORING).count
    assert waiting_checks == 40
    note = queue_email(["customer@example.com"], "Your ticket", "Body")
    db.session.commit()

    worker = spawn_worker("--queues", "default", "--burst")
    assert worker.wait(timeout=60) == 0, output(worker)
    assert len(messages_with_id(smtp_server, note.message_id)) == 1
    assert fresh(note.id).status == SENT
    assert get_queue(MONITORING).count == waiting_checks  # not one check ran before the mail
    assert get_queue(DEFAULT).count == 0


def test_a_real_worker_refuses_an_unknown_queue(spawn_worker):
    worker = spawn_worker("--queues", "mail", "--burst")
    assert worker.wait(timeout=60) != 0
    assert "configuration error: unknown queue 'mail'" in output(worker)


def session_would_hand_back() -> bool:
    """Job used below: what a check session running in this job would decide."""
    from crm.monitoring.engine import jobs

    try:
        return jobs._other_work_waiting()
    finally:
        monitoring_scheduler.end_session()


def test_a_session_on_a_worker_serving_every_queue_hands_back_when_mail_waits(app):
    """A single worker for every queue: mail waiting in the default queue stops a check
    session from claiming; a worker that serves only the monitoring queue ignores it."""
    from rq import SimpleWorker

    from crm.queue import enqueue

    probe = f"{__name__}.session_would_hand_back"
    results = []
    for kinds in ([MONITORING, DEFAULT], [MONITORING]):
        job = enqueue(probe, queue=MONITORING)
        enqueue(SEND_JOB, 999_999)  # mail waiting behind the session (no such row: skipped)
        SimpleWorker([get_queue(k) for k in kinds], connection=redis_conn()).work(
            burst=True, max_jobs=1
        )
        results.append(job.return_value())
        get_queue(DEFAULT).empty()
    assert results == [True, False]
