"""Round trip of the whole console: every role logs in through the log-in form, visits every
page it can reach by links, and submits every form exactly as it was rendered.

Why: a page that 500s for one role, or an edit form that refuses its own unchanged values
(a select whose rendered choice is not among its valid choices, a field the template forgot,
a value rendered in another format than the one parsed), is invisible to tests that post
hand-made data. Here the data comes from the rendered HTML, as a browser sends it.

* Data: the demo loader (:func:`crm.demo.seed_demo`) plus the authorisation matrix's world
  (one object of every kind a route points at: ticket, users, outbox row, caught mail,
  monitor with history and an incident, contact group, status page, health report,
  maintenance window, broadcast).
* Each actor (:data:`ACTORS`) logs in through the form (GET it, POST it with its CSRF token:
  CSRF protection is switched on for this test), crawls same-origin links (``<a href>``,
  ``<script src>``, htmx ``hx-get``) breadth-first, at most :data:`VARIANTS_PER_RULE` URLs per
  route, then submits each distinct form it saw (its action, and any ``hx-post`` inside it);
  filter (GET) forms also with every option of each of their selects.
* Destructive forms (:data:`DESTRUCTIVE`) are submitted last, after every actor's
  ordinary pass, on the throwaway data of this test.
* Checks: no 5xx anywhere; no link on a page leads to a 404 or a 403 for the actor who
  sees it; an unchanged edit form (:data:`EDIT_FORMS`) is accepted (a
  redirect, or a page without field errors) and changes nothing in the database (a secret
  the form does not show, a setting it forgets to render, would be lost); a form is never
  refused for its CSRF token; every GET console route was visited by some actor or is in
  :data:`SKIPPED` with a reason.

Known defects still open elsewhere are listed in :data:`KNOWN_BROKEN` (``"METHOD rule"`` →
reason): while only those fail, the test is an expected failure (xfail); any other failure
fails it. Set ``CRM_ROUNDTRIP_REPORT=<path>`` to get a Markdown list of what failed.
"""

from __future__ import annotations

import os
import re
import traceback
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from flask import got_request_exception
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from crm.extensions import db
from tests.helpers_matrix import (
    ARG_VALUES,
    PASSWORD,
    build_world,
    fast_passwords,  # noqa: F401  (fixture)
    fresh_request_state,
)
from tests.roundtrip.crawler import Form, local_path, parse_page

ROLES = ("admin", "manager", "agent", "engineer", "customer")
ANONYMOUS = "anonymous"
UNVERIFIED = "unverified customer"  # a customer who has not confirmed the email address yet
ACTORS = ROLES + (UNVERIFIED, ANONYMOUS)
#: customers first: staff actions (accepting a ticket) end what a customer may still edit
SUBMIT_ORDER = ("customer", UNVERIFIED, ANONYMOUS, "agent", "engineer", "manager", "admin")
#: at most this many different URLs (ids, query strings) per route and actor
VARIANTS_PER_RULE = 3
#: routes and form endpoints the admin visits for every object, not only a few: the monitor
#: pages, whose forms differ by monitor type (the data has one monitor of each type)
ALL_VARIANTS = {"/monitors/<int:monitor_id>", "/monitors/<int:monitor_id>/edit", "monitoring.edit"}
MAX_VARIANTS = 20
#: and ones tried less often: "run now" really checks the monitor (a DNS look-up that fails)
FEW_VARIANTS = {"monitoring.run_now": 1}
#: filter (GET) forms are also sent with each of the first this many options of each select
OPTIONS_PER_SELECT = 12
#: at most this many GET requests per actor (a guard against a link loop)
MAX_PAGES_PER_ACTOR = 400

#: GET console routes no crawl reaches, and why they are left to other tests.
SKIPPED: dict[str, str] = {
    "/auth/reset/<token>": "a one-time link sent by email (tests/accounts/test_reset_email.py)",
    "/auth/sso/callback": "the identity provider's redirect back, needs its signed code "
    "(tests/sso/)",
    "/auth/sso/login": "shown only when single sign-on is configured; redirects to the identity "
    "provider (tests/sso/)",
    "/auth/2fa/verify": "only during a log-in of an account with two-factor sign-in "
    "(tests/accounts/test_totp.py)",
    "/auth/reset/sms/code": "only after an SMS reset request found a phone "
    "(tests/accounts/test_reset_sms.py)",
    "/healthz": "the load balancer's probe, linked from no page (tests/test_smoke.py)",
    "/security/devconsole.json": "fetched by a script, not a link "
    "(tests/browser/test_devconsole.py)",
}

#: POST console endpoints that no rendered form of this test's data reaches, and why.
FORMS_SKIPPED: dict[str, str] = {
    "auth.phone_confirm": "shown after a phone number was entered and an SMS code sent "
    "(tests/accounts/test_phone.py)",
    "auth.phone_resend": "shown with the phone confirmation form (tests/accounts/test_phone.py)",
    "auth.reset_sms_code": "shown after an SMS reset request found a phone "
    "(tests/accounts/test_reset_sms.py)",
    "auth.reset_sms_resend": "shown with the SMS code form (tests/accounts/test_reset_sms.py)",
    "auth.reset_with_link": "behind a one-time emailed link (tests/accounts/test_reset_email.py)",
    "auth.totp_disable": "shown once two-factor sign-in is on (tests/accounts/test_totp.py)",
    "auth.totp_verify": "the second step of a log-in with two-factor sign-in "
    "(tests/accounts/test_totp.py)",
}

#: Forms whose submission destroys or ends something: submitted last (after every actor's
#: ordinary pass), endpoint -> why.
DESTRUCTIVE: dict[str, str] = {
    "auth.logout": "ends the crawling session",
    "auth.totp_disable": "turns two-factor sign-in off",
    "sessions.revoke": "revokes a session (possibly the crawler's own)",
    "sessions.revoke_others": "revokes the actor's other sessions",
    "sessions.admin_revoke": "revokes another user's session",
    "admin.user_action": "deactivates or deletes an account",
    "admin.reject": "rejects a pending registration",
    "admin.approve": "approves a pending registration",
    "maintenance.delete": "deletes a maintenance window",
    "monitoring.delete": "deletes a monitor",
    "monitoring.remove_contact": "removes a monitor's contact",
    "monitoring.contact_group_delete": "deletes a contact group",
    "monitoring.contact_group_remove_contact": "removes a group's contact",
    "monitoring.status_page_delete": "deletes a status page",
    "broadcasts.new": "sends a broadcast to customers",
}

#: Among the destructive ones, these go last (they may end the actor's own session).
LAST = {
    "sessions.revoke": 1,
    "sessions.revoke_others": 1,
    "sessions.admin_revoke": 1,
    "auth.logout": 2,
}

#: Forms that edit an existing object: submitted unchanged they must be accepted.
EDIT_FORMS: set[str] = {
    "admin.user",
    "notifications.email_template",
    "security.admin",
    "auth.totp_policy",
    "auth.profile",
    "maintenance.edit",
    "monitoring.edit",
    "monitoring.status_page_edit",
    "portal.edit",
    "reports.subscriptions",
    "monitoring.contact_group_rename",
}

#: Failures still open in other areas ("METHOD rule" -> reason); remove an entry when fixed.
KNOWN_BROKEN: dict[str, str] = {}

FIELD_ERROR = re.compile(r'aria-invalid="true"|\bis-invalid\b|\binvalid-feedback\b')
CSRF_REFUSAL = re.compile(r"CSRF", re.I)


@dataclass
class Failure:
    """One thing that went wrong: what was sent, by whom, and the answer."""

    # "5xx", "edit refused", "edit changed data", "csrf refused", "dead link", "forbidden link"
    kind: str
    actor: str
    method: str
    url: str
    rule: str
    status: int
    detail: str = ""
    form: str = ""

    @property
    def key(self) -> str:
        return f"{self.method} {self.rule}"


@dataclass
class Actor:
    """A client acting as one role, and what it has seen."""

    name: str
    client: object
    visited: Counter = field(default_factory=Counter)  # rule -> GETs
    seen_urls: set = field(default_factory=set)
    forms: dict = field(default_factory=dict)  # signature -> (page url, Form)
    csrf_header: str | None = None
    requests: int = 0


class RoundTrip:
    """The crawl of one test: actors, visited routes, failures."""

    def __init__(self, app):
        self.app = app
        self.adapter = app.url_map.bind("localhost")
        self.failures: list[Failure] = []
        self.visited_rules: dict[str, set[str]] = {}  # rule -> actors
        self.submitted: Counter = Counter()  # endpoint -> submissions
        self.last_exception: list[str] = []
        self.log: list[str] = []  # one line per form submission
        self.options_tried: set = set()  # (path, select name, option) sent by some actor

    # ------------------------------------------------------------ routing

    def match(self, method: str, path: str):
        """(endpoint, rule text) of ``path``, or (None, path) when nothing matches."""
        try:
            rule, _ = self.adapter.match(path.split("?", 1)[0], method=method, return_rule=True)
            return rule.endpoint, rule.rule
        except RequestRedirect as redirect:  # strict slashes: follow like a browser
            return self.match(method, local_path(redirect.new_url) or path)
        except HTTPException:
            return None, path.split("?", 1)[0]

    # ------------------------------------------------------------ requests

    def request(
        self, actor: Actor, method: str, path: str, *, data=None, htmx: bool = False, form: str = ""
    ):
        """Send one request as ``actor``; record the visit and any 5xx."""
        fresh_request_state()
        self.last_exception.clear()
        headers = {}
        if htmx:
            headers["HX-Request"] = "true"
            if actor.csrf_header and method != "GET":
                headers["X-CSRFToken"] = actor.csrf_header
        kwargs = {"headers": headers}
        if method == "GET":
            if data:
                kwargs["query_string"] = data
        else:
            kwargs["data"] = data if data is not None else {}
        actor.requests += 1
        try:
            resp = actor.client.open(path, method=method, **kwargs)
        except Exception as exc:  # noqa: BLE001 - escaped the error handlers: a 500 for a user
            self._fail("5xx", actor, method, path, 500, f"escaped: {exc!r}", form)
            return None
        endpoint, rule = self.match(method, path)
        if method == "GET" and endpoint is not None:
            actor.visited[rule] += 1
            self.visited_rules.setdefault(rule, set()).add(actor.name)
        if resp.status_code >= 500:
            detail = self.last_exception[0] if self.last_exception else _text(resp)[:200]
            self._fail("5xx", actor, method, path, resp.status_code, detail, form)
        return resp

    def _fail(self, kind, actor, method, path, status, detail, form=""):
        _, rule = self.match(method if method != "GET" else "GET", path)
        self.failures.append(Failure(kind, actor.name, method, path, rule, status, detail, form))

    def on_exception(self, sender, exception, **extra):
        lines = traceback.format_exception(exception)
        where = next(
            (
                ln.strip().splitlines()[0]
                for ln in reversed(lines)
                if ln.strip().startswith('File "/') and "/crm/" in ln
            ),
            "",
        )
        self.last_exception[:] = [f"{type(exception).__name__}: {exception} ({where})"[:400]]

    # ------------------------------------------------------------ log-in

    def log_in(self, actor: Actor, email: str) -> None:
        """Log in through the real form: GET it, fill email and password, POST what it has."""
        resp = self.request(actor, "GET", "/auth/login")
        assert resp is not None and resp.status_code == 200, (
            f"log-in page: {resp and resp.status_code}"
        )
        page = parse_page(_text(resp), "/auth/login")
        [form] = [f for f in page.forms if f.has_control("password")]
        entries = MultiDict(form.entries(form.buttons[0] if form.buttons else None))
        assert "csrf_token" in entries, "the log-in form carries no CSRF token"
        entries["email"], entries["password"] = email, PASSWORD
        resp = self.request(actor, form.method, local_path(form.action), data=entries)
        assert resp is not None and resp.status_code == 302, (
            f"log-in as {actor.name}: {resp and resp.status_code}"
        )
        self.crawl(actor, [resp.headers["Location"], "/"])

    # ------------------------------------------------------------ crawling

    def crawl(self, actor: Actor, start: list[str]) -> None:
        """Breadth-first GETs of same-origin links from ``start``; collects forms."""
        queue = deque((url, False, None) for url in start)
        while queue and actor.requests < MAX_PAGES_PER_ACTOR * 2:
            url, htmx, source = queue.popleft()
            path = local_path(url)
            if path is None or (path, htmx) in actor.seen_urls:
                continue
            endpoint, rule = self.match("GET", path)
            if endpoint is None or endpoint == "static" or rule.startswith("/api/"):
                continue
            if (
                actor.visited[rule] >= _cap(rule, actor)
                or len(actor.seen_urls) >= MAX_PAGES_PER_ACTOR
            ):
                continue
            actor.seen_urls.add((path, htmx))
            resp = self.request(actor, "GET", path, htmx=htmx)
            if resp is None:
                continue
            if (
                resp.status_code in (403, 404)
                and source is not None
                and not _verify_first(actor, resp)
            ):
                # a page offered this link: it must lead somewhere this actor may go
                kind = "dead link" if resp.status_code == 404 else "forbidden link"
                self._fail(kind, actor, "GET", path, resp.status_code, f"linked from {source}")
            if resp.status_code in (301, 302, 303, 307, 308) and resp.headers.get("Location"):
                queue.append((resp.headers["Location"], False, None))
                continue
            if resp.status_code != 200 or not resp.mimetype == "text/html":
                continue
            page = parse_page(_text(resp), path)
            if page.csrf_header:
                actor.csrf_header = page.csrf_header
            queue.extend((url, htmx, path) for url, htmx in page.links)
            for form in page.forms:
                for sig, target in _submissions(form):
                    actor.forms.setdefault(sig, (path, form, target))

    # ------------------------------------------------------------ forms

    def each_option(
        self, actor: Actor, form: Form, path: str, entries: MultiDict, htmx: bool, label: str
    ) -> None:
        """A filter (GET) form sent again with each other option of each of its selects, one
        select at a time (a period, a status, a sort order that 500s is found here)."""
        for control in form.controls:
            if control.tag != "select" or control.multiple or control.disabled:
                continue
            rendered = entries.getlist(control.name)
            for value, _selected in control.options[:OPTIONS_PER_SELECT]:
                if [value] == rendered or (path, control.name, value) in self.options_tried:
                    continue
                self.options_tried.add((path, control.name, value))  # by one actor is enough
                varied = entries.copy()
                varied.setlist(control.name, [value])
                self.request(
                    actor,
                    "GET",
                    path,
                    data=varied,
                    htmx=htmx,
                    form=f"{label} with {control.name}={value}",
                )

    def current_form(self, actor: Actor, page: str, sig: tuple):
        """(form, target) with signature ``sig`` on ``page`` reloaded now, or None."""
        resp = self.request(actor, "GET", page)
        if resp is None or resp.status_code != 200:
            return None
        for form in parse_page(_text(resp), page).forms:
            for other, (_page, target) in ((s, (page, t)) for s, t in _submissions(form)):
                if other == sig:
                    return form, target
        return None

    def submit_forms(self, actor: Actor, *, destructive: bool) -> None:
        """Submit ``actor``'s collected forms, the ordinary ones or only the destructive ones
        (log-out last of all)."""
        items = sorted(actor.forms.items(), key=lambda kv: LAST.get(kv[0][0], 0))
        sent: Counter = Counter()
        for sig, (page, form, target) in items:
            endpoint = sig[0]
            if (endpoint in DESTRUCTIVE) != destructive or sent[endpoint] >= _cap(endpoint, actor):
                continue
            if endpoint in EDIT_FORMS:  # as it is now, not as it was when crawled
                current = self.current_form(actor, page, sig)
                if current is None:
                    continue
                form, target = current
            sent[endpoint] += 1
            button, (send_method, url), htmx = target
            entries = MultiDict(form.entries(button))
            path = local_path(url)
            if path is None:
                continue
            if send_method == "GET":
                path = path.split("?", 1)[0]
            label = f"{form.method} form on {page} -> {path}" + (
                f" [{button.name}={button.value}]" if button and button.name else ""
            )
            before = _snapshot() if endpoint in EDIT_FORMS else None
            resp = self.request(actor, send_method, path, data=entries, htmx=htmx, form=label)
            self.submitted[endpoint] += 1
            if before is not None and resp is not None and resp.status_code < 500:
                changed = _diff(before, _snapshot())
                if changed:
                    self._fail(
                        "edit changed data",
                        actor,
                        send_method,
                        path,
                        resp.status_code,
                        "; ".join(changed)[:400],
                        label,
                    )
            if resp is None:
                continue
            body = _text(resp) if resp.mimetype == "text/html" else ""
            self.log.append(
                f"{actor.name} {send_method} {path} {resp.status_code}"
                + (f" -> {resp.headers['Location']}" if resp.headers.get("Location") else "")
                + (f": {_field_errors(body)[:160]}" if resp.status_code >= 400 else "")
            )
            if resp.status_code in (400, 403) and CSRF_REFUSAL.search(body):
                self._fail(
                    "csrf refused",
                    actor,
                    send_method,
                    path,
                    resp.status_code,
                    _visible(body)[:200],
                    label,
                )
            elif endpoint in EDIT_FORMS and (
                400 <= resp.status_code < 500
                or (resp.status_code == 200 and FIELD_ERROR.search(body))
            ):
                self._fail(
                    "edit refused",
                    actor,
                    send_method,
                    path,
                    resp.status_code,
                    _field_errors(body),
                    label,
                )
            if send_method == "GET":
                self.each_option(actor, form, path, entries, htmx, label)
            follow = (
                [resp.headers["Location"]]
                if resp.status_code in (302, 303) and resp.headers.get("Location")
                else []
            )
            if (
                send_method != "GET"
                and self.match("GET", path)[0] is not None
                and (path, False) not in actor.seen_urls
            ):
                # the action's address reloaded, bookmarked or pasted: a GET on it
                actor.seen_urls.add((path, False))
                reload = self.request(actor, "GET", path)
                if reload is not None and reload.headers.get("Location"):
                    follow.append(reload.headers["Location"])
            self.crawl(actor, follow)


def _submissions(form: Form):
    """(signature, (button, (method, url), htmx)) for each way the page can send ``form``:
    its action with each named submit button (or the plain one), and each ``hx-post`` in it."""
    buttons = [b for b in form.buttons if b.name] or form.buttons[:1] or [None]
    names = tuple(sorted({c.name for c in form.controls if c.name}))
    out = []
    targets = [((form.method, form.action), False)] + [((m, u), True) for m, u in form.htmx_targets]
    for (method, url), htmx in targets:
        endpoint = _endpoint_of(method, url)
        for button in buttons:
            key = (button.name, button.value) if button is not None else None
            path = (local_path(url) or "").split("?", 1)[0]
            out.append(((endpoint, method, path, names, key), (button, (method, url), htmx)))
    return out


_APP_FOR_MATCH: list = []


def _endpoint_of(method: str, url: str) -> str | None:
    path = local_path(url)
    if path is None or not _APP_FOR_MATCH:
        return None
    try:
        rule, _ = _APP_FOR_MATCH[0].match(path.split("?", 1)[0], method=method, return_rule=True)
        return rule.endpoint
    except (HTTPException, RequestRedirect):
        return None


#: Tables an edit may legitimately write to (logs, sessions, outbox, measurements), and
#: columns that record when or by whom rather than what.
SNAPSHOT_SKIP_TABLES = {
    "check_results",
    "rollups",
    "flips",
    "incidents",
    "user_sessions",
    "notifications",
    "sms_messages",
    "caught_mail",
    "app_locks",
    "ticket_changes",
    "idempotency_keys",
    "otp_codes",
    "account_tokens",
    "refresh_tokens",
    "refresh_token_families",
}
SNAPSHOT_SKIP_COLUMNS = {"updated_by_id"}
#: Tables where saving an unchanged form may store the defaults it showed as a row.
SNAPSHOT_ADD_OK = {"site_settings"}


def _snapshot() -> dict:
    """{table: {primary key: {column: value}}} of the tables an edit form may touch, without
    the when/by-whom columns (``*_at``, :data:`SNAPSHOT_SKIP_COLUMNS`)."""
    fresh_request_state()
    out = {}
    for table in db.metadata.sorted_tables:
        if table.name in SNAPSHOT_SKIP_TABLES:
            continue
        cols = [
            c
            for c in table.columns
            if not c.name.endswith("_at") and c.name not in SNAPSHOT_SKIP_COLUMNS
        ]
        pk = [c.name for c in table.primary_key.columns]
        rows = db.session.execute(db.select(*cols)).mappings().all()
        out[table.name] = {tuple(r[k] for k in pk): dict(r) for r in rows}
    db.session.rollback()
    return out


def _diff(before: dict, after: dict) -> list[str]:
    """What an edit changed: rows added, removed, or with other values, column by column."""
    changes = []
    for table, rows in before.items():
        now = after.get(table, {})
        for key in rows.keys() - now.keys():
            changes.append(f"{table}{list(key)} deleted")
        for key in now.keys() - rows.keys():
            if table not in SNAPSHOT_ADD_OK:
                changes.append(f"{table}{list(key)} added")
        for key in rows.keys() & now.keys():
            for col, value in rows[key].items():
                new = now[key][col]
                if new == value:
                    continue
                if isinstance(value, dict) and isinstance(new, dict):  # JSON: the keys that differ
                    for k in sorted(value.keys() | new.keys()):
                        if value.get(k) != new.get(k):
                            changes.append(
                                f"{table}{list(key)}.{col}[{k!r}]: {_short(value.get(k))} -> "
                                f"{_short(new.get(k))}"
                            )
                else:
                    changes.append(f"{table}{list(key)}.{col}: {_short(value)} -> {_short(new)}")
    return changes


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _cap(rule_or_endpoint: str, actor: Actor) -> int:
    """How many URLs of a route (or submissions to an endpoint) ``actor`` tries."""
    if actor.name == "admin" and rule_or_endpoint in ALL_VARIANTS:
        return MAX_VARIANTS
    return FEW_VARIANTS.get(rule_or_endpoint, VARIANTS_PER_RULE)


def _verify_first(actor: Actor, resp) -> bool:
    """The 403 an unverified customer gets for a customer service, by design a page that
    explains how to verify (crm.auth.verification), not a broken link."""
    return actor.name == UNVERIFIED and 'data-testid="verify-required"' in _text(resp)


def _text(resp) -> str:
    return resp.get_data(as_text=True)


def _visible(body: str) -> str:
    body = re.sub(r"<script.*?</script>|<style.*?</style>", " ", body, flags=re.S | re.I)
    return " ".join(re.sub(r"<[^>]+>", " ", body).split())


def _field_errors(body: str) -> str:
    found = re.findall(
        r'class="(?:invalid-feedback|alert alert-(?:danger|warning))[^"]*"[^>]*>(.*?)</div>',
        body,
        flags=re.S,
    )
    return "; ".join(_visible(f) for f in found)[:300] or _visible(body)[:200]


# ------------------------------------------------------------------ the data

#: Monitors of the types the demo data does not have (it has http, tcp and heartbeat), with
#: the optional settings set, so every variant of the monitor form is rendered and sent back.
MONITORS = [
    {
        "name": "Mail relay",
        "type": "smtp",
        "host": "mail.example.com",
        "port": 587,
        "starttls": True,
    },
    {
        "name": "File drop",
        "type": "ftp",
        "host": "ftp.example.com",
        "username": "probe",
        "password": "s3cret",
    },
    {
        "name": "Apex record",
        "type": "dns",
        "host": "example.com",
        "expected_address": "93.184.216.34",
        "resolver": "1.1.1.1",
    },
    {"name": "Certificate", "type": "tls", "host": "example.com", "port": 443, "days_before": 21},
    {
        "name": "Checkout flow",
        "type": "synthetic",
        "steps": [
            {
                "name": "log in",
                "method": "POST",
                "url": "https://shop.example.com/api/login",
                "headers": {"Content-Type": "application/json"},
                "body": '{"user": "probe"}',
                "assertions": [
                    {"type": "status", "expected": "200"},
                    {"type": "body_contains", "text": "token"},
                ],
                "extract": {"token": "$.data.token"},
            },
            {
                "name": "cart",
                "url": "https://shop.example.com/api/cart",
                "headers": {"Authorization": "Bearer {{token}}"},
                "assertions": [
                    {"type": "json_path", "path": "$.items"},
                    {"type": "response_time", "max_ms": 800},
                ],
            },
        ],
    },
    {
        "name": "Shop API",
        "type": "http",
        "url": "https://shop.example.com/health",
        "method": "POST",
        "headers": {"Accept": "application/json"},
        "body": "{}",
        "keyword": "ok",
        "expected_status": "200-299,301",
        "max_response_ms": 900,
        "escalate_after_minutes": 30,
        "remind_every_minutes": 60,
        "tags": ["shop", "api"],
    },
]


def _load_data(make_user):
    """Demo tickets and users, the matrix world, and monitoring history with an incident."""
    from crm.clock import utcnow
    from crm.demo import seed_demo
    from crm.monitoring.engine import results
    from crm.monitoring.engine.checks.base import CheckOutcome

    world = build_world(make_user)
    seed_demo(force=True)
    for arg in (
        "report_id",
        "window_id",
        "broadcast_id",
        "monitor_id",
        "contact_id",
        "group_id",
        "page_id",
        "project_id",
        "issue_id",
        "shop_customer_id",
        "order_id",
        "note_id",
    ):
        ARG_VALUES[arg](world)
    from crm.monitoring import services

    for spec in MONITORS:  # one of each type the demo lacks, through the service (validated)
        services.create_monitor(spec)
    services.create_monitor(
        {"name": "My shop", "type": "http", "interval": 300, "url": "https://shop.example.org/"},
        owner=world.user("customer"),
    )
    monitor = world.extra["monitor"]
    now = utcnow()
    outcomes = [
        CheckOutcome(
            status="up" if i % 7 else "down",
            response_time_ms=40.0 + i,
            status_code=200 if i % 7 else 503,
            error=None if i % 7 else "HTTP 503",
            protocol="http",
            checked_at=now - timedelta(minutes=5 * (30 - i)),
        )
        for i in range(1, 30)
    ]
    results.record_outcomes([(monitor.id, o) for o in outcomes])
    db.session.commit()
    return world


def _emails(world, make_user) -> dict[str, str]:
    """Actor -> email of the account it logs in with."""
    emails = {role: world.user(role).email for role in ROLES}
    emails[UNVERIFIED] = make_user("customer", verified=False).email
    return emails


# ------------------------------------------------------------------ the test


@pytest.mark.usefixtures("fast_passwords")
def test_every_console_page_and_form_round_trips(app, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    world = _load_data(make_user)
    trip = RoundTrip(app)
    _APP_FOR_MATCH[:] = [trip.adapter]
    got_request_exception.connect(trip.on_exception, app)
    try:
        actors = {name: Actor(name, app.test_client()) for name in ACTORS}
        for role, email in _emails(world, make_user).items():
            trip.log_in(actors[role], email)
        from crm.broadcasts.services import unsubscribe_token

        trip.crawl(
            actors[ANONYMOUS],
            [
                "/",
                "/auth/login",
                "/docs",
                f"/status/{world.extra['status_page'].slug}",
                f"/broadcasts/unsubscribe/{unsubscribe_token(world.user('customer').email)}",
            ],
        )
        for name in SUBMIT_ORDER:
            trip.submit_forms(actors[name], destructive=False)
        for name in SUBMIT_ORDER:
            trip.submit_forms(actors[name], destructive=True)
    finally:
        got_request_exception.disconnect(trip.on_exception, app)
        _APP_FOR_MATCH.clear()

    unvisited = sorted(_console_get_rules(app) - set(trip.visited_rules) - set(SKIPPED))
    unsubmitted = sorted(_console_write_endpoints(app) - set(trip.submitted) - set(FORMS_SKIPPED))
    stale_edit = sorted(EDIT_FORMS - set(trip.submitted))
    report = _report(trip, actors, unvisited)
    if os.environ.get("CRM_ROUNDTRIP_REPORT"):
        with open(os.environ["CRM_ROUNDTRIP_REPORT"], "w") as fh:
            fh.write(report)
    stale_skips = sorted(set(SKIPPED) & set(trip.visited_rules))
    unexpected = [f for f in trip.failures if f.key not in KNOWN_BROKEN]
    problems = []
    if unvisited:
        problems.append(
            "GET console routes no actor visited (link them, or add them to SKIPPED "
            "with a reason):\n  " + "\n  ".join(unvisited)
        )
    if unsubmitted:
        problems.append(
            "console write endpoints no rendered form reached (add to FORMS_SKIPPED "
            "with a reason if no page offers them):\n  " + "\n  ".join(unsubmitted)
        )
    if stale_edit:
        problems.append(
            "EDIT_FORMS never submitted (renamed or gone?):\n  " + "\n  ".join(stale_edit)
        )
    if stale_skips:
        problems.append(
            "SKIPPED routes that were visited after all (remove them):\n  "
            + "\n  ".join(stale_skips)
        )
    if unexpected:
        problems.append("failures:\n  " + "\n  ".join(_line(f) for f in unexpected))
    assert not problems, "\n".join(problems)
    if trip.failures:
        pytest.xfail(
            "only KNOWN_BROKEN failures: " + "; ".join(sorted({f.key for f in trip.failures}))
        )


def _console_get_rules(app) -> set[str]:
    """Every GET rule of the console (not the API, not static files)."""
    return {
        r.rule
        for r in app.url_map.iter_rules()
        if "GET" in (r.methods or ()) and r.endpoint != "static" and not r.rule.startswith("/api/")
    }


def _console_write_endpoints(app) -> set[str]:
    """Endpoints of every POST console rule (not the API)."""
    return {
        r.endpoint
        for r in app.url_map.iter_rules()
        if "POST" in (r.methods or ()) and not r.rule.startswith("/api/")
    }


def _line(f: Failure) -> str:
    return f"[{f.kind}] {f.actor} {f.method} {f.url} -> {f.status}: {f.detail}" + (
        f" ({f.form})" if f.form else ""
    )


def _report(trip: RoundTrip, actors: dict, unvisited: list[str]) -> str:
    lines = [
        f"# Round-trip report ({trip.app.config['SQLALCHEMY_DATABASE_URI'].split(':', 1)[0]})",
        "",
    ]
    for name, actor in actors.items():
        lines.append(
            f"- {name}: {actor.requests} requests, {len(actor.visited)} routes, "
            f"{len(actor.forms)} distinct forms"
        )
    lines.append(f"- routes visited: {len(trip.visited_rules)}; unvisited: {unvisited}")
    lines.append(f"- form submissions by endpoint: {dict(trip.submitted)}")
    lines.append("")
    lines.extend(f"    {line}" for line in trip.log)
    lines.append("")
    by_area: dict[str, list[Failure]] = {}
    for f in trip.failures:
        by_area.setdefault(_area(f.rule), []).append(f)
    for area, failures in sorted(by_area.items()):
        lines.append(f"## {area}")
        lines.extend(f"- {'KNOWN ' if f.key in KNOWN_BROKEN else ''}{_line(f)}" for f in failures)
        lines.append("")
    return "\n".join(lines) + "\n"


#: URL prefix -> area of the console (for grouping the report), most specific first
AREAS = [
    ("/admin/email-templates", "email templates and notifications"),
    ("/admin/outbox", "email templates and notifications"),
    ("/admin/mailbox", "email templates and notifications"),
    ("/admin/sms", "email templates and notifications"),
    ("/admin/security", "security and accounts"),
    ("/auth", "security and accounts"),
    ("/sessions", "security and accounts"),
    ("/security", "security and accounts"),
    ("/admin", "administration"),
    ("/broadcasts", "broadcasts"),
    ("/monitors", "monitoring"),
    ("/reports", "monitoring reports"),
    ("/maintenance", "maintenance windows"),
    ("/status", "status pages"),
    ("/assets", "monitoring"),
    ("/tickets", "tickets"),
    ("/portal", "customer portal"),
]


def _area(rule: str) -> str:
    return next(
        (area for prefix, area in AREAS if rule.startswith(prefix)), "navigation and other pages"
    )
