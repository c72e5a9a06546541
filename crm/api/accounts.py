"""API resources for accounts: registration, tokens, users, staff registrations, customers."""
from __future__ import annotations

from flask import abort
from sqlalchemy import func, or_, select

from crm.api.auth import issue_access_token
from crm.api.common import answer, page_answer, page_by_id
from crm.api.openapi import ApiProblem, api_operation, request_body, request_query
from crm.api.schemas import (
    CustomerListQuery,
    CustomerPage,
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
from crm.auth import services as accounts
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
    already registered is a 409."""
    data: RegisterIn = request_body()
    user = accounts.register(str(data.email), data.password, data.name, data.role)
    return answer(RegisteredOut, user, 201, Location=f"/api/v1/users/{user.id}")


@api_operation("POST", "/auth/token", body=TokenIn, response=TokenOut, errors=((401, "Wrong email or password."),
                       (403, "Right credentials, but the account is pending, rejected or disabled.")),
               tag="Auth", summary="Get an access token")
@public
def token():
    """Exchange email and password for a bearer token (JWT; ``expires_in`` seconds).

    Wrong credentials are a 401; a staff account still pending, rejected or disabled is a
    403 whose ``detail`` says why."""
    data: TokenIn = request_body()
    user = accounts.authenticate(data.email, data.password)  # LoginRefused -> 403 problem
    if user is None:
        resp = problem(401, "Unauthorized", "Wrong email or password.")
        resp.headers["WWW-Authenticate"] = 'Bearer realm="api"'
        return resp
    access_token, ttl = issue_access_token(user)
    return answer(TokenOut, {"access_token": access_token, "token_type": "Bearer", "expires_in": ttl})


# ---------------------------------------------------------------- users

@api_operation("GET", "/users", query=UserListQuery, response=UserPage, tag="Users",
               summary="List users")
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


@api_operation("PATCH", "/users/{user_id}", body=UserPatch, response=UserOut, errors=(409,),
               tag="Users", summary="Change a user's role or status")
@requires("user.manage", api=True)
def update_user(user_id: int):
    """Change the role and/or status. Admins cannot demote or deactivate themselves (409).
    Activating an engineer hands waiting tickets out."""
    user = _user_or_404(user_id)
    data: UserPatch = request_body()
    if not data.model_fields_set:
        raise ApiProblem(422, "Send role and/or status.", {"body": ["Send role and/or status."]})
    accounts.update_user(user, acting_user(), role=data.role, status=data.status)
    return answer(UserOut, user)


# ---------------------------------------------------------------- registrations

@api_operation("GET", "/registrations", query=RegistrationListQuery, response=UserPage,
               tag="Registrations", summary="List staff registrations")
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


@api_operation("POST", "/registrations/{user_id}/approve", response=UserOut, errors=(409,),
               tag="Registrations", summary="Approve a staff registration")
@requires("registration.decide", api=True)
def approve_registration(user_id: int):
    """Make a pending staff account active (409 when it is not pending). Approving an
    engineer hands waiting tickets out."""
    return _decide(user_id, approve=True)


@api_operation("POST", "/registrations/{user_id}/reject", response=UserOut, errors=(409,),
               tag="Registrations", summary="Reject a staff registration")
@requires("registration.decide", api=True)
def reject_registration(user_id: int):
    """Mark a pending staff account rejected (409 when it is not pending); it cannot log in."""
    return _decide(user_id, approve=False)


# ---------------------------------------------------------------- customers

@api_operation("GET", "/customers", query=CustomerListQuery, response=CustomerPage,
               tag="Customers", summary="List customers")
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
    counts = dict(db.session.execute(
        select(Ticket.requester_id, func.count(Ticket.id))
        .where(Ticket.requester_id.in_(ids)).group_by(Ticket.requester_id)).all()) if ids else {}
    items = [{"id": u.id, "email": u.email, "name": u.name, "status": u.status,
              "created_at": u.created_at, "ticket_count": counts.get(u.id, 0)} for u in rows]
    return page_answer(CustomerPage, items, query.limit, next_cursor)
