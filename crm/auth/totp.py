"""Optional TOTP second factor (RFC 6238, 30-second steps, 6 digits, SHA-1: what
authenticator apps expect), with pyotp.

A user sets it up by scanning/typing a base32 secret and confirming one code; from then on
log-in asks for a code after the password. Admins may require it for staff roles with the
site setting ``security.require_totp_roles`` (a list of role names).
"""
from __future__ import annotations

import pyotp

from crm.auth.models import STAFF_ROLES, User
from crm.clock import utcnow
from crm.errors import ServiceError
from crm.extensions import db
from crm.settings import get_setting, set_setting

ISSUER = "CR Tracker"
REQUIRED_ROLES_SETTING = "security.require_totp_roles"
#: accept the code of the previous and the next 30-second step too (clock drift, RFC 6238 §5.2).
VALID_WINDOW = 1


def new_secret() -> str:
    """A random base32 secret (160 bits, RFC 4226 §4 recommends at least 128)."""
    return pyotp.random_base32(32)


def provisioning_uri(user: User, secret: str) -> str:
    """The ``otpauth://totp/...`` URI authenticator apps import (Key Uri Format)."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def code_is_valid(secret: str, code: str) -> bool:
    """True when ``code`` (digits; spaces ignored) matches ``secret`` at the product clock's now,
    within :data:`VALID_WINDOW` steps."""
    code = (code or "").replace(" ", "")
    if not secret or not code.isdigit() or len(code) != 6:
        return False
    return pyotp.TOTP(secret).verify(code, for_time=utcnow(), valid_window=VALID_WINDOW)


def enable(user: User, secret: str, code: str) -> None:
    """Turn TOTP on for ``user`` with ``secret`` once ``code`` proves the app has it; commits.

    :raises ServiceError: 422 (field ``code``) for a wrong code.
    """
    if not code_is_valid(secret, code):
        raise ServiceError("That code is not right. Check the time on your device and try again.",
                           field="code", status=422)
    user.totp_secret = secret
    user.totp_enabled_at = utcnow()
    db.session.commit()


def disable(user: User, code: str) -> None:
    """Turn TOTP off after a valid current code; commits.

    :raises ServiceError: 422 for a wrong code; 409 when the user's role requires TOTP.
    """
    if is_required(user):
        raise ServiceError("Two-factor log-in is required for your role and cannot be turned off.")
    if not code_is_valid(user.totp_secret, code):
        raise ServiceError("That code is not right.", field="code", status=422)
    user.totp_secret = None
    user.totp_enabled_at = None
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
        raise ServiceError(f"Only staff roles can be required to use two-factor log-in: {', '.join(unknown)}.",
                           field="roles", status=422)
    set_setting(REQUIRED_ROLES_SETTING, sorted(set(roles)), by=by)


def is_required(user: User) -> bool:
    """True when ``user``'s role must use TOTP."""
    return user.role in STAFF_ROLES and user.role in required_roles()


def setup_pending(user: User) -> bool:
    """True when ``user`` must set TOTP up before using anything else."""
    return user.totp_enabled_at is None and user.role in STAFF_ROLES and is_required(user)
