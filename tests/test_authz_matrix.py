"""The authorisation matrix: every route of ``app.url_map`` × every role and anonymous.

The expected answer comes from one table, :data:`crm.auth.policy.POLICY`, through the
permission each view declares (``@requires`` / ``@public`` set ``view.crm_permission``):

* ``public``                  → never 401/403;
* the role lacks the permission → console: 403 (logged in) or a redirect to ``/auth/login``
  (anonymous); API: 403 / 401 as ``application/problem+json``;
* the role holds it           → not 401/403 (and no log-in redirect).

Never a 500. Routes are walked generically, so API operations are covered as they land. A
route without a declaration fails :func:`test_every_route_declares_a_permission` and its own
matrix cases. Object-level rules (whose ticket, who is the assignee) are an explicit table
below, :data:`OBJECT_RULES`, tested separately.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from crm.auth.policy import POLICY, PUBLIC
from crm.extensions import db
from crm.tickets.models import Comment, Ticket
from tests.helpers_matrix import (
    ACTORS,
    ANONYMOUS,
    EXEMPT_ENDPOINTS,
    INTERNAL_NOTE,
    PROBLEM_JSON,
    act_as,
    build_world,
    collected_routes,
    describe,
    fast_passwords,  # noqa: F401  (fixture)
    routes_of,
    send,
    url_for_route,
)

ROUTES = collected_routes()


@pytest.fixture
def world(fast_passwords, make_user):  # noqa: F811
    return build_world(make_user)


# ------------------------------------------------------------------ declarations

def test_every_route_declares_a_permission(app):
    """A view without ``@requires``/``@public`` (or naming an unknown permission) fails here."""
    missing, unknown = [], []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in EXEMPT_ENDPOINTS:
            continue
        permission = getattr(app.view_functions[rule.endpoint], "crm_permission", None)
        if permission is None:
            missing.append(
                f"{rule.endpoint} {sorted(rule.methods - {'HEAD', 'OPTIONS'})} {rule.rule}"
            )
        elif permission != PUBLIC and permission not in POLICY:
            unknown.append(f"{rule.endpoint}: {permission!r}")
    assert not missing, "routes without a permission declaration:\n  " + "\n  ".join(missing)
    assert not unknown, "permissions missing from POLICY:\n  " + "\n  ".join(unknown)


def test_matrix_covers_exactly_the_apps_routes(app):
    """The parametrisation (read at collection time) is the app's url_map, nothing less."""
    assert set(routes_of(app)) == set(ROUTES)


def test_every_policy_role_is_a_known_role():
    known = set(ACTORS) - {ANONYMOUS}
    for permission, roles in POLICY.items():
        assert roles <= known, f"{permission}: unknown roles {roles - known}"


# ------------------------------------------------------------------ the matrix


def _login_redirect(resp) -> bool:
    """A "log in first" redirect: to /auth/login with ``next`` (log-out's redirect has none)."""
    if resp.status_code not in (301, 302, 303, 307, 308):
        return False
    location = urlsplit(resp.headers.get("Location", ""))
    return location.path == "/auth/login" and "next=" in location.query


def _check(route, role: str, permission: str, resp) -> str | None:
    """None when ``resp`` is what POLICY expects for ``role`` on ``route``, else why not."""
    if resp.status_code >= 500:
        return "server error"
    holds = permission == PUBLIC or (role != ANONYMOUS and role in POLICY[permission])
    if holds:
        if resp.status_code in (401, 403):
            return "refused a role that holds the permission"
        if not route.is_api and permission != PUBLIC and _login_redirect(resp):
            return "sent a logged-in role to the log-in page"
        return None
    if route.is_api:
        expected = 401 if role == ANONYMOUS else 403
        if resp.status_code != expected:
            return f"expected {expected}"
        if not resp.content_type.startswith(PROBLEM_JSON):
            return f"expected {PROBLEM_JSON}"
        body = resp.get_json(force=True, silent=True) or {}
        if body.get("status") != expected or not body.get("title"):
            return "problem body lacks status/title"
        if expected == 401 and not resp.headers.get("WWW-Authenticate", "").lower().startswith(
            "bearer"
        ):
            return "401 without a Bearer WWW-Authenticate challenge"
        return None
    if role == ANONYMOUS:
        return None if _login_redirect(resp) else "expected a redirect to /auth/login?next=..."
    return None if resp.status_code == 403 else "expected 403"


def _check_key_auth(resp) -> str | None:
    """A public route authenticated by a key of its own (``view.crm_key_auth``: the error
    ingest's DSN key), sent without one: a 401 problem+json whatever the role."""
    if resp.status_code != 401 or not resp.content_type.startswith(PROBLEM_JSON):
        return "expected a 401 problem+json without the route's key"
    return None


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.id)
def test_route_answers_every_role_as_policy_says(app, token_for, world, route):
    """One route × the five roles and anonymous (one test per route: per-test database
    clean-up is the dominant cost, so the roles share the route's fixture objects; a role
    only changes them when it holds the permission, and denials are decided before any
    object is touched)."""
    permission = getattr(app.view_functions[route.endpoint], "crm_permission", None)
    if permission is None:
        pytest.fail(
            f"{route.id} ({route.endpoint}) declares no permission: add @requires(...) "
            "or @public and, for a new permission, a POLICY entry"
        )
    path = url_for_route(app, route, world)
    key_auth = getattr(app.view_functions[route.endpoint], "crm_key_auth", False)
    failures = []
    for role in ACTORS:
        actor = act_as(
            app,
            ANONYMOUS if role == ANONYMOUS else world.user(role),
            api=route.is_api,
            token_for=token_for,
        )
        resp = actor.send(route.method, path, api=route.is_api)
        problem = _check_key_auth(resp) if key_auth else _check(route, role, permission, resp)
        if problem:
            failures.append(
                f"{route.method} {path} × {role} (needs {permission!r}): {problem}; "
                f"got {describe(resp, 200)}"
            )
    assert not failures, f"{route.id} [{route.endpoint}]:\n  " + "\n  ".join(failures)


# ------------------------------------------------------------------ object-level rules

#: (case id, actor, method, path template, form data, expected status). Placeholders:
#: {ticket} the customer's ticket (assigned to "engineer"), {missing} an id nobody has,
#: {other_engineer} a second approved engineer, {pending} a pending engineer.
#: Actors: a role, or "other_customer" / "other_engineer" (not requester / not assignee).
OBJECT_RULES = [
    # customers only know their own tickets: 404, so ids cannot be probed
    (
        "customer-views-another-customers-ticket",
        "other_customer",
        "GET",
        "/portal/tickets/{ticket}",
        None,
        404,
    ),
    (
        "customer-replies-on-another-customers-ticket",
        "other_customer",
        "POST",
        "/portal/tickets/{ticket}/comments",
        {"body": "Me too"},
        404,
    ),
    (
        "customer-opens-edit-of-another-customers-ticket",
        "other_customer",
        "GET",
        "/portal/tickets/{ticket}/edit",
        None,
        404,
    ),
    (
        "customer-edits-another-customers-ticket",
        "other_customer",
        "POST",
        "/portal/tickets/{ticket}/edit",
        {"subject": "Mine now", "description": "x"},
        404,
    ),
    ("customer-views-a-missing-ticket", "customer", "GET", "/portal/tickets/{missing}", None, 404),
    ("staff-views-a-missing-ticket", "agent", "GET", "/tickets/{missing}", None, 404),
    # the requester may see and edit their own open ticket
    ("requester-views-own-ticket", "customer", "GET", "/portal/tickets/{ticket}", None, 200),
    (
        "requester-edits-own-open-ticket",
        "customer",
        "POST",
        "/portal/tickets/{ticket}/edit",
        {"subject": "Printer still on fire", "description": "More smoke"},
        302,
    ),
    # engineers change only tickets assigned to them: 403 (they may see it, not change it)
    (
        "engineer-accepts-another-engineers-ticket",
        "other_engineer",
        "POST",
        "/tickets/{ticket}/accept",
        {},
        403,
    ),
    (
        "engineer-changes-status-of-another-engineers-ticket",
        "other_engineer",
        "POST",
        "/tickets/{ticket}/status",
        {"status": "resolved"},
        403,
    ),
    (
        "engineer-changes-priority-of-another-engineers-ticket",
        "other_engineer",
        "POST",
        "/tickets/{ticket}/priority",
        {"priority": "high"},
        403,
    ),
    ("assignee-accepts-own-ticket", "engineer", "POST", "/tickets/{ticket}/accept", {}, 302),
    (
        "assignee-changes-status",
        "engineer",
        "POST",
        "/tickets/{ticket}/status",
        {"status": "resolved"},
        302,
    ),
    (
        "assignee-changes-priority",
        "engineer",
        "POST",
        "/tickets/{ticket}/priority",
        {"priority": "high"},
        302,
    ),
    (
        "agent-changes-status-of-any-ticket",
        "agent",
        "POST",
        "/tickets/{ticket}/status",
        {"status": "resolved"},
        302,
    ),
    (
        "engineer-notes-on-another-engineers-ticket",
        "other_engineer",
        "POST",
        "/tickets/{ticket}/comments",
        {"body": "Seen this before", "internal": "y"},
        302,
    ),
    # reassignment targets only approved engineers
    (
        "manager-reassigns-to-approved-engineer",
        "manager",
        "POST",
        "/tickets/{ticket}/assign",
        {"assignee_id": "{other_engineer}"},
        302,
    ),
    (
        "manager-reassigns-to-pending-engineer",
        "manager",
        "POST",
        "/tickets/{ticket}/assign",
        {"assignee_id": "{pending}"},
        422,
    ),
]


def _fill(value: str, world) -> str:
    return value.format(
        ticket=world.ticket.id,
        missing=world.ticket.id + 10_000,
        other_engineer=world.other_engineer.id,
        pending=world.pending.id,
    )


def _actor_user(world, actor: str):
    return getattr(world, actor) if actor.startswith("other_") else world.user(actor)


def _ticket_state(ticket_id: int):
    db.session.expire_all()
    t = db.session.get(Ticket, ticket_id)
    n = db.session.scalar(
        db.select(db.func.count(Comment.id)).where(Comment.ticket_id == ticket_id)
    )
    return (t.status, t.priority, t.assignee_id, t.subject, t.description, n)


@pytest.mark.parametrize("case", OBJECT_RULES, ids=[c[0] for c in OBJECT_RULES])
def test_object_level_rule(app, token_for, world, case):
    case_id, actor, method, path, data, expected = case
    user = _actor_user(world, actor)
    sender = act_as(app, user, api=False, token_for=token_for)
    before = _ticket_state(world.ticket.id)
    path = _fill(path, world)
    form = {k: _fill(v, world) for k, v in (data or {}).items()}
    resp = sender.send(method, path, api=False, data=form)
    where = f"{case_id}: {method} {path} as {actor} ({user.role}) -> {describe(resp)}"
    assert resp.status_code == expected, f"expected {expected}: {where}"
    if expected in (403, 404, 422) and method != "GET":
        assert _ticket_state(world.ticket.id) == before, (
            f"a refused request changed the ticket: {where}"
        )
    if expected == 302 and method != "GET":
        assert _ticket_state(world.ticket.id) != before, (
            f"an allowed request changed nothing: {where}"
        )


def test_customer_never_sees_internal_notes(app, token_for, world):
    actor = act_as(app, world.user("customer"), api=False, token_for=token_for)
    path = f"/portal/tickets/{world.ticket.id}"
    for headers in ({}, {"HX-Request": "true"}):  # the page and the polled fragment
        resp = actor.send("GET", path, api=False, headers=headers)
        assert resp.status_code == 200, describe(resp)
        body = resp.get_data(as_text=True)
        assert "Any news?" in body
        assert INTERNAL_NOTE.split("(")[0].strip() not in body, f"internal note leaked ({headers})"


def test_staff_see_internal_notes(app, token_for, world):
    actor = act_as(app, world.other_engineer, api=False, token_for=token_for)
    resp = actor.send("GET", f"/tickets/{world.ticket.id}", api=False)
    assert resp.status_code == 200, describe(resp)
    assert "the customer&#39;s printer is a fire hazard" in resp.get_data(
        as_text=True
    ) or "the customer's printer is a fire hazard" in resp.get_data(as_text=True)


def test_requester_cannot_edit_once_work_has_started(app, token_for, world):
    from crm.tickets import services

    services.accept(world.ticket, world.user("engineer"))
    db.session.commit()  # (a no-op when the service commits itself)
    actor = act_as(app, world.user("customer"), api=False, token_for=token_for)
    resp = actor.send(
        "POST",
        f"/portal/tickets/{world.ticket.id}/edit",
        api=False,
        data={"subject": "Changed later", "description": "x"},
    )
    assert resp.status_code == 302, describe(resp)
    assert urlsplit(resp.headers["Location"]).path == f"/portal/tickets/{world.ticket.id}"
    db.session.expire_all()
    assert db.session.get(Ticket, world.ticket.id).subject == "Printer on fire"


def test_pending_staff_cannot_log_in_or_reach_the_console(client, world):
    resp = client.post(
        "/auth/login", data={"email": world.pending.email, "password": "correct-horse-42"}
    )
    assert resp.status_code == 403, describe(resp)
    resp = send(client, "GET", "/tickets/", api=False)
    assert _login_redirect(resp), describe(resp)
