"""Who may do what: the one policy table, and the decorators routes use to declare it.

Every console route and API operation declares a permission with :func:`requires` (or
:func:`public`). The authorisation-matrix test walks ``app.url_map`` and fails for a view
without a declaration, and checks each role against :data:`POLICY`.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort, g, request
from flask_login import current_user

from crm.auth.models import ADMIN, AGENT, CUSTOMER, ENGINEER, MANAGER, ROLES

STAFF = frozenset({ENGINEER, AGENT, MANAGER, ADMIN})

#: permission -> roles that hold it. "authenticated" means any logged-in, active role.
POLICY: dict[str, frozenset[str]] = {
    "authenticated": frozenset(ROLES),
    "portal.use": frozenset({CUSTOMER}),
    "ticket.create": frozenset({CUSTOMER}),
    "ticket.view": frozenset(ROLES),  # object-level: customers only their own
    "ticket.edit_own": frozenset({CUSTOMER}),  # requester edits subject/description while open
    "ticket.comment": frozenset(ROLES),  # object-level: customers public replies on their own
    "ticket.list_staff": STAFF,  # the staff ticket list and search
    "ticket.accept": frozenset({ENGINEER}),  # object-level: only the assignee
    "ticket.update": STAFF,  # status/priority; engineers only on tickets assigned to them
    "ticket.view_internal": STAFF,
    "ticket.reassign": frozenset({MANAGER, ADMIN}),
    "customer.list": frozenset({AGENT, MANAGER, ADMIN}),
    "user.manage": frozenset({ADMIN}),
    # console user management; object-level (crm.admin.services): managers only non-admin
    # accounts, only admins grant or remove the admin role
    "user.administer": frozenset({MANAGER, ADMIN}),
    "session.manage": frozenset({ADMIN}),  # every user's sessions: list and revoke
    "registration.decide": frozenset({ADMIN}),
    "notification.manage": frozenset({ADMIN}),
    "mailbox.view": frozenset({ADMIN}),
    "sms.view": frozenset({ADMIN}),
    "template.manage": frozenset({ADMIN}),
    "security.manage": frozenset({ADMIN}),  # security policy (e.g. roles that must use 2FA)
    # uptime monitoring
    "monitor.view": STAFF,
    "monitor.manage": frozenset({ENGINEER, MANAGER, ADMIN}),
    "monitor.plan": frozenset({ADMIN}),  # customers' self-service plans (crm.monitoring.plans)
    # the monitors API: staff read every monitor, engineers, managers and admins change them;
    # a verified customer reads and changes their own (object-level: crm.monitoring.access)
    "monitor.use": STAFF | {CUSTOMER},
    "monitor.write": frozenset({ENGINEER, MANAGER, ADMIN, CUSTOMER}),
    "monitor.own": frozenset({CUSTOMER}),  # the portal's "My monitors" pages
    "maintenance.manage": frozenset({MANAGER, ADMIN}),
    "report.view": frozenset({MANAGER, ADMIN}),
    "report.manage": frozenset({MANAGER, ADMIN}),
    "broadcast.send": frozenset({MANAGER, ADMIN}),
    # error tracker: engineers see issues (and their events) and turn one into a ticket;
    # resolving, ignoring, assigning and projects (DSNs) are for managers and admins
    "error.view": frozenset({ENGINEER, MANAGER, ADMIN}),
    "error.ticket": frozenset({ENGINEER, MANAGER, ADMIN}),
    "error.manage": frozenset({MANAGER, ADMIN}),
    # shops: customers and order history for agents, managers, admins; connections (webhook
    # secrets) for admins; a customer sees the orders bought with their verified email
    "shop.customer.view": frozenset({AGENT, MANAGER, ADMIN}),
    "shop.customer.edit": frozenset({AGENT, MANAGER, ADMIN}),
    "shop.customer.delete": frozenset({MANAGER, ADMIN}),
    "shop.order.view": frozenset({AGENT, MANAGER, ADMIN}),
    "shop.order.own": frozenset({CUSTOMER}),
    "shop.product.view": frozenset({AGENT, MANAGER, ADMIN}),
    "shop.connection.manage": frozenset({ADMIN}),
}

#: Permissions that are services for customers: an account whose email address is not yet
#: verified is refused them (403 "Verify your email address to use this"). Add chat,
#: payments … here as they arrive.
VERIFIED_EMAIL_PERMISSIONS: set[str] = {"ticket.create", "ticket.edit_own", "ticket.comment",
                                       "shop.order.own", "monitor.use", "monitor.write",
                                       "monitor.own"}
#: Roles the rule above applies to (staff are vetted by an admin's approval instead).
VERIFIED_EMAIL_ROLES = frozenset({CUSTOMER})

PUBLIC = "public"


def has_permission(user, permission: str) -> bool:
    """Return True when ``user`` (may be anonymous) holds ``permission``.

    :raises KeyError: an unknown permission (a typo must fail loudly, not deny silently).
    """
    if permission == PUBLIC:
        return True
    roles = POLICY[permission]
    return bool(getattr(user, "is_authenticated", False)) and user.is_active and user.role in roles


def needs_verified_email(user, permission: str) -> bool:
    """True when ``user`` holds ``permission`` by role but must verify their email first
    (see :data:`VERIFIED_EMAIL_PERMISSIONS`)."""
    return (
        permission in VERIFIED_EMAIL_PERMISSIONS
        and getattr(user, "role", None) in VERIFIED_EMAIL_ROLES
        and getattr(user, "email_verified_at", None) is None
    )


def _declare(view: Callable, permission: str) -> None:
    view.crm_permission = permission


def requires(permission: str, *, api: bool = False) -> Callable:
    """Decorator for a console route (``api=False``) or API operation (``api=True``).

    Anonymous console users are sent to the log-in page; anonymous API callers get 401.
    A logged-in user without the permission gets 403; so does a customer whose email is not
    yet verified asking for one of :data:`VERIFIED_EMAIL_PERMISSIONS`.

    :raises KeyError: at import time, for a permission missing from :data:`POLICY`.
    """
    POLICY[permission]  # noqa: B018 - fail at import for an unknown permission

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if api:
                from crm.api.auth import authenticate_bearer

                user = authenticate_bearer()
                if user is None:
                    abort(401)
                g.api_user = user
            else:
                user = current_user
                if not user.is_authenticated:
                    from crm.extensions import login_manager

                    return login_manager.unauthorized()
            if not has_permission(user, permission):
                abort(403)
            if needs_verified_email(user, permission):
                from crm.auth.verification import unverified_response

                return unverified_response(api)
            return view(*args, **kwargs)

        _declare(wrapper, permission)
        return wrapper

    return decorate


def public(view: Callable) -> Callable:
    """Mark a route as reachable without logging in (log-in page, health check, docs)."""
    _declare(view, PUBLIC)
    return view


def nav_allowed(permission: str) -> bool:
    """Template helper: may the current user see a navigation entry for ``permission``?"""
    return has_permission(current_user, permission)


def acting_user():
    """The user behind this request: the API bearer's user, else Flask-Login's."""
    return g.get("api_user") or current_user


def wants_json() -> bool:
    """True for API requests (path under /api/)."""
    return request.path.startswith("/api/")
