"""The operation registry: one decorator routes an API operation and documents it.

``@api_operation`` registers the Flask rule *and* the OpenAPI entry from the same arguments
(path, method, body/query/response models, success status), and it reads the permission the
view declared with ``@requires(..., api=True)`` or ``@public``. :func:`build_document` turns
the registry into the OpenAPI 3.1 document, whose schemas are the pydantic models that
validate the requests, so the document cannot drift from the routes.

Usage (``@requires`` inside, so authentication runs before validation)::

    @api_operation("POST", "/tickets", body=TicketIn, response=TicketOut, status=201,
                   summary="Raise a ticket")
    @requires("ticket.create", api=True)
    def create_ticket():
        data: TicketIn = request_body()
"""
from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps

from flask import g, request
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from crm.api.schemas import MAX_ID, Problem
from crm.auth.policy import POLICY, PUBLIC
from crm.errors import TITLES, ServiceError
from crm.security import jsonsafe

PREFIX = "/api/v1"
REF_TEMPLATE = "#/components/schemas/{model}"
_PARAM = re.compile(r"\{(\w+)\}")
# Path ids are bounded so an absurd id is a 404 from routing, not a database overflow.
_ID_CONVERTER = f"int(min=1, max={MAX_ID})"
#: Longest text path parameter (tokens); longer ones are a 404 from routing.
MAX_TEXT_PARAM = 128
_TEXT_CONVERTER = f"string(maxlength={MAX_TEXT_PARAM})"

class ApiProblem(ServiceError):
    """A request the parsing helpers refuse: a :class:`ServiceError` without a field, so the
    app's one handler (:func:`crm.errors.register_error_handlers`) renders it like any other
    refusal (problem+json of the one shape).

    :param status: HTTP status (400, 415, 422 …). :param detail: sentence for the client.
    :param errors: ``{field: [messages]}`` (validation).
    """

    def __init__(self, status: int, detail: str, errors: dict[str, list[str]] | None = None):
        super().__init__(detail, status=status, errors=errors)
        self.detail = detail


@dataclass
class Operation:
    """One documented API operation (a method on a path)."""

    method: str
    path: str  # OpenAPI form, under PREFIX: "/api/v1/tickets/{ticket_id}"
    endpoint: str
    permission: str
    summary: str
    description: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: dict[int, str] = field(default_factory=dict)
    path_params: list[str] = field(default_factory=list)
    text_params: tuple[str, ...] = ()
    #: request headers documented as parameters: ``({"name": …, "schema": …, "description": …}, …)``
    header_params: tuple[dict, ...] = ()

    @property
    def rule(self) -> str:
        """The Flask rule: ``{ticket_id}`` becomes a bounded ``int`` converter, a text
        parameter (``text_params``) a ``string`` of at most :data:`MAX_TEXT_PARAM` characters."""
        return _PARAM.sub(
            lambda m: (
                f"<{_TEXT_CONVERTER if m.group(1) in self.text_params else _ID_CONVERTER}"
                f":{m.group(1)}>"
            ),
            self.path,
        )


#: every registered operation, in registration order
OPERATIONS: list[Operation] = []


def api_operation(
    method: str,
    path: str,
    *,
    summary: str,
    tag: str,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    errors: tuple[int | tuple[int, str], ...] = (),
    text_params: tuple[str, ...] = (),
    header_params: tuple[dict, ...] = (),
) -> Callable:
    """Route and document an API operation.

    :param method: HTTP method (``GET``, ``POST``, ``PATCH`` …).
    :param path: path under ``/api/v1`` in OpenAPI form; ``{name}`` parameters are ids
        (integers 1 … 2³¹−1; others are a 404 from routing).
    :param summary: one line for the document. The view's docstring is the description.
    :param tag: group in the document (``Tickets`` …).
    :param body: JSON body model, parsed by :func:`request_body` in the view.
    :param query: query-string model, parsed by :func:`request_query` in the view.
    :param response: model of the success answer (None: no body).
    :param status: success status code.
    :param errors: extra error statuses the operation may answer: ``409``, or
        ``(401, "why")`` to say when it happens.
    :param text_params: path parameters that are text (a token), not ids.
    :param header_params: optional request headers the operation reads, each an OpenAPI
        parameter object without ``in`` (``{"name", "schema", "description"}``).
    :raises TypeError: at import, when the view declares no permission.
    """

    def decorate(view: Callable) -> Callable:
        from crm.api import bp

        permission = getattr(view, "crm_permission", None)
        if permission != PUBLIC and permission not in POLICY:
            raise TypeError(f"{view.__name__}: decorate with @requires(..., api=True) or @public")
        op = Operation(
            method=method.upper(),
            path=PREFIX + path,
            endpoint=view.__name__,
            permission=permission,
            summary=summary,
            description=inspect.cleandoc(view.__doc__ or ""),
            tag=tag,
            body=body,
            query=query,
            response=response,
            status=status,
            errors=dict(e if isinstance(e, tuple) else (e, "") for e in errors),
            path_params=_PARAM.findall(path),
            text_params=tuple(text_params),
            header_params=tuple(header_params),
        )

        @wraps(view)
        def run(*args, **kwargs):
            g.api_operation = op
            return view(*args, **kwargs)

        bp.add_url_rule(op.rule, endpoint=op.endpoint, view_func=run, methods=[op.method])
        OPERATIONS.append(op)
        return run

    return decorate


# ---------------------------------------------------------------- request parsing


def _field_errors(exc: ValidationError, prefix: str = "") -> dict[str, list[str]]:
    """pydantic errors as ``{"field.path": [messages]}`` (``body`` for the whole document)."""
    errors: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False, include_input=False):
        name = ".".join(str(part) for part in err["loc"]) or prefix or "body"
        errors.setdefault(name, []).append(err["msg"])
    return errors


def parse_json_body():
    """The request's JSON document (any type), parsed strictly (:mod:`crm.security.jsonsafe`:
    at most 32 levels deep, no duplicate keys).

    :raises ApiProblem: 400 for malformed JSON, a document nested too deep or a duplicate key
        (``detail`` says which).
    """
    try:
        return jsonsafe.loads(request.get_data(cache=True) or b"")
    except jsonsafe.UnsafeJSON as exc:
        raise ApiProblem(400, str(exc)) from None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiProblem(400, "The request body is not valid JSON.") from None


def request_document(kinds: tuple[type, ...] = (dict,)):
    """The request's JSON document, checked but not validated against the operation's
    ``body`` model: for operations whose service validates the document itself (monitor
    definitions, which the console and ``crm-monitor`` send too).

    :param kinds: the JSON types accepted (``(dict, list)`` for an object or an array).
    :returns: the parsed document (a dict, or a list when ``kinds`` allows it).
    :raises ApiProblem: 415 when the body is not declared JSON, 400 for malformed JSON, a
        document nested too deep, a duplicate key or a document of another type.
    """
    if not request.is_json:
        raise ApiProblem(415, "Send a JSON object with Content-Type: application/json.")
    data = parse_json_body()
    if not isinstance(data, kinds):
        wanted = "object" if kinds == (dict,) else "object or array"
        raise ApiProblem(400, f"The request body must be a JSON {wanted}.")
    return data


def request_body():
    """Parse the JSON body with the current operation's ``body`` model.

    :returns: the validated model instance.
    :raises ApiProblem: 415 when the body is not declared JSON, 400 for malformed JSON, a
        document nested too deep, a duplicate key or a document that is not an object, 422
        with ``errors`` per field for invalid members.
    """
    model = g.api_operation.body
    data = request_document()
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiProblem(422, "Some fields are invalid.", _field_errors(exc)) from None


def request_query():
    """Parse the query string with the current operation's ``query`` model.

    Empty values mean "not given" (as in the console's filter forms).

    :returns: the validated model instance.
    :raises ApiProblem: 422 with ``errors`` per parameter.
    """
    model = g.api_operation.query
    args = {k: v for k, v in request.args.items() if v.strip()}
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        raise ApiProblem(422, "Some query parameters are invalid.", _field_errors(exc)) from None


# ---------------------------------------------------------------- the document


def _problem_response(description: str) -> dict:
    return {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": REF_TEMPLATE.format(model="Problem")}}
        },
    }


ERROR_DESCRIPTIONS = {
    400: "Malformed JSON, or a body that is not a JSON object.",
    401: "Missing, invalid or expired bearer token.",
    403: "Your role, or this object's rules, do not allow it.",
    404: "No such resource, or not yours to know about.",
    409: "The current state does not allow it (see ``detail``).",
    415: "The body is not declared as JSON.",
    422: "Invalid values; ``errors`` lists the messages per field.",
}


def _query_parameters(model: type[BaseModel], defs: dict) -> list[dict]:
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    defs.update(schema.pop("$defs", {}))
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", None)
        deprecated = prop.pop("deprecated", False)  # a parameter object's member in OpenAPI
        prop.pop("title", None)
        # An optional parameter is simply left out: drop pydantic's "or null" and null default.
        variants = prop.get("anyOf", [])
        if len(variants) == 2 and {"type": "null"} in variants:
            prop.pop("anyOf")
            prop.update(next(v for v in variants if v != {"type": "null"}))
        if prop.get("default", 0) is None:
            prop.pop("default")
        param = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            param["description"] = description
        if deprecated:
            param["deprecated"] = True
        params.append(param)
    return params


def _operation_object(op: Operation, refs: dict, defs: dict) -> dict:
    out: dict = {"operationId": op.endpoint, "summary": op.summary, "tags": [op.tag]}
    if op.description:
        out["description"] = op.description
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_PARAM}
            if name in op.text_params
            else {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        }
        for name in op.path_params
    ]
    if op.query:
        params += _query_parameters(op.query, defs)
    params += [{"in": "header", "required": False, **header} for header in op.header_params]
    if params:
        out["parameters"] = params
    if op.body:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    success: dict = {"description": "Success." if op.status < 300 else "Accepted."}
    if op.status == 201:
        success["description"] = "Created."
    if op.response:
        success["content"] = {"application/json": {"schema": refs[(op.response, "serialization")]}}
    responses = {str(op.status): success}
    codes = set(op.errors)
    if op.permission == PUBLIC:
        out["security"] = []
    else:
        codes |= {401, 403}
    if op.path_params:
        codes.add(404)
    if op.body:
        codes |= {400, 415, 422}
    if op.query:
        codes.add(422)
    for code in sorted(codes):
        description = op.errors.get(code) or ERROR_DESCRIPTIONS.get(code, TITLES.get(code, "Error"))
        responses[str(code)] = _problem_response(description)
    out["responses"] = responses
    if op.permission not in (PUBLIC, "authenticated"):
        roles = ", ".join(sorted(POLICY[op.permission]))
        out["description"] = (
            out.get("description", "") + f"\n\nPermission `{op.permission}` (roles: {roles})."
        ).strip()
    return out


def build_document(title: str, version: str) -> dict:
    """The OpenAPI 3.1 document of every registered operation.

    :returns: a JSON-serialisable dict: ``paths`` from :data:`OPERATIONS`, ``components``
        with the pydantic models' JSON Schemas, the ``Problem`` schema and ``bearerAuth``.
    """
    wanted = {(Problem, "serialization")}
    for op in OPERATIONS:
        if op.body:
            wanted.add((op.body, "validation"))
        if op.response:
            wanted.add((op.response, "serialization"))
    keys = sorted(wanted, key=lambda pair: (pair[0].__name__, pair[1]))
    refs, top = models_json_schema(keys, ref_template=REF_TEMPLATE)
    defs: dict = dict(top.get("$defs", {}))
    paths: dict = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation_object(op, refs, defs)
    tags = list(dict.fromkeys(op.tag for op in OPERATIONS))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "JSON API of CR Tracker. Get a token from `POST /api/v1/auth/token` "
            "and send it as `Authorization: Bearer <token>`. Errors are "
            "`application/problem+json` (RFC 9457).",
        },
        "tags": [{"name": t} for t in tags],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(defs.items())),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
        "security": [{"bearerAuth": []}],
    }
