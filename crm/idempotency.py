"""Idempotency keys: a retried create returns what the first attempt created.

Follows the IETF HTTPAPI draft "The Idempotency-Key HTTP Header Field"
(draft-ietf-httpapi-idempotency-key-header): the client sends a unique key with a
non-idempotent request; the server remembers (user, operation, key) together with a
fingerprint of the request, returns the first result to a repeat with the same key, and
refuses a repeat whose payload differs (422). The key is remembered in the same transaction
as the resource it produced, so a rolled-back creation leaves no key behind.

Callers serialise the look-up and the insert themselves (ticket creation holds the
assignment lock); the unique constraint is the backstop.
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, mapped_column

from crm.clock import utcnow
from crm.errors import ServiceError
from crm.extensions import db
from crm.types import UTCDateTime

#: visible ASCII, 1–255 characters (a UUID, a ULID, an order number …).
_KEY_RE = re.compile(r"[\x21-\x7e]{1,255}")
HEADER = "Idempotency-Key"
#: the header as an OpenAPI parameter (without ``in``), for operations that accept it
HEADER_PARAMETER = {
    "name": HEADER,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[\x21-\x7e]+$"},
    "description": "Makes a retry safe: a repeat with the same key and body answers the first "
                   "result again (header Idempotent-Replayed: true); the same key with another "
                   "body is a 422.",
}


class IdempotencyKey(db.Model):
    """A key a user sent with a create request, and the id of what that request created."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        Index("ux_idempotency_keys_user_scope_key", "user_id", "scope", "key", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def check_key(key: str | None) -> str | None:
    """Validate a client's key. :returns: the key, or None when none was sent.

    :raises ServiceError: 400 naming ``idempotency_key`` for an empty, over-long (>255) or
        non-printable-ASCII key.
    """
    if key is None:
        return None
    if not _KEY_RE.fullmatch(key):
        raise ServiceError("Idempotency-Key must be 1–255 visible ASCII characters.",
                           field="idempotency_key", status=400)
    return key


def fingerprint(payload: dict) -> str:
    """SHA-256 (hex) of ``payload`` as canonical JSON: what "the same request" means."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def replayed_id(user_id: int, scope: str, key: str | None, payload_fingerprint: str) -> int | None:
    """The resource id an earlier request with this key created, or None.

    :raises ServiceError: 422 when the key was used with a different payload.
    """
    if key is None:
        return None
    row = db.session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id,
            IdempotencyKey.scope == scope,
            IdempotencyKey.key == key,
        )
    )
    if row is None:
        return None
    if row.fingerprint != payload_fingerprint:
        raise ServiceError(
            "This Idempotency-Key was already used with a different request.",
            field="idempotency_key",
            status=422,
        )
    return row.resource_id


def remember(
    user_id: int, scope: str, key: str | None, payload_fingerprint: str, resource_id: int
) -> None:
    """Record ``key`` → ``resource_id`` in the current transaction (no-op without a key)."""
    if key is not None:
        db.session.add(
            IdempotencyKey(
                user_id=user_id,
                scope=scope,
                key=key,
                fingerprint=payload_fingerprint,
                resource_id=resource_id,
                created_at=utcnow(),
            )
        )
