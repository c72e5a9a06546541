"""A real worker process killed in the middle of an SMTP conversation: delivered exactly once."""
from __future__ import annotations

import os
import signal
from datetime import timedelta

from crm import clock
from crm.extensions import db
from crm.notifications import jobs
from crm.notifications.models import PENDING, SENDING, SENT
from crm.notifications.services import queue_email
from crm.queue import get_queue

from .conftest import DataGate, fresh, messages_with_id, wait_until, worker_log


def test_worker_killed_mid_send_is_recovered_after_the_lease_and_delivered_exactly_once(
        app, smtp_server, start_worker):
    note = queue_email(["victim@example.com"], "Exactly once", "Body", "<p>Body</p>")
    db.session.commit()
    note_id, message_id = note.id, note.message_id
    assert get_queue().count == 1

    # 1. A real worker (parent + forked work-horse) claims the row and sends; the SMTP
    #    server has the whole message but stalls before answering 250 …
    gate = DataGate(30)
    smtp_server.delay_data_seconds = gate
    worker = start_worker()
    assert gate.reached.wait(timeout=20), worker_log(worker)
    assert fresh(note_id).status == SENDING
    assert fresh(note_id).attempts == 1

    # 2. … and the whole process group dies (SIGKILL: no cleanup code runs).
    os.killpg(worker.pid, signal.SIGKILL)
    assert worker.wait(timeout=10) == -signal.SIGKILL
    smtp_server.delay_data_seconds = 0.0
    # The server never said 250, and drops the transaction when the connection is lost.
    assert messages_with_id(smtp_server, message_id) == []
    row = fresh(note_id)
    assert (row.status, row.attempts) == (SENDING, 1)

    # 3. Within the lease nothing happens: the worker might merely be slow.
    stale = app.config["NOTIFY_STALE_SECONDS"]
    clock.set_offset(timedelta(seconds=2 * stale - 5))
    assert jobs.sweep_notifications() == 0
    assert fresh(note_id).status == SENDING

    # 4. After the lease the sweeper re-queues it and a fresh real worker delivers it once.
    clock.set_offset(timedelta(seconds=2 * stale + 1))
    assert jobs.sweep_notifications() == 1
    assert fresh(note_id).status == PENDING
    retry = start_worker()
    assert retry.wait(timeout=60) == 0, worker_log(retry)
    [msg] = messages_with_id(smtp_server, message_id)
    assert msg.get_all("Message-ID") == [message_id]
    row = fresh(note_id)
    assert (row.status, row.attempts, row.last_error) == (SENT, 2, None), worker_log(retry)

    # 5. Later sweeps and stray jobs change nothing.
    clock.set_offset(timedelta(days=1))
    assert jobs.sweep_notifications() == 0
    assert jobs.send_notification(note_id) == jobs.SKIPPED
    wait_until(
        lambda: len(messages_with_id(smtp_server, message_id)) == 1,
        what="still exactly one message",
    )
    assert len(messages_with_id(smtp_server, message_id)) == 1


def test_worker_dying_repeatedly_is_given_up_after_notify_max_attempts(app, monkeypatch):
    monkeypatch.setitem(app.config, "NOTIFY_MAX_ATTEMPTS", 2)
    note = queue_email(["victim@example.com"], "Poison", "Body")
    db.session.commit()
    lease = timedelta(seconds=2 * app.config["NOTIFY_STALE_SECONDS"] + 1)
    for attempt in (1, 2):  # each claim "dies" before recording an outcome
        assert jobs.claim(note.id) == attempt
        clock.set_offset(lease * attempt)
        jobs.sweep_notifications()
    row = fresh(note.id)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 2, None)
    assert "worker lost during send; giving up" == row.last_error
    clock.set_offset(lease * 10)
    assert jobs.sweep_notifications() == 0
    assert jobs.claim(note.id) is None
