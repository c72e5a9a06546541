"""Optional TOTP second factor (RFC 6238, 30-second steps, 6 digits, SHA-1: what
authenticator apps expect), with pyotp.

A user sets it up by scanning/typing a base32 secret and confirming one code; from then on
log-in asks for a code after the password. Admins may require it for staff roles with the
site setting ``security.require_totp_roles`` (a list of role names).

A code works once: :func:`verify` records the time step it was accepted for in
``users.totp_last_step`` and refuses that step and every earlier one afterwards (RFC 6238
§5.2), so a code read over someone's shoulder or from a log cannot be replayed, not even in the
step of drift that is still accepted for clock skew. Two concurrent requests with the same
code: a guarded UPDATE lets exactly one of them through.
"""
from __future__ import annotations

import hmac

import pyotp
from sqlalchemy import or_, update
from sqlalchemy.orm.attributes import set_committed_value

from crm.auth.models import STAFF_ROLES, User
from crm.clock import utcnow
from crm.errors import ServiceError
from crm.extensions import db
from crm.security.audit import security_event
from crm.settings import get_setting, set_setting

ISSUER = "CR Tracker"
REQUIRED_ROLES_SETTING = "security.require_totp_roles"
#: accept the code of the previous and the next 30-second step too (clock drift, RFC 6238 §5.2).
VALID_WINDOW = 1
#: seconds per time step (RFC 6238's default X, what authenticator apps use).
STEP_SECONDS = 30


def new_secret() -> str:
    """A random base32 secret (160 bits, RFC 4226 §4 recommends at least 128)."""
    return pyotp.random_base32(32)


def provisioning_uri(user: User, secret: str) -> str:
    """The ``otpauth://totp/...`` URI authenticator apps import (Key Uri Format)."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def current_step() -> int:
    """The RFC 6238 time step of the product clock's now: Unix seconds // :data:`STEP_SECONDS`."""
    return int(utcnow().timestamp()) // STEP_SECONDS


def matching_step(secret: str | None, code: str | None) -> int | None:
    """The time step, within :data:`VALID_WINDOW` steps of now, whose code for ``secret`` is
    ``code`` (digits; spaces ignored), or None. Codes are compared in constant time."""
    code = (code or "").replace(" ", "")
    if not secret or not code.isdigit() or len(code) != 6:
        return None
    otp = pyotp.TOTP(secret)
    now = current_step()
    for step in range(now - VALID_WINDOW, now + VALID_WINDOW + 1):
        if hmac.compare_digest(otp.generate_otp(step), code):
            return step
    return None


def code_is_valid(secret: str, code: str) -> bool:
    """True when ``code`` matches ``secret`` within :data:`VALID_WINDOW` steps of now. This does
    not use the code up: to accept a code from a user, call :func:`verify`."""
    return matching_step(secret, code) is not None


def _claim_step(user: User, step: int) -> bool:
    """Record ``step`` as used unless it (or a later one) already is; True when this call did.

    A guarded UPDATE, so of two concurrent requests with the same code exactly one wins (the
    row lock on PostgreSQL, the write lock on SQLite)."""
    won = db.session.execute(
        update(User).where(User.id == user.id,
                           or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step).execution_options(synchronize_session=False)).rowcount == 1
    if won:
        set_committed_value(user, "totp_last_step", step)
    return won


def verify(user: User, code: str | None) -> bool:
    """Accept ``code`` from ``user`` (TOTP on) once: True when it matches a step within
    :data:`VALID_WINDOW` of now that is later than the last step accepted for the user, which
    it then becomes; commits when accepted.

    :returns: False for a wrong code, a code already used, or a code older than one used.
    """
    step = matching_step(user.totp_secret, code)
    if step is None:
        security_event("totp.failed", user=user, reason="missing" if not code else "wrong_code")
        return False
    if user.totp_last_step is not None and step <= user.totp_last_step:
        security_event("totp.failed", user=user, reason="reused_code")
        return False
    if not _claim_step(user, step):
        db.session.rollback()
        security_event("totp.failed", user=user, reason="reused_code")
        return False
    db.session.commit()
    return True


def enable(user: User, secret: str, code: str) -> None:
    """Turn TOTP on for ``user`` with ``secret`` once ``code`` proves the app has it; commits.
    The code is used up (it cannot log in afterwards).

    :raises ServiceError: 422 (field ``code``) for a wrong code.
    """
    step = matching_step(secret, code)
    if step is None:
        raise ServiceError("That code is not right. Check the time on your device and try again.",
                           field="code", status=422)
    user.totp_secret = secret
    user.totp_enabled_at = utcnow()
    user.totp_last_step = step
    db.session.commit()


def disable(user: User, code: str) -> None:
    """Turn TOTP off after a valid current code; commits.

    :raises ServiceError: 422 for a wrong code; 409 when the user's role requires TOTP.
    """
    if is_required(user):
        raise ServiceError("Two-factor log-in is required for your role and cannot be turned off.")
    if not verify(user, code):
        raise ServiceError("That code is not right (each code works once: wait for the next one).",
                           field="code", status=422)
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.commit()


def required_roles() -> list[str]:
    """Staff roles for which an admin requires TOTP (setting ``security.require_totp_roles``)."""
    value = get_setting(REQUIRED_ROLES_SETTING, []) or []
    return [r for r in value if r in STAFF_ROLES]


def set_required_roles(roles: list[str], by: User) -> None:
    """Store the roles that must use TOTP; commits.

    :raises ServiceError: 422 for a role that is not a staff role.
    """
    unknown = [r for r in roles if r not in STAFF_ROLES]
    if unknown:
        raise ServiceError(
            f"Only staff roles can be required to use two-factor log-in: {', '.join(unknown)}.",
            field="roles",
            status=422,
        )
    set_setting(REQUIRED_ROLES_SETTING, sorted(set(roles)), by=by)


def is_required(user: User) -> bool:
    """True when ``user``'s role must use TOTP."""
    return user.role in STAFF_ROLES and user.role in required_roles()


def setup_pending(user: User) -> bool:
    """True when ``user`` must set TOTP up before using anything else."""
    return user.totp_enabled_at is None and user.role in STAFF_ROLES and is_required(user)
