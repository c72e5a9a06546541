"""Fixtures for the worker tests: real ``python -m workers.worker`` processes on this test's
database, Redis db, queues and SMTP sink, and a burst run of chosen queues in-process."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from crm.queue import KINDS, get_queue, redis_conn

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def spawn_worker(worker_env, tmp_path):
    """``spawn_worker(*args)`` starts ``python -m workers.worker *args`` in its own process
    group, output in ``proc.log_path``; every process still running at teardown is killed."""
    procs: list[subprocess.Popen] = []

    def start(*args: str, env: dict | None = None) -> subprocess.Popen:
        log = open(tmp_path / f"worker-{len(procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "workers.worker", *args], cwd=REPO_ROOT,
                                env={**worker_env, **(env or {})}, stdout=log,
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


def output(proc: subprocess.Popen) -> str:
    """What a process started by ``spawn_worker`` printed."""
    return Path(proc.log_path).read_text(errors="replace")


@pytest.fixture
def run_queues(app):
    """``run_queues(*kinds)`` runs the jobs waiting in the queues of ``kinds`` (default: all)
    with a real non-forking RQ worker in burst mode; returns how many were waiting."""
    from rq import SimpleWorker

    def run(*kinds: str) -> int:
        queues = [get_queue(kind) for kind in (kinds or KINDS)]
        waiting = sum(q.count for q in queues)
        SimpleWorker(queues, connection=redis_conn()).work(burst=True)
        return waiting
    return run
