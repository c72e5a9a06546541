"""Helpers for the notification delivery tests: outages, real worker processes, polling."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from redis import Redis

from crm.extensions import db
from crm.notifications.models import Notification

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.02, what: str = "condition"):
    """Poll ``predicate()`` until it is truthy (return its value) or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(interval)


def fresh(notification_id: int) -> Notification:
    """The row as the database has it now (ends the session's transaction first, so a
    change committed by another process is visible on SQLite's WAL snapshot too)."""
    db.session.commit()
    return db.session.get(Notification, notification_id, populate_existing=True)


def messages_with_id(smtp_server, message_id: str) -> list:
    """Messages received by the sink whose Message-ID header is ``message_id``."""
    with smtp_server.lock:
        return [m for m in smtp_server.messages if m["Message-ID"] == message_id]


class DataGate(float):
    """A ``delay_data_seconds`` value that also reports when the sink reached DATA.

    The sink's handler tests ``if sink.delay_data_seconds:`` once the whole message has
    arrived, then sleeps that long before answering 250; truth-testing this float sets
    :attr:`reached`, so a test knows the client is waiting for the server's verdict.
    """

    def __new__(cls, seconds: float):
        gate = super().__new__(cls, seconds)
        gate.reached = threading.Event()
        return gate

    def __bool__(self) -> bool:
        self.reached.set()
        return float(self) != 0.0


@pytest.fixture
def redis_down(app, monkeypatch):
    """Context manager: within it the app's Redis points at a closed port."""
    @contextmanager
    def down():
        url = f"redis://127.0.0.1:{free_port()}/0"
        with monkeypatch.context() as m:
            m.setitem(app.config, "REDIS_URL", url)
            m.setitem(app.extensions, "redis",
                      Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1))
            yield
    return down


@pytest.fixture
def smtp_down(app, monkeypatch):
    """Context manager: within it Flask-Mail (and MAIL_PORT) point at a closed port."""
    @contextmanager
    def down():
        port = free_port()
        with monkeypatch.context() as m:
            m.setitem(app.config, "MAIL_PORT", port)
            m.setattr(app.extensions["mail"], "port", port)
            yield
    return down


@pytest.fixture
def start_worker(worker_env, tmp_path):
    """``start_worker(*args)`` starts ``python -m workers.worker --burst *args`` in its own
    process group (RQ forks a work-horse per job; kill the group to kill both). Every
    process still running at teardown is killed."""
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        log = open(tmp_path / f"worker-{len(procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "workers.worker", "--burst", *args],
                                cwd=REPO_ROOT, env=worker_env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        proc.log_path = log.name
        log.close()
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def worker_log(proc: subprocess.Popen) -> str:
    """The combined output of a worker started by ``start_worker``."""
    return Path(proc.log_path).read_text(errors="replace")
