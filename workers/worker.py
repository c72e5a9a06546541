"""RQ worker entry point: ``python -m workers.worker [--queues KINDS] [--name NAME] [--burst]``
(or ``crm-worker``).

Builds the app once with ``create_app`` (configured from the environment: ``CRM_ENV``,
``DATABASE_URL``, ``REDIS_URL``, ``RQ_QUEUE``, ``MAIL_*`` …) and registers it for the jobs
(:mod:`crm.workers_app`). RQ's default worker forks a work-horse per job; each job pushes
its own app context and removes its database session when done, and a forked horse drops
the database connections it inherited instead of sharing them with its parent.

Queues (see :mod:`crm.queue`): ``--queues`` (or ``WORKER_QUEUES``) lists the kinds this
worker serves, comma-separated, in priority order: ``default`` (mail, reports, the rest),
``monitoring`` (check sessions), ``periodic`` (tick, heartbeats, sweeper …). Without either,
the worker serves all three (``periodic,default,monitoring``), which suits a single small
worker; production runs at least one worker per kind so none waits behind another.

A Redis outage of any length does not end the process: the worker waits for Redis with
back-off and starts again (:mod:`workers.resilience`).

A worker restarted under the name of one that was killed (SIGKILL, OOM, power loss) takes
over the name: the dead worker's record is removed first (:func:`clear_stale_worker`)
instead of failing with "There exists an active worker named …" until it expires.
"""
from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from datetime import UTC, datetime, timedelta

import psutil
from redis import Redis
from rq import Queue, Worker

from crm import ConfigError, create_app
from crm.extensions import db
from crm.queue import KINDS, queue_name, redis_conn
from crm.workers_app import set_app
from workers.resilience import REDIS_ERRORS, run_until_stopped

log = logging.getLogger(__name__)

#: seconds without a heartbeat after which a worker record from another host counts as dead
#: (RQ renews it at least every ``job_monitoring_interval`` (30 s) while a job runs and every
#: ``worker_ttl - 15`` s while idle; see :func:`clear_stale_worker`)
STALE_HEARTBEAT_GRACE_SECONDS = 60


def parse_queues(value: str | None) -> list[str]:
    """The queue kinds of ``value`` (``"periodic,default"``), in order, without repeats;
    all of :data:`crm.queue.KINDS` when empty or None.

    :raises ValueError: an unknown kind (the message lists the valid ones).
    """
    kinds = [k.strip() for k in (value or "").split(",") if k.strip()]
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown queue {kind!r}: use one or more of {', '.join(KINDS)}")
    return list(dict.fromkeys(kinds)) or list(KINDS)


def _forget_inherited_connections(app) -> None:
    """After a fork, make the child open its own database connections (SQLAlchemy's
    recommendation: ``dispose(close=False)`` leaves the parent's sockets alone)."""
    with app.app_context():
        engines = list(db.engines.values())

    def after_fork_in_child() -> None:
        for engine in engines:
            engine.dispose(close=False)

    os.register_at_fork(after_in_child=after_fork_in_child)


def _pid_is_that_worker(pid: int, born: datetime | None) -> bool:
    """Whether process ``pid`` on this host is still the worker registered at ``born``: it
    exists, is not this process, and started no later than the registration (a pid reused by
    a later process, e.g. PID 1 in a restarted container, is not the same worker)."""
    if pid == os.getpid():
        return False
    try:
        started = datetime.fromtimestamp(psutil.Process(pid).create_time(), UTC)
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False
    if born is None:
        return True
    if born.tzinfo is None:
        born = born.replace(tzinfo=UTC)
    return started <= born + timedelta(seconds=1)


def clear_stale_worker(conn: Redis, name: str, *, now: datetime | None = None) -> bool:
    """Remove the Redis record of a dead worker called ``name`` so that a new one can take the
    name (RQ refuses a name whose record is alive, and a killed worker's record lives until
    its key expires: up to ``worker_ttl + 60`` s).

    The record counts as dead when it already says so (``death``), when it was written on
    this host and its process is gone (or its pid now belongs to a later process), or when its
    last heartbeat is older than ``worker_ttl`` + :data:`STALE_HEARTBEAT_GRACE_SECONDS`.
    A live worker's record is left alone (the new worker then fails to start, as it should).

    :returns: True when a stale record was removed.
    """
    key = Worker.redis_worker_namespace_prefix + name
    if not conn.exists(key):
        return False
    if conn.hexists(key, "death"):
        return False  # RQ itself replaces a record that says the worker died
    old = Worker.find_by_key(key, connection=conn)
    if old is None:
        return False
    now = now or datetime.now(UTC)
    beat = old.last_heartbeat
    if beat is not None and beat.tzinfo is None:
        beat = beat.replace(tzinfo=UTC)
    # RQ does not store a worker's ttl; ours run with RQ's default (an idle worker renews its
    # heartbeat every worker_ttl - 15 s, so a live one is never this silent).
    grace = timedelta(seconds=old.worker_ttl + STALE_HEARTBEAT_GRACE_SECONDS)
    silent = beat is None or now - beat > grace
    here = old.hostname == socket.gethostname()
    dead_here = here and old.pid is not None and not _pid_is_that_worker(old.pid, old.birth_date)
    if not (silent or dead_here):
        return False
    log.warning(
        "worker %s (pid %s on %s) is gone: removing its stale record", name, old.pid, old.hostname
    )
    old.register_death()
    conn.delete(key)
    return True


def build_worker(conn: Redis, config, kinds: list[str], name: str | None = None) -> Worker:
    """An RQ worker on the queues of ``kinds`` (in priority order), named ``name``; a stale
    record of the same name is removed first (:func:`clear_stale_worker`). Failed jobs are
    recorded in the error tracker (:func:`crm.observability.errors.capture.record_job_failure`)."""
    if name:
        clear_stale_worker(conn, name)
    queues = [Queue(queue_name(kind, config), connection=conn) for kind in kinds]
    from crm.observability.errors.capture import record_job_failure

    # a failed job's error is recorded in the error tracker, then RQ moves it to "failed"
    return Worker(queues, connection=conn, name=name, exception_handlers=[record_job_failure])


def main(argv: list[str] | None = None) -> int:
    """Run a worker until stopped (or until its queues are empty with ``--burst``)."""
    parser = argparse.ArgumentParser(description="CR Tracker RQ worker")
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    parser.add_argument("--name", help="worker name (default: RQ's); unique per Redis")
    parser.add_argument(
        "--queues",
        default=os.environ.get("WORKER_QUEUES"),
        help=f"queue kinds to serve, in priority order (default: {','.join(KINDS)}; "
        "env WORKER_QUEUES)",
    )
    args = parser.parse_args(argv)
    try:
        kinds = parse_queues(args.queues)
        app = create_app()
    except (ConfigError, ValueError) as exc:
        sys.exit(f"configuration error: {exc}")
    set_app(app)
    with app.app_context():
        conn = redis_conn()
    if conn is None:
        sys.exit("configuration error: REDIS_URL must be set for the worker")
    _forget_inherited_connections(app)

    # No app context is held while working: every job pushes a fresh one (with_app_context),
    # so no session state leaks from one job to the next.
    def run_once() -> bool:
        """One worker life; True when it ended on purpose (stop request, burst done)."""
        worker = build_worker(conn, app.config, kinds, args.name)
        stop_requested = []
        warm_shutdown = worker.handle_warm_shutdown_request  # RQ's hook, called on SIGTERM/SIGINT

        def on_warm_shutdown() -> None:
            stop_requested.append(True)
            warm_shutdown()

        worker.handle_warm_shutdown_request = on_warm_shutdown
        worker.work(burst=args.burst, with_scheduler=False)
        if stop_requested:
            return True
        if args.burst:  # queues empty, unless Redis went away under it
            try:
                conn.ping()
            except REDIS_ERRORS:
                return False
            return True
        return False  # work() gave up: RQ quits on Redis errors outside its dequeue wait

    run_until_stopped(run_once, conn, what=f"worker {args.name or os.getpid()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
