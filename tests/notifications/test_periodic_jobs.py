"""rq-scheduler registration of the periodic jobs, and the sweeper running through a worker."""
from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from rq.job import Job
from rq_scheduler import Scheduler

from crm import clock
from crm.extensions import db
from crm.notifications.models import SENT
from crm.notifications.services import queue_email
from crm.queue import PERIODIC, enqueue, get_queue, queue_name, redis_conn
from crm.schedule import PERIODIC_JOBS, periodic_queue
from workers.scheduler import periodic_job_id, register

from .conftest import REPO_ROOT, fresh

SWEEP = "crm.notifications.jobs.sweep_notifications"


@pytest.fixture
def scheduler(app) -> Scheduler:
    """An rq-scheduler on this test's Redis db and queue."""
    return Scheduler(queue_name=app.config["RQ_QUEUE"], connection=redis_conn())


def _scheduled(scheduler: Scheduler) -> list[str]:
    return [
        raw.decode() for raw in scheduler.connection.zrange(scheduler.scheduled_jobs_key, 0, -1)
    ]


def _lost_enqueue_notification(app):
    """A pending notification whose send job never reached Redis, old enough to sweep."""
    note = queue_email(["late@example.com"], "Swept", "Body")
    db.session.commit()
    get_queue().empty()  # as if Redis had been down at commit time
    clock.set_offset(timedelta(seconds=app.config["NOTIFY_STALE_SECONDS"] + 1))
    return note


def test_register_schedules_every_periodic_job_once_with_stable_ids(app, scheduler):
    queue = app.config["RQ_QUEUE"]
    first = register(scheduler)
    second = register(scheduler)
    assert first == second == [periodic_job_id(queue, name) for name, _, _ in PERIODIC_JOBS]
    assert sorted(_scheduled(scheduler)) == sorted(first)  # one entry per id, nothing else
    now = time.time()
    for (name, interval, func), job_id in zip(PERIODIC_JOBS, first, strict=True):
        job = Job.fetch(job_id, connection=scheduler.connection)
        origin = queue_name(periodic_queue(name))  # the periodic queue unless listed otherwise
        assert (job.func_name, job.origin, job.meta["interval"]) == (func, origin, interval)
        assert scheduler.connection.ttl(job.key) == -1  # never expires (see workers.scheduler)
        # The aware-UTC start time became the right epoch (not shifted by a UTC offset).
        assert abs(scheduler.connection.zscore(scheduler.scheduled_jobs_key, job_id) - now) < 5


def test_register_replaces_obsolete_periodic_jobs_but_not_other_queues(app, scheduler):
    obsolete = periodic_job_id(app.config["RQ_QUEUE"], "retired.job")
    scheduler.schedule(datetime.now(UTC), SWEEP, interval=60, id=obsolete)
    other = Scheduler(queue_name="another-deployment", connection=scheduler.connection)
    theirs = register(other)
    ours = register(scheduler)
    assert sorted(_scheduled(scheduler)) == sorted(ours + theirs)
    assert not Job.exists(obsolete, connection=scheduler.connection)


def test_scheduled_sweeper_runs_through_a_worker_and_delivers(app, scheduler, smtp_server):
    from rq import SimpleWorker

    note = _lost_enqueue_notification(app)
    sweep_id = register(scheduler)[0]
    assert PERIODIC_JOBS[0][2] == SWEEP
    # Measured before the pass that re-schedules the job: rq-scheduler sets the next run to
    # (whole seconds of) its own "now" + interval, so that is >= int(before) + interval
    # however long a loaded machine takes between here and the assertion below.
    before = time.time()
    scheduler.enqueue_jobs()  # one pass of rq-scheduler's loop: due jobs go to their queues
    assert sweep_id in get_queue(PERIODIC).job_ids
    # the sweeper (periodic queue), then the send job it enqueued (default queue), in one burst
    SimpleWorker([get_queue(PERIODIC), get_queue()], connection=redis_conn()).work(burst=True)
    after = time.time()
    # by Message-ID: a mail a slow earlier test still had in flight may land in the shared sink
    [msg] = smtp_server.wait_for(
        lambda msgs: [m for m in msgs if m["Message-ID"] == note.message_id], timeout=30
    )
    assert msg.get_all("Message-ID") == [note.message_id]
    assert fresh(note.id).status == SENT
    # Still scheduled, next run one interval later; the job hash survived its run.
    next_run = scheduler.connection.zscore(scheduler.scheduled_jobs_key, sweep_id)
    assert int(before) + PERIODIC_JOBS[0][1] <= next_run <= after + PERIODIC_JOBS[0][1]
    assert scheduler.connection.ttl(Job.key_for(sweep_id)) == -1


def test_sweeper_enqueued_by_dotted_path_runs_in_a_worker(app, run_jobs, smtp_server):
    note = _lost_enqueue_notification(app)
    job = enqueue(SWEEP)
    assert run_jobs() == 1
    assert job.return_value() == 1
    [msg] = smtp_server.wait_for(lambda msgs: msgs)
    assert msg["Message-ID"] == note.message_id
    assert fresh(note.id).status == SENT


def test_scheduler_entry_point_registers_from_the_environment(app, scheduler, worker_env):
    result = subprocess.run(
        [sys.executable, "-m", "workers.scheduler", "--register-only"],
        cwd=REPO_ROOT,
        env=worker_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(_scheduled(scheduler)) == sorted(
        periodic_job_id(app.config["RQ_QUEUE"], name) for name, _, _ in PERIODIC_JOBS
    )
