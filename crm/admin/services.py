"""User management by managers and admins: create, edit, deactivate and delete accounts.

Who may do what (checked here, so the console and the API share it):

* admins manage every account; managers manage every account except admins;
* only an admin may create an admin or change anyone's role to or from ``admin``;
* nobody demotes, deactivates or deletes their own account (so an installation cannot lose
  its last admin by accident).

Deactivating (status ``disabled``) and deleting publish ``user.deactivated`` {user_id}: its
subscribers end the user's console sessions (:mod:`crm.sessions.services`) and revoke their
API tokens (:mod:`crm.api.tokens`) in the same transaction.
"""
from __future__ import annotations

import secrets

from sqlalchemy import delete

from crm import events
from crm.auth.models import (
    ACTIVE,
    ADMIN,
    DISABLED,
    ENGINEER,
    MANAGER,
    PENDING,
    REJECTED,
    ROLES,
    USER_STATUSES,
    User,
    find_user_by_email,
    normalise_email,
)
from crm.auth.services import validate_password
from crm.clock import utcnow
from crm.errors import NotAllowed, ServiceError
from crm.extensions import db

#: Deleted accounts keep their row with this address domain (``.invalid`` is reserved by
#: RFC 2606, so such an address can never receive mail or be registered by a person).
DELETED_DOMAIN = "deleted.invalid"
MAX_NAME = 120


def is_deleted(user: User) -> bool:
    """True for an account anonymised by :func:`delete_user`."""
    return user.email.endswith("@" + DELETED_DOMAIN)


def can_manage(actor: User, target: User) -> bool:
    """True when ``actor`` may change ``target`` at all: admins any account, managers any
    non-admin account."""
    if actor.role == ADMIN:
        return True
    return actor.role == MANAGER and target.role != ADMIN


def assignable_roles(actor: User) -> tuple[str, ...]:
    """Roles ``actor`` may give an account: every role for admins, all but admin for managers."""
    return ROLES if actor.role == ADMIN else tuple(r for r in ROLES if r != ADMIN)


def _require_manager(actor: User) -> None:
    if actor.role not in (ADMIN, MANAGER):
        raise NotAllowed("Only managers and admins manage users.")


def _require_can_manage(actor: User, target: User) -> None:
    _require_manager(actor)
    if not can_manage(actor, target):
        raise NotAllowed("Only an admin can change an admin's account.")


def _clean_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME or "\x00" in name:
        raise ServiceError(
            f"Enter a name (at most {MAX_NAME} characters).", field="name", status=422
        )
    return name


def _clean_email(email: str | None, user_id: int | None = None) -> str:
    email = normalise_email(email or "")
    if "@" not in email or len(email) > 254 or email.endswith("@" + DELETED_DOMAIN):
        raise ServiceError("Enter a valid email address.", field="email", status=422)
    other = find_user_by_email(email)
    if other is not None and other.id != user_id:
        raise ServiceError("An account with this email already exists.", field="email", status=409)
    return email


def _check_role(actor: User, role: str, current: str | None) -> None:
    if role not in ROLES:
        raise ServiceError(f"Role must be one of: {', '.join(ROLES)}.", field="role", status=422)
    if (role == ADMIN or current == ADMIN) and role != current and actor.role != ADMIN:
        raise NotAllowed("Only an admin can make someone an admin or change an admin's role.")


def create_user(
    actor: User, *, email: str, name: str, role: str, password: str, status: str = ACTIVE
) -> User:
    """Create an account on someone's behalf (its email counts as verified: a manager or
    admin vouches for it) and commit.

    :param password: the initial password (8–128 characters), to be passed on to the person.
    :returns: the new user.
    :raises NotAllowed: (403) the actor is not a manager/admin, or a manager creates an admin.
    :raises ServiceError: 422 for an invalid field, 409 for an email already registered.
    """
    _require_manager(actor)
    _check_role(actor, role, None)
    if status not in USER_STATUSES:
        raise ServiceError(
            f"Status must be one of: {', '.join(USER_STATUSES)}.", field="status", status=422
        )
    name = _clean_name(name)
    email = _clean_email(email)
    validate_password(password)
    now = utcnow()
    user = User(
        email=email,
        name=name,
        role=role,
        status=status,
        created_at=now,
        email_verified_at=now,
        decided_at=now,
        decided_by_id=actor.id,
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    events.publish(db.session, "user.created", user_id=user.id, actor_id=actor.id)
    db.session.commit()
    if role == ENGINEER and status == ACTIVE:
        _hand_out_waiting_tickets()
    return user


def update_user(
    actor: User,
    user: User,
    *,
    name: str | None = None,
    email: str | None = None,
    role: str | None = None,
    status: str | None = None,
) -> User:
    """Change any of name, email, role and status (None leaves a value alone) and commit.

    Setting ``disabled`` publishes ``user.deactivated`` (sessions end, API tokens are
    revoked); activating an engineer hands waiting tickets out.

    :raises NotAllowed: (403) see the module rules.
    :raises ServiceError: 422 for an invalid value; 409 for a taken email, a deleted account,
        or the actor demoting or deactivating themself.
    """
    _require_can_manage(actor, user)
    if is_deleted(user):
        raise ServiceError("This account was deleted.", status=409)
    if role is not None:
        _check_role(actor, role, user.role)
    if status is not None and status not in USER_STATUSES:
        raise ServiceError(
            f"Status must be one of: {', '.join(USER_STATUSES)}.", field="status", status=422
        )
    if user.id == actor.id and ((role and role != user.role) or (status and status != ACTIVE)):
        raise ServiceError("You cannot demote or deactivate your own account.", field="role")
    if name is not None:
        user.name = _clean_name(name)
    if email is not None:
        clean = _clean_email(email, user.id)
        if clean != user.email:
            user.email = clean
    became_engineer = role is not None and role != user.role and role == ENGINEER
    old_role = user.role
    if role is not None:
        user.role = role
    activated = False
    if status is not None and status != user.status:
        if user.status == PENDING and status in (ACTIVE, REJECTED):
            user.decided_at = utcnow()
            user.decided_by_id = actor.id
        activated = status == ACTIVE
        user.status = status
        if status == DISABLED:
            events.publish(db.session, "user.deactivated", user_id=user.id, actor_id=actor.id)
    events.publish(db.session, "user.updated", user_id=user.id, actor_id=actor.id)
    db.session.commit()
    if user.role != old_role:
        from crm.security.audit import security_event

        security_event(
            "user.role_changed",
            user=actor,
            outcome="success",
            target_user_id=user.id,
            target_user=user.email,
            old_role=old_role,
            new_role=user.role,
        )
    if user.role == ENGINEER and user.status == ACTIVE and (became_engineer or activated):
        _hand_out_waiting_tickets()
    return user


def deactivate_user(actor: User, user: User) -> User:
    """Disable an account (it can no longer log in; sessions and API tokens end) and commit.

    :raises NotAllowed: (403) see the module rules.
    :raises ServiceError: 409 when already disabled, deleted, or the actor's own account.
    """
    _require_can_manage(actor, user)
    if user.status == DISABLED:
        raise ServiceError("This account is already deactivated.", status=409)
    return update_user(actor, user, status=DISABLED)


def delete_user(actor: User, user: User) -> User:
    """Delete an account by anonymising it, and commit.

    Why not ``DELETE FROM users``: tickets reference their requester with a plain foreign
    key (``tickets.requester_id``, no ON DELETE), so deleting a customer with tickets would
    fail; comments and ticket changes use ON DELETE SET NULL, so deleting would erase who
    wrote or changed what. Either way the tickets would lose their history. Instead the row
    stays (every reference keeps pointing at it) and everything that identifies the person
    is removed: name becomes "Deleted user #<id>", email ``deleted-<id>@deleted.invalid``,
    the password an unusable random hash, phone and two-factor secrets are cleared, the
    status is ``disabled`` and the console session records (IP addresses, browsers) are
    deleted. ``user.deactivated`` revokes their API tokens and ``user.deleted`` is published.

    :returns: the anonymised user.
    :raises NotAllowed: (403) see the module rules.
    :raises ServiceError: 409 for the actor's own account or one already deleted.
    """
    from crm.sessions.models import UserSession

    _require_can_manage(actor, user)
    if user.id == actor.id:
        raise ServiceError("You cannot delete your own account.")
    if is_deleted(user):
        raise ServiceError("This account was already deleted.")
    user.name = f"Deleted user #{user.id}"
    user.email = f"deleted-{user.id}@{DELETED_DOMAIN}"
    user.set_password(secrets.token_urlsafe(32))
    user.status = DISABLED
    user.email_verified_at = None
    user.phone = None
    user.phone_verified_at = None
    user.totp_secret = None
    user.totp_enabled_at = None
    user.failed_logins = 0
    user.locked_until = None
    db.session.execute(
        delete(UserSession)
        .where(UserSession.user_id == user.id)
        .execution_options(synchronize_session=False)
    )
    events.publish(db.session, "user.deactivated", user_id=user.id, actor_id=actor.id)
    events.publish(db.session, "user.deleted", user_id=user.id, actor_id=actor.id)
    db.session.commit()
    return user


def _hand_out_waiting_tickets() -> None:
    from crm.tickets.services import assign_waiting_tickets

    assign_waiting_tickets()
