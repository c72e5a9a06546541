"""Refresh tokens of the API: opaque, stored hashed, rotated on every use, grouped in families.

Every log-in through ``POST /api/v1/auth/token`` starts a :class:`TokenFamily` and hands out
its first :class:`RefreshToken`. ``POST /api/v1/auth/refresh`` trades a refresh token for a
new access token and a new refresh token of the same family, and marks the old one
``rotated``. Presenting a rotated token again means two parties hold it (the legitimate
client and a thief), so the whole family is revoked: refresh token rotation with reuse
detection, OAuth 2.0 Security Best Current Practice, RFC 9700 §4.14.2.

Access tokens (JWTs, :mod:`crm.api.auth`) carry the family id as their ``sid`` claim, and
:func:`crm.api.auth.authenticate_bearer` refuses them once the family is revoked (one
primary-key lookup), so log-out, reuse detection, a password change and deactivation take
effect at once rather than when the 15-minute access token expires.

The raw refresh token (``secrets.token_urlsafe(32)``, 256 bits) is shown to the client once;
the table stores only its SHA-256. Times are UTC; lifetimes come from
``REFRESH_TOKEN_TTL_SECONDS`` (default 30 days) and ``JWT_ACCESS_TTL_SECONDS`` (900 s).
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ForeignKey, Index, String, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from crm import events
from crm.auth.models import ACTIVE, User
from crm.clock import utcnow
from crm.errors import ServiceError
from crm.extensions import db
from crm.types import UTCDateTime


class TokenFamily(db.Model):
    """One API log-in: the chain of refresh tokens rotated from its first one.

    ``revoked_at`` set means every refresh token of the family is refused and every access
    token whose ``sid`` names it stops working. ``revoke_reason``: ``logout``,
    ``reuse_detected``, ``password_changed``, ``account_disabled`` …
    """

    __tablename__ = "refresh_token_families"
    __table_args__ = (Index("ix_refresh_token_families_user_revoked", "user_id", "revoked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoke_reason: Mapped[str | None] = mapped_column(String(32))


class RefreshToken(db.Model):
    """One refresh token of a family. Valid while unexpired, not rotated and its family is
    not revoked; ``rotated_at`` is set when it was exchanged for its successor."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_tokens_family", "family_id"),
        Index("ix_refresh_tokens_expires", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(
        ForeignKey("refresh_token_families.id", ondelete="CASCADE")
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RefreshRefused(ServiceError):
    """A refresh token was unknown, expired, rotated (reuse), revoked, or its account may no
    longer use the API (HTTP 401). ``message`` is safe to show the client."""

    def __init__(self, message: str):
        super().__init__(message, field=None, status=401)


@dataclass(frozen=True)
class TokenPair:
    """What the token endpoints answer: a JWT access token and an opaque refresh token.

    ``expires_in`` and ``refresh_expires_in`` are lifetimes in seconds.
    """

    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    family_id: int
    token_type: str = "Bearer"


def hash_token(raw: str) -> str:
    """SHA-256 hex digest of a raw refresh token (what the table stores)."""
    return hashlib.sha256(raw.encode()).hexdigest()


def _new_refresh_token(family_id: int) -> tuple[str, RefreshToken, int]:
    ttl = current_app.config["REFRESH_TOKEN_TTL_SECONDS"]
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    row = RefreshToken(
        family_id=family_id,
        token_hash=hash_token(raw),
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
    )
    db.session.add(row)
    return raw, row, ttl


def _pair(user: User, family_id: int) -> TokenPair:
    from crm.api.auth import issue_access_token

    raw, _row, refresh_ttl = _new_refresh_token(family_id)
    access, access_ttl = issue_access_token(user, family_id)
    return TokenPair(
        access_token=access,
        expires_in=access_ttl,
        refresh_token=raw,
        refresh_expires_in=refresh_ttl,
        family_id=family_id,
    )


def issue_token_pair(user: User) -> TokenPair:
    """Start a new family for ``user`` (one API log-in) and commit.

    :returns: the first access and refresh token of the family.
    """
    family = TokenFamily(user_id=user.id, created_at=utcnow())
    db.session.add(family)
    db.session.flush()
    pair = _pair(user, family.id)
    db.session.commit()
    return pair


def rotate(raw_refresh_token: str) -> TokenPair:
    """Exchange a refresh token for a new pair of the same family and commit.

    The token is claimed first, with a guarded ``UPDATE … SET rotated_at WHERE rotated_at IS
    NULL``: of two concurrent requests with the same token exactly one succeeds and the other
    counts as reuse, on PostgreSQL (row lock) and SQLite (the write lock taken before any
    read, so no stale snapshot) alike.

    :raises RefreshRefused: (401) the token is unknown, expired or of a revoked family; or it
        was already rotated, in which case the whole family is revoked first and committed
        (RFC 9700 §4.14.2); or the account is no longer active (the family is revoked).
    """
    now = utcnow()
    token_hash = hash_token(raw_refresh_token)
    claimed = (
        db.session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == token_hash,
                RefreshToken.rotated_at.is_(None),
                RefreshToken.expires_at > now,
            )
            .values(rotated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )
    row = db.session.scalar(
        select(RefreshToken)
        .where(RefreshToken.token_hash == token_hash)
        .execution_options(populate_existing=True)
    )
    if row is None:
        db.session.rollback()
        raise RefreshRefused("Unknown refresh token.")
    family = db.session.get(TokenFamily, row.family_id, populate_existing=True)
    if family is None or family.revoked_at is not None:
        db.session.rollback()
        raise RefreshRefused("This refresh token was revoked; log in again.")
    if not claimed:
        if row.rotated_at is not None:
            _reuse_detected(family.id)
        db.session.rollback()
        raise RefreshRefused("This refresh token has expired; log in again.")
    user = db.session.get(User, family.user_id)
    if user is None or user.status != ACTIVE:
        revoke_family(family.id, "account_disabled")
        db.session.commit()
        raise RefreshRefused("This account may no longer use the API.")
    pair = _pair(user, family.id)
    db.session.commit()
    return pair


def _reuse_detected(family_id: int) -> None:
    from crm.security.audit import security_event

    revoke_family(family_id, "reuse_detected")
    db.session.commit()
    family = db.session.get(TokenFamily, family_id)
    security_event(
        "refresh_token.reused",
        user=db.session.get(User, family.user_id) if family else None,
        family_id=family_id,
        action="family_revoked",
    )
    raise RefreshRefused(
        "This refresh token was already used; every token of this log-in "
        "has been revoked. Log in again."
    )


def revoke_family(family_id: int, reason: str) -> bool:
    """Revoke one family in the current transaction (the caller commits).

    :returns: False when it was already revoked (or does not exist).
    """
    result = db.session.execute(
        update(TokenFamily)
        .where(TokenFamily.id == family_id, TokenFamily.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoke_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return (result.rowcount or 0) == 1


def revoke_all_for_user(user_id: int, reason: str) -> int:
    """Revoke every live family of a user in the current transaction (the caller commits).

    :returns: how many families were revoked.
    """
    result = db.session.execute(
        update(TokenFamily)
        .where(TokenFamily.user_id == user_id, TokenFamily.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoke_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def logout(user: User, family_id: int | None, raw_refresh_token: str | None = None) -> int:
    """Revoke the family of the caller's access token and, when given, the family of
    ``raw_refresh_token`` if it belongs to the same user (a refresh token of someone else is
    ignored, so the endpoint cannot be used to probe tokens); commits.

    :returns: how many families were revoked by this call.
    """
    ids = {family_id} if family_id else set()
    if raw_refresh_token:
        row = db.session.execute(
            select(RefreshToken.family_id, TokenFamily.user_id)
            .join(TokenFamily)
            .where(RefreshToken.token_hash == hash_token(raw_refresh_token))
        ).first()
        if row is not None and row.user_id == user.id:
            ids.add(row.family_id)
    revoked = sum(revoke_family(fid, "logout") for fid in ids)
    db.session.commit()
    return revoked


def family_is_live(family_id: int, user_id: int) -> bool:
    """True when the family exists, belongs to ``user_id`` and is not revoked (the check
    behind every bearer request: one primary-key lookup)."""
    family = db.session.get(TokenFamily, family_id)
    return family is not None and family.user_id == user_id and family.revoked_at is None


def purge_expired(older_than_days: int = 7) -> int:
    """Delete refresh tokens expired more than ``older_than_days`` days ago and families left
    without tokens; commits. Periodic job (``crm.schedule``).

    :returns: how many refresh tokens were deleted.
    """
    cutoff = utcnow() - timedelta(days=older_than_days)
    deleted = (
        db.session.execute(delete(RefreshToken).where(RefreshToken.expires_at < cutoff)).rowcount
        or 0
    )
    db.session.execute(
        delete(TokenFamily).where(
            TokenFamily.created_at < cutoff,
            ~select(RefreshToken.id).where(RefreshToken.family_id == TokenFamily.id).exists(),
        )
    )
    db.session.commit()
    return deleted


@events.in_transaction("user.credentials_changed")
def _revoke_on_credentials_change(ev: events.DomainEvent) -> None:
    """A password change or reset ends every API log-in of the user."""
    revoke_all_for_user(ev.payload["user_id"], "password_changed")


@events.in_transaction("user.deactivated")
def _revoke_on_deactivation(ev: events.DomainEvent) -> None:
    """A disabled (or deleted) account loses every API log-in."""
    revoke_all_for_user(ev.payload["user_id"], "account_disabled")
