"""RQ job: send a broadcast in batches, through the outbox."""
from __future__ import annotations

import logging

from sqlalchemy import select, update

from crm.auth.models import User
from crm.broadcasts import services
from crm.broadcasts.models import DONE, EMAIL, FAILED, QUEUED, SENDING, SMS, Broadcast, EmailOptOut
from crm.clock import utcnow
from crm.extensions import db
from crm.workers_app import with_app_context

log = logging.getLogger(__name__)

BATCH_SIZE = 200
TEMPLATE = "maintenance_broadcast"


def _window_context(window) -> dict | None:
    if window is None:
        return None
    return {"title": window.title, "description": window.description,
            "starts": window.starts_at.strftime("%Y-%m-%d %H:%M UTC"),
            "ends": window.ends_at.strftime("%Y-%m-%d %H:%M UTC"), "recurrence": window.recurrence}


def _send_batch(
    broadcast: Broadcast, users: list[User], opted_out: set[str]
) -> tuple[int, int, int]:
    """Queue one batch's outbox rows (in the caller's transaction).

    :returns: (emails queued, texts queued, customers skipped).
    """
    from crm.notifications.services import queue_email, queue_sms, render_email

    emails = texts = skipped = 0
    window = _window_context(broadcast.window)
    ctx_broadcast = {"subject": broadcast.subject, "body": broadcast.body}
    for user in users:
        got = False
        if (
            EMAIL in broadcast.channels
            and user.email_verified_at
            and user.email.lower() not in opted_out
        ):
            url = services.unsubscribe_url(user.email)
            subject, text, html = render_email(
                TEMPLATE,
                user={"name": user.name, "email": user.email},
                broadcast=ctx_broadcast,
                window=window,
                unsubscribe_url=url,
            )
            queue_email(
                [user.email],
                subject,
                text,
                html,
                template=TEMPLATE,
                event="broadcast.sent",
                created_by_id=broadcast.created_by_id,
                headers={
                    "List-Unsubscribe": f"<{url}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
            )
            emails += 1
            got = True
        if SMS in broadcast.channels and user.phone and user.phone_verified_at:
            text = f"{broadcast.subject}: {broadcast.body}"
            if window:
                text += f" ({window['starts']} – {window['ends']})"
            queue_sms(
                [user.phone],
                text[:600],
                event="broadcast.sent",
                created_by_id=broadcast.created_by_id,
            )
            texts += 1
            got = True
        if not got:
            skipped += 1
    return emails, texts, skipped


@with_app_context
def send_broadcast(broadcast_id: int) -> str:
    """Send broadcast ``broadcast_id`` to its segment, :data:`BATCH_SIZE` customers at a time.

    Each batch's outbox rows, the counts and the cursor (``last_user_id``) commit together,
    so re-running the job (worker death, duplicate enqueue) resumes after the last committed
    batch and never queues a customer twice. Customers who join the segment while it runs are
    included if their id is past the cursor.

    :returns: the final status (``done``, ``failed``) or ``skipped`` when it is finished already.
    """
    claimed = db.session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast_id, Broadcast.status.in_((QUEUED, SENDING)))
        .values(status=SENDING)
    )
    db.session.commit()
    if claimed.rowcount != 1:
        return "skipped"
    try:
        broadcast = db.session.get(Broadcast, broadcast_id)
        condition = services.segment_condition(broadcast.segment, broadcast.segment_days)
        if broadcast.started_at is None:
            broadcast.started_at = utcnow()
            broadcast.total = services.segment_size(broadcast.segment, broadcast.segment_days)
            db.session.commit()
        opted_out = set(db.session.scalars(select(EmailOptOut.email)))
        while True:
            users = list(
                db.session.scalars(
                    select(User)
                    .where(condition, User.id > broadcast.last_user_id)
                    .order_by(User.id)
                    .limit(BATCH_SIZE)
                )
            )
            if not users:
                break
            emails, texts, skipped = _send_batch(broadcast, users, opted_out)
            broadcast.sent_email += emails
            broadcast.sent_sms += texts
            broadcast.skipped += skipped
            broadcast.processed += len(users)
            broadcast.total = max(broadcast.total, broadcast.processed)
            broadcast.last_user_id = users[-1].id
            db.session.commit()
        broadcast.status, broadcast.finished_at = DONE, utcnow()
        db.session.commit()
        log.info(
            "broadcast %s: %s emails, %s texts, %s skipped",
            broadcast_id,
            broadcast.sent_email,
            broadcast.sent_sms,
            broadcast.skipped,
        )
        return DONE
    except Exception as exc:  # recorded for the console; the cursor keeps what was sent
        db.session.rollback()
        log.exception("broadcast %s failed", broadcast_id)
        db.session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id)
            .values(
                status=FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=utcnow()
            )
        )
        db.session.commit()
        return FAILED
