"""A worker killed with SIGKILL can be restarted under its name at once (it used to fail with
"There exists an active worker named …" until the dead worker's key expired, ~95 s)."""
from __future__ import annotations

import os
import signal
from datetime import UTC, datetime, timedelta

from rq import Worker
from rq.utils import utcformat

from crm.extensions import db
from crm.notifications.models import SENT
from crm.notifications.services import queue_email
from crm.queue import redis_conn
from tests.notifications.conftest import fresh, messages_with_id, wait_until
from workers.worker import STALE_HEARTBEAT_GRACE_SECONDS, clear_stale_worker

from .conftest import output

KEY = Worker.redis_worker_namespace_prefix + "{}"


def _registered(name: str) -> bool:
    conn = redis_conn()
    key = KEY.format(name)
    return bool(conn.exists(key)) and not conn.hexists(key, "death")


def test_a_worker_killed_with_sigkill_restarts_under_the_same_name(app, smtp_server, spawn_worker):
    first = spawn_worker("--name", "mail-1", "--queues", "default")
    wait_until(lambda: _registered("mail-1"), timeout=60, what="the first worker registered")
    os.killpg(first.pid, signal.SIGKILL)
    assert first.wait(timeout=10) == -signal.SIGKILL
    assert _registered("mail-1")  # the dead worker's record is still there, as if alive

    note = queue_email(["after-restart@example.com"], "After the restart", "Body")
    db.session.commit()
    second = spawn_worker("--name", "mail-1", "--queues", "default", "--burst")
    assert second.wait(timeout=60) == 0, output(second)
    assert "There exists an active worker" not in output(second)
    assert len(messages_with_id(smtp_server, note.message_id)) == 1
    assert fresh(note.id).status == SENT


def test_a_live_worker_keeps_its_name(app, spawn_worker):
    first = spawn_worker("--name", "mail-2", "--queues", "default")
    wait_until(lambda: _registered("mail-2"), timeout=60, what="the first worker registered")
    second = spawn_worker("--name", "mail-2", "--queues", "default", "--burst")
    assert second.wait(timeout=60) != 0
    assert "There exists an active worker named 'mail-2'" in output(second)
    assert first.poll() is None and _registered("mail-2")


def _record(name: str, *, hostname: str, pid: int, heartbeat: datetime) -> None:
    redis_conn().hset(KEY.format(name), mapping={
        "birth": utcformat(heartbeat), "last_heartbeat": utcformat(heartbeat), "queues": "crm",
        "pid": pid, "hostname": hostname})


def test_records_of_other_hosts_are_removed_only_after_their_heartbeat_stopped(app):
    now = datetime.now(UTC)
    silent_for = timedelta(seconds=Worker([], connection=redis_conn()).worker_ttl
                           + STALE_HEARTBEAT_GRACE_SECONDS + 1)
    _record("remote-live", hostname="elsewhere", pid=4242, heartbeat=now - timedelta(seconds=30))
    _record("remote-dead", hostname="elsewhere", pid=4242, heartbeat=now - silent_for)
    assert clear_stale_worker(redis_conn(), "remote-live") is False
    assert clear_stale_worker(redis_conn(), "remote-dead") is True
    assert _registered("remote-live") and not _registered("remote-dead")
    assert clear_stale_worker(redis_conn(), "never-registered") is False
