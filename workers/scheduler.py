"""rq-scheduler entry point: ``python -m workers.scheduler`` (or ``crm-scheduler``).

Registers :data:`crm.schedule.PERIODIC_JOBS` (replacing what it registered before, matched
by stable job id) and runs rq-scheduler's loop, which holds a Redis lock so that two
schedulers never enqueue the same job twice. After a Redis outage it waits with back-off,
registers again and resumes (:mod:`workers.resilience`).

Notes on rq-scheduler 0.14 with RQ 3:

* job ids must match ``[A-Za-z0-9_-]+`` (RQ validates them), so the ids are slugs;
* ``scheduled_time`` is turned into a score with ``calendar.timegm(dt.utctimetuple())``:
  a naive value is read as UTC and an aware one is converted to UTC — we pass an aware
  UTC time (a naive *local* time would shift the schedule by the UTC offset);
* a periodic job's hash must never expire (rq-scheduler's default ``result_ttl=-1``):
  if it expired while the job waited in a busy queue, the scheduler would find its id
  without a job, drop the schedule, and the job would never run again.
"""
from __future__ import annotations

import argparse
import logging
import re
import sys
from datetime import UTC, datetime

from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq_scheduler import Scheduler

from crm import ConfigError, create_app
from crm.queue import queue_name, redis_conn
from crm.schedule import PERIODIC_JOBS, periodic_queue
from workers.resilience import run_until_stopped

log = logging.getLogger(__name__)
JOB_PREFIX = "crm-periodic-"


def _slug(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", value).strip("-")


def periodic_job_id(queue_name: str, name: str) -> str:
    """The stable RQ job id of periodic job ``name`` for ``queue_name``
    (e.g. ``crm-periodic-crm--notifications-sweep``). The queue is part of the id so that
    deployments sharing one Redis database do not replace each other's schedules."""
    return f"{JOB_PREFIX}{_slug(queue_name)}--{_slug(name)}"


def register(scheduler: Scheduler, config=None) -> list[str]:
    """Register :data:`PERIODIC_JOBS` for ``scheduler``'s queue, replacing earlier registrations.

    Idempotent: a job id is a member of rq-scheduler's sorted set at most once, so calling
    this at every start leaves one schedule per periodic job; periodic jobs of this queue
    that are no longer declared are cancelled and deleted. Each job is first due now.

    The ids derive from ``scheduler.queue_name`` (the deployment's ``RQ_QUEUE``); each job is
    enqueued on the queue of its kind (:func:`crm.schedule.periodic_queue`; the ``periodic``
    queue unless listed otherwise), named from ``config`` (default: the current app's) with
    ``scheduler.queue_name`` as ``RQ_QUEUE``.

    :returns: the job ids registered.
    """
    base = scheduler.queue_name
    config = {**(config if config is not None else _app_config()), "RQ_QUEUE": base}
    wanted = {
        periodic_job_id(base, name): (interval, func, queue_name(periodic_queue(name), config))
        for name, interval, func in PERIODIC_JOBS
    }
    ours = periodic_job_id(base, "")  # the prefix shared by this queue's periodic jobs
    for raw in scheduler.connection.zrange(scheduler.scheduled_jobs_key, 0, -1):
        job_id = raw.decode()
        if job_id.startswith(ours) and job_id not in wanted:
            scheduler.cancel(job_id)
            try:
                Job.fetch(job_id, connection=scheduler.connection).delete()
            except NoSuchJobError:
                pass
    now = datetime.now(UTC)
    for job_id, (interval, func, target) in wanted.items():
        scheduler.schedule(
            scheduled_time=now,
            func=func,
            interval=interval,
            repeat=None,
            id=job_id,
            queue_name=target,
            result_ttl=-1,
        )
    return list(wanted)


def _app_config() -> dict:
    from flask import current_app, has_app_context

    return dict(current_app.config) if has_app_context() else {}


def main(argv: list[str] | None = None) -> int:
    """Register the schedules and run the scheduler loop (``--register-only`` to just register)."""
    parser = argparse.ArgumentParser(description="CR Tracker scheduler")
    parser.add_argument("--interval", type=float, default=5.0, help="poll interval in seconds")
    parser.add_argument("--register-only", action="store_true")
    args = parser.parse_args(argv)
    try:
        app = create_app()
    except ConfigError as exc:
        sys.exit(f"configuration error: {exc}")
    with app.app_context():
        conn = redis_conn()
        if conn is None:
            sys.exit("configuration error: REDIS_URL must be set for the scheduler")

        def run_once() -> bool:
            """Register the schedules (again: a restarted Redis may have lost them) and run
            the loop; it only ends by a signal (SystemExit) or a Redis error."""
            scheduler = Scheduler(
                queue_name=app.config["RQ_QUEUE"], connection=conn, interval=args.interval
            )
            ids = register(scheduler)
            log.info("registered periodic jobs: %s", ", ".join(ids))
            if not args.register_only:
                scheduler.run()
            return True

        run_until_stopped(run_once, conn, what="scheduler")
    return 0


if __name__ == "__main__":
    sys.exit(main())
