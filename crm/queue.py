"""Redis connection and the RQ queue, created per app from ``REDIS_URL``.

Enqueueing never breaks a web request: when Redis is down, :func:`enqueue` logs and returns
None, and the periodic sweeper picks the work up from the database later.
"""
from __future__ import annotations

import logging

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Attach a Redis client (``app.extensions['redis']``) built from ``REDIS_URL``."""
    url = app.config.get("REDIS_URL")
    app.extensions["redis"] = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2) if url else None


def redis_conn() -> Redis | None:
    """The app's Redis client, or None when ``REDIS_URL`` is not configured."""
    return current_app.extensions.get("redis")


def get_queue() -> Queue | None:
    """The RQ queue named by ``RQ_QUEUE`` (default ``crm``), or None without Redis."""
    conn = redis_conn()
    if conn is None:
        return None
    return Queue(current_app.config["RQ_QUEUE"], connection=conn)


def enqueue(func_path: str, *args, job_id: str | None = None, **kwargs):
    """Enqueue ``func_path`` (dotted path) with ``args``; return the job or None on failure.

    :param job_id: a stable id makes duplicate enqueues of the same work collapse in RQ.
    """
    queue = get_queue()
    if queue is None:
        log.warning("REDIS_URL not set: %s not queued (the sweeper will retry)", func_path)
        return None
    try:
        return queue.enqueue(func_path, *args, job_id=job_id, **kwargs)
    except RedisError as exc:
        log.warning("could not enqueue %s: %s (the sweeper will retry)", func_path, exc)
        return None
