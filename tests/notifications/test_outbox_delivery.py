"""Outbox guarantees with real Redis, RQ and SMTP: written first, survives Redis and SMTP
outages, retried with backoff, given up after NOTIFY_MAX_ATTEMPTS, never sent twice."""
from __future__ import annotations

import smtplib
import threading
from datetime import timedelta

from crm import clock
from crm.extensions import db
from crm.notifications import jobs
from crm.notifications.models import FAILED, PENDING, SENT, Notification
from crm.notifications.services import SEND_JOB, queue_email
from crm.queue import enqueue, get_queue
from crm.tickets import services
from crm.tickets.models import Ticket

from .conftest import fresh, messages_with_id


def _queue_one(to: str = "someone@example.com") -> Notification:
    note = queue_email([to], "Hello", "Plain body", "<p>HTML body</p>")
    db.session.commit()  # the after-commit hook enqueues the send job
    return note


# ------------------------------------------------------------------ written before queued

def test_outbox_row_is_pending_and_queued_before_any_job_runs(make_user, smtp_server):
    make_user("engineer")
    customer = make_user("customer")
    ticket = services.create_ticket(customer, "Mug", "Broken")
    rows = Notification.query.order_by(Notification.id).all()
    assert {(n.template, n.status, n.attempts) for n in rows} == {
        ("ticket_created", PENDING, 0), ("ticket_assigned", PENDING, 0)}
    assert all(n.ticket_id == ticket.id and n.message_id.startswith("<") for n in rows)
    queued = [job.args for job in get_queue().get_jobs()]
    assert sorted(queued) == sorted([(n.id,) for n in rows])
    assert smtp_server.messages == []


def test_redis_down_keeps_the_request_working_and_the_sweeper_delivers_later(
        app, client, make_user, login, redis_down, run_jobs, smtp_server):
    make_user("engineer")
    customer = make_user("customer")
    login(customer)
    with redis_down():
        resp = client.post("/portal/tickets/new", data={"subject": "No Redis", "description": "Hi",
                                                        "priority": "normal"})
        assert resp.status_code == 302
    assert Ticket.query.one().subject == "No Redis"
    rows = Notification.query.all()
    assert len(rows) == 2 and {n.status for n in rows} == {PENDING}
    assert get_queue().count == 0  # nothing reached Redis

    assert jobs.sweep_notifications() == 0  # younger than NOTIFY_STALE_SECONDS: left alone
    clock.set_offset(timedelta(seconds=app.config["NOTIFY_STALE_SECONDS"] + 1))
    with redis_down():
        assert jobs.sweep_notifications() == 0  # still down: the sweeper survives, rows wait
    assert {fresh(n.id).status for n in rows} == {PENDING}
    assert jobs.sweep_notifications() == 2
    assert run_jobs() == 2
    smtp_server.wait_for(lambda msgs: len(msgs) == 2)
    assert {(fresh(n.id).status, fresh(n.id).attempts) for n in rows} == {(SENT, 1)}
    assert sorted(m["Message-ID"] for m in smtp_server.messages) == sorted(
        n.message_id for n in rows
    )


# ------------------------------------------------------------------ SMTP failures and backoff


def test_smtp_down_records_the_failure_with_backoff_and_the_retry_sends_it(
    smtp_down, run_jobs, smtp_server
):
    note = _queue_one()
    with smtp_down():
        assert run_jobs() == 1
    row = fresh(note.id)
    assert (row.status, row.attempts) == (FAILED, 1)
    assert "ConnectionRefusedError" in row.last_error
    expected = row.claimed_at + timedelta(seconds=jobs.backoff_seconds(1))
    assert abs(row.next_attempt_at - expected) < timedelta(seconds=2)
    assert jobs.backoff_seconds(1) == 30 and smtp_server.messages == []

    assert jobs.sweep_notifications() == 0  # backoff not expired
    assert jobs.send_notification(note.id) == jobs.SKIPPED  # a stray job must not jump it
    clock.set_offset(timedelta(seconds=jobs.backoff_seconds(1) + 1))
    assert jobs.sweep_notifications() == 1
    assert run_jobs() == 1
    [msg] = smtp_server.wait_for(lambda msgs: msgs)
    assert msg["Message-ID"] == note.message_id
    row = fresh(note.id)
    assert (row.status, row.attempts, row.last_error, row.next_attempt_at) == (SENT, 2, None, None)


def test_gives_up_after_notify_max_attempts(app, monkeypatch, smtp_down, run_jobs, smtp_server):
    monkeypatch.setitem(app.config, "NOTIFY_MAX_ATTEMPTS", 3)
    note = _queue_one()
    offset = timedelta(0)
    with smtp_down():
        assert run_jobs() == 1
        for attempt in (2, 3):
            offset += timedelta(seconds=jobs.backoff_seconds(attempt - 1) + 1)
            clock.set_offset(offset)
            assert jobs.sweep_notifications() == 1
            assert run_jobs() == 1
            assert fresh(note.id).attempts == attempt
    row = fresh(note.id)
    assert (row.status, row.attempts, row.next_attempt_at) == (FAILED, 3, None)
    assert "ConnectionRefusedError" in row.last_error
    clock.set_offset(offset + timedelta(days=1))
    assert jobs.sweep_notifications() == 0
    assert jobs.send_notification(note.id) == jobs.SKIPPED
    assert smtp_server.messages == []


def test_error_after_the_server_accepted_the_message_counts_as_sent(
    monkeypatch, run_jobs, smtp_server
):
    def quit_dropped(self):
        self.close()
        raise smtplib.SMTPServerDisconnected("connection dropped before QUIT reply")

    monkeypatch.setattr(smtplib.SMTP, "quit", quit_dropped)
    note = _queue_one()
    assert run_jobs() == 1
    assert len(messages_with_id(smtp_server, note.message_id)) == 1
    row = fresh(note.id)
    assert (row.status, row.attempts, row.last_error) == (SENT, 1, None)


# ------------------------------------------------------------------ never twice


def test_duplicate_jobs_for_one_notification_send_one_mail(run_jobs, smtp_server):
    note = _queue_one()
    for _ in range(2):
        enqueue(SEND_JOB, note.id)
    queued = get_queue().get_jobs()
    assert [j.args for j in queued] == [(note.id,)] * 3
    assert run_jobs() == 3
    late = enqueue(SEND_JOB, note.id)
    assert run_jobs() == 1
    # The first job sent the mail and took the two waiting duplicates into its batch (one
    # SMTP connection for the waiting mails), where their claims lost: they never ran alone.
    assert [queued[0].return_value(), late.return_value()] == [SENT, jobs.SKIPPED]
    assert not any(j.exists(j.id, connection=j.connection) for j in queued[1:])
    # Counted by this row's Message-ID: the sink is shared by the worker's tests, and a mail
    # a slow earlier test still had in flight may land in it during this one.
    [msg] = messages_with_id(smtp_server, note.message_id)
    assert msg.get_all("Message-ID") == [note.message_id]
    assert (fresh(note.id).status, fresh(note.id).attempts) == (SENT, 1)


def test_a_sent_notification_is_never_claimed_again(app, run_jobs, smtp_server):
    note = _queue_one()
    run_jobs()
    clock.set_offset(timedelta(days=1))
    assert jobs.sweep_notifications() == 0
    assert jobs.claim(note.id) is None
    assert jobs.send_notification(note.id) == jobs.SKIPPED
    assert len(smtp_server.messages) == 1


def test_concurrent_sends_of_one_notification_only_one_wins(app, smtp_server):
    note = _queue_one()
    note_id = note.id  # plain int for the threads (the ORM object belongs to this session)
    get_queue().empty()
    workers = 4
    barrier = threading.Barrier(workers)
    results: list[str] = []

    def race():
        with app.app_context():
            barrier.wait(timeout=5)
            try:
                results.append(jobs.send_notification(note_id))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=race) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=15)
    assert sorted(results) == [SENT] + [jobs.SKIPPED] * (workers - 1)
    assert len(messages_with_id(smtp_server, note.message_id)) == 1
    assert len(smtp_server.messages) == 1
    assert (fresh(note.id).status, fresh(note.id).attempts) == (SENT, 1)


def test_concurrent_claims_only_one_wins(app):
    note = _queue_one()
    note_id = note.id
    workers = 6
    barrier = threading.Barrier(workers)
    tokens: list[int | None] = []

    def race():
        with app.app_context():
            barrier.wait(timeout=5)
            try:
                tokens.append(jobs.claim(note_id))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=race) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=15)
    assert sorted(tokens, key=lambda t: t or 0) == [None] * (workers - 1) + [1]
    assert fresh(note.id).status == "sending"
