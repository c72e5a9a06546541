"""RQ jobs of the notification service: send one notification, and the sweeper.

Exactly-once rules (see :class:`~crm.notifications.models.Notification`):

1. A job *claims* the row with a guarded UPDATE (pending, or failed-and-due → sending,
   attempts + 1) and commits before any SMTP traffic; only one worker can win, and a sent
   row is never claimed again. The new ``attempts`` value is the claim's fencing token.
2. The mail goes out (Flask-Mail over SMTP) with the row's fixed Message-ID — one header,
   set once at creation, the same on every attempt.
3. The outcome is recorded: ``sent`` as soon as the server accepted the message (even if
   the polite QUIT afterwards fails), or ``failed`` with the reason and a backoff — the
   latter only while our claim still holds (``status = sending`` and ``attempts`` = our
   token), so a late failure report never overwrites another attempt's result.

A worker that dies between 1 and 3 leaves the row in ``sending``; after a lease
(``NOTIFY_STALE_SECONDS`` × 2, which must exceed the longest SMTP conversation; each SMTP
read/write is bounded by ``MAIL_TIMEOUT``) the sweeper puts it back to pending — or to
failed for good once ``NOTIFY_MAX_ATTEMPTS`` claims were used — and the send is retried.

The remaining window, which no SMTP client can close: if the process dies *after* the
server accepted DATA (it answered 250) but *before* the row says ``sent``, the retry sends a
second copy. It carries the same Message-ID, so a receiver (or any MTA/MUA that
de-duplicates on Message-ID) can discard it. Death before the server's 250 is safe: the
server drops an unfinished transaction when the connection is lost.

Throughput: a send job keeps its SMTP connection and, after its own row, takes the other
send jobs waiting in its queue and delivers them over the same connection (up to
``MAIL_BATCH_SIZE`` mails, for at most ``MAIL_BATCH_SECONDS``); each row is still claimed
on its own, so the rules above hold per row. One job and one SMTP handshake per mail capped
a worker at a few dozen mails per second (bench/mail.py).
"""
from __future__ import annotations

import logging
import smtplib
import socket
import time
from contextlib import contextmanager
from datetime import timedelta

from flask import current_app
from flask_mail import Message, email_dispatched
from rq import get_current_job
from sqlalchemy import or_, select, update
from sqlalchemy.exc import OperationalError

from crm.clock import utcnow
from crm.extensions import db, mail
from crm.notifications.models import FAILED, PENDING, SENDING, SENT, Notification
from crm.workers_app import with_app_context

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 30
SKIPPED = "skipped"
LOST_WORKER_ERROR = "worker lost during send"
#: seconds a kept SMTP connection may idle before a NOOP checks it before reuse
NOOP_AFTER_SECONDS = 1.0
#: waiting send jobs a batch takes off the queue at a time (see :func:`_send_waiting`)
TAKE_AT_ONCE = 10


def backoff_seconds(attempts: int) -> int:
    """Delay before retry number ``attempts`` (1-based): 30 s, 60 s, 120 s … capped at 1 h."""
    return min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), 3600)


def claim(notification_id: int) -> int | None:
    """Atomically move a due notification to ``sending`` (attempts + 1) and commit.

    :returns: the new ``attempts`` value (the claim's fencing token, always >= 1) if this
        caller won, else None (already sent, being sent, or not due yet).
    """
    now = utcnow()
    result = db.session.execute(
        update(Notification)
        .where(Notification.id == notification_id,
               or_(Notification.status == PENDING,
                   (Notification.status == FAILED) & (Notification.next_attempt_at.is_not(None))
                   & (Notification.next_attempt_at <= now)))
        .values(status=SENDING, attempts=Notification.attempts + 1, claimed_at=now)
    )
    db.session.commit()
    if result.rowcount != 1:
        return None
    return db.session.get(Notification, notification_id, populate_existing=True).attempts


def build_message(note: Notification) -> Message:
    """The Flask-Mail message of ``note``: its subject and bodies, and its fixed Message-ID,
    encoded so that no line exceeds RFC 5322's limit
    (:class:`~crm.notifications.mime.MailMessage`)."""
    from crm.notifications.mime import MailMessage

    msg = MailMessage(
        subject=note.subject,
        recipients=list(note.to),
        body=note.body_text,
        html=note.body_html,
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
        extra_headers={**(note.headers or {}), "X-CRM-Notification": str(note.id)},
    )
    # Flask-Mail writes exactly one Message-ID header from msgId; putting it in
    # extra_headers as well would add a second Message-ID header.
    msg.msgId = note.message_id
    for spec in note.attachments or []:
        msg.attach(spec["filename"], spec["content_type"], attachment_bytes(spec))
    return msg


def attachment_bytes(spec: dict) -> bytes:
    """The content of one attachment of an outbox row, loaded at send time.

    :param spec: ``{filename, content_type, health_report_id}``.
    :raises LookupError: the referenced content no longer exists (the send fails and is retried
        per the usual backoff, then given up).
    """
    if spec.get("health_report_id") is not None:
        from crm.monitoring.models import HealthReport

        report = db.session.get(HealthReport, spec["health_report_id"])
        if report is not None and report.pdf:
            return report.pdf
    raise LookupError(f"attachment {spec.get('filename')!r}: content not found")


class SMTPSession:
    """One SMTP connection (Flask-Mail) for the mails a send job delivers, opened on first
    use and closed by :meth:`close`.

    Before a connection that has been idle for :data:`NOOP_AFTER_SECONDS` is reused, a NOOP
    checks it; if the server closed it (idle timeout, message limit) a new one is opened. A
    send that fails drops the connection, so the next mail starts on a fresh one. Every SMTP
    read/write is bounded by ``MAIL_TIMEOUT``.
    """

    def __init__(self) -> None:
        self._conn = None
        self._last_used = 0.0

    def _open(self):
        conn = mail.connect()
        with _mail_timeout():
            conn.__enter__()
        return conn

    def _usable(self) -> bool:
        if self._conn is None or self._conn.host is None:
            return self._conn is not None  # MAIL_SUPPRESS_SEND: no host, nothing to check
        if time.monotonic() - self._last_used < NOOP_AFTER_SECONDS:
            return True
        try:
            with _mail_timeout():
                return self._conn.host.noop()[0] == 250
        except (smtplib.SMTPException, OSError):
            return False

    def send(self, msg: Message) -> None:
        """Send ``msg``; return normally once the SMTP server accepted it.

        An error raised after acceptance (a polite QUIT failing, say) is logged, not raised:
        the message is out, and reporting a failure would cause a second copy.

        :raises Exception: anything before acceptance (connection, SMTP reply, message).
        """
        accepted = []

        def _on_dispatched(_app, message, **_kw):
            if message is msg:
                accepted.append(True)

        try:
            if not self._usable():
                self._discard()
                self._conn = self._open()
            with _mail_timeout(), email_dispatched.connected_to(_on_dispatched):
                self._conn.send(msg)
            self._last_used = time.monotonic()
        except Exception as exc:
            self._discard()
            if not accepted:
                raise
            log.warning("message %s accepted by the SMTP server; error after: %s", msg.msgId, exc)

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and conn.host is not None:
            try:
                conn.host.close()
            except OSError:
                pass

    def close(self) -> None:
        """Say QUIT and close the connection (errors ignored: every message is settled)."""
        conn, self._conn = self._conn, None
        if conn is not None and conn.host is not None:
            try:
                with _mail_timeout():
                    conn.host.quit()
            except (smtplib.SMTPException, OSError):
                conn.host.close()


@contextmanager
def _mail_timeout():
    """Bound every socket operation in the block by ``MAIL_TIMEOUT`` (Flask-Mail opens
    ``smtplib.SMTP`` without a timeout; a hanging server must not hang the job)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(current_app.config["MAIL_TIMEOUT"])
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _deliver_sms(note: Notification) -> None:
    """Hand an SMS outbox row to the configured transport (see :mod:`crm.notifications.sms`)."""
    from crm.notifications.sms import get_transport

    to, body, note_id = note.to[0], note.body_text, note.id
    db.session.commit()
    get_transport().send(to, body, notification_id=note_id)


def _record_failure(notification_id: int, token: int, exc: Exception) -> None:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    max_attempts = current_app.config["NOTIFY_MAX_ATTEMPTS"]
    next_at = utcnow() + timedelta(seconds=backoff_seconds(token)) if token < max_attempts else None
    result = db.session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            Notification.status == SENDING,
            Notification.attempts == token,
        )
        .values(status=FAILED, last_error=error, next_attempt_at=next_at)
    )
    db.session.commit()
    if result.rowcount != 1:
        log.warning(
            "notification %s: claim %s lost before its failure was recorded", notification_id, token
        )
    log.warning(
        "notification %s failed (attempt %s%s): %s",
        notification_id,
        token,
        "" if next_at else ", giving up",
        error,
    )


#: tries to record "sent" when the database connection fails (the mail is already out)
RECORD_SENT_TRIES = 4


def _record_sent(notification_id: int, conn=None) -> None:
    """Mark the row sent, in the session (and commit) or on ``conn``, an AUTOCOMMIT
    connection a batch keeps for its outcomes (one round trip per mail).

    The server already has the message, so a database error here would make the sweeper send
    it again after the lease: a lost connection is retried on a fresh one, up to
    :data:`RECORD_SENT_TRIES` times with a doubling pause from 0.1 s.

    :raises sqlalchemy.exc.OperationalError: the database stayed unreachable.
    """
    # Unconditional (but idempotent): the server has the message, so whatever another
    # attempt did meanwhile, the row must end up sent to stop further copies.
    stmt = (
        update(Notification)
        .where(Notification.id == notification_id, Notification.status != SENT)
        .values(status=SENT, sent_at=utcnow(), last_error=None, next_attempt_at=None)
    )
    for attempt in range(RECORD_SENT_TRIES):
        try:
            if conn is not None and attempt == 0:
                conn.execute(stmt)
            elif conn is not None:
                with db.engine.begin() as fresh:
                    fresh.execute(stmt)
            else:
                db.session.execute(stmt)
                db.session.commit()
            return
        except OperationalError:
            if attempt == RECORD_SENT_TRIES - 1:
                raise
            if conn is None:
                db.session.rollback()
            log.warning(
                "notification %s: recording 'sent' failed (try %d); trying again",
                notification_id,
                attempt + 1,
            )
            time.sleep(0.1 * 2**attempt)


@with_app_context
def send_notification(notification_id: int) -> str:
    """Send one outbox notification (email by SMTP with Flask-Mail, or SMS through the
    configured transport) if it is still due — then, as a batch over the same SMTP
    connection, the other send jobs waiting in the queue (:func:`_send_waiting`).

    Safe to run any number of times for the same id (duplicate jobs, sweeper re-queues):
    only the run that wins the claim talks to the SMTP server.

    :param notification_id: ``Notification.id``.
    :returns: this notification's final status (``sent``, ``failed``) or ``skipped`` when
        another worker has it, it was already sent, or its backoff has not expired.
    """
    session = SMTPSession()
    try:
        status = _send_many([notification_id], session)[notification_id]
        if status != FAILED:
            _send_waiting(session)
        return status
    finally:
        session.close()


def claim_many(notification_ids: list[int]) -> dict[int, int]:
    """:func:`claim` for several rows in one statement (UPDATE … RETURNING) and one commit.

    :returns: {id: new attempts (the fencing token)} of the rows this caller won.
    """
    now = utcnow()
    rows = db.session.execute(
        update(Notification)
        .where(
            Notification.id.in_(notification_ids),
            or_(
                Notification.status == PENDING,
                (Notification.status == FAILED)
                & (Notification.next_attempt_at.is_not(None))
                & (Notification.next_attempt_at <= now),
            ),
        )
        .values(status=SENDING, attempts=Notification.attempts + 1, claimed_at=now)
        .returning(Notification.id, Notification.attempts)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    return {row.id: row.attempts for row in rows}


def _release(tokens: dict[int, int]) -> None:
    """Give back claims that never reached the SMTP server (pending, attempts − 1), each only
    while it is still ours (status ``sending`` with our token)."""
    for notification_id, token in tokens.items():
        db.session.execute(
            update(Notification)
            .where(
                Notification.id == notification_id,
                Notification.status == SENDING,
                Notification.attempts == token,
            )
            .values(status=PENDING, attempts=token - 1, claimed_at=None)
            .execution_options(synchronize_session=False)
        )
    db.session.commit()


#: status of a row whose claim a batch gave back without trying it (see :func:`_send_many`)
RELEASED = "released"


def _send_many(notification_ids: list[int], session: SMTPSession) -> dict[int, str]:
    """Claim the rows (:func:`claim_many`), then send each claimed one over ``session`` and
    record its outcome as soon as it is known (the exactly-once steps of the module
    docstring, per row). After a failed send the claims not yet tried are released
    (:func:`_release`) and reported ``released``: the server may be down or hanging, and
    each of them would wait ``MAIL_TIMEOUT`` in turn.

    :returns: {id: ``sent`` | ``failed`` | ``skipped`` | ``released``}.
    """
    statuses = dict.fromkeys(notification_ids, SKIPPED)
    tokens = claim_many(notification_ids)
    if not tokens:
        return statuses
    session_obj = db.session()
    expire_on_commit, session_obj.expire_on_commit = session_obj.expire_on_commit, False
    try:
        notes = {
            n.id: n
            for n in db.session.scalars(
                select(Notification).where(Notification.id.in_(list(tokens)))
            )
        }
        # end the read transaction (no snapshot or lock held during SMTP); the rows stay
        # loaded, so building each mail costs no query (they are ours: claimed above)
        db.session.commit()
        with db.engine.connect() as raw:
            outcomes = raw.execution_options(isolation_level="AUTOCOMMIT")
            _send_claimed(notification_ids, tokens, notes, session, outcomes, statuses)
    finally:
        session_obj.expire_on_commit = expire_on_commit
    return statuses


def _send_claimed(notification_ids, tokens, notes, session, outcomes, statuses) -> None:
    """The sending loop of :func:`_send_many` (fills ``statuses``)."""
    order = [i for i in dict.fromkeys(notification_ids) if i in tokens]
    for position, notification_id in enumerate(order):
        note = notes[notification_id]
        try:
            if note.channel == "sms":
                _deliver_sms(note)
            else:
                msg = build_message(note)
                db.session.commit()
                session.send(msg)
        except Exception as exc:  # SMTP, socket and message errors: record and back off
            db.session.rollback()
            _record_failure(notification_id, tokens[notification_id], exc)
            statuses[notification_id] = FAILED
            untried = {i: tokens[i] for i in order[position + 1 :]}
            if untried:
                _release(untried)
                statuses.update(dict.fromkeys(untried, RELEASED))
            break
        _record_sent(notification_id, outcomes)
        statuses[notification_id] = SENT


def _send_waiting(session: SMTPSession) -> int:
    """Deliver the send jobs waiting in the running job's queue over ``session``'s connection,
    up to ``MAIL_BATCH_SIZE`` mails in all and for at most ``MAIL_BATCH_SECONDS``.

    Jobs are taken off the queue :data:`TAKE_AT_ONCE` at a time (:func:`crm.queue.take_waiting`:
    atomic, so each goes to one worker); their rows are claimed in one statement and sent
    one by one (:func:`_send_many`), so the exactly-once rules hold per row. After a failed
    send (the server may be down or hanging) the batch stops and the jobs taken but not tried
    go back to the head of the queue under their ids. If the worker dies mid-batch, rows it
    took but had not claimed are still pending and the sweeper re-queues them. Stops early
    when the worker is asked to shut down. Outside an RQ job (tests, the shell) nothing is
    taken.

    :returns: how many more notifications were handled (sent, failed or skipped).
    """
    from rq import Queue

    from crm.notifications.services import SEND_JOB
    from crm.queue import take_waiting

    job = get_current_job()
    size = current_app.config.get("MAIL_BATCH_SIZE", 1)
    if job is None or size <= 1:
        return 0
    queue = Queue(job.origin, connection=job.connection)
    deadline = time.monotonic() + current_app.config.get("MAIL_BATCH_SECONDS", 20)
    handled = 0
    while handled + 1 < size and time.monotonic() < deadline and not _worker_stopping(job):
        taken = take_waiting(queue, SEND_JOB, min(TAKE_AT_ONCE, size - 1 - handled))
        if not taken:
            break
        statuses = _send_many([waiting.args[0] for waiting in taken], session)
        put_back = [waiting for waiting in taken if statuses.get(waiting.args[0]) == RELEASED]
        handled += len(taken) - len(put_back)
        if FAILED in statuses.values():
            # not tried: back to the head of the queue, in order, under the same ids
            for waiting in reversed(put_back):
                queue.enqueue(SEND_JOB, *waiting.args, job_id=waiting.id, at_front=True)
            log.info("batch stopped after a failed send (%d mails in this job)", handled + 1)
            return handled
    if handled:
        log.info("sent a batch of %d mails over one SMTP connection", handled + 1)
    return handled


def _worker_stopping(job) -> bool:
    """Whether the RQ worker running ``job`` was asked to stop (warm shutdown)."""
    if not job.worker_name:
        return False
    from rq import Worker

    return bool(
        job.connection.hexists(
            Worker.redis_worker_namespace_prefix + job.worker_name, "shutdown_requested_date"
        )
    )


def send_job_id(notification_id: int, attempts: int) -> str:
    """The RQ job id of the send job for ``notification_id`` queued when the row had used
    ``attempts`` claims: ``notify-<id>-<attempts>``. Each attempt gets its own id, so a job
    left ``started`` by a dead worker never blocks the retry the sweeper queues after the
    lease (the row's ``attempts`` moved on with that claim)."""
    return f"notify-{int(notification_id)}-{int(attempts)}"


def enqueue_send(notification_id: int, attempts: int = 0):
    """Queue :func:`send_notification` for the row unless its job for this attempt is already
    queued or running (:func:`crm.queue.enqueue_once`).

    :param attempts: the row's ``attempts`` now (0 for a new row).
    :returns: the RQ job, or None when one is already queued or Redis is unusable.
    """
    from crm.notifications.services import SEND_JOB
    from crm.queue import enqueue_once

    return enqueue_once(SEND_JOB, notification_id, job_id=send_job_id(notification_id, attempts))


@with_app_context
def sweep_notifications() -> int:
    """Periodic job: recover and re-enqueue notifications that are due.

    * ``sending`` rows whose claim is older than the lease (2 × ``NOTIFY_STALE_SECONDS``):
      their worker died mid-send; back to ``pending``, or ``failed`` for good once
      ``NOTIFY_MAX_ATTEMPTS`` claims were used (a message that kills workers stops somewhere);
    * then enqueue ``pending`` rows older than ``NOTIFY_STALE_SECONDS`` (their enqueue was
      lost, e.g. Redis was down) and ``failed`` rows whose backoff has expired — each under
      its deterministic job id (:func:`send_job_id`), so a row whose send job still waits in
      the queue (a burst the workers have not caught up with) is not queued a second time.

    :returns: how many send jobs were enqueued.
    """
    from crm.notifications.services import due_ids

    stale = current_app.config["NOTIFY_STALE_SECONDS"]
    max_attempts = current_app.config["NOTIFY_MAX_ATTEMPTS"]
    now = utcnow()
    lease_expired = (
        Notification.status == SENDING,
        Notification.claimed_at <= now - timedelta(seconds=2 * stale),
    )
    db.session.execute(
        update(Notification)
        .where(*lease_expired, Notification.attempts >= max_attempts)
        .values(status=FAILED, next_attempt_at=None, last_error=f"{LOST_WORKER_ERROR}; giving up")
    )
    db.session.execute(
        update(Notification)
        .where(*lease_expired)
        .values(status=PENDING, last_error=f"{LOST_WORKER_ERROR}; re-queued")
    )
    db.session.commit()
    enqueued = 0
    ids = due_ids(now - timedelta(seconds=stale))
    rows = (
        db.session.execute(
            select(Notification.id, Notification.attempts).where(Notification.id.in_(ids))
        )
        if ids
        else []
    )
    attempts = {row.id: row.attempts for row in rows}
    db.session.commit()  # hold no snapshot while talking to Redis
    for notification_id in ids:
        if enqueue_send(notification_id, attempts.get(notification_id, 0)) is not None:
            enqueued += 1
    if enqueued:
        log.info("sweeper re-queued %d notifications", enqueued)
    return enqueued
