"""RQ worker entry point: ``python -m workers.worker [--burst]`` (or ``crm-worker``).

Builds the app once with ``create_app`` (configured from the environment: ``CRM_ENV``,
``DATABASE_URL``, ``REDIS_URL``, ``RQ_QUEUE``, ``MAIL_*`` …) and registers it for the jobs
(:mod:`crm.workers_app`). RQ's default worker forks a work-horse per job; each job pushes
its own app context and removes its database session when done, and a forked horse drops
the database connections it inherited instead of sharing them with its parent.
"""
from __future__ import annotations

import argparse
import os
import sys

from rq import Worker

from crm import ConfigError, create_app
from crm.extensions import db
from crm.queue import get_queue, redis_conn
from crm.workers_app import set_app


def _forget_inherited_connections(app) -> None:
    """After a fork, make the child open its own database connections (SQLAlchemy's
    recommendation: ``dispose(close=False)`` leaves the parent's sockets alone)."""
    with app.app_context():
        engines = list(db.engines.values())

    def after_fork_in_child() -> None:
        for engine in engines:
            engine.dispose(close=False)

    os.register_at_fork(after_in_child=after_fork_in_child)


def main(argv: list[str] | None = None) -> int:
    """Run a worker until stopped (or until the queue is empty with ``--burst``)."""
    parser = argparse.ArgumentParser(description="CR Tracker RQ worker")
    parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    parser.add_argument("--name", help="worker name (default: RQ's)")
    args = parser.parse_args(argv)
    try:
        app = create_app()
    except ConfigError as exc:
        sys.exit(f"configuration error: {exc}")
    set_app(app)
    with app.app_context():
        conn, queue = redis_conn(), None
        if conn is not None:
            queue = get_queue()
    if conn is None:
        sys.exit("configuration error: REDIS_URL must be set for the worker")
    _forget_inherited_connections(app)
    # No app context is held while working: every job pushes a fresh one (with_app_context),
    # so no session state leaks from one job to the next.
    worker = Worker([queue], connection=conn, name=args.name)
    worker.work(burst=args.burst, with_scheduler=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
