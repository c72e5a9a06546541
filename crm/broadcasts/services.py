"""Broadcast rules: who is in a segment, who opted out, unsubscribe tokens, creating a
broadcast.

Segments (active customers only):

* ``all`` — every active customer;
* ``recent_tickets`` — customers who opened a ticket in the last ``segment_days`` days;
* ``verified_phone`` — customers with a verified phone number.

Channels: email goes to a customer's verified address unless it opted out
(:class:`~crm.broadcasts.models.EmailOptOut`); SMS to a verified number. Opting out of
announcement email does not stop SMS (it is a per-address email preference, as RFC 8058's
List-Unsubscribe is).
"""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError

from crm import events
from crm.auth.models import ACTIVE, CUSTOMER, User
from crm.broadcasts.models import (
    CHANNELS,
    QUEUED,
    SEGMENT_RECENT_TICKETS,
    SEGMENT_VERIFIED_PHONE,
    SEGMENTS,
    Broadcast,
    EmailOptOut,
)
from crm.clock import utcnow
from crm.errors import ServiceError
from crm.extensions import db

SEND_JOB = "crm.broadcasts.jobs.send_broadcast"
TOKEN_SALT = "crm.broadcasts.unsubscribe"
MAX_SEGMENT_DAYS = 3650


def segment_condition(segment: str, days: int | None):
    """SQL condition on :class:`User` selecting the customers of ``segment``.

    :raises ServiceError: unknown segment, or ``recent_tickets`` without 1 … 3650 days (422).
    """
    base = (User.role == CUSTOMER) & (User.status == ACTIVE)
    if segment not in SEGMENTS:
        raise ServiceError(
            f"Unknown segment: choose one of {', '.join(SEGMENTS)}.", field="segment", status=422
        )
    if segment == SEGMENT_RECENT_TICKETS:
        if not days or not 1 <= days <= MAX_SEGMENT_DAYS:
            raise ServiceError(
                f"Give the number of days (1 to {MAX_SEGMENT_DAYS}).",
                field="segment_days",
                status=422,
            )
        from crm.tickets.models import Ticket

        since = utcnow() - timedelta(days=days)
        return base & exists().where(Ticket.requester_id == User.id, Ticket.created_at >= since)
    if segment == SEGMENT_VERIFIED_PHONE:
        return base & User.phone.is_not(None) & User.phone_verified_at.is_not(None)
    return base


def segment_size(segment: str, days: int | None) -> int:
    """How many customers ``segment`` selects now."""
    return db.session.scalar(select(func.count(User.id)).where(segment_condition(segment, days)))


def recipient_counts(segment: str, days: int | None, channels: list[str]) -> dict[str, int]:
    """Who a broadcast would reach now, counted by the rules the send job applies: email to a
    verified address that did not opt out, SMS to a verified number.

    :returns: ``{"customers": in the segment, "email": addresses, "sms": numbers,
        "reached": customers getting at least one, "unreached": the rest}``.
    :raises ServiceError: as :func:`segment_condition` (422).
    """
    from sqlalchemy import and_, case, false, or_

    condition = segment_condition(segment, days)
    email_ok = and_(
        User.email_verified_at.is_not(None),
        ~exists().where(EmailOptOut.email == func.lower(User.email)),
    )
    sms_ok = and_(User.phone.is_not(None), User.phone_verified_at.is_not(None))
    email_ok = email_ok if "email" in (channels or []) else false()
    sms_ok = sms_ok if "sms" in (channels or []) else false()
    row = db.session.execute(
        select(
            func.count(User.id),
            func.coalesce(func.sum(case((email_ok, 1), else_=0)), 0),
            func.coalesce(func.sum(case((sms_ok, 1), else_=0)), 0),
            func.coalesce(func.sum(case((or_(email_ok, sms_ok), 1), else_=0)), 0),
        ).where(condition)
    ).one()
    customers, email, sms, reached = (int(v) for v in row)
    return {
        "customers": customers,
        "email": email,
        "sms": sms,
        "reached": reached,
        "unreached": customers - reached,
    }


def unsubscribe_token(email: str) -> str:
    """A signed, non-expiring token naming ``email`` (itsdangerous, the app's SECRET_KEY):
    an unsubscribe link must keep working for as long as the mail sits in a mailbox."""
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=TOKEN_SALT).dumps(
        email.strip().lower()
    )


def email_from_token(token: str) -> str | None:
    """The address a token names, or None for a forged or mangled token."""
    if len(token) > 1000:
        return None
    try:
        value = URLSafeSerializer(current_app.config["SECRET_KEY"], salt=TOKEN_SALT).loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def unsubscribe_url(email: str) -> str:
    """Absolute URL of the unsubscribe page for ``email`` (``PUBLIC_URL`` based)."""
    # Built by hand: the RQ job has an app context but no request, so url_for cannot.
    return (
        current_app.config["SERVER_NAME_FOR_LINKS"].rstrip("/")
        + f"/broadcasts/unsubscribe/{unsubscribe_token(email)}"
    )


def is_opted_out(email: str) -> bool:
    """True when ``email`` unsubscribed from broadcasts."""
    return (
        db.session.scalar(select(EmailOptOut.id).where(EmailOptOut.email == email.strip().lower()))
        is not None
    )


def opt_out(email: str, source: str = "link") -> EmailOptOut:
    """Record that ``email`` wants no more broadcasts (idempotent) and commit.

    :param source: ``link`` (the confirmation page) or ``one-click`` (RFC 8058 POST).
    """
    email = email.strip().lower()
    row = db.session.scalar(select(EmailOptOut).where(EmailOptOut.email == email))
    if row is not None:
        return row
    row = EmailOptOut(email=email, source=source, created_at=utcnow())
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:  # unsubscribed twice at once
        db.session.rollback()
        row = db.session.scalar(select(EmailOptOut).where(EmailOptOut.email == email))
    return row


def create_broadcast(
    *,
    subject: str,
    body: str,
    channels: list[str],
    segment: str,
    segment_days: int | None = None,
    window=None,
    by=None,
) -> Broadcast:
    """Create a broadcast and queue its sending job (after commit). Announcing a window marks
    it ``announced`` (shown on public status pages).

    :raises ServiceError: no channel, an unknown channel or segment, empty text (422).
    """
    subject, body = (subject or "").strip(), (body or "").strip()
    if not subject:
        raise ServiceError("Enter a subject.", field="subject", status=422)
    if not body:
        raise ServiceError("Enter the message.", field="body", status=422)
    channels = [c for c in CHANNELS if c in (channels or [])]
    if not channels:
        raise ServiceError("Choose email, SMS or both.", field="channels", status=422)
    segment_condition(segment, segment_days)  # validates
    broadcast = Broadcast(
        subject=subject[:200],
        body=body,
        channels=channels,
        segment=segment,
        segment_days=segment_days if segment == SEGMENT_RECENT_TICKETS else None,
        window_id=window.id if window is not None else None,
        status=QUEUED,
        created_by_id=getattr(by, "id", None),
        created_at=utcnow(),
    )
    if window is not None:
        window.announced = True
    db.session.add(broadcast)
    db.session.flush()
    events.publish(db.session, "broadcast.created", broadcast_id=broadcast.id)
    db.session.commit()
    return broadcast


@events.after_commit("broadcast.created")
def _enqueue_after_commit(ev: events.DomainEvent) -> None:
    from crm.queue import enqueue

    enqueue(SEND_JOB, ev.payload["broadcast_id"], job_timeout=3600)
