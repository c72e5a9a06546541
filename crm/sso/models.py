"""Links between accounts and identities at an OpenID Connect provider."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.clock import utcnow
from crm.extensions import db
from crm.types import UTCDateTime


class OidcIdentity(db.Model):
    """One provider identity (``issuer`` + ``subject``, the pair OpenID Connect Core §2 says
    is unique and stable) linked to one account; an account may have several."""

    __tablename__ = "oidc_identities"
    __table_args__ = (
        UniqueConstraint("issuer", "subject", name="uq_oidc_identities_issuer_subject"),
        Index("ix_oidc_identities_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    email: Mapped[str | None] = mapped_column(String(254))  # as the provider last said
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(User, lazy="joined")

    def __repr__(self) -> str:
        return f"<OidcIdentity {self.issuer} {self.subject} → user {self.user_id}>"
