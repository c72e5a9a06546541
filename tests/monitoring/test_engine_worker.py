"""The engine in a real RQ worker process: a check session hands the worker back promptly
when the worker is asked to stop (a deploy must not wait MONITOR_SESSION_SECONDS)."""
from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

from sqlalchemy import func, select

from crm import clock
from crm.extensions import db
from crm.monitoring.engine import scheduler
from crm.monitoring.models import CheckResult
from crm.queue import enqueue
from tests.monitoring.peers import Route
from tests.notifications.conftest import start_worker, worker_log  # noqa: F401 (fixtures)


def _results() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count(CheckResult.id)))


def test_sigterm_ends_a_check_session_after_its_in_flight_checks(app, http_peer, make_monitor,
                                                                  start_worker):  # noqa: F811
    http_peer.routes["/slow"] = Route(200, "late", delay=1.5)
    now = clock.utcnow()
    # monitors coming due every half second for a minute keep checks in flight and the
    # session claiming
    monitors = [
        make_monitor(
            "http",
            url=http_peer.url("/slow"),
            timeout=5.0,
            interval=120,
            next_check_at=now + timedelta(seconds=0.5 * i),
        )
        for i in range(120)
    ]
    enqueue(scheduler.RUN_JOB, [monitors[0].id], now.isoformat(), job_timeout=600)
    worker = start_worker()
    deadline = time.monotonic() + 30
    while _results() < 3 and time.monotonic() < deadline:  # the session is claiming
        time.sleep(0.2)
    assert _results() >= 3, worker_log(worker)
    stopped_at = time.monotonic()
    os.kill(worker.pid, signal.SIGTERM)  # the worker only (its horse finishes the job)
    assert worker.wait(timeout=30) == 0, worker_log(worker)
    assert (
        time.monotonic() - stopped_at < 10
    )  # the in-flight checks (1.5 s), not the session budget
    checked = _results()
    assert 3 <= checked < 40  # it stopped claiming: most monitors were left for the next session
