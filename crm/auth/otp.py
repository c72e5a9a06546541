"""One-time codes sent by SMS: phone verification and password reset (table ``otp_codes``).

A code is ``OTP_DIGITS`` (4 or 6) random decimal digits drawn with :func:`secrets.randbelow`
(a CSPRNG). pyotp is the right tool for TOTP/HOTP (RFC 6238/4226: codes derived from a
shared secret and a clock or counter); an SMS code is a plain random secret, so there is
nothing to derive and ``secrets`` is all it takes.

Rules (OWASP Authentication and Forgot Password cheat sheets, NIST SP 800-63B §5.1.3):

* only an HMAC-SHA256 of the code (keyed with ``SECRET_KEY``) is stored, compared with
  :func:`hmac.compare_digest`;
* valid ``OTP_TTL_SECONDS`` (UTC, :func:`crm.clock.utcnow`), single use;
* at most ``OTP_MAX_ATTEMPTS`` guesses, counted with an atomic ``UPDATE … WHERE attempts <
  max`` so parallel guesses cannot exceed it; then the code is dead;
* a new code only after ``OTP_RESEND_COOLDOWN_SECONDS``; a new code kills the previous one.

Each row is found by its ``subject``: an HMAC of the purpose and what the code was asked for
(the user id for phone verification; the email or phone number typed for a reset). A reset
asked for an account that does not exist, or has no verified phone, still gets a row — a
*decoy* with ``user_id`` NULL whose code is never sent and never matches — so requesting,
resending and guessing behave and answer exactly alike whether or not the account exists
(no account enumeration).
"""
from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ForeignKey, Index, String, delete, false, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.clock import utcnow
from crm.errors import ServiceError
from crm.extensions import db
from crm.types import UTCDateTime

VERIFY_PHONE, RESET_PASSWORD = "verify_phone", "reset_password"
PURPOSES = (VERIFY_PHONE, RESET_PASSWORD)

#: outcomes of :func:`check`
OK, WRONG, EXPIRED, EXHAUSTED, USED, MISSING = (
    "ok",
    "wrong",
    "expired",
    "exhausted",
    "used",
    "missing",
)


class OtpCode(db.Model):
    """One code sent by SMS (its HMAC only). ``user_id`` is NULL for a decoy (see module doc);
    ``phone`` is the E.164 number it was sent to."""

    __tablename__ = "otp_codes"
    __table_args__ = (
        Index("ix_otp_codes_subject_created", "subject", "created_at"),
        Index("ix_otp_codes_user_purpose_created", "user_id", "purpose", "created_at"),
        Index("ix_otp_codes_expires", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    phone: Mapped[str | None] = mapped_column(String(20))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    max_attempts: Mapped[int] = mapped_column(default=5, server_default="5")
    #: when the code was used, or killed by a newer code or a password change
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user = relationship("User")

    @property
    def resend_at(self) -> datetime:
        """When a new code may be asked for (UTC): ``created_at`` + the resend cool-down."""
        return self.created_at + timedelta(
            seconds=current_app.config["OTP_RESEND_COOLDOWN_SECONDS"]
        )


class OtpCooldown(ServiceError):
    """A new code was asked for before ``OTP_RESEND_COOLDOWN_SECONDS`` passed (HTTP 429).

    :param retry_after: whole seconds to wait.
    """

    def __init__(self, retry_after: int):
        super().__init__(
            f"A code was sent recently. You can ask for a new one in {retry_after} seconds.",
            field="code",
            status=429,
        )
        self.retry_after = retry_after


@dataclass
class OtpCheck:
    """Outcome of :func:`check`: ``status`` is ok | wrong | expired | exhausted | used |
    missing; ``row`` the code checked (None for missing); ``attempts_left`` after this guess."""

    status: str
    row: OtpCode | None = None
    attempts_left: int = 0

    @property
    def message(self) -> str:
        """A sentence for the person (the same for real and decoy codes)."""
        if self.status == OK:
            return "Code accepted."
        if self.status == WRONG and self.attempts_left > 0:
            plural = "attempt" if self.attempts_left == 1 else "attempts"
            return f"That code is not right. {self.attempts_left} {plural} left."
        if self.status in (WRONG, EXHAUSTED):
            return "Too many wrong codes: this code no longer works. Ask for a new code."
        if self.status == EXPIRED:
            return "This code has expired. Ask for a new code."
        return "There is no valid code to check. Ask for a new code."


def _hmac(message: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def subject_for(purpose: str, key: str | int) -> str:
    """The lookup key of the codes for ``purpose`` asked for by ``key`` (a user id for
    phone verification; the normalised email or E.164 number typed for a reset)."""
    return _hmac(f"subject:{purpose}:{key}")


def hash_code(code: str, subject: str) -> str:
    """HMAC-SHA256 (key ``SECRET_KEY``) of ``code`` bound to its ``subject``: a database
    leak alone does not let anyone try the 10⁶ codes offline."""
    return _hmac(f"code:{subject}:{code}")


def generate_code(digits: int) -> str:
    """``digits`` random decimal digits (leading zeros kept), from :func:`secrets.randbelow`."""
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def latest(subject: str) -> OtpCode | None:
    """The newest code of ``subject`` (used, dead or not), or None."""
    return db.session.scalar(
        select(OtpCode)
        .where(OtpCode.subject == subject)
        .order_by(OtpCode.created_at.desc(), OtpCode.id.desc())
        .limit(1)
    )


def _last_for_user(user_id: int, purpose: str) -> OtpCode | None:
    return db.session.scalar(
        select(OtpCode)
        .where(OtpCode.user_id == user_id, OtpCode.purpose == purpose)
        .order_by(OtpCode.created_at.desc(), OtpCode.id.desc())
        .limit(1)
    )


def issue(
    purpose: str, subject: str, *, user=None, phone: str | None = None
) -> tuple[OtpCode, str]:
    """Create a code in the current transaction (the caller queues the SMS and commits).

    Earlier live codes of ``subject`` (and of ``user`` for ``purpose``) are killed.

    :param user: the account, or None for a decoy (a code nobody receives).
    :param phone: E.164 number the code goes to (None for a decoy).
    :returns: (the row, the raw code — put it in the SMS, never store it).
    :raises OtpCooldown: the previous code of this subject or user is younger than
        ``OTP_RESEND_COOLDOWN_SECONDS``.
    :raises ValueError: an unknown purpose.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown code purpose {purpose!r}")
    cfg = current_app.config
    now = utcnow()
    previous = [row for row in (latest(subject), user and _last_for_user(user.id, purpose)) if row]
    for row in previous:
        wait = (row.resend_at - now).total_seconds()
        if wait > 0:
            raise OtpCooldown(math.ceil(wait))
    live = or_(
        OtpCode.subject == subject,
        (OtpCode.user_id == user.id) & (OtpCode.purpose == purpose) if user else false(),
    )
    db.session.execute(
        update(OtpCode)
        .where(live, OtpCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    raw = generate_code(cfg["OTP_DIGITS"])
    row = OtpCode(
        purpose=purpose,
        subject=subject,
        user_id=user.id if user else None,
        phone=phone,
        code_hash=hash_code(raw, subject),
        created_at=now,
        expires_at=now + timedelta(seconds=cfg["OTP_TTL_SECONDS"]),
        attempts=0,
        max_attempts=cfg["OTP_MAX_ATTEMPTS"],
    )
    db.session.add(row)
    db.session.flush()
    return row, raw


def sms_text(code: str, purpose: str) -> str:
    """The SMS body for ``code``: what it is for, how long it lasts, not to share it."""
    minutes = max(1, current_app.config["OTP_TTL_SECONDS"] // 60)
    what = "password reset" if purpose == RESET_PASSWORD else "phone verification"
    return (
        f"{code} is your CR Tracker {what} code. It expires in {minutes} min. "
        "Never share it: we will never ask you for it."
    )


def send(purpose: str, subject: str, user, phone: str) -> OtpCode:
    """:func:`issue` a code for ``user`` and queue it by SMS to ``phone`` (the outbox); the
    caller commits.

    :raises OtpCooldown: see :func:`issue`.
    """
    from crm.notifications.services import queue_sms

    row, raw = issue(purpose, subject, user=user, phone=phone)
    queue_sms([phone], sms_text(raw, purpose), event=f"otp.{purpose}")
    return row


def check(subject: str, code: str) -> OtpCheck:
    """Try ``code`` against the newest code of ``subject``; counts the attempt and marks the
    code used when it matches (in the current transaction: the caller commits either way, so
    wrong guesses are counted).

    A decoy never matches. :returns: an :class:`OtpCheck`; only ``ok`` authorises anything.
    """
    row = latest(subject)
    if row is None:
        return OtpCheck(MISSING)
    if row.used_at is not None:
        return OtpCheck(USED, row)
    if row.expires_at <= utcnow():
        return OtpCheck(EXPIRED, row)
    counted = db.session.execute(
        update(OtpCode)
        .where(
            OtpCode.id == row.id, OtpCode.attempts < OtpCode.max_attempts, OtpCode.used_at.is_(None)
        )
        .values(attempts=OtpCode.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    if counted.rowcount != 1:
        return OtpCheck(EXHAUSTED, row)
    db.session.refresh(row)
    left = max(0, row.max_attempts - row.attempts)
    matches = hmac.compare_digest(row.code_hash, hash_code((code or "").strip(), subject))
    if matches and row.user_id is not None:
        row.used_at = utcnow()
        return OtpCheck(OK, row, left)
    return OtpCheck(WRONG, row, left)


def kill_for_user(user_id: int, purpose: str) -> None:
    """Mark every live code of ``user_id`` for ``purpose`` used (e.g. the password changed)."""
    db.session.execute(
        update(OtpCode)
        .where(OtpCode.user_id == user_id, OtpCode.purpose == purpose, OtpCode.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def purge(now: datetime | None = None) -> int:
    """Delete codes that expired more than a day ago (a day of history for support); commits.

    :returns: how many rows were deleted.
    """
    cutoff = (now or utcnow()) - timedelta(days=1)
    result = db.session.execute(delete(OtpCode).where(OtpCode.expires_at <= cutoff))
    db.session.commit()
    return result.rowcount or 0


def purge_codes_job() -> int:
    """Periodic job (``crm/schedule.py``, id ``auth.purge_otp_codes``): :func:`purge` in an
    app context; returns how many codes were deleted."""
    from crm.workers_app import with_app_context

    return with_app_context(purge)()
