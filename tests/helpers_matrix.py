"""Shared pieces of the authorisation matrix and the bad-input tests.

* :func:`collected_routes` lists every (rule, method) of the app, read from a throwaway app at
  collection time so tests can be parametrised by route (the real per-backend app is a session
  fixture and does not exist yet when pytest collects).
* :func:`build_world` creates the fixture objects every route argument can point at: one
  active user per role, a ticket owned by the customer and assigned to the engineer, a public
  reply and an internal note, its outbox rows, a pending staff registration, a caught mail.
* :func:`url_for_route` fills a rule's arguments from the world (:data:`ARG_VALUES`); an
  argument nobody taught it fails loudly so a new route cannot slip past the matrix.
* :func:`client_as` logs a role in (console: the real log-in form; API: a Bearer token).
"""
from __future__ import annotations

import functools
import html
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from flask import Response, g
from werkzeug.security import generate_password_hash

from crm.auth.models import PENDING, User
from crm.extensions import db
from crm.notifications.models import CaughtMail, Notification

ROLES = ("customer", "engineer", "agent", "manager", "admin")
ANONYMOUS = "anonymous"
ACTORS = ROLES + (ANONYMOUS,)
#: HTTP methods the matrix sends (HEAD and OPTIONS are answered by Flask itself).
MATRIX_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
#: Endpoints outside the policy: Flask's static files.
EXEMPT_ENDPOINTS = frozenset({"static"})
PROBLEM_JSON = "application/problem+json"
PASSWORD = "correct-horse-42"  # conftest's default password


@dataclass(frozen=True)
class Route:
    """One (rule, method) pair of ``app.url_map``."""

    rule: str
    endpoint: str
    method: str
    arguments: tuple[str, ...]

    @property
    def is_api(self) -> bool:
        """True for JSON API operations (under ``/api/``): Bearer auth, problem+json errors."""
        return self.rule.startswith("/api/")

    @property
    def id(self) -> str:
        return f"{self.method} {self.rule}"


def routes_of(app) -> list[Route]:
    """Every (rule, method) of ``app`` except static files, sorted by rule then method."""
    out = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.endpoint in EXEMPT_ENDPOINTS:
            continue
        for method in sorted((rule.methods or set()) & set(MATRIX_METHODS)):
            out.append(Route(rule.rule, rule.endpoint, method, tuple(sorted(rule.arguments))))
    return out


@functools.cache
def collection_app():
    """A throwaway app (in-memory SQLite, no Redis) to read routes and the OpenAPI document
    at collection time, before the per-backend app fixture exists.

    Built with the same ``create_app`` and TestingConfig as the fixtures, so it has exactly
    the routes the per-backend app has (a test checks that too).
    """
    from crm import create_app
    from crm.config import TestingConfig

    class _ListingConfig(TestingConfig):
        @classmethod
        def load(cls, instance_path):
            cfg = super().load(instance_path)
            cfg.update({"SQLALCHEMY_DATABASE_URI": "sqlite://", "REDIS_URL": None})
            return cfg

    saved = os.environ.get("CRM_INSTANCE_PATH")
    os.environ["CRM_INSTANCE_PATH"] = tempfile.mkdtemp(prefix="crm-routes-")
    try:
        return create_app(_ListingConfig)
    finally:
        if saved is None:
            os.environ.pop("CRM_INSTANCE_PATH", None)
        else:
            os.environ["CRM_INSTANCE_PATH"] = saved


@functools.cache
def collected_routes() -> tuple[Route, ...]:
    """Routes of :func:`collection_app`, for parametrisation."""
    return tuple(routes_of(collection_app()))


OPENAPI_PATH = "/api/v1/openapi.json"


@functools.cache
def collected_openapi() -> dict | None:
    """The OpenAPI document of :func:`collection_app`, or None while the API has none."""
    try:
        resp = collection_app().test_client().get(OPENAPI_PATH)
    except Exception:  # noqa: BLE001 - a broken document is reported by the runtime test
        return None
    return resp.get_json(silent=True) if resp.status_code == 200 else None


def find_rule(app, route: Route):
    """The werkzeug ``Rule`` of ``route`` in ``app``'s url_map."""
    for rule in app.url_map.iter_rules():
        if rule.rule == route.rule and rule.endpoint == route.endpoint:
            return rule
    raise AssertionError(f"{route.id} is not in the app's url_map any more")


# ------------------------------------------------------------------ the fixture objects

# Log-in still goes through the real form and werkzeug's real hash check, but with a
# one-iteration PBKDF2 hash computed once per password: a scrypt check costs 50-300 ms on
# this machine and the matrix logs in a few hundred times. (Password hashing is tested
# elsewhere; these tests are about who may do what.)
@functools.cache
def _hash_of(password: str) -> str:
    return generate_password_hash(password, method="pbkdf2:sha256:1")


@pytest.fixture
def fast_passwords(monkeypatch):
    """Make ``make_user`` store a cheap precomputed hash (speed only, see :func:`_hash_of`)."""
    monkeypatch.setattr(User, "set_password",
                        lambda self, password: setattr(self, "password_hash", _hash_of(password)))


@dataclass
class World:
    """The objects route arguments point at (see :func:`build_world`)."""

    users: dict[str, User]
    other_customer: User
    other_engineer: User
    pending: User
    ticket: object
    public_comment: object
    internal_note: object
    notification: Notification
    mail: CaughtMail
    extra: dict = field(default_factory=dict)

    def user(self, role: str) -> User:
        return self.users[role]


INTERNAL_NOTE = "Internal: the customer's printer is a fire hazard (staff eyes only)."


def build_world(make_user) -> World:
    """Create the matrix's objects (commits). Call with :func:`fast_passwords` active.

    Rows are inserted directly (no services, so no events, outbox writes or queued jobs):
    the matrix runs this a few hundred times and only needs the objects to exist.
    """
    from crm.clock import utcnow
    from crm.tickets.models import Comment, Ticket

    users = {role: make_user(role) for role in ROLES}
    other_customer = make_user("customer")
    other_engineer = make_user("engineer")
    pending = make_user("engineer", status=PENDING)
    now = utcnow()
    ticket = Ticket(subject="Printer on fire", description="Smoke everywhere", priority="normal",
                    status="open", requester_id=users["customer"].id,
                    assignee_id=users["engineer"].id, created_at=now, updated_at=now,
                    assigned_at=now)
    db.session.add(ticket)
    db.session.flush()
    public_comment = Comment(ticket_id=ticket.id, author_id=users["customer"].id,
                             body="Any news?", public=True, created_at=now)
    internal_note = Comment(ticket_id=ticket.id, author_id=users["engineer"].id,
                            body=INTERNAL_NOTE, public=False, created_at=now)
    notification = Notification(
        to=[users["customer"].email],
        subject=f"Ticket #{ticket.id} received",
        body_text="We got it.",
        template="ticket_created",
        event="ticket.created",
        ticket_id=ticket.id,
        status="failed",
        attempts=1,
        last_error="SMTP timeout",
        message_id=f"<matrix-{ticket.id}@example.com>",
        created_at=now,
    )
    mail = CaughtMail(
        mail_from="no-reply@example.com",
        rcpt_to=[users["customer"].email],
        subject="Caught",
        message_id="<caught@example.com>",
        received_at=now,
        raw="From: no-reply@example.com\r\nTo: x@example.com\r\nSubject: Caught\r\n\r\nHello\r\n",
    )
    from crm.sessions.models import UserSession

    customer_session = UserSession(
        user_id=users["customer"].id,
        key_hash="0" * 64,
        ip="192.0.2.1",
        user_agent="matrix",
        created_at=now,
        last_seen_at=now,
    )
    db.session.add_all([public_comment, internal_note, notification, mail, customer_session])
    db.session.commit()
    return World(
        users=users,
        other_customer=other_customer,
        other_engineer=other_engineer,
        pending=pending,
        ticket=ticket,
        public_comment=public_comment,
        internal_note=internal_note,
        notification=notification,
        mail=mail,
        extra={"session": customer_session},
    )


#: route argument name -> its value in the world. A rule with an argument missing here fails
#: the matrix (teach it the new argument rather than skipping the route).
ARG_VALUES: dict[str, Callable[[World], object]] = {
    "ticket_id": lambda w: w.ticket.id,
    "user_id": lambda w: w.pending.id,
    "notification_id": lambda w: w.notification.id,
    "mail_id": lambda w: w.mail.id,
    "comment_id": lambda w: w.public_comment.id,
    "customer_id": lambda w: w.user("customer").id,
    "engineer_id": lambda w: w.user("engineer").id,
    "filename": lambda w: "css/app.css",
    "version": lambda w: "7.1.0",  # a vendored asset's version in its URL (crm/assets.py)
    "session_id": lambda w: w.extra["session"].id,
    "name": lambda w: "ticket_created",  # an email template
    "token": lambda w: "not-a-real-token",  # an emailed account link (verification, reset)
    # health reports, maintenance windows, broadcasts (tests/broadcasts/matrix_objects.py)
    "report_id": lambda w: _h_objects().health_report(w).id,
    "window_id": lambda w: _h_objects().maintenance_window(w).id,
    "broadcast_id": lambda w: _h_objects().broadcast(w).id,
    "unsubscribe_token": lambda w: _h_objects().unsubscribe_token(w),
    # uptime monitors (tests/monitoring/api_matrix_objects.py)
    "monitor_id": lambda w: _monitoring_objects().monitor(w).id,
    "contact_id": lambda w: _monitoring_objects().contact(w).id,
    "group_id": lambda w: _monitoring_objects().contact_group(w).id,
    "incident_id": lambda w: _monitoring_objects().incident(w).id,
    # status pages (tests/monitoring/console_matrix_objects.py)
    "page_id": lambda w: _console_objects().status_page(w).id,
    "slug": lambda w: _console_objects().status_page(w).slug,
    # error tracker (tests/observability/matrix_objects.py)
    "project_id": lambda w: _error_objects().project(w).id,
    "issue_id": lambda w: _error_objects().issue(w).id,
    # shops (tests/shop/matrix_objects.py)
    "shop_customer_id": lambda w: _shop_objects().customer(w).id,
    "order_id": lambda w: _shop_objects().order(w).id,
    "connection_id": lambda w: _shop_objects().connection(w).id,
    "product_id": lambda w: _shop_objects().product(w).id,
    "note_id": lambda w: _shop_objects().note(w).id,
}


def _shop_objects():
    from tests.shop import matrix_objects

    return matrix_objects


def _error_objects():
    from tests.observability import matrix_objects

    return matrix_objects


def _console_objects():
    from tests.monitoring import console_matrix_objects

    return console_matrix_objects


def _monitoring_objects():
    from tests.monitoring import api_matrix_objects

    return api_matrix_objects


def _h_objects():
    from tests.broadcasts import matrix_objects

    return matrix_objects


_ANY = re.compile(r"<any\(([^)]*)\):(\w+)>")


def _any_choices(rule_text: str) -> dict[str, list[str]]:
    return {
        name: [c.strip().strip("'\"") for c in choices.split(",")]
        for choices, name in _ANY.findall(rule_text)
    }


def url_values(route: Route, world: World, overrides: dict | None = None) -> dict:
    """Values for every argument of ``route`` (``any(...)`` arguments take their first choice)."""
    overrides = overrides or {}
    choices = _any_choices(route.rule)
    values = {}
    missing = []
    for arg in route.arguments:
        if arg in overrides:
            values[arg] = overrides[arg]
        elif arg in choices:
            values[arg] = choices[arg][0]
        elif arg in ARG_VALUES:
            values[arg] = ARG_VALUES[arg](world)
        else:
            missing.append(arg)
    if missing:
        pytest.fail(
            f"{route.id}: no fixture value for argument(s) {missing}; add them to "
            "tests/helpers_matrix.py ARG_VALUES so the matrix can reach this route"
        )
    return values


def url_for_route(app, route: Route, world: World, overrides: dict | None = None) -> str:
    """The path of ``route`` with its arguments filled from ``world`` (exactly this rule)."""
    rule = find_rule(app, route)
    built = rule.build(url_values(route, world, overrides), append_unknown=False)
    assert built is not None, f"could not build {route.id}"
    return built[1]


# ------------------------------------------------------------------ acting as a role


@dataclass
class Actor:
    """How to send requests as one role: headers for the API, the session for the console."""

    role: str
    user: User | None
    api_headers: dict
    client: object

    def send(self, method: str, path: str, *, api: bool, **kwargs):
        """:func:`send` on this actor's client with its headers."""
        headers = {**self.api_headers, **kwargs.pop("headers", {})}
        return send(self.client, method, path, api=api, headers=headers, **kwargs)

    def open(self, path: str, **kwargs):
        """``client.open`` with this actor's headers (raw API requests), after
        :func:`fresh_request_state`; an escaping exception becomes a 500 (see :func:`send`)."""
        fresh_request_state()
        kwargs["headers"] = {**self.api_headers, **kwargs.get("headers", {})}
        return _guarded(lambda: self.client.open(path, **kwargs))


def act_as(app, role_or_user, *, api: bool, token_for) -> Actor:
    """A fresh test client acting as ``role_or_user`` (or ``"anonymous"``/None).

    Console: the user logs in through the real log-in form on a client of its own (so roles
    never share a cookie jar). API: the client sends the Bearer token from ``token_for``.
    """
    fresh_request_state()
    client = app.test_client()
    if role_or_user in (None, ANONYMOUS):
        return Actor(ANONYMOUS, None, {}, client)
    user = role_or_user
    if api:
        return Actor(user.role, user, {"Authorization": f"Bearer {token_for(user)}"}, client)
    resp = send(
        client, "POST", "/auth/login", api=False, data={"email": user.email, "password": PASSWORD}
    )
    assert resp.status_code == 302, f"log-in as {user.role} failed: {describe(resp)}"
    return Actor(user.role, user, {}, client)


def fresh_request_state() -> None:
    """Make the next test-client request start like a production one.

    The tests keep one app context pushed (conftest ``_clean``) and Flask reuses it for
    test-client requests, so per-context state outlives a request: Flask-Login's cached user
    (``g._login_user``), Flask-WTF's CSRF token (``g.csrf_token``) and the scoped database
    session, which after a failed flush (a 500) would refuse every later query. Production
    pops the context, and with it both, after each request; here: drop the cached user and
    roll the session back.
    """
    g.pop("_login_user", None)
    g.pop("csrf_token", None)  # Flask-WTF's per-request token, signed for the previous session
    db.session.rollback()


def send(
    client,
    method: str,
    path: str,
    *,
    api: bool,
    headers: dict | None = None,
    data=None,
    json_body=None,
    query: dict | None = None,
):
    """Send one request; console writes are form posts, API writes JSON bodies."""
    fresh_request_state()
    kwargs = {"headers": headers or {}}
    if query:
        kwargs["query_string"] = query
    if method in ("POST", "PUT", "PATCH"):
        if api:
            kwargs["json"] = {} if json_body is None else json_body
        else:
            kwargs["data"] = {} if data is None else data
    return _guarded(lambda: client.open(path, method=method, **kwargs))


def _guarded(request):
    """Run ``request``; an exception escaping the app (its error handler failed too, so a
    user would get Werkzeug's bare 500 page) becomes a synthetic 500 response naming it, so
    the calling test reports it with the other cases instead of stopping at it."""
    try:
        return request()
    except Exception as exc:  # noqa: BLE001
        return Response(
            f"exception escaped the app's error handlers: {exc!r}"[:500],
            status=500,
            mimetype="text/x-escaped-exception",
        )


def visible_text(resp) -> str:
    """The response body as text with tags removed and entities decoded (for message checks)."""
    body = resp.get_data(as_text=True)
    body = re.sub(r"<script.*?</script>|<style.*?</style>", " ", body, flags=re.S | re.I)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def describe(resp, limit: int = 300) -> str:
    """Status, content type, Location and the start of the visible body (failure messages)."""
    loc = resp.headers.get("Location")
    return (
        f"{resp.status_code} {resp.content_type}"
        + (f" -> {loc}" if loc else "")
        + f": {visible_text(resp)[:limit]!r}"
    )
