"""The session record behind every console log-in."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.clock import utcnow
from crm.extensions import db
from crm.types import UTCDateTime


class UserSession(db.Model):
    """One log-in of one user in one browser.

    The browser holds a random key (inside Flask's signed session cookie and, with "remember
    me", the remember cookie); the table stores only its SHA-256 (``key_hash``). A session is
    *active* while ``ended_at`` is NULL; log-out, revocation (by the user or an admin) and a
    password reset set ``ended_at`` and ``end_reason``, and the next request carrying the key
    is treated as logged out. All times UTC.
    """

    __tablename__ = "user_sessions"
    __table_args__ = (
        Index("ix_user_sessions_user_created", "user_id", "created_at"),
        Index("ix_user_sessions_active_seen", "ended_at", "last_seen_at"),
        Index("ix_user_sessions_created", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    method: Mapped[str] = mapped_column(
        String(16), default="password"
    )  # password | oidc | register
    remember: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(
        String(32)
    )  # logout | revoked | password_reset | …
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    user = relationship("User", foreign_keys=[user_id], lazy="joined")

    @property
    def is_active(self) -> bool:
        """True until the session was logged out or revoked."""
        return self.ended_at is None
