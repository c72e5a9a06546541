"""Account rules: registration, log-in checks, approval of staff, role/status changes."""
from __future__ import annotations

from crm import events
from crm.auth import lockout, passwords, tokens, verification
from crm.auth.models import (
    ACTIVE,
    ADMIN,
    CUSTOMER,
    DISABLED,
    PENDING,
    REJECTED,
    ROLES,
    User,
    find_user_by_email,
    normalise_email,
)
from crm.clock import utcnow
from crm.errors import NotAllowed, ServiceError
from crm.extensions import db
from crm.security.audit import security_event

MIN_PASSWORD = passwords.MIN_LENGTH
MAX_PASSWORD = passwords.MAX_LENGTH

REFUSALS = {
    PENDING: "Your registration is awaiting approval by an administrator.",
    REJECTED: "Your registration was rejected. Contact an administrator if this is a mistake.",
    DISABLED: "This account is disabled.",
}


class LoginRefused(ServiceError):
    """Credentials are right but the account may not log in (pending, rejected, disabled)."""

    def __init__(self, status: str):
        super().__init__(REFUSALS[status], status=403)
        self.account_status = status


def validate_password(password: str, user_inputs: tuple[str, ...] = ()) -> None:
    """Apply the password rules of :mod:`crm.auth.passwords` (8–128 characters, not a common
    or breached password, not trivially guessable).

    :param user_inputs: the account's email address and name (a password built from them is
        refused too).
    :raises ServiceError: 422 (field ``password``) saying why.
    """
    passwords.check(password, user_inputs)


def register(email: str, password: str, name: str, role: str = CUSTOMER) -> User:
    """Create an account. Customers are active at once; staff are pending until approved.

    Nobody can register as admin (admins come from ``flask create-admin`` or another admin).

    :returns: the committed user.
    :raises ServiceError: 422 for an invalid field, 409 for an email already registered.
    """
    if role not in ROLES or role == ADMIN:
        raise ServiceError("Choose customer, engineer, agent or manager.", field="role", status=422)
    name = (name or "").strip()
    if not name or len(name) > 120 or "\x00" in name:
        raise ServiceError("Enter your name (at most 120 characters).", field="name", status=422)
    email = normalise_email(email or "")
    validate_password(password, (email, name))
    if find_user_by_email(email):
        raise ServiceError("An account with this email already exists.", field="email", status=409)
    user = User(email=email, name=name, role=role, status=ACTIVE if role == CUSTOMER else PENDING,
                created_at=utcnow())
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    events.publish(db.session, "user.registered", user_id=user.id)
    verification.send_link(user)
    db.session.commit()
    return user


#: compared against when the email is unknown, so both answers take as long (no account probing).
_DUMMY_HASH: dict[str, str] = {}


def _dummy_check(password: str) -> None:
    from flask import current_app
    from werkzeug.security import check_password_hash, generate_password_hash
    method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
    if method not in _DUMMY_HASH:
        _DUMMY_HASH[method] = generate_password_hash("not-a-password", method=method)
    check_password_hash(_DUMMY_HASH[method], password)


def authenticate(email: str, password: str) -> User | None:
    """Check credentials. :returns: the active user, or None for a wrong email/password.

    Repeated failures lock the account with a growing delay (:mod:`crm.auth.lockout`); a
    success resets the count.

    :raises LockedOut: 429, too many failures: refused whether or not the password is right.
    :raises LoginRefused: right credentials, but the account is pending, rejected or disabled.
    """
    user = find_user_by_email(email or "")
    lockout.check(email, user)
    if user is None:
        _dummy_check(password or "")
    if user is None or not user.check_password(password or ""):
        security_event(
            "login.failed",
            user=user,
            email=None if user else normalise_email(email or ""),
            reason="unknown_account" if user is None else "wrong_password",
        )
        seconds = lockout.record_failure(email, user)
        if seconds:
            raise lockout.LockedOut(seconds)
        return None
    if user.status != ACTIVE:
        security_event("login.refused", user=user, account_status=user.status)
        raise LoginRefused(user.status)
    security_event(
        "login.succeeded",
        user=user,
        outcome="success",
        second_factor=user.totp_enabled_at is not None,
    )
    if user.totp_enabled_at is None:
        # with two-factor log-in the count is reset only once the code is right too, so
        # repeating the password step does not buy more guesses at the code
        lockout.record_success(user)
    user.last_login_at = utcnow()
    events.publish(db.session, "user.logged_in", user_id=user.id)
    db.session.commit()
    return user


def decide_registration(user: User, admin: User, approve: bool) -> User:
    """Approve or reject a pending staff registration; approving hands waiting tickets out.

    :raises NotAllowed: ``admin`` is not an admin. :raises ServiceError: not pending.
    """
    if admin.role != ADMIN:
        raise NotAllowed("Only admins decide registrations.")
    if user.status != PENDING:
        raise ServiceError(f"This registration is not pending (it is {user.status}).")
    user.status = ACTIVE if approve else REJECTED
    user.decided_at = utcnow()
    user.decided_by_id = admin.id
    events.publish(db.session, "user.approved" if approve else "user.rejected", user_id=user.id)
    db.session.commit()
    if approve:
        _hand_out_waiting_tickets()
    return user


def _hand_out_waiting_tickets() -> None:
    from crm.tickets.services import assign_waiting_tickets

    assign_waiting_tickets()


def create_admin(email: str, password: str, name: str = "Administrator") -> User:
    """Create an active admin, or promote/activate an existing account and reset its password.

    :raises ServiceError: 422 for an invalid password.
    """
    validate_password(password, (email, name))
    user = find_user_by_email(email)
    if user is None:
        user = User(email=normalise_email(email), name=name, created_at=utcnow())
        db.session.add(user)
    user.role = ADMIN
    user.status = ACTIVE
    user.email_verified_at = user.email_verified_at or utcnow()  # the operator vouches for it
    user.set_password(password)
    db.session.commit()
    return user


def update_profile(user: User, name: str, email: str, current_password: str | None = None) -> bool:
    """Change the name and/or email address and commit.

    A new address needs the current password (re-authentication before changing where
    password resets go), becomes unverified, and gets a verification email.

    :returns: True when the email address changed.
    :raises ServiceError: 422 for an invalid name or a wrong password, 409 for an address
        another account uses.
    """
    name = (name or "").strip()
    if not name or len(name) > 120 or "\x00" in name:
        raise ServiceError("Enter your name (at most 120 characters).", field="name", status=422)
    email = normalise_email(email or "")
    changed = email != normalise_email(user.email)
    if changed:
        if not current_password or not user.check_password(current_password):
            raise ServiceError(
                "Enter your current password to change your email address.",
                field="current_password",
                status=422,
            )
        other = find_user_by_email(email)
        if other is not None and other.id != user.id:
            raise ServiceError(
                "An account with this email already exists.", field="email", status=409
            )
        user.email = email
        user.email_verified_at = None
        db.session.flush()
        verification.send_link(user)
        events.publish(db.session, "user.email_changed", user_id=user.id)
    user.name = name
    db.session.commit()
    return changed


def change_password(
    user: User, current_password: str, new_password: str, keep_session_id: int | None = None
) -> None:
    """Replace the password after checking the current one; commits.

    Publishes ``user.credentials_changed`` (reason ``password_changed``): the user's other
    console sessions end (all but ``keep_session_id``) and their API refresh tokens are revoked.
    Unused password-reset links stop working.

    :raises ServiceError: 422 for a wrong current password or an invalid new one.
    """
    if not user.check_password(current_password or ""):
        raise ServiceError(
            "Your current password is not right.", field="current_password", status=422
        )
    validate_password(new_password, (user.email, user.name))
    if user.check_password(new_password):
        raise ServiceError(
            "Choose a password different from the current one.", field="password", status=422
        )
    user.set_password(new_password)
    tokens.invalidate(user.id, tokens.RESET_PASSWORD)
    events.publish(
        db.session,
        "user.credentials_changed",
        user_id=user.id,
        reason="password_changed",
        keep_session_id=keep_session_id,
    )
    db.session.commit()
