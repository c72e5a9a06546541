"""Account rules: registration, log-in checks, approval of staff, role/status changes."""
from __future__ import annotations

from crm import events
from crm.auth.models import (
    ACTIVE,
    ADMIN,
    CUSTOMER,
    DISABLED,
    PENDING,
    REJECTED,
    ROLES,
    USER_STATUSES,
    User,
    find_user_by_email,
    normalise_email,
)
from crm.clock import utcnow
from crm.errors import NotAllowed, ServiceError
from crm.extensions import db

MIN_PASSWORD = 8
MAX_PASSWORD = 128

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


def validate_password(password: str) -> None:
    """:raises ServiceError: 422 unless 8–128 characters."""
    if not isinstance(password, str) or not (MIN_PASSWORD <= len(password) <= MAX_PASSWORD):
        raise ServiceError(f"Use {MIN_PASSWORD} to {MAX_PASSWORD} characters.", field="password", status=422)


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
    validate_password(password)
    email = normalise_email(email or "")
    if find_user_by_email(email):
        raise ServiceError("An account with this email already exists.", field="email", status=409)
    user = User(email=email, name=name, role=role, status=ACTIVE if role == CUSTOMER else PENDING,
                created_at=utcnow())
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    events.publish(db.session, "user.registered", user_id=user.id)
    db.session.commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    """Check credentials. :returns: the active user, or None for a wrong email/password.

    :raises LoginRefused: right credentials, but the account is pending, rejected or disabled.
    """
    user = find_user_by_email(email or "")
    if user is None or not user.check_password(password or ""):
        return None
    if user.status != ACTIVE:
        raise LoginRefused(user.status)
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


def update_user(user: User, admin: User, role: str | None = None, status: str | None = None) -> User:
    """Admin changes a user's role and/or status.

    :raises NotAllowed: not an admin, or an admin demoting/disabling themself.
    :raises ServiceError: 422 for an unknown role or status.
    """
    if admin.role != ADMIN:
        raise NotAllowed("Only admins manage users.")
    if role is not None and role not in ROLES:
        raise ServiceError(f"Role must be one of: {', '.join(ROLES)}.", field="role", status=422)
    if status is not None and status not in USER_STATUSES:
        raise ServiceError(f"Status must be one of: {', '.join(USER_STATUSES)}.", field="status", status=422)
    if user.id == admin.id and ((role and role != ADMIN) or (status and status != ACTIVE)):
        raise ServiceError("You cannot demote or deactivate your own account.", field="role")
    became_engineer = False
    if role is not None and role != user.role:
        became_engineer = role == "engineer"
        user.role = role
    if status is not None and status != user.status:
        if user.status == PENDING and status in (ACTIVE, REJECTED):
            user.decided_at = utcnow()
            user.decided_by_id = admin.id
        user.status = status
    events.publish(db.session, "user.updated", user_id=user.id, actor_id=admin.id)
    db.session.commit()
    if user.role == "engineer" and user.status == ACTIVE and (became_engineer or status == ACTIVE):
        _hand_out_waiting_tickets()
    return user


def create_admin(email: str, password: str, name: str = "Administrator") -> User:
    """Create an active admin, or promote/activate an existing account and reset its password.

    :raises ServiceError: 422 for an invalid password.
    """
    validate_password(password)
    user = find_user_by_email(email)
    if user is None:
        user = User(email=normalise_email(email), name=name, created_at=utcnow())
        db.session.add(user)
    user.role = ADMIN
    user.status = ACTIVE
    user.set_password(password)
    db.session.commit()
    return user
