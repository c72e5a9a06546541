"""Email verification: the emailed link, its outcome, resending, and the "verified only" rule.

The link carries a single-use token from :mod:`crm.auth.tokens` (stored as a SHA-256 hash,
valid ``VERIFY_TOKEN_TTL_SECONDS``, default 2 h). A new link replaces the older ones. A
resend is allowed once per ``VERIFY_RESEND_COOLDOWN_SECONDS`` per account.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from flask import current_app, render_template
from sqlalchemy import select

from crm import events
from crm.auth import tokens
from crm.auth.models import User
from crm.clock import utcnow
from crm.errors import ServiceError, problem
from crm.extensions import db

VERIFIED, ALREADY, EXPIRED, SUPERSEDED, INVALID = (
    "verified",
    "already",
    "expired",
    "superseded",
    "invalid",
)

#: what an unverified user is told when a service needs a verified address.
VERIFY_FIRST = "Verify your email address to use this."


class ResendTooSoon(ServiceError):
    """A new link was asked for within the cooldown (HTTP 429).

    :param retry_after: whole seconds until a resend is allowed.
    """

    def __init__(self, retry_after: int):
        self.retry_after = max(1, int(retry_after))
        super().__init__(
            f"A verification email was sent moments ago. You can ask for another in "
            f"{self.retry_after} second{'s' if self.retry_after != 1 else ''}.",
            status=429,
        )


@dataclass
class VerifyOutcome:
    """Result of :func:`verify_link`: ``status`` is verified | already | expired | superseded
    | invalid; ``user`` is the account the link belongs to when known."""

    status: str
    user: User | None = None


def _link(raw: str) -> str:
    return f"{current_app.config['SERVER_NAME_FOR_LINKS'].rstrip('/')}/auth/verify/{raw}"


def send_link(user: User) -> str:
    """Issue a new verification token for ``user`` (older unused ones stop working) and queue
    the ``verify_email`` email to ``user.email``, in the current transaction (caller commits).

    :returns: the raw token (only in the email; tests read it from there).
    """
    tokens.invalidate(user.id, tokens.VERIFY_EMAIL)
    ttl = current_app.config["VERIFY_TOKEN_TTL_SECONDS"]
    raw = tokens.issue(user, tokens.VERIFY_EMAIL, ttl)
    from crm.notifications.services import queue_templated

    hours = ttl / 3600
    queue_templated(
        "verify_email",
        [user.email],
        event="user.verification_sent",
        user={"name": user.name, "email": user.email},
        link=_link(raw),
        valid_for=f"{hours:g} hour{'s' if hours != 1 else ''}"
        if ttl >= 3600
        else f"{ttl // 60} minutes",
    )
    return raw


def verify_link(raw: str) -> VerifyOutcome:
    """Use a verification link: on success set ``email_verified_at``, queue the
    ``email_verified`` email, publish ``user.email_verified`` and commit.

    A link of an already verified address (clicked twice, or after expiry) answers
    ``already``; an expired one ``expired``; one replaced by a newer link ``superseded``.
    """
    check = tokens.peek(raw, tokens.VERIFY_EMAIL)
    row = check.token
    user = row.user if row is not None else None
    if check.status == tokens.INVALID:
        return VerifyOutcome(INVALID, None)
    if user.is_verified:
        return VerifyOutcome(ALREADY, user)
    if check.status == tokens.EXPIRED:
        return VerifyOutcome(EXPIRED, user)
    if check.status == tokens.USED:
        return VerifyOutcome(SUPERSEDED, user)
    tokens.consume(raw, tokens.VERIFY_EMAIL)
    user.email_verified_at = utcnow()
    from crm.notifications.services import queue_templated

    queue_templated(
        "email_verified",
        [user.email],
        event="user.email_verified",
        user={"name": user.name, "email": user.email},
    )
    events.publish(db.session, "user.email_verified", user_id=user.id)
    db.session.commit()
    return VerifyOutcome(VERIFIED, user)


def resend(user: User) -> None:
    """Send a fresh link to an unverified ``user`` and commit.

    :raises ServiceError: 409 when the address is already verified.
    :raises ResendTooSoon: 429 within ``VERIFY_RESEND_COOLDOWN_SECONDS`` of the last link.
    """
    if user.is_verified:
        raise ServiceError("Your email is already verified.")
    last = db.session.scalar(
        select(tokens.AccountToken.created_at)
        .where(
            tokens.AccountToken.user_id == user.id,
            tokens.AccountToken.purpose == tokens.VERIFY_EMAIL,
        )
        .order_by(tokens.AccountToken.created_at.desc())
        .limit(1)
    )
    cooldown = current_app.config["VERIFY_RESEND_COOLDOWN_SECONDS"]
    if last is not None:
        wait = math.ceil(cooldown - (utcnow() - last).total_seconds())
        if wait > 0:
            raise ResendTooSoon(wait)
    send_link(user)
    db.session.commit()


def user_of_link(raw: str) -> User | None:
    """The unverified account an expired or replaced link was sent to (the "send me a new
    link" button on the expired-link page), else None."""
    check = tokens.peek(raw or "", tokens.VERIFY_EMAIL)
    if check.status in (tokens.EXPIRED, tokens.USED) and check.token.user is not None:
        return check.token.user
    return None


def unverified_response(api: bool):
    """The 403 answer for an unverified user asking for a service that needs a verified
    address: problem+json for the API, a page with a resend button for the console."""
    if api:
        return problem(403, "Forbidden", VERIFY_FIRST)
    return render_template("auth/verify_required.html", message=VERIFY_FIRST), 403
