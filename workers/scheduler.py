"""rq-scheduler entry point: ``python -m workers.scheduler`` (or ``crm-scheduler``).

Registers :data:`crm.schedule.PERIODIC_JOBS` (replacing what it registered before, matched
by stable job id) and runs rq-scheduler's loop, which holds a Redis lock so that two
schedulers never enqueue the same job twice.
"""
from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime

from rq_scheduler import Scheduler

from crm import ConfigError, create_app
from crm.queue import redis_conn
from crm.schedule import PERIODIC_JOBS

log = logging.getLogger(__name__)
JOB_PREFIX = "crm-periodic:"


def register(scheduler: Scheduler) -> list[str]:
    """Cancel previously registered periodic jobs and register :data:`PERIODIC_JOBS`.

    :returns: the job ids registered.
    """
    for job in scheduler.get_jobs():
        if job.id.startswith(JOB_PREFIX):
            scheduler.cancel(job)
    ids = []
    for job_id, interval, func in PERIODIC_JOBS:
        scheduler.schedule(scheduled_time=datetime.now(UTC),
                           func=func, interval=interval, repeat=None, id=JOB_PREFIX + job_id,
                           queue_name=scheduler.queue_name, result_ttl=interval * 2)
        ids.append(JOB_PREFIX + job_id)
    return ids


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
        scheduler = Scheduler(queue_name=app.config["RQ_QUEUE"], connection=conn, interval=args.interval)
        ids = register(scheduler)
        log.info("registered periodic jobs: %s", ", ".join(ids))
        if not args.register_only:
            scheduler.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
