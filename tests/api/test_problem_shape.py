"""Every API error has one shape: the OpenAPI document is walked and, for every operation,
each error answer that applies to it is provoked and checked.

* 401: an operation that needs a token, called without one;
* 403: a role the policy table does not give the operation's permission;
* 404: unknown ids (and an unknown heartbeat token) in the path, as a role that may call it;
* 422: a body with an unknown member, or a query parameter out of range or outside its
  choices, on real objects (the authorisation matrix's world) as a role that may call it.

Each answer must be ``application/problem+json`` with exactly ``type``, ``title`` (the one
title of its status, :data:`crm.errors.TITLES`), ``status``, ``detail`` and, for a 422 (or
any refusal naming fields), ``errors`` as ``{field: [messages]}``. The walk runs in one test,
so the world is built once.
"""
from __future__ import annotations

import re

from crm.api.schemas import MAX_ID
from crm.auth.policy import POLICY, PUBLIC
from crm.errors import TITLES
from tests.helpers_matrix import (
    ARG_VALUES,
    PROBLEM_JSON,
    ROLES,
    build_world,
    fast_passwords,  # noqa: F401  (fixture)
    send,
)

MEMBERS = {"type", "title", "status", "detail"}
_PARAM = re.compile(r"\{(\w+)\}")
#: A role holding a permission, in this order of preference (admins may do most).
PREFERRED = ("admin", "manager", "agent", "engineer", "customer")


def shape_problems(resp, status: int) -> list[str]:
    """What is wrong with ``resp`` as the one problem shape for ``status`` (empty: nothing)."""
    if resp.status_code != status:
        text = resp.get_data(as_text=True)[:300]
        return [f"status {resp.status_code}, expected {status}: {text}"]
    if resp.mimetype != PROBLEM_JSON:
        return [f"content type {resp.mimetype}"]
    body = resp.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    wrong = []
    extra = set(body) - MEMBERS - {"errors"}
    if extra or not MEMBERS <= set(body):
        wrong.append(f"members {sorted(body)}")
    if body.get("type") != "about:blank" or body.get("status") != status:
        wrong.append(f"type/status {body.get('type')!r}/{body.get('status')!r}")
    if body.get("title") != TITLES[status]:
        wrong.append(f"title {body.get('title')!r}, expected {TITLES[status]!r}")
    if not isinstance(body.get("detail"), str) or not body["detail"]:
        wrong.append("no detail")
    errors = body.get("errors")
    if status == 422 and not errors:
        wrong.append("a 422 without errors")
    if "errors" in body and not (
            isinstance(errors, dict) and errors
            and all(isinstance(k, str) and isinstance(v, list) and v
                    and all(isinstance(m, str) and m for m in v) for k, v in errors.items())):
        wrong.append(f"errors not {{field: [messages]}}: {errors!r}")
    return wrong


def _bad_query(op: dict) -> dict | None:
    """One query parameter with a value its schema refuses, or None when nothing is
    refusable (a range, a choice list or a boolean)."""
    for param in op.get("parameters", []):
        schema = param["schema"] if param["in"] == "query" else {}
        if "minimum" in schema:
            return {param["name"]: str(schema["minimum"] - 1)}
        if "enum" in schema or "const" in schema:
            return {param["name"]: "not-a-choice"}
        if schema.get("type") == "boolean":
            return {param["name"]: "perhaps"}
    return None


def _path(template: str, world, unknown: bool) -> str:
    """``template`` with real ids from the matrix's world, or ids nobody has (``unknown``)."""
    def value(match):
        name = match.group(1)
        if unknown:
            return "no-such-token" if name == "token" else str(MAX_ID)
        return str(ARG_VALUES[name](world))
    return _PARAM.sub(value, template)


def test_every_operations_errors_have_the_one_problem_shape(app, client, make_user, token_for,
                                                             fast_passwords):  # noqa: F811
    doc = client.get("/api/v1/openapi.json").json
    world = build_world(make_user)
    tokens: dict[str, dict] = {}

    def headers(role: str | None) -> dict:
        if role is None:
            return {}
        if role not in tokens:
            tokens[role] = {"Authorization": f"Bearer {token_for(world.user(role))}"}
        return tokens[role]

    failures, checked, operations = [], 0, 0
    for template, item in doc["paths"].items():
        for method, op in item.items():
            operations += 1
            permission = app.view_functions[f"api.{op['operationId']}"].crm_permission
            documented = set(op["responses"])
            holders = ROLES if permission == PUBLIC else POLICY[permission]
            holder = None if permission == PUBLIC else next(r for r in PREFERRED if r in holders)
            cases = []  # (status, role, path, body, query)
            if "401" in documented and op.get("security") != []:
                cases.append((401, None, _path(template, world, False), {}, None))
            lacking = [r for r in PREFERRED if r not in holders]
            if "403" in documented and permission != PUBLIC and lacking:
                cases.append((403, lacking[0], _path(template, world, False), {}, None))
            if "404" in documented and _PARAM.search(template):
                cases.append((404, holder, _path(template, world, True), {}, None))
            if "422" in documented and "requestBody" in op:
                cases.append((422, holder, _path(template, world, False),
                              {"no_such_member": 1}, None))
            elif "422" in documented and _bad_query(op):
                cases.append((422, holder, _path(template, world, False), None, _bad_query(op)))
            for status, role, path, body, query in cases:
                resp = send(client, method.upper(), path, api=True, headers=headers(role),
                            json_body=body, query=query)
                checked += 1
                for wrong in shape_problems(resp, status):
                    failures.append(f"{method.upper()} {path} as {role or 'anonymous'} "
                                    f"({status}): {wrong}")
    assert operations >= 40 and checked >= 3 * operations // 2, (operations, checked)
    assert not failures, "\n".join(failures)
