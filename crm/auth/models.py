"""Users and roles."""
from __future__ import annotations

from datetime import datetime

from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy import BigInteger, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from crm.clock import utcnow
from crm.extensions import db
from crm.types import UTCDateTime

CUSTOMER, ENGINEER, AGENT, MANAGER, ADMIN = "customer", "engineer", "agent", "manager", "admin"
ROLES = (CUSTOMER, ENGINEER, AGENT, MANAGER, ADMIN)
STAFF_ROLES = (ENGINEER, AGENT, MANAGER, ADMIN)

ACTIVE, PENDING, REJECTED, DISABLED = "active", "pending", "rejected", "disabled"
USER_STATUSES = (ACTIVE, PENDING, REJECTED, DISABLED)


class User(UserMixin, db.Model):
    """An account: a customer, or a staff member (engineer, agent, manager, admin).

    Staff register as ``pending`` and may log in only once an admin sets them ``active``.
    Passwords are hashed with scrypt (werkzeug's default KDF).
    """

    __tablename__ = "users"
    __table_args__ = (
        Index("ix_users_role_status", "role", "status"),
        Index("ix_users_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=CUSTOMER)
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: set when the owner clicked the verification link; unverified users may log in but not
    #: use services (tickets, chat, payments).
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: mobile number in E.164 (``crm.notifications.sms.normalise_phone``) and when a code sent
    #: to it was confirmed; only a verified number may receive password-reset codes.
    phone: Mapped[str | None] = mapped_column(String(20))
    phone_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: TOTP (RFC 6238) second factor: base32 secret (pyotp) and when it was confirmed.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: the last 30-second TOTP time step (Unix time // 30) a code was accepted for: that step
    #: and earlier ones are refused, so a code works once (RFC 6238 §5.2).
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    #: lockout: consecutive failed log-ins and the time before which log-in is refused.
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def set_password(self, password: str) -> None:
        """Hash and store ``password`` with ``PASSWORD_HASH_METHOD`` (default werkzeug's scrypt;
        the test config uses a cheap method, as Django's test settings do)."""
        method = (
            current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
            if has_app_context()
            else "scrypt"
        )
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password: str) -> bool:
        """Return True when ``password`` matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    def get_id(self) -> str:
        """Flask-Login: ``"<id>:<session key>"`` once :func:`crm.sessions.services.start_session`
        gave this object a key (so revoking the session logs the browser out), else ``"<id>"``."""
        key = getattr(self, "session_key", None)
        return f"{self.id}:{key}" if key else str(self.id)

    @property
    def is_verified(self) -> bool:
        """True once the email address was verified."""
        return self.email_verified_at is not None

    @property
    def is_staff(self) -> bool:
        """True for engineer, agent, manager and admin."""
        return self.role in STAFF_ROLES

    @property
    def is_active(self) -> bool:  # Flask-Login: only active accounts keep a session
        """Flask-Login hook: pending, rejected and disabled accounts cannot hold a session."""
        return self.status == ACTIVE

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role}/{self.status}>"


def normalise_email(email: str) -> str:
    """Return ``email`` trimmed and lower-cased: the form stored and looked up."""
    return email.strip().lower()


def find_user_by_email(email: str) -> User | None:
    """Return the user with that email (case-insensitive), or None."""
    return db.session.scalar(
        db.select(User).where(func.lower(User.email) == normalise_email(email))
    )
