"""Bad input: every form and API operation answers missing, oversized, wrong-type and
malformed values with a 4xx and a message a person can read. Never a 500.

* Console: a table of cases per form and list filter (:data:`FORMS`), sent by a role that may
  use the form, so what is tested is the validation and not the authorisation.
* Paths: every route with an integer argument, given an id no database column can hold.
* API: cases generated from ``GET /api/v1/openapi.json`` — for each operation with a JSON
  body: no body, not JSON, a JSON array or scalar, each required member missing, each string
  too long, each member of the wrong type, an unknown member, NUL characters, a body over
  ``MAX_CONTENT_LENGTH``; for each query parameter: wrong type, unknown enum value, too long,
  malformed. Expected: 4xx ``application/problem+json`` with ``detail`` or ``errors``.

Each test loops over its cases and reports every failing case at once (one test per form or
operation: the per-test database clean-up is the dominant cost).
"""
from __future__ import annotations

import base64
import copy
import json
import re
from dataclasses import dataclass, field

import pytest

from crm.auth.policy import POLICY, PUBLIC
from tests.helpers_matrix import (
    ANONYMOUS,
    ARG_VALUES,
    OPENAPI_PATH,
    PASSWORD,
    PROBLEM_JSON,
    Route,
    act_as,
    build_world,
    collected_openapi,
    collected_routes,
    describe,
    fast_passwords,  # noqa: F401  (fixture)
    find_rule,
    visible_text,
)

BIG = 100_000  # an "oversized" string: far past every field limit, well under 1 MiB
HUGE_ID = 10**20  # fits no INTEGER / BIGINT column
NUL = "nul\x00byte"
EDGE = "edge: "  # label prefix of API cases that may also succeed (but never 500)


@pytest.fixture
def world(fast_passwords, make_user):  # noqa: F811
    return build_world(make_user)


def b64json(value) -> str:
    """A cursor-shaped string: base64url of a JSON document (what the ticket cursors are)."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


# ------------------------------------------------------------------ console forms and filters

@dataclass
class Case:
    """One bad request: form ``data`` (POST) or ``query`` (GET) and what must come back."""

    name: str
    data: dict | None = None
    query: dict | None = None
    expect: tuple[int, ...] = (400, 422)
    message: str | None = None  # text the page must show (case-insensitive)
    raw_body: bytes | None = None  # sent as-is instead of ``data``


@dataclass
class Form:
    """A console form or list: who sends it, where, and its bad cases."""

    actor: str  # a role, "anonymous", or "other_engineer"
    method: str
    path: str  # placeholders: {ticket}, {pending}
    cases: list[Case] = field(default_factory=list)


REQUIRED = "this field is required"
BAD_CHOICE = "not a valid choice"

FORMS: dict[str, Form] = {
    "login": Form(
        ANONYMOUS,
        "POST",
        "/auth/login",
        [
            Case("nothing", {}, message=REQUIRED),
            Case("no password", {"email": "someone@example.com"}, message=REQUIRED),
            Case("no email", {"password": PASSWORD}, message=REQUIRED),
            Case(
                "email oversized",
                {"email": "a" * BIG + "@example.com", "password": PASSWORD},
                message="longer than 254",
            ),
            Case(
                "email malformed",
                {"email": "not-an-email", "password": PASSWORD},
                message="invalid email",
            ),
            Case("email with NUL", {"email": "a\x00b@example.com", "password": PASSWORD}),
            Case(
                "password oversized",
                {"email": "someone@example.com", "password": "p" * BIG},
                message="longer than 128",
            ),
            Case(
                "password with NUL",
                {"email": "someone@example.com", "password": NUL},
                expect=(400, 401, 422),
            ),
        ],
    ),
    "register": Form(
        ANONYMOUS,
        "POST",
        "/auth/register",
        [
            Case("nothing", {}, message=REQUIRED),
            Case(
                "name oversized",
                {
                    "name": "n" * BIG,
                    "email": "r1@example.com",
                    "password": PASSWORD,
                    "confirm": PASSWORD,
                    "role": "customer",
                },
                message="longer than 120",
            ),
            Case(
                "email malformed",
                {
                    "name": "R",
                    "email": "r2@",
                    "password": PASSWORD,
                    "confirm": PASSWORD,
                    "role": "customer",
                },
                message="invalid email",
            ),
            Case(
                "password too short",
                {
                    "name": "R",
                    "email": "r3@example.com",
                    "password": "short",
                    "confirm": "short",
                    "role": "customer",
                },
                message="between 8 and 128",
            ),
            Case(
                "password oversized",
                {
                    "name": "R",
                    "email": "r4@example.com",
                    "password": "p" * BIG,
                    "confirm": "p" * BIG,
                    "role": "customer",
                },
                message="between 8 and 128",
            ),
            Case(
                "confirm differs",
                {
                    "name": "R",
                    "email": "r5@example.com",
                    "password": PASSWORD,
                    "confirm": PASSWORD + "x",
                    "role": "customer",
                },
                message="do not match",
            ),
            Case(
                "role unknown",
                {
                    "name": "R",
                    "email": "r6@example.com",
                    "password": PASSWORD,
                    "confirm": PASSWORD,
                    "role": "galactic",
                },
                message=BAD_CHOICE,
            ),
            Case(
                "role admin",
                {
                    "name": "R",
                    "email": "r7@example.com",
                    "password": PASSWORD,
                    "confirm": PASSWORD,
                    "role": "admin",
                },
                message=BAD_CHOICE,
            ),
            Case(
                "name with NUL",
                {
                    "name": NUL,
                    "email": "r8@example.com",
                    "password": PASSWORD,
                    "confirm": PASSWORD,
                    "role": "customer",
                },
            ),
        ],
    ),
    "new ticket": Form(
        "customer",
        "POST",
        "/portal/tickets/new",
        [
            Case("nothing", {}, message=REQUIRED),
            Case("no description", {"subject": "Help", "priority": "normal"}, message=REQUIRED),
            Case(
                "blank subject",
                {"subject": "   ", "description": "x", "priority": "normal"},
                message=REQUIRED,
            ),
            Case(
                "subject 201 chars",
                {"subject": "s" * 201, "description": "x", "priority": "normal"},
                message="longer than 200",
            ),
            Case(
                "subject oversized",
                {"subject": "s" * BIG, "description": "x", "priority": "normal"},
                message="longer than 200",
            ),
            Case(
                "description oversized",
                {"subject": "Help", "description": "d" * BIG, "priority": "normal"},
                message="longer than 10000",
            ),
            Case(
                "priority unknown",
                {"subject": "Help", "description": "x", "priority": "galactic"},
                message=BAD_CHOICE,
            ),
            Case("subject with NUL", {"subject": NUL, "description": "x", "priority": "normal"}),
            Case(
                "description with NUL",
                {"subject": "Help", "description": NUL, "priority": "normal"},
            ),
            Case(
                "body over MAX_CONTENT_LENGTH",
                {"subject": "Help", "description": "d" * (2 * 1024 * 1024), "priority": "normal"},
                expect=(413,),
            ),
        ],
    ),
    "edit own ticket": Form(
        "customer",
        "POST",
        "/portal/tickets/{ticket}/edit",
        [
            # (A POST with no fields at all keeps the stored values: Flask-WTF treats an empty
            # body as "no form data" and the form is filled from the ticket.)
            Case("empty values", {"subject": "", "description": ""}, message=REQUIRED),
            Case(
                "subject oversized",
                {"subject": "s" * BIG, "description": "x"},
                message="longer than 200",
            ),
            Case(
                "description oversized",
                {"subject": "Help", "description": "d" * BIG},
                message="longer than 10000",
            ),
            Case("subject with NUL", {"subject": NUL, "description": "x"}),
        ],
    ),
    "customer reply": Form(
        "customer",
        "POST",
        "/portal/tickets/{ticket}/comments",
        [
            Case("nothing", {}, message=REQUIRED),
            Case("blank body", {"body": " \n\t "}, message=REQUIRED),
            Case("body oversized", {"body": "b" * BIG}, message="longer than 10000"),
            Case("body with NUL", {"body": NUL}),
        ],
    ),
    "staff reply": Form(
        "engineer",
        "POST",
        "/tickets/{ticket}/comments",
        [
            Case("nothing", {}, message="write a reply first"),
            Case("body oversized", {"body": "b" * BIG}, message="write a reply first"),
            Case("body with NUL", {"body": NUL, "internal": "y"}),
        ],
    ),
    "change status": Form(
        "engineer",
        "POST",
        "/tickets/{ticket}/status",
        [
            Case("nothing", {}, message="choose a valid status"),
            Case("status unknown", {"status": "nope"}, message="choose a valid status"),
            Case("status oversized", {"status": "s" * BIG}, message="choose a valid status"),
            Case(
                "status not allowed next",
                {"status": "pending"},
                expect=(409, 422),
                message="cannot become",
            ),
        ],
    ),
    "change priority": Form(
        "engineer",
        "POST",
        "/tickets/{ticket}/priority",
        [
            Case("nothing", {}, message="choose a valid priority"),
            Case("priority unknown", {"priority": "galactic"}, message="choose a valid priority"),
        ],
    ),
    "reassign": Form(
        "manager",
        "POST",
        "/tickets/{ticket}/assign",
        [
            Case("nothing", {}, message="choose an approved engineer"),
            Case(
                "assignee not a number",
                {"assignee_id": "abc"},
                message="choose an approved engineer",
            ),
            Case(
                "assignee huge",
                {"assignee_id": str(HUGE_ID)},
                message="choose an approved engineer",
            ),
            Case("assignee negative", {"assignee_id": "-1"}, message="choose an approved engineer"),
            Case(
                "assignee is pending",
                {"assignee_id": "{pending}"},
                message="choose an approved engineer",
            ),
            Case(
                "assignee oversized",
                {"assignee_id": "9" * BIG},
                message="choose an approved engineer",
            ),
        ],
    ),
    "admin edits user": Form(
        "admin",
        "POST",
        "/admin/users/{pending}",
        [
            Case("empty values", {"role": "", "status": ""}, message=BAD_CHOICE),
            Case("role unknown", {"role": "galactic", "status": "active"}, message=BAD_CHOICE),
            Case("status unknown", {"role": "engineer", "status": "nope"}, message=BAD_CHOICE),
            Case("role oversized", {"role": "r" * BIG, "status": "active"}, message=BAD_CHOICE),
        ],
    ),
    "staff ticket list": Form(
        "agent",
        "GET",
        "/tickets/",
        [
            Case(
                "created_after not a date",
                query={"created_after": "notadate"},
                message="use a date",
            ),
            Case(
                "created_before impossible date",
                query={"created_before": "2024-13-45"},
                message="use a date",
            ),
            # edge values: valid or refused, either is fine; a 500 is not
            Case(
                "created_before last day of year 9999",
                query={"created_before": "9999-12-31"},
                expect=(200, 400, 422),
            ),
            Case(
                "created_after year 1 with offset",
                query={"created_after": "0001-01-01T00:00:00+05:00"},
                expect=(200, 400, 422),
            ),
            Case("created_after oversized", query={"created_after": "2" * BIG}),
            Case(
                "priority unknown",
                query={"priority": "galactic"},
                message="priority must be one of",
            ),
            Case("status unknown", query={"status": "nope"}, message="status must be one of"),
            Case("requester unknown", query={"requester": "x"}, message="no customer is called"),
            Case(
                "requester oversized",
                query={"requester": "9" * BIG},
                message="at most 254 characters",
            ),
            Case("assignee not a number", query={"assignee": "abc"}, message="assignee must be"),
            Case(
                "active not a boolean",
                query={"active": "maybe"},
                message="active must be true or false",
            ),
            Case("q oversized", query={"q": "q" * BIG}, message="at most 200"),
            Case("cursor garbage", query={"cursor": "%%%"}, message="invalid cursor"),
            Case(
                "cursor not base64 json", query={"cursor": "bm90IGpzb24"}, message="invalid cursor"
            ),
            Case(
                "cursor json object", query={"cursor": b64json({"a": 1})}, message="invalid cursor"
            ),
            Case("cursor json null", query={"cursor": b64json(None)}, message="invalid cursor"),
            Case("cursor wrong types", query={"cursor": b64json([1, 2])}, message="invalid cursor"),
            Case(
                "cursor huge id",
                query={"cursor": b64json(["2024-01-01T00:00:00+00:00", HUGE_ID])},
                message="invalid cursor",
            ),
            Case(
                "cursor year 1 with offset",
                query={"cursor": b64json(["0001-01-01T00:00:00+05:00", 1])},
                message="invalid cursor",
            ),
            Case("cursor oversized", query={"cursor": "A" * BIG}, message="invalid cursor"),
        ],
    ),
    "customer ticket list": Form(
        "customer",
        "GET",
        "/portal/",
        [
            Case("cursor garbage", query={"cursor": "%%%"}, message="invalid cursor"),
            Case(
                "cursor huge id",
                query={"cursor": b64json(["2024-01-01T00:00:00+00:00", HUGE_ID])},
                message="invalid cursor",
            ),
        ],
    ),
    "admin user list": Form(
        "admin",
        "GET",
        "/admin/users",
        [
            Case("before not a number", query={"before": "abc"}),
            Case("before oversized", query={"before": "9" * BIG}),
            Case("role unknown", query={"role": "galactic"}),
            Case("status unknown", query={"status": "nope"}),
            Case("q oversized", query={"q": "q" * BIG}),
        ],
    ),
    "registrations list": Form(
        "admin",
        "GET",
        "/admin/registrations",
        [
            Case("before not a number", query={"before": "x1"}),
            Case("status unknown", query={"status": "nope"}),
        ],
    ),
    "customer list": Form(
        "agent",
        "GET",
        "/admin/customers",
        [
            Case("before not a number", query={"before": "-5"}),
            Case("q oversized", query={"q": "q" * BIG}),
        ],
    ),
    "outbox": Form(
        "admin",
        "GET",
        "/admin/outbox",
        [
            Case("before not a number", query={"before": "1.5"}),
            Case("status unknown", query={"status": "nope"}),
        ],
    ),
    "mailbox": Form(
        "admin",
        "GET",
        "/admin/mailbox",
        [
            Case("before not a number", query={"before": "abc"}),
        ],
    ),
}

# Markers of a human message on an HTML answer: a field error, a flashed or inline alert, or
# the error page's explanation.
_MESSAGE_MARKERS = ('class="invalid-feedback', 'role="alert"', 'class="lead')


def _html_has_message(resp, message: str | None) -> str | None:
    """None when the page shows ``message`` (or, without one, any human message)."""
    text = visible_text(resp).lower()
    if message:
        return None if message.lower() in text else f"page does not say {message!r}"
    body = resp.get_data(as_text=True)
    return (
        None if any(m in body for m in _MESSAGE_MARKERS) and text else "no human-readable message"
    )


def _fill(value, world):
    if isinstance(value, str) and "{" in value:
        return value.format(ticket=world.ticket.id, pending=world.pending.id)
    return value


def _actor_user(world, actor: str):
    if actor == ANONYMOUS:
        return ANONYMOUS
    return getattr(world, actor) if actor.startswith("other_") else world.user(actor)


@pytest.mark.parametrize("form_name", list(FORMS))
def test_console_form_refuses_bad_input_with_a_message(app, token_for, world, form_name):
    form = FORMS[form_name]
    path = _fill(form.path, world)
    failures = []
    for case in form.cases:
        # A fresh log-in per case: a case that is wrongly accepted (a redirect after
        # registering or logging in) must not change who sends the next one.
        actor = act_as(app, _actor_user(world, form.actor), api=False, token_for=token_for)
        data = {k: _fill(v, world) for k, v in (case.data or {}).items()}
        resp = actor.send(form.method, path, api=False, data=data, query=case.query)
        problem = None
        if resp.status_code >= 500:
            problem = "server error"
        elif resp.status_code not in case.expect:
            problem = f"expected {'/'.join(map(str, case.expect))}"
        else:
            problem = _html_has_message(resp, case.message)
        if problem:
            failures.append(f"{case.name}: {problem}; got {describe(resp, 160)}")
    assert not failures, f"{form.method} {form.path} as {form.actor}:\n  " + "\n  ".join(failures)


# ------------------------------------------------------------------ ids no column can hold

ROLE_PREFERENCE = ("admin", "manager", "agent", "engineer", "customer")


def _acting_role(permission: str) -> str:
    """A role that holds ``permission`` (admin first; anonymous for public routes)."""
    if permission == PUBLIC:
        return ANONYMOUS
    return next(r for r in ROLE_PREFERENCE if r in POLICY[permission])


_INT_ARG = re.compile(r"<int(?:\([^)]*\))?:(\w+)>")
INT_ROUTES = [r for r in collected_routes() if _INT_ARG.search(r.rule)]


def test_huge_ids_in_paths_answer_404_not_500(app, token_for, world):
    """``/tickets/<id>`` with an id past BIGINT: SQLite cannot bind it, PostgreSQL compares
    it as numeric. Either way the answer is "no such thing", never a server error."""
    actors = {}
    failures = []
    for route in INT_ROUTES:
        permission = getattr(app.view_functions[route.endpoint], "crm_permission", PUBLIC)
        role = _acting_role(permission)
        key = (role, route.is_api)
        if key not in actors:
            actors[key] = act_as(
                app,
                ANONYMOUS if role == ANONYMOUS else world.user(role),
                api=route.is_api,
                token_for=token_for,
            )
        huge = {name: HUGE_ID for name in _INT_ARG.findall(route.rule)}
        # Werkzeug refuses to *build* a URL past an int converter's max; write it by hand.
        rule = find_rule(app, route)
        path = rule.build(
            {**_other_values(route, world), **{k: 1 for k in huge}}, append_unknown=False
        )[1]
        for name in huge:
            path = _replace_arg(route.rule, path, name, world, HUGE_ID)
        resp = actors[key].send(route.method, path, api=route.is_api)
        # (the API's bounded int converter makes Werkzeug answer 405 for some methods)
        problem = _api_or_html_4xx(resp, route.is_api, (404, 405) if route.is_api else (404,))
        if problem:
            failures.append(
                f"{route.method} {path} as {role}: {problem}; got {describe(resp, 160)}"
            )
    assert not failures, "\n  ".join(["huge ids:"] + failures)


def _other_values(route: Route, world) -> dict:
    from tests.helpers_matrix import url_values

    return url_values(route, world, overrides={n: 1 for n in _INT_ARG.findall(route.rule)})


def _replace_arg(rule_text: str, path: str, name: str, world, value: int) -> str:
    """Put ``value`` where the rule's integer argument ``name`` is (its other arguments were
    built as 1 and keep their own values)."""
    parts_rule = rule_text.strip("/").split("/")
    parts_path = path.strip("/").split("/")
    for i, part in enumerate(parts_rule):
        if re.fullmatch(rf"<int(?:\([^)]*\))?:{name}>", part):
            parts_path[i] = str(value)
    return "/" + "/".join(parts_path) + ("/" if path.endswith("/") and len(path) > 1 else "")


def _api_or_html_4xx(resp, api: bool, expect: tuple[int, ...] | None = None) -> str | None:
    """None when ``resp`` is a 4xx with a message (problem+json for the API), else why not."""
    if resp.status_code >= 500:
        return "server error"
    if expect and resp.status_code not in expect:
        return f"expected {'/'.join(map(str, expect))}"
    if not 400 <= resp.status_code < 500:
        return "expected a 4xx"
    if api:
        if not resp.content_type.startswith(PROBLEM_JSON):
            return f"expected {PROBLEM_JSON}"
        body = resp.get_json(force=True, silent=True)
        if not isinstance(body, dict) or not (body.get("detail") or body.get("errors")):
            return "problem+json without detail or errors"
        return None
    return _html_has_message(resp, None)


# ------------------------------------------------------------------ the API, from OpenAPI


def _resolve(doc: dict, schema: dict) -> dict:
    """Follow ``$ref`` (any local JSON pointer) and unwrap single ``allOf`` / nullable
    ``anyOf``/``oneOf`` (pydantic's ``X | None``) to the concrete schema."""
    seen = 0
    while True:
        seen += 1
        assert seen < 50, f"reference loop in {schema}"
        if "$ref" in schema:
            target = doc
            for part in schema["$ref"].lstrip("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            continue
        for key in ("anyOf", "oneOf", "allOf"):
            if key in schema:
                options = [s for s in schema[key] if s.get("type") != "null"]
                if options:
                    rest = {k: v for k, v in schema.items() if k != key}
                    schema = {**rest, **options[0]}
                    break
        else:
            return schema


def _type(schema: dict) -> str | None:
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), None)
    if t is None and "enum" in schema:
        t = "string" if all(isinstance(v, str) for v in schema["enum"]) else None
    if t is None and "const" in schema:
        t = type(schema["const"]).__name__.replace("str", "string").replace("int", "integer")
    return t


_counter = {"n": 0}


def _sample(doc: dict, schema: dict, name: str, world) -> object:
    """A value that satisfies ``schema`` (as far as a schema can say), for the baseline body."""
    schema = _resolve(doc, schema)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "example" in schema:
        return schema["example"]
    t = _type(schema)
    if t == "string":
        if schema.get("format") == "email" or name in ("email", "to"):
            _counter["n"] += 1
            return f"bad-input-{_counter['n']}@example.com"
        if "password" in name:
            return PASSWORD
        if schema.get("format") == "date-time":
            return "2024-01-01T00:00:00Z"
        if schema.get("format") == "date":
            return "2024-01-01"
        return "x" * max(1, schema.get("minLength", 1), min(schema.get("maxLength", 5), 5))
    if t == "integer":
        if name.endswith("_id") and name.removesuffix("_id") in ("assignee", "engineer"):
            return world.other_engineer.id
        if name in ARG_VALUES:
            return ARG_VALUES[name](world)
        return max(1, schema.get("minimum", 1))
    if t == "number":
        return max(1, schema.get("minimum", 1))
    if t == "boolean":
        return True
    if t == "array":
        item = schema.get("items", {})
        return [_sample(doc, item, name, world) for _ in range(max(1, schema.get("minItems", 1)))]
    if t == "object":
        props = schema.get("properties", {})
        return {
            k: _sample(doc, v, k, world)
            for k, v in props.items()
            if k in schema.get("required", [])
        }
    return "x"


def _off_pattern(pattern: str) -> str | None:
    """A short text that ``pattern`` (a JSON Schema regex) refuses, or None when none of the
    candidates is refused (a pattern that only forbids, say, NUL accepts ``!!``)."""
    for candidate in ("!!", "\x00", "a\x00b", "", " "):
        if re.search(pattern, candidate) is None:
            return candidate
    return None


def _wrong_values(doc: dict, schema: dict) -> list[tuple[str, object]]:
    """(label, value) pairs of the wrong type for ``schema``."""
    schema = _resolve(doc, schema)
    t = _type(schema)
    out: list[tuple[str, object]] = []
    if t == "string":
        out += [("a number", 12345), ("an object", {"x": 1}), ("a list", ["x"])]
        if "enum" in schema:
            out.append(("an unknown enum value", "galactic"))
        if schema.get("format") == "email":
            out.append(("a malformed email", "not-an-email"))
        if schema.get("pattern") and (off := _off_pattern(schema["pattern"])) is not None:
            out.append(("text off the pattern", off))
    elif t in ("integer", "number"):
        out += [("text", "abc"), ("a list", [1])]
        if t == "integer":
            out += [("a fraction", 1.5), ("a huge number", HUGE_ID), ("zero/negative", -1)]
    elif t == "boolean":
        out += [("a word", "maybe"), ("an object", {})]
    elif t == "array":
        out += [("a string", "x"), ("an object", {"x": 1})]
    elif t == "object":
        out += [("a string", "x"), ("a list", [])]
    return out


def _operations(doc: dict | None):
    """(method, path, operation) for every operation in ``doc``."""
    if not doc:
        return []
    return [
        (m.upper(), p, op)
        for p, item in doc.get("paths", {}).items()
        for m, op in item.items()
        if m.lower() in ("get", "post", "put", "patch", "delete")
    ]


def _body_schema(doc: dict, op: dict) -> dict | None:
    content = (op.get("requestBody") or {}).get("content", {})
    media = content.get("application/json")
    return _resolve(doc, media["schema"]) if media and "schema" in media else None


def _query_params(doc: dict, op: dict) -> list[dict]:
    return [p for p in (op.get("parameters") or []) if p.get("in") == "query"]


def _body_cases(doc: dict, schema: dict, world) -> list[tuple[str, dict]]:
    """Bad requests for a JSON-body operation: (label, kwargs for the test client)."""
    baseline = _sample(doc, schema, "", world)
    props = schema.get("properties", {})
    required = schema.get("required", [])
    cases = [
        ("no body", {}),
        ("not JSON", {"data": "not json", "content_type": "application/json"}),
        ("truncated JSON", {"data": '{"subject": "x"', "content_type": "application/json"}),
        ("JSON array", {"json": [baseline]}),
        ("JSON string", {"json": "x"}),
        ("JSON null", {"data": "null", "content_type": "application/json"}),
        ("form-encoded body", {"data": {k: str(v) for k, v in baseline.items()}}),
        ("body over MAX_CONTENT_LENGTH", {"json": {**baseline, "x": "x" * (2 * 1024 * 1024)}}),
    ]
    if schema.get("additionalProperties") is False:
        cases.append(("an unknown member", {"json": {**baseline, "no_such_member": 1}}))
    for name in required:
        body = copy.deepcopy(baseline)
        body.pop(name, None)
        cases.append((f"{name} missing", {"json": body}))
        cases.append((f"{name} null", {"json": {**baseline, name: None}}))
    for name, prop in props.items():
        resolved = _resolve(doc, prop)
        t = _type(resolved)
        if t == "string" and "enum" not in resolved:
            limit = resolved.get("maxLength")
            too_long = "x" * (limit + 1 if limit else BIG)
            if resolved.get("format") == "email" or name == "email":
                too_long = "a" * (limit or BIG) + "@example.com"
            cases.append(
                (
                    f"{name} oversized ({len(too_long)} chars)",
                    {"json": {**baseline, name: too_long}},
                )
            )
            if limit and limit + 1 < BIG:
                cases.append((f"{name} {BIG} chars", {"json": {**baseline, name: "x" * BIG}}))
            if resolved.get("format") != "email":
                cases.append((f"{name} with NUL", {"json": {**baseline, name: NUL}}))
            if resolved.get("minLength", 0) >= 1:
                cases.append((f"{name} blank", {"json": {**baseline, name: ""}}))
        if t == "array":
            items = _resolve(doc, resolved.get("items", {}))
            if resolved.get("maxItems"):
                many = [_sample(doc, items, name, world) for _ in range(resolved["maxItems"] + 1)]
                cases.append((f"{name} too many items", {"json": {**baseline, name: many}}))
            for label, wrong in _wrong_values(doc, items):
                cases.append((f"{name} item is {label}", {"json": {**baseline, name: [wrong]}}))
        for label, wrong in _wrong_values(doc, resolved):
            cases.append((f"{name} is {label}", {"json": {**baseline, name: wrong}}))
    return cases


def _query_cases(doc: dict, params: list[dict]) -> list[tuple[str, dict]]:
    """Bad query strings for a GET operation: (label, query dict)."""
    cases = []
    for param in params:
        name = param["name"]
        schema = _resolve(doc, param.get("schema", {}))
        t = _type(schema)
        if t in ("integer", "number"):
            cases += [
                (f"{name} text", {name: "abc"}),
                (f"{name} huge", {name: str(HUGE_ID)}),
                (f"{name} fraction", {name: "1.5"}),
            ]
            if "minimum" in schema:
                cases.append((f"{name} below minimum", {name: str(schema["minimum"] - 1)}))
            if "maximum" in schema:
                cases.append((f"{name} above maximum", {name: str(schema["maximum"] + 1)}))
        elif t == "boolean":
            cases.append((f"{name} not a boolean", {name: "maybe"}))
        elif t == "string":
            if "enum" in schema:
                cases.append((f"{name} unknown value", {name: "galactic"}))
            if schema.get("pattern") and (off := _off_pattern(schema["pattern"])) is not None:
                cases.append((f"{name} off the pattern", {name: off}))
            if schema.get("maxLength"):
                cases.append((f"{name} oversized", {name: "9" * (schema["maxLength"] + 1)}))
            cases.append((f"{name} {BIG} chars", {name: "9" * BIG}))
        if name == "cursor":
            cases += [
                ("cursor garbage", {name: "%%%"}),
                ("cursor base64 garbage", {name: "bm90IGpzb24"}),
                ("cursor huge id", {name: b64json(["2024-01-01T00:00:00+00:00", HUGE_ID])}),
                ("cursor json object", {name: b64json({"a": 1})}),
            ]
        if name.startswith("created_") or schema.get("format") in ("date", "date-time"):
            cases += [
                (f"{name} not a date", {name: "notadate"}),
                (f"{name} impossible date", {name: "2024-13-45"}),
                # edge values: valid or refused, either is fine; a 500 is not
                (f"{EDGE}{name} year 9999 end", {name: "9999-12-31"}),
                (f"{EDGE}{name} year 1 with offset", {name: "0001-01-01T00:00:00+05:00"}),
            ]
    return cases


def _doc_operations() -> list:
    ops = _operations(collected_openapi())
    picked = [
        (m, p)
        for m, p, op in ops
        if _body_schema(collected_openapi(), op) or _query_params(collected_openapi(), op)
    ]
    return picked or [("NONE", "openapi.json not available")]


def _fill_path(app, method: str, path: str, world) -> tuple[str, Route]:
    """The concrete path of an OpenAPI path template, and its url_map route."""
    concrete = re.sub(r"\{(\w+)\}", lambda m: str(ARG_VALUES[m.group(1)](world)), path)
    adapter = app.url_map.bind("localhost")
    rule, _args = adapter.match(concrete, method=method, return_rule=True)
    return concrete, Route(rule.rule, rule.endpoint, method, tuple(sorted(rule.arguments)))


@pytest.mark.parametrize("method,path", _doc_operations(), ids=lambda v: v)
def test_api_operation_refuses_bad_input_with_problem_json(
    app, client, token_for, world, method, path
):
    resp = client.get(OPENAPI_PATH)
    if resp.status_code == 404 or method == "NONE":
        pytest.skip("openapi.json not available")
    assert resp.status_code == 200, describe(resp)
    doc = resp.get_json()
    op = doc["paths"][path][method.lower()]
    concrete, route = _fill_path(app, method, path, world)
    permission = getattr(app.view_functions[route.endpoint], "crm_permission", PUBLIC)
    role = _acting_role(permission)
    actor = act_as(
        app, ANONYMOUS if role == ANONYMOUS else world.user(role), api=True, token_for=token_for
    )

    cases: list[tuple[str, dict]] = []
    schema = _body_schema(doc, op)
    if schema is not None:
        cases += [(label, kw) for label, kw in _body_cases(doc, schema, world)]
    for label, query in _query_cases(doc, _query_params(doc, op)):
        cases.append((label, {"query_string": query}))
    assert cases, f"{method} {path}: nothing to test"

    failures = []
    for label, kwargs in cases:
        kwargs = dict(kwargs)
        r = actor.open(concrete, method=method, **kwargs)
        if label.startswith(EDGE) and r.status_code < 400:
            continue
        problem = _api_or_html_4xx(r, api=True)
        if problem:
            failures.append(f"{label}: {problem}; got {describe(r, 200)}")
    assert not failures, f"{method} {concrete} as {role}:\n  " + "\n  ".join(failures)


def test_api_case_generator_understands_pydantic_schemas(world):
    """The generator itself, on a pydantic-shaped document (refs, nullable anyOf, enums)."""
    doc = {
        "components": {
            "schemas": {
                "Priority": {"enum": ["low", "high"], "type": "string"},
                "In": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["subject", "to"],
                    "properties": {
                        "subject": {"type": "string", "minLength": 1, "maxLength": 200},
                        "note": {"anyOf": [{"type": "string", "maxLength": 10}, {"type": "null"}]},
                        "priority": {"$ref": "#/components/schemas/Priority"},
                        "assignee_id": {"type": "integer", "minimum": 1},
                        "to": {
                            "type": "array",
                            "maxItems": 2,
                            "items": {"type": "string", "format": "email"},
                        },
                        "urgent": {"type": "boolean"},
                    },
                },
            }
        }
    }
    schema = _resolve(doc, {"$ref": "#/components/schemas/In"})
    baseline = _sample(doc, schema, "", world)
    assert set(baseline) == {"subject", "to"} and baseline["to"][0].endswith("@example.com")
    labels = {label for label, _ in _body_cases(doc, schema, world)}
    for expected in (
        "no body",
        "not JSON",
        "JSON array",
        "subject missing",
        "to missing",
        "subject oversized (201 chars)",
        "note oversized (11 chars)",
        "subject is a number",
        "priority is an unknown enum value",
        "assignee_id is text",
        "urgent is a word",
        "to too many items",
        "to item is a malformed email",
        "an unknown member",
        "subject with NUL",
    ):
        assert expected in labels, expected
    q = {
        label
        for label, _ in _query_cases(
            doc,
            [
                {
                    "in": "query",
                    "name": "limit",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                },
                {
                    "in": "query",
                    "name": "cursor",
                    "schema": {"anyOf": [{"type": "string", "maxLength": 200}, {"type": "null"}]},
                },
                {"in": "query", "name": "created_after", "schema": {"type": "string"}},
            ],
        )
    }
    assert {
        "limit text",
        "limit above maximum",
        "cursor garbage",
        "cursor oversized",
        "created_after not a date",
    } <= q
