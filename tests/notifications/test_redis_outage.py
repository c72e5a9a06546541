"""A real worker and a real scheduler outlive a 30 s outage of their own Redis, and mail
queued in the outbox meanwhile is delivered exactly once (workers/resilience.py).

The test runs a private ``redis-server`` on a free port (never the shared one), stops it
with SIGTERM and starts it again on the same port, empty, as a restarted Redis without
persistence is.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from redis import Redis

from crm.extensions import db
from crm.notifications.models import SENT
from crm.notifications.services import queue_email
from tests.conftest import free_port

from .conftest import REPO_ROOT, fresh, messages_with_id, wait_until

pytestmark = pytest.mark.only_backend("postgresql")

OUTAGE_SECONDS = 30


class PrivateRedis:
    """A redis-server of this test alone."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.tmp_path = tmp_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.tmp_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, timeout=10, what="private redis-server started")

    def _answers(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def _spawn(module: str, env: dict, log_path, *args: str) -> subprocess.Popen:
    log = open(log_path, "wb")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    proc.log_path = log_path
    return proc


def _log(proc) -> str:
    with open(proc.log_path, errors="replace") as f:
        return f.read()


def test_worker_and_scheduler_resume_after_redis_outage_and_deliver_once(
    app, smtp_server, worker_env, private_redis, tmp_path
):
    env = {**worker_env, "REDIS_URL": private_redis.url, "NOTIFY_STALE_SECONDS": "5"}
    worker = _spawn("workers.worker", env, tmp_path / "worker.log", "--name", "outage-w1")
    scheduler = _spawn("workers.scheduler", env, tmp_path / "scheduler.log", "--interval", "1")
    try:
        # Running: the scheduler has registered the periodic jobs in the private Redis.
        redis = Redis.from_url(private_redis.url)
        wait_until(
            lambda: redis.zcard("rq:scheduler:scheduled_jobs") > 0,
            timeout=60,
            what="scheduler registered",
        )

        private_redis.stop()
        # Written while Redis is down: its enqueue fails quietly; the row waits in the outbox.
        note = queue_email(["outage@example.com"], "Queued during the outage", "Body")
        db.session.commit()
        note_id, message_id = note.id, note.message_id
        time.sleep(OUTAGE_SECONDS)
        assert worker.poll() is None, _log(worker)
        assert scheduler.poll() is None, _log(scheduler)
        private_redis.start()

        wait_until(
            lambda: messages_with_id(smtp_server, message_id),
            timeout=120,
            what="mail queued during the outage delivered",
        )
        wait_until(lambda: fresh(note_id).status == SENT, timeout=30, what="row marked sent")
        time.sleep(3)  # later sweeps must not send it again
        assert len(messages_with_id(smtp_server, message_id)) == 1
        assert worker.poll() is None and scheduler.poll() is None
        # The worker rode it out: RQ's own retry while waiting for a job, or our loop
        # (workers/resilience.py) when RQ gave up elsewhere, depending on where it was.
        assert "Redis unreachable (attempt 1" in _log(
            worker
        ) or "could not connect to Redis instance" in _log(worker), _log(worker)[-3000:]
        assert "Redis is back" in _log(scheduler)
    finally:
        for proc in (worker, scheduler):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in (worker, scheduler):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
    assert worker.returncode == 0, _log(worker)
