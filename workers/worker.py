"""RQ worker entry point: ``python -m workers.worker [--burst]`` (or ``crm-worker``).

Builds the app once with ``create_app`` and runs jobs from the ``RQ_QUEUE`` queue inside it.
"""
from __future__ import annotations

import argparse
import sys

from rq import Worker

from crm import ConfigError, create_app
from crm.queue import get_queue, redis_conn
from crm.workers_app import set_app


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
        if redis_conn() is None:
            sys.exit("configuration error: REDIS_URL must be set for the worker")
        worker = Worker([get_queue()], connection=redis_conn(), name=args.name)
        worker.work(burst=args.burst, with_scheduler=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
