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
"""
from __future__ import annotations

import logging
import socket
from datetime import timedelta

from flask import current_app
from flask_mail import Message, email_dispatched
from sqlalchemy import or_, select, update

from crm.clock import utcnow
from crm.extensions import db, mail
from crm.notifications.models import FAILED, PENDING, SENDING, SENT, Notification
from crm.workers_app import with_app_context

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 30
SKIPPED = "skipped"
LOST_WORKER_ERROR = "worker lost during send"


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
    encoded so that no line exceeds RFC 5322's limit (:class:`~crm.notifications.mime.MailMessage`)."""
    from crm.notifications.mime import MailMessage
    msg = MailMessage(subject=note.subject, recipients=list(note.to), body=note.body_text,
                  html=note.body_html, sender=current_app.config["MAIL_DEFAULT_SENDER"],
                  extra_headers={**(note.headers or {}), "X-CRM-Notification": str(note.id)})
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


def _deliver(msg: Message) -> None:
    """Send ``msg`` with Flask-Mail; return normally once the SMTP server accepted it.

    An error raised after acceptance (Flask-Mail's QUIT failing, say) is logged, not
    raised: the message is out, and reporting a failure would cause a second copy.
    """
    accepted = []

    def _on_dispatched(_app, message, **_kw):
        if message is msg:
            accepted.append(True)

    previous_timeout = socket.getdefaulttimeout()
    # Flask-Mail opens smtplib.SMTP without a timeout; a hanging server must not hang the job.
    socket.setdefaulttimeout(current_app.config["MAIL_TIMEOUT"])
    try:
        with email_dispatched.connected_to(_on_dispatched):
            mail.send(msg)
    except Exception as exc:
        if not accepted:
            raise
        log.warning("message %s accepted by the SMTP server; error after: %s", msg.msgId, exc)
    finally:
        socket.setdefaulttimeout(previous_timeout)


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
        .where(Notification.id == notification_id, Notification.status == SENDING,
               Notification.attempts == token)
        .values(status=FAILED, last_error=error, next_attempt_at=next_at)
    )
    db.session.commit()
    if result.rowcount != 1:
        log.warning("notification %s: claim %s lost before its failure was recorded", notification_id, token)
    log.warning("notification %s failed (attempt %s%s): %s", notification_id, token,
                "" if next_at else ", giving up", error)


def _record_sent(notification_id: int) -> None:
    # Unconditional (but idempotent): the server has the message, so whatever another
    # attempt did meanwhile, the row must end up sent to stop further copies.
    db.session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.status != SENT)
        .values(status=SENT, sent_at=utcnow(), last_error=None, next_attempt_at=None)
    )
    db.session.commit()


@with_app_context
def send_notification(notification_id: int) -> str:
    """Send one outbox notification (email by SMTP with Flask-Mail, or SMS through the
    configured transport) if it is still due.

    Safe to run any number of times for the same id (duplicate jobs, sweeper re-queues):
    only the run that wins :func:`claim` talks to the SMTP server.

    :param notification_id: ``Notification.id``.
    :returns: the final status (``sent``, ``failed``) or ``skipped`` when another worker has
        it, it was already sent, or its backoff has not expired.
    """
    token = claim(notification_id)
    if token is None:
        return SKIPPED
    try:
        note = db.session.get(Notification, notification_id)
        if note.channel == "sms":
            _deliver_sms(note)
        else:
            msg = build_message(note)
            db.session.commit()  # end the read transaction: hold no snapshot or lock during SMTP
            _deliver(msg)
    except Exception as exc:  # SMTP, socket and message errors: record and back off
        db.session.rollback()
        _record_failure(notification_id, token, exc)
        return FAILED
    _record_sent(notification_id)
    return SENT


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
    lease_expired = (Notification.status == SENDING,
                     Notification.claimed_at <= now - timedelta(seconds=2 * stale))
    db.session.execute(update(Notification)
                       .where(*lease_expired, Notification.attempts >= max_attempts)
                       .values(status=FAILED, next_attempt_at=None,
                               last_error=f"{LOST_WORKER_ERROR}; giving up"))
    db.session.execute(update(Notification)
                       .where(*lease_expired)
                       .values(status=PENDING, last_error=f"{LOST_WORKER_ERROR}; re-queued"))
    db.session.commit()
    enqueued = 0
    ids = due_ids(now - timedelta(seconds=stale))
    rows = db.session.execute(select(Notification.id, Notification.attempts)
                              .where(Notification.id.in_(ids))) if ids else []
    attempts = {row.id: row.attempts for row in rows}
    db.session.commit()  # hold no snapshot while talking to Redis
    for notification_id in ids:
        if enqueue_send(notification_id, attempts.get(notification_id, 0)) is not None:
            enqueued += 1
    if enqueued:
        log.info("sweeper re-queued %d notifications", enqueued)
    return enqueued
