"""A send job delivers the mails waiting behind it over one SMTP connection (throughput),
still exactly once per row, and stops its batch at the first failed send."""
from __future__ import annotations

import threading
from collections import Counter
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from rq import SimpleWorker

from crm.extensions import db
from crm.notifications.models import FAILED, SENT
from crm.notifications.services import queue_email
from crm.queue import get_queue, redis_conn
from tests.conftest import free_port
from tests.notifications.conftest import fresh

from .conftest import output


class CountingSMTP:
    """A real SMTP server (aiosmtpd) that records, per message, its Message-ID and the client
    address of the connection it came over; ``refuse`` recipients get 550."""

    def __init__(self):
        self.messages: list[tuple[str, tuple]] = []
        self.refuse: set[str] = set()
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append((msg["Message-ID"], tuple(session.peer)))
        return "250 Message accepted for delivery"

    def connections(self) -> int:
        """How many SMTP connections carried at least one message."""
        with self.lock:
            return len({peer for _, peer in self.messages})

    def per_message_id(self) -> Counter:
        with self.lock:
            return Counter(mid for mid, _ in self.messages)


@pytest.fixture
def counting_smtp(app, monkeypatch):
    """The app (and its workers, through ``worker_env``) mail a :class:`CountingSMTP`."""
    port = free_port()
    sink = CountingSMTP()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setitem(app.config, "MAIL_PORT", port)
    monkeypatch.setattr(app.extensions["mail"], "port", port)
    yield sink
    controller.stop()


def _burst(count: int, refuse: int | None = None) -> list:
    notes = [queue_email([f"bounce{n}@example.com" if n == refuse else f"user{n}@example.com"],
                         f"Burst {n}", "Body", "<p>Body</p>") for n in range(count)]
    db.session.commit()  # one send job each, enqueued after commit
    return notes


def test_a_real_worker_sends_a_burst_over_one_smtp_connection(app, counting_smtp, spawn_worker):
    notes = _burst(30)
    assert get_queue().count == 30
    worker = spawn_worker("--queues", "default", "--burst",
                          env={"MAIL_PORT": str(app.config["MAIL_PORT"])})
    assert worker.wait(timeout=120) == 0, output(worker)
    assert counting_smtp.per_message_id() == Counter(n.message_id for n in notes)  # each once
    assert counting_smtp.connections() == 1  # was one connection (and one forked job) per mail
    assert {fresh(n.id).status for n in notes} == {SENT}


def test_two_real_workers_batching_at_once_deliver_each_mail_exactly_once(
        app, counting_smtp, spawn_worker):
    notes = _burst(60)
    env = {"MAIL_PORT": str(app.config["MAIL_PORT"]), "MAIL_BATCH_SIZE": "7"}
    workers = [spawn_worker("--queues", "default", "--burst", env=env) for _ in range(2)]
    for worker in workers:
        assert worker.wait(timeout=180) == 0, output(worker)
    logs = "\n".join(output(worker)[-3000:] for worker in workers)
    assert counting_smtp.per_message_id() == Counter(n.message_id for n in notes), logs
    assert counting_smtp.connections() >= 60 // 7  # batches of at most 7 mails
    assert {fresh(n.id).status for n in notes} == {SENT}


def test_a_failed_send_stops_the_batch_and_puts_the_rest_back(app, counting_smtp):
    notes = _burst(12, refuse=3)
    counting_smtp.refuse = {"bounce3@example.com"}
    first = get_queue().get_jobs()[0]
    worker = SimpleWorker([get_queue()], connection=redis_conn())
    worker.work(burst=True, max_jobs=1)
    assert first.return_value() == SENT
    # Mails 1-2 went with it; 3 failed; 4-11 were put back, in order, under their own ids.
    assert [fresh(n.id).status for n in notes[:4]] == [SENT, SENT, SENT, FAILED]
    assert get_queue().job_ids == [f"notify-{n.id}-0" for n in notes[4:]]
    worker.work(burst=True)
    assert {fresh(n.id).status for n in notes[4:]} == {SENT}
    assert len(counting_smtp.per_message_id()) == 11
    assert fresh(notes[3].id).attempts == 1


def test_a_kept_connection_the_server_closed_is_checked_and_replaced(app, monkeypatch):
    """After idling, a kept SMTP connection is checked with NOOP before reuse; one the server
    has closed meanwhile (restart, idle timeout) is replaced instead of failing the mail."""
    from crm.notifications import jobs
    from crm.notifications.models import Notification
    monkeypatch.setattr(jobs, "NOOP_AFTER_SECONDS", 0.0)
    port = free_port()
    sink = CountingSMTP()
    monkeypatch.setitem(app.config, "MAIL_PORT", port)
    monkeypatch.setattr(app.extensions["mail"], "port", port)
    first, second = _burst(2)
    session = jobs.SMTPSession()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        session.send(jobs.build_message(db.session.get(Notification, first.id)))
        controller.stop()  # the server goes away and comes back: the kept connection is dead
        controller = Controller(sink, hostname="127.0.0.1", port=port)
        controller.start()
        session.send(jobs.build_message(db.session.get(Notification, second.id)))
    finally:
        session.close()
        controller.stop()
    assert sink.per_message_id() == Counter([first.message_id, second.message_id])
    assert sink.connections() == 2
