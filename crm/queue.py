"""Redis connection and the RQ queues, created per app from ``REDIS_URL``.

Three queues, so that one kind of work never waits behind another (each is served by its own
worker in ``make run`` and in the production commands of the README):

* ``default`` (``RQ_QUEUE``, default ``crm``): mail and SMS sends, health reports,
  broadcasts, everything else;
* ``monitoring`` (``RQ_MONITORING_QUEUE``, default ``<RQ_QUEUE>-monitoring``): check sessions
  (``run_checks``, which may run for a minute) and monitoring housekeeping;
* ``periodic`` (``RQ_PERIODIC_QUEUE``, default ``<RQ_QUEUE>-periodic``): the short periodic
  jobs of :data:`crm.schedule.PERIODIC_JOBS` (the monitoring tick, heartbeats, the outbox
  sweeper …), which must run on time whatever the other queues hold.

Enqueueing never breaks a web request: when Redis is down, :func:`enqueue` logs and returns
None, and the periodic sweeper picks the work up from the database later.
"""
from __future__ import annotations

import logging
import re

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

log = logging.getLogger(__name__)

DEFAULT = "default"
MONITORING = "monitoring"
PERIODIC = "periodic"
#: every queue kind, in the priority order of a worker that serves them all
KINDS: tuple[str, ...] = (PERIODIC, DEFAULT, MONITORING)
_CONFIG_KEYS = {
    DEFAULT: "RQ_QUEUE",
    MONITORING: "RQ_MONITORING_QUEUE",
    PERIODIC: "RQ_PERIODIC_QUEUE",
}
#: job states in which a job will still run (or is running): a second one would be a duplicate
LIVE_STATES = frozenset(
    {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
)
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def init_app(app: Flask) -> None:
    """Attach a Redis client (``app.extensions['redis']``) built from ``REDIS_URL``."""
    url = app.config.get("REDIS_URL")
    app.extensions["redis"] = (
        Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2) if url else None
    )


def redis_conn() -> Redis | None:
    """The app's Redis client, or None when ``REDIS_URL`` is not configured."""
    return current_app.extensions.get("redis")


def queue_name(kind: str = DEFAULT, config=None) -> str:
    """The RQ queue name of queue ``kind`` (one of :data:`KINDS`) from ``config`` (default:
    the current app's): ``RQ_QUEUE``, or ``RQ_MONITORING_QUEUE`` / ``RQ_PERIODIC_QUEUE``,
    which default to ``<RQ_QUEUE>-monitoring`` / ``<RQ_QUEUE>-periodic``.

    :raises ValueError: an unknown kind.
    """
    if kind not in _CONFIG_KEYS:
        raise ValueError(f"unknown queue {kind!r}: use one of {', '.join(KINDS)}")
    config = current_app.config if config is None else config
    base = config.get("RQ_QUEUE") or "crm"
    if kind == DEFAULT:
        return base
    return config.get(_CONFIG_KEYS[kind]) or f"{base}-{kind}"


def get_queue(kind: str = DEFAULT) -> Queue | None:
    """The RQ queue of ``kind`` (see :func:`queue_name`), or None without Redis."""
    conn = redis_conn()
    if conn is None:
        return None
    return Queue(queue_name(kind), connection=conn)


def enqueue(func_path: str, *args, job_id: str | None = None, queue: str = DEFAULT, **kwargs):
    """Enqueue ``func_path`` (dotted path) with ``args`` on queue ``queue`` (a kind of
    :data:`KINDS`); return the job or None on failure.

    :param job_id: a stable id (letters, digits, ``-``, ``_``); see :func:`enqueue_once` to
        skip work that is already queued.
    """
    rq_queue = get_queue(queue)
    if rq_queue is None:
        log.warning("REDIS_URL not set: %s not queued (the sweeper will retry)", func_path)
        return None
    try:
        return rq_queue.enqueue(func_path, *args, job_id=job_id, **kwargs)
    except RedisError as exc:
        log.warning("could not enqueue %s: %s (the sweeper will retry)", func_path, exc)
        return None


def enqueue_once(func_path: str, *args, job_id: str, queue: str = DEFAULT, **kwargs) -> Job | None:
    """Enqueue ``func_path`` under ``job_id`` unless a job of that id is still queued, running,
    deferred or scheduled (:data:`LIVE_STATES`).

    The check and the enqueue are one atomic step in Redis (RQ's ``unique=True``), so two
    callers racing with the same id queue one job. A finished, failed or stopped job of the
    same id is deleted and replaced.

    :param job_id: deterministic id of the work, e.g. ``notify-<id>-<attempt>``.
    :returns: the new job, or None when a live job already has the id or Redis is unusable.
    :raises ValueError: ``job_id`` is not ``[A-Za-z0-9_-]+``.
    """
    if not _JOB_ID.match(job_id):
        raise ValueError(f"invalid job id {job_id!r}: use letters, digits, '-' and '_'")
    rq_queue = get_queue(queue)
    if rq_queue is None:
        log.warning("REDIS_URL not set: %s not queued (the sweeper will retry)", func_path)
        return None
    try:
        for _ in range(2):
            try:
                return rq_queue.enqueue(func_path, *args, job_id=job_id, unique=True, **kwargs)
            except DuplicateJobError:
                try:
                    existing = Job.fetch(job_id, connection=rq_queue.connection)
                except NoSuchJobError:
                    continue  # gone meanwhile (expired or deleted): try again
                if existing.get_status(refresh=False) in LIVE_STATES:
                    return None
                existing.delete()
        return None
    except RedisError as exc:
        log.warning("could not enqueue %s: %s (the sweeper will retry)", func_path, exc)
        return None


#: LREM the job id from the queue and, only if this caller removed it, delete the job's hash:
#: one atomic step, so exactly one caller takes each job and no job is left half-taken.
_TAKE_SCRIPT = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""


def take_waiting(queue: Queue, func_path: str, limit: int, peek: int = 20) -> list[Job]:
    """Take up to ``limit`` jobs of ``func_path`` that wait among the first ``peek`` jobs of
    ``queue`` off the queue, so that the running job does their work (e.g. several mails
    over one SMTP connection).

    Each job is removed from the queue and its hash deleted in one atomic step (a Lua
    script): when several workers try, each job goes to exactly one of them, and it never
    runs on its own afterwards. The caller owns the work from then on; it must be
    recoverable elsewhere if the caller dies (the outbox sweeper re-queues such rows).

    :returns: the jobs taken (their ``args`` and ``id`` as loaded), oldest first.
    """
    if limit <= 0:
        return []
    take = queue.connection.register_script(_TAKE_SCRIPT)
    taken: list[Job] = []
    ids = queue.get_job_ids(0, peek - 1)
    for job in Job.fetch_many(ids, connection=queue.connection):
        if job is None or job.func_name != func_path:
            continue
        if take(keys=[queue.key, job.key], args=[job.id]) == 1:
            taken.append(job)
            if len(taken) >= limit:
                break
    return taken
