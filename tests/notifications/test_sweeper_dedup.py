"""The sweeper never queues a notification whose send job is still waiting: each send job has
a deterministic id (``notify-<id>-<attempt>``) and a live job of that id is left alone.

The load drill that found it: once mails were older than NOTIFY_STALE_SECONDS, every sweep
re-queued up to 500 rows still waiting in the queue (6,818 send jobs ran for 3,629 mails)."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

from rq import SimpleWorker

from crm import clock
from crm.extensions import db
from crm.notifications import jobs
from crm.notifications.models import FAILED, SENT, Notification
from crm.notifications.services import SEND_JOB, queue_email, retry
from crm.queue import enqueue_once, get_queue, redis_conn

from .conftest import fresh


def _queued_sends() -> Counter:
    """How many send jobs wait in the real Redis queue, per notification id."""
    return Counter(job.args[0] for job in get_queue().get_jobs() if job.func_name == SEND_JOB)


def _burst(count: int) -> list[int]:
    ids = [queue_email([f"user{n}@example.com"], f"Burst {n}", "Body").id for n in range(count)]
    db.session.commit()  # one send job each, enqueued after commit
    return ids


def test_the_sweeper_never_queues_a_waiting_notification_twice(app):
    ids = _burst(60)
    assert _queued_sends() == Counter(ids)  # the after-commit enqueue, once each
    stale = app.config["NOTIFY_STALE_SECONDS"]
    for sweep in range(1, 5):  # the workers are behind: every sweep finds the rows still pending
        clock.set_offset(timedelta(seconds=stale * sweep + 1))
        assert jobs.sweep_notifications() == 0
        assert _queued_sends() == Counter(ids)
    assert get_queue().count == len(ids)
    assert sorted(get_queue().job_ids) == sorted(f"notify-{i}-0" for i in ids)


def test_rows_whose_job_was_lost_are_queued_once_and_delivered_once(app, smtp_server):
    ids = _burst(20)
    get_queue().empty()  # as if Redis had lost them (or been down at commit time)
    clock.set_offset(timedelta(seconds=app.config["NOTIFY_STALE_SECONDS"] + 1))
    assert jobs.sweep_notifications() == 20
    assert jobs.sweep_notifications() == 0
    assert _queued_sends() == Counter(ids)
    SimpleWorker([get_queue()], connection=redis_conn()).work(burst=True)
    assert {fresh(i).status for i in ids} == {SENT}
    assert Counter(m["Subject"] for m in smtp_server.messages) == Counter(
        f"Burst {n}" for n in range(20)
    )
    assert jobs.sweep_notifications() == 0


def test_a_failed_row_gets_one_retry_job_per_attempt(app, smtp_down, smtp_server):
    [note_id] = _burst(1)
    with smtp_down():
        SimpleWorker([get_queue()], connection=redis_conn()).work(burst=True)
    row = fresh(note_id)
    assert (row.status, row.attempts) == (FAILED, 1)
    clock.set_offset(timedelta(seconds=jobs.backoff_seconds(1) + 1))
    assert [jobs.sweep_notifications() for _ in range(3)] == [1, 0, 0]
    assert get_queue().job_ids == [f"notify-{note_id}-1"]
    retry(db.session.get(Notification, note_id))  # an admin's retry meanwhile: same attempt
    assert get_queue().job_ids == [f"notify-{note_id}-1"]
    SimpleWorker([get_queue()], connection=redis_conn()).work(burst=True)
    assert (fresh(note_id).status, fresh(note_id).attempts) == (SENT, 2)
    assert len(smtp_server.messages) == 1


def test_a_finished_job_id_is_replaced_but_a_queued_one_is_not(app):
    first = enqueue_once("crm.notifications.jobs.sweep_notifications", job_id="sweep-once")
    assert first is not None
    assert enqueue_once("crm.notifications.jobs.sweep_notifications", job_id="sweep-once") is None
    SimpleWorker([get_queue()], connection=redis_conn()).work(burst=True)
    again = enqueue_once("crm.notifications.jobs.sweep_notifications", job_id="sweep-once")
    assert again is not None and get_queue().job_ids == ["sweep-once"]
