"""Single-use account tokens sent by email: email verification and password reset.

The raw token (``secrets.token_urlsafe(32)``, 256 bits) goes only into the link; the table
keeps its SHA-256. A token is valid until ``expires_at`` (UTC) and only once (``used_at``).
OWASP Forgot Password Cheat Sheet: random, stored hashed, short-lived, single-use.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Index, String, delete, or_, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.clock import utcnow
from crm.extensions import db
from crm.types import UTCDateTime

VERIFY_EMAIL, RESET_PASSWORD = "verify_email", "reset_password"
PURPOSES = (VERIFY_EMAIL, RESET_PASSWORD)

OK, EXPIRED, USED, INVALID = "ok", "expired", "used", "invalid"


class AccountToken(db.Model):
    """One emailed token (hash only). ``email`` records the address it was sent to, so a link
    for an address the user has since changed is refused."""

    __tablename__ = "account_tokens"
    __table_args__ = (Index("ix_account_tokens_user_purpose", "user_id", "purpose", "created_at"),
                      Index("ix_account_tokens_expires", "expires_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user = relationship("User", lazy="joined")


@dataclass
class TokenCheck:
    """Outcome of :func:`consume`: ``status`` is ok | expired | used | invalid; ``token`` is
    the row when one matched (its ``user`` too), else None."""

    status: str
    token: AccountToken | None = None


def hash_token(raw: str) -> str:
    """SHA-256 hex digest of a raw token."""
    return hashlib.sha256(raw.encode()).hexdigest()


def issue(user, purpose: str, ttl_seconds: int) -> str:
    """Create a token for ``user`` in the current transaction (caller commits).

    :param purpose: ``verify_email`` or ``reset_password``.
    :param ttl_seconds: lifetime in seconds (``VERIFY_TOKEN_TTL_SECONDS``,
        ``RESET_TOKEN_TTL_SECONDS``).
    :returns: the raw token, to put in the emailed link (never stored).
    :raises ValueError: an unknown purpose.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(
        AccountToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=hash_token(raw),
            email=user.email,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
    )
    db.session.flush()
    return raw


def peek(raw: str, purpose: str) -> TokenCheck:
    """Check a token without using it up (e.g. to show the reset form)."""
    row = db.session.scalar(
        select(AccountToken).where(
            AccountToken.token_hash == hash_token(raw or ""), AccountToken.purpose == purpose
        )
    )
    if row is None or row.user is None or row.user.email != row.email:
        return TokenCheck(INVALID, row)
    if row.used_at is not None:
        return TokenCheck(USED, row)
    if row.expires_at <= utcnow():
        return TokenCheck(EXPIRED, row)
    return TokenCheck(OK, row)


def consume(raw: str, purpose: str) -> TokenCheck:
    """Use a token: on ``ok`` it is marked used (in the current transaction; the caller
    commits, in the same transaction as the change the token authorises).

    :returns: a :class:`TokenCheck`; only ``ok`` authorises anything.
    """
    check = peek(raw, purpose)
    if check.status == OK:
        check.token.used_at = utcnow()
    return check


def invalidate(user_id: int, purpose: str) -> None:
    """Mark every unused token of ``user_id`` for ``purpose`` used (a newer one replaces them,
    or the password changed)."""
    for row in db.session.scalars(
        select(AccountToken).where(
            AccountToken.user_id == user_id,
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
        )
    ):
        row.used_at = utcnow()


def purge(now: datetime | None = None, *, keep_used_seconds: int = 0) -> int:
    """Delete expired and used tokens (the scheduled clean-up job); commits.

    :param keep_used_seconds: keep a used token this long after its use (until it expires at
        the latest), so a second click on a verification link can still be told "already
        verified".
    :returns: how many rows were deleted.
    """
    now = now or utcnow()
    used_before = now - timedelta(seconds=keep_used_seconds)
    result = db.session.execute(
        delete(AccountToken).where(
            or_(AccountToken.used_at <= used_before, AccountToken.expires_at <= now)
        )
    )
    db.session.commit()
    return result.rowcount or 0
