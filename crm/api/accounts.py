"""API resources for accounts: registration, tokens, users, staff registrations, customers."""
from __future__ import annotations

from dataclasses import asdict

from flask import abort, g
from sqlalchemy import func, or_, select

from crm.admin import services as user_admin
from crm.api import tokens as api_tokens
from crm.api.common import answer, page_answer, page_by_id
from crm.api.openapi import ApiProblem, api_operation, request_body, request_query
from crm.api.schemas import (
    CustomerListQuery,
    CustomerPage,
    LogoutIn,
    MeOut,
    RefreshIn,
    RegisteredOut,
    RegisterIn,
    RegistrationListQuery,
    TokenIn,
    TokenOut,
    UserListQuery,
    UserOut,
    UserPage,
    UserPatch,
)
from crm.auth import lockout, totp
from crm.auth import services as accounts
from crm.auth.lockout import LockedOut
from crm.auth.models import CUSTOMER, STAFF_ROLES, User
from crm.auth.policy import acting_user, public, requires
from crm.errors import problem
from crm.extensions import db
from crm.tickets.models import Ticket


def _user_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


# ---------------------------------------------------------------- auth

@api_operation("POST", "/auth/register", body=RegisterIn, response=RegisteredOut, status=201,
               errors=(409,), tag="Auth", summary="Register an account")
@public
def register():
    """Create an account. Customers are ``active`` at once; engineers, agents and managers are
    ``pending`` until an admin approves them. ``admin`` cannot be registered (422); an email
    already registered is a 409. A verification link is emailed (valid 2 h); until it is
    opened, customer services (creating, editing and commenting on tickets) answer 403."""
    data: RegisterIn = request_body()
    user = accounts.register(str(data.email), data.password, data.name, data.role)
    return answer(RegisteredOut, user, 201, Location=f"/api/v1/users/{user.id}")


@api_operation(
    "POST",
    "/auth/token",
    body=TokenIn,
    response=TokenOut,
    errors=(
        (401, "Wrong email or password."),
        (403, "Right credentials, but the account is pending, rejected or disabled."),
        (429, "Too many failed log-ins: locked for a while (see Retry-After)."),
    ),
    tag="Auth",
    summary="Log in: get an access and a refresh token",
)
@public
def token():
    """Exchange email and password for a bearer access token (JWT, ``expires_in`` seconds)
    and a refresh token (``refresh_expires_in`` seconds) for ``POST /auth/refresh``.

    Wrong credentials are a 401; a staff account still pending, rejected or disabled is a
    403 whose ``detail`` says why. After repeated failures the account is locked with a
    growing delay: 429 with ``Retry-After`` (seconds), whether or not the password is right.
    An account with two-factor log-in also sends ``totp_code`` (401 without a right one); each
    code works once, and a code older than one already used is refused too (RFC 6238 §5.2). A
    staff role that must use it but has not set it up gets 403."""
    data: TokenIn = request_body()
    try:
        user = accounts.authenticate(data.email, data.password)  # LoginRefused -> 403 problem
    except LockedOut as exc:
        return _locked_problem(exc)
    if user is None:
        resp = problem(401, "Unauthorized", "Wrong email or password.")
        resp.headers["WWW-Authenticate"] = 'Bearer realm="api"'
        return resp
    if totp.setup_pending(user):
        return problem(
            403,
            "Forbidden",
            "Your role requires two-factor log-in: set it up in the console first.",
        )
    if user.totp_enabled_at is not None:
        if not totp.verify(user, data.totp_code or ""):
            seconds = lockout.record_failure(user.email, user) if data.totp_code else 0
            if seconds:
                return _locked_problem(LockedOut(seconds))
            resp = problem(
                401,
                "Unauthorized",
                "This account uses two-factor log-in: send the current "
                "code from the authenticator app as totp_code."
                if not data.totp_code
                else "The two-factor code is not right.",
            )
            resp.headers["WWW-Authenticate"] = 'Bearer realm="api"'
            return resp
        lockout.record_success(user)
        db.session.commit()
    return answer(TokenOut, asdict(api_tokens.issue_token_pair(user)))


def _locked_problem(exc: LockedOut):
    """429 problem+json with ``Retry-After`` (seconds) for a locked account."""
    resp = problem(429, "Too Many Requests", exc.message)
    resp.headers["Retry-After"] = str(exc.retry_after)
    return resp


@api_operation(
    "POST",
    "/auth/refresh",
    body=RefreshIn,
    response=TokenOut,
    errors=(
        (
            401,
            "The refresh token is unknown, expired, revoked or was already used "
            "(reuse revokes every token of that log-in).",
        ),
    ),
    tag="Auth",
    summary="Rotate a refresh token",
)
@public
def refresh():
    """Exchange a refresh token for a new access token and a new refresh token (rotation).

    Each refresh token works once. Presenting one that was already exchanged revokes the
    whole log-in (all its refresh and access tokens), as OAuth 2.0 Security BCP
    (RFC 9700 §4.14.2) recommends: the client must log in again."""
    data: RefreshIn = request_body()
    try:
        pair = api_tokens.rotate(data.refresh_token)
    except api_tokens.RefreshRefused as exc:
        return problem(401, "Unauthorized", exc.message)
    return answer(TokenOut, asdict(pair))


@api_operation("POST", "/auth/logout", body=LogoutIn, status=204, tag="Auth", summary="Log out")
@requires("authenticated", api=True)
def logout():
    """End this API log-in: the access token sent and every refresh token of its log-in stop
    working at once. Send ``{"refresh_token": ...}`` to end that token's log-in too (it must
    be yours); send ``{}`` otherwise."""
    data: LogoutIn = request_body()
    api_tokens.logout(acting_user(), g.get("api_token_family"), data.refresh_token)
    return "", 204


@api_operation("GET", "/auth/me", response=MeOut, tag="Auth", summary="The current user")
@requires("authenticated", api=True)
def me():
    """The account behind the bearer token, with its verification state."""
    user = acting_user()
    return answer(
        MeOut,
        {
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "role": user.role,
            "status": user.status,
            "created_at": user.created_at,
            "last_login_at": user.last_login_at,
            "email_verified": user.email_verified_at is not None,
            "email_verified_at": user.email_verified_at,
            "phone": user.phone,
            "phone_verified": user.phone_verified_at is not None,
            "totp_enabled": user.totp_enabled_at is not None,
        },
    )


# ---------------------------------------------------------------- users


@api_operation(
    "GET", "/users", query=UserListQuery, response=UserPage, tag="Users", summary="List users"
)
@requires("user.manage", api=True)
def list_users():
    """Every account, newest first, optionally filtered by role and status."""
    query: UserListQuery = request_query()
    stmt = select(User)
    if query.role:
        stmt = stmt.where(User.role == query.role)
    if query.status:
        stmt = stmt.where(User.status == query.status)
    rows, next_cursor = page_by_id(stmt, User.id, query.limit, query.cursor)
    return page_answer(UserPage, rows, query.limit, next_cursor)


@api_operation("GET", "/users/{user_id}", response=UserOut, tag="Users", summary="Get a user")
@requires("user.manage", api=True)
def get_user(user_id: int):
    """One account."""
    return answer(UserOut, _user_or_404(user_id))


@api_operation(
    "PATCH",
    "/users/{user_id}",
    body=UserPatch,
    response=UserOut,
    errors=(409,),
    tag="Users",
    summary="Change a user's role or status",
)
@requires("user.manage", api=True)
def update_user(user_id: int):
    """Change the role and/or status. Admins cannot demote or deactivate themselves (409).
    Setting ``disabled`` ends the user's sessions and revokes their API tokens.
    Activating an engineer hands waiting tickets out."""
    user = _user_or_404(user_id)
    data: UserPatch = request_body()
    if not data.model_fields_set:
        raise ApiProblem(422, "Send role and/or status.", {"body": ["Send role and/or status."]})
    user_admin.update_user(acting_user(), user, role=data.role, status=data.status)
    return answer(UserOut, user)


# ---------------------------------------------------------------- registrations


@api_operation(
    "GET",
    "/registrations",
    query=RegistrationListQuery,
    response=UserPage,
    tag="Registrations",
    summary="List staff registrations",
)
@requires("registration.decide", api=True)
def list_registrations():
    """Staff accounts (engineer, agent, manager, admin) with a status, ``pending`` by default,
    newest first."""
    query: RegistrationListQuery = request_query()
    stmt = select(User).where(User.role.in_(STAFF_ROLES), User.status == query.status)
    rows, next_cursor = page_by_id(stmt, User.id, query.limit, query.cursor)
    return page_answer(UserPage, rows, query.limit, next_cursor)


def _decide(user_id: int, approve: bool):
    user = _user_or_404(user_id)
    accounts.decide_registration(user, acting_user(), approve=approve)
    return answer(UserOut, user)


@api_operation(
    "POST",
    "/registrations/{user_id}/approve",
    response=UserOut,
    errors=(409,),
    tag="Registrations",
    summary="Approve a staff registration",
)
@requires("registration.decide", api=True)
def approve_registration(user_id: int):
    """Make a pending staff account active (409 when it is not pending). Approving an
    engineer hands waiting tickets out."""
    return _decide(user_id, approve=True)


@api_operation(
    "POST",
    "/registrations/{user_id}/reject",
    response=UserOut,
    errors=(409,),
    tag="Registrations",
    summary="Reject a staff registration",
)
@requires("registration.decide", api=True)
def reject_registration(user_id: int):
    """Mark a pending staff account rejected (409 when it is not pending); it cannot log in."""
    return _decide(user_id, approve=False)


# ---------------------------------------------------------------- customers


@api_operation(
    "GET",
    "/customers",
    query=CustomerListQuery,
    response=CustomerPage,
    tag="Customers",
    summary="List customers",
)
@requires("customer.list", api=True)
def list_customers():
    """Customer accounts, newest first, each with its number of tickets; ``q`` matches name
    or email."""
    query: CustomerListQuery = request_query()
    stmt = select(User).where(User.role == CUSTOMER)
    if query.q:
        like = f"%{query.q.lower()}%"
        stmt = stmt.where(or_(func.lower(User.name).like(like), func.lower(User.email).like(like)))
    rows, next_cursor = page_by_id(stmt, User.id, query.limit, query.cursor)
    ids = [u.id for u in rows]
    counts = (
        dict(
            db.session.execute(
                select(Ticket.requester_id, func.count(Ticket.id))
                .where(Ticket.requester_id.in_(ids))
                .group_by(Ticket.requester_id)
            ).all()
        )
        if ids
        else {}
    )
    items = [
        {
            "id": u.id,
            "email": u.email,
            "name": u.name,
            "status": u.status,
            "created_at": u.created_at,
            "ticket_count": counts.get(u.id, 0),
        }
        for u in rows
    ]
    return page_answer(CustomerPage, items, query.limit, next_cursor)
