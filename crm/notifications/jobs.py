"""RQ jobs of the notification service: send one notification, and the sweeper.

Exactly-once rules (see :class:`~crm.notifications.models.Notification`):

1. A job *claims* the row with a guarded UPDATE (pending/failed-and-due → sending); only one
   worker can win, and a sent row is never claimed again.
2. The mail goes out with the row's fixed Message-ID.
3. The outcome is recorded: sent, or failed with the reason and a backoff.

A worker that dies between 1 and 3 leaves the row in ``sending``; after a lease
(``NOTIFY_STALE_SECONDS`` × 2) the sweeper puts it back to pending and re-sends it with the
same Message-ID, so a receiver that did get the first copy can discard the second.
"""
from __future__ import annotations

import logging
import socket
from datetime import timedelta

from flask import current_app
from flask_mail import Message
from sqlalchemy import or_, update

from crm.clock import utcnow
from crm.extensions import db, mail
from crm.notifications.models import FAILED, PENDING, SENDING, SENT, Notification
from crm.workers_app import with_app_context

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 30


def backoff_seconds(attempts: int) -> int:
    """Delay before retry number ``attempts`` (1-based): 30 s, 60 s, 120 s … capped at 1 h."""
    return min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), 3600)


def claim(notification_id: int) -> bool:
    """Atomically move a due notification to ``sending`` (attempts + 1). True if we won."""
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
    return result.rowcount == 1


@with_app_context
def send_notification(notification_id: int) -> str:
    """Send one outbox notification by SMTP (Flask-Mail) if it is still due.

    :param notification_id: ``Notification.id``.
    :returns: the final status (``sent``, ``failed``) or ``skipped`` when another worker has
        it or it was already sent.
    """
    if not claim(notification_id):
        return "skipped"
    note = db.session.get(Notification, notification_id)
    msg = Message(subject=note.subject, recipients=list(note.to), body=note.body_text,
                  html=note.body_html, sender=current_app.config["MAIL_DEFAULT_SENDER"],
                  extra_headers={"Message-ID": note.message_id,
                                 "X-CRM-Notification": str(note.id)})
    msg.msgId = note.message_id
    previous_timeout = socket.getdefaulttimeout()
    # Flask-Mail opens smtplib.SMTP without a timeout; a hanging server must not hang the job.
    socket.setdefaulttimeout(current_app.config["MAIL_TIMEOUT"])
    try:
        mail.send(msg)
    except Exception as exc:  # SMTP and socket errors: record and back off
        note.status = FAILED
        note.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        max_attempts = current_app.config["NOTIFY_MAX_ATTEMPTS"]
        note.next_attempt_at = (utcnow() + timedelta(seconds=backoff_seconds(note.attempts))
                                if note.attempts < max_attempts else None)
        db.session.commit()
        log.warning("notification %s failed (attempt %s): %s", note.id, note.attempts, note.last_error)
        return FAILED
    finally:
        socket.setdefaulttimeout(previous_timeout)
    note.status = SENT
    note.sent_at = utcnow()
    note.last_error = None
    note.next_attempt_at = None
    db.session.commit()
    return SENT


@with_app_context
def sweep_notifications() -> int:
    """Re-enqueue pending notifications older than ``NOTIFY_STALE_SECONDS``, failed ones whose
    backoff expired, and ``sending`` ones whose worker died (lease of 2 × the stale time).

    :returns: how many were enqueued.
    """
    from crm.notifications.services import SEND_JOB, due_ids
    from crm.queue import enqueue

    stale = current_app.config["NOTIFY_STALE_SECONDS"]
    now = utcnow()
    # A claim older than the lease means the worker died mid-send: back to pending.
    db.session.execute(update(Notification)
                       .where(Notification.status == SENDING,
                              Notification.claimed_at <= now - timedelta(seconds=2 * stale))
                       .values(status=PENDING, last_error="worker lost during send; re-queued"))
    db.session.commit()
    ids = due_ids(now - timedelta(seconds=stale))
    for notification_id in ids:
        enqueue(SEND_JOB, notification_id)
    if ids:
        log.info("sweeper re-queued %d notifications", len(ids))
    return len(ids)
