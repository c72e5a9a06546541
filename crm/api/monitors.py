"""API resources for uptime monitors: CRUD, contacts, named contact groups, check history,
uptime, heartbeat pings, export/import and results pushed by remote ``crm-monitor run`` agents.

Validation and the rules live in :mod:`crm.monitoring.services` (definitions, shared with the
console) and E's engine (:mod:`crm.monitoring.engine.results`, :mod:`crm.monitoring.engine.rollups`,
:mod:`crm.monitoring.engine.heartbeat`); these handlers authorise, parse, call them and serialise.
Permissions: ``monitor.view`` to read, ``monitor.manage`` to change (and to export, since
definitions carry credentials such as FTP passwords and request headers); contact groups
follow the same two permissions.
"""
from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from flask import request, url_for
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    create_model,
)
from sqlalchemy import exists, func, select
from sqlalchemy.dialects.postgresql import JSONB

from crm.api.common import answer
from crm.api.openapi import ApiProblem, api_operation, parse_json_body, request_body, request_query
from crm.auth.policy import acting_user, public, requires
from crm.clock import utcnow
from crm.errors import ServiceError
from crm.extensions import db
from crm.monitoring import services
from crm.monitoring.access import get_group_or_404, get_monitor_or_404
from crm.monitoring.engine.checks.base import CheckOutcome
from crm.monitoring.models import (
    MONITOR_STATUSES,
    MONITOR_TYPES,
    RESULT_STATUSES,
    CheckResult,
    ContactGroup,
    Monitor,
)
from crm.monitoring.schemas import MODELS, ContactGroupIn, ContactGroupPatch, MonitorIn

TAG = "Monitors"
GROUP_TAG = "Contact groups"
MAX_PER_PAGE = 100
MAX_PAGE = 100_000
#: How far a pushed result may be in the future (agent clock skew), and in the past.
MAX_FUTURE_SKEW = timedelta(minutes=5)
MAX_RESULT_AGE = timedelta(days=7)
PERIODS = {"day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30),
           "year": timedelta(days=365)}


# ---------------------------------------------------------------- models of the document

def _no_nul(value: str) -> str:
    """PostgreSQL text cannot hold U+0000 (valid JSON and URL-encodable, but a 500 later)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _text(**constraints):
    return Annotated[str, Field(**constraints), AfterValidator(_no_nul)]


class MonitorCreate(RootModel[MonitorIn]):
    """A monitor definition; ``type`` selects the fields (see each variant)."""


def _patch_fields() -> dict:
    """Every field of every monitor type, optional (the first type defining it documents it)."""
    fields: dict = {}
    for model in MODELS.values():
        for name, info in model.model_fields.items():
            if name not in fields and name != "contacts":
                fields[name] = (info.annotation | None, Field(None, description=info.description))
    return fields


MonitorPatch = create_model(
    "MonitorPatch", __config__=ConfigDict(extra="forbid"),
    __doc__="Any fields of a monitor definition to change (at least one; ``null`` clears an "
            "optional field). The merged definition is validated like a new one (members of "
            "another type than the monitor's are refused unless ``type`` changes too); "
            "``contacts`` have their own resource.",
    **_patch_fields())


class ImportIn(BaseModel):
    """Monitors to create, all or nothing (a bare JSON array — the export — is accepted too)."""

    model_config = ConfigDict(extra="forbid")

    monitors: list[MonitorIn] = Field(min_length=1, max_length=1000)


class ContactIn(BaseModel):
    """One alert recipient: ``email`` or ``phone`` (normalised to E.164)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    email: _text(min_length=3, max_length=254) | None = None
    phone: _text(min_length=3, max_length=32) | None = None


class ContactOut(BaseModel):
    """An alert recipient of the monitor's contact group."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str | None
    phone: str | None
    created_at: datetime


class ContactList(BaseModel):
    """The monitor's alert recipients, oldest first."""

    items: list[ContactOut]


class ContactGroupOut(BaseModel):
    """A contact group: its recipients (oldest first) and the monitors that alert it
    (``monitor_ids``) or escalate to it (``escalation_monitor_ids``)."""

    id: int
    name: str
    contacts: list[ContactOut]
    monitor_ids: list[int]
    escalation_monitor_ids: list[int]
    created_at: datetime


class ContactGroupList(BaseModel):
    """Every contact group, by name."""

    items: list[ContactGroupOut]


class MonitorOut(BaseModel):
    """A monitor: its definition (the type's own fields too), contacts, ``ping_url`` (heartbeat
    monitors: the URL their job calls) and runtime state. Request secrets are write-only:
    secret-looking headers, URL passwords and parameters and body members read as ``********``
    (send ``********`` back to keep the stored value); FTP passwords are never returned
    (``password_set`` says whether one is stored)."""

    model_config = ConfigDict(extra="allow")

    id: int
    name: str
    type: str
    interval: int = Field(description="Seconds between checks.")
    timeout: float = Field(description="Seconds a check may take.")
    retries: int = Field(description="Failed checks in a row that declare the monitor down.")
    tags: list[str]
    paused: bool
    escalate_after_minutes: int | None
    remind_every_minutes: int | None
    contact_group_id: int | None = Field(description="The group alerted (its own group's id once it has one).")
    escalation_group_id: int | None = Field(description="The group alerted after escalate_after_minutes.")
    contacts: list[dict]
    ping_url: str | None
    status: str = Field(description=f"One of {', '.join(MONITOR_STATUSES)}.")
    last_checked_at: datetime | None
    next_check_at: datetime | None


class MonitorPage(BaseModel):
    """One page of monitors (by id) with the total and links to the next/previous page."""

    items: list[MonitorOut]
    page: int
    per_page: int
    total: int
    pages: int
    next: str | None
    prev: str | None


PageNumber = Annotated[int, Field(ge=1, le=MAX_PAGE)]
PerPage = Annotated[int, Field(ge=1, le=MAX_PER_PAGE)]


class MonitorListQuery(BaseModel):
    """Filters of the monitor list."""

    model_config = ConfigDict(extra="ignore")

    type: Literal[MONITOR_TYPES] | None = None  # type: ignore[valid-type]
    status: Literal[MONITOR_STATUSES] | None = None  # type: ignore[valid-type]
    tag: _text(max_length=32) | None = None
    q: _text(max_length=100, description="Text in the name.") | None = None
    page: PageNumber = 1
    per_page: PerPage = 25


When = _text(max_length=40, json_schema_extra={"format": "date-time"},
             description="ISO 8601 (UTC when no offset; a date means its midnight UTC).")


class LogQuery(BaseModel):
    """Filters of the check history."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    from_: When | None = Field(None, alias="from")
    to: When | None = None
    status: Literal[RESULT_STATUSES] | None = None  # type: ignore[valid-type]
    page: PageNumber = 1
    per_page: PerPage = 50


class LogEntry(BaseModel):
    """One check result."""

    model_config = ConfigDict(from_attributes=True)

    checked_at: datetime = Field(description="When the check ran (UTC).")
    status: str
    response_time_ms: float | None
    status_code: int | None
    error: str | None
    protocol: str


class LogPage(BaseModel):
    """One page of check results, newest first."""

    items: list[LogEntry]
    page: int
    per_page: int
    total: int
    pages: int
    next: str | None
    prev: str | None


class UptimeQuery(BaseModel):
    """The period ending now: day (24 h), week (7 d), month (30 d) or year (365 d)."""

    model_config = ConfigDict(extra="ignore")

    period: Literal["day", "week", "month", "year"] = "day"


class UptimeOut(BaseModel):
    """Availability over the period, from rollups and incidents (maintenance excluded)."""

    period: str
    start: datetime
    end: datetime
    uptime_percent: float | None = Field(description="None while the period holds no time of the monitor's life.")
    incidents: int
    downtime_seconds: int
    checks: int
    failed_checks: int


class HeartbeatOut(BaseModel):
    """The ping was recorded."""

    ok: bool = True


def _aware_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("give an ISO 8601 date-time with a UTC offset, e.g. 2026-05-01T12:00:00Z")
    return value


class ResultIn(BaseModel):
    """A check result measured elsewhere (``crm-monitor run``): recorded like the server's own
    checks (raw result, rollups, confirmation, flips, incidents, alerts)."""

    model_config = ConfigDict(extra="forbid")

    checked_at: Annotated[datetime, BeforeValidator(_aware_text)] | None = Field(
        None, description="When the check ran (ISO 8601 with offset); now when omitted.")
    status: Literal[RESULT_STATUSES]  # type: ignore[valid-type]
    response_time_ms: Annotated[float, Field(ge=0, le=3_600_000)] | None = None
    status_code: Annotated[int, Field(ge=0, le=999)] | None = None
    error: _text(max_length=4000) | None = None


class ResultOut(BaseModel):
    """The monitor's state after the result."""

    monitor_id: int
    status: str


class ImportOut(BaseModel):
    """Ids of the monitors created, in the order given."""

    ids: list[int]
    count: int


class MonitorExport(RootModel[list[dict]]):
    """Every monitor's definition with its contacts (the import's shape)."""


class ExportQuery(BaseModel):
    """Options of the export."""

    model_config = ConfigDict(extra="ignore")

    include_secrets: bool = Field(False, description="Include request secrets (FTP passwords, secret "
                                                     "headers, URL and body secrets) instead of ********.")


# ---------------------------------------------------------------- helpers

def _json_value():
    """The request's JSON document (any type).

    :raises ApiProblem: 415 when the body is not declared JSON, 400 when it is malformed.
    """
    if not request.is_json:
        raise ApiProblem(415, "Send a JSON document with Content-Type: application/json.")
    return parse_json_body()  # bounded depth, no duplicate keys (crm.security.jsonsafe)


def _json_object() -> dict:
    """The request's JSON object. :raises ApiProblem: 415/400 (see :func:`_json_value`)."""
    data = _json_value()
    if not isinstance(data, dict):
        raise ApiProblem(400, "The request body must be a JSON object.")
    return data


def _refused(exc: ServiceError) -> ApiProblem:
    """A service's refusal as a problem with every field's messages."""
    errors = exc.errors or ({exc.field: [exc.message]} if exc.field else None)
    detail = f"{exc.field}: {exc.message}" if exc.field and exc.field != "body" and not exc.message.startswith(
        exc.field) and exc.status == 422 else exc.message
    return ApiProblem(exc.status, detail, errors)




def _monitor_answer(monitor_id: int, status: int = 200):
    monitor = db.session.scalar(select(Monitor).where(Monitor.id == monitor_id)
                                .execution_options(populate_existing=True))
    headers = {"Location": f"/api/v1/monitors/{monitor_id}"} if status == 201 else {}
    return answer(MonitorOut, services.monitor_to_dict(monitor), status, **headers)


def _has_tag(tag: str):
    """SQL condition: the JSON ``tags`` list contains ``tag``."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.cast(Monitor.tags, JSONB).contains([tag])
    values = func.json_each(Monitor.tags).table_valued("value").alias("tag_values")
    return exists(select(1).select_from(values).where(values.c.value == tag))


def _page_links(page: int, pages: int) -> tuple[str | None, str | None]:
    """Links to the next and previous page (this request's URL with another ``page``)."""
    def link(number: int) -> str:
        args = request.args.to_dict()
        args["page"] = str(number)
        return url_for(request.endpoint, _external=False, **(request.view_args or {}), **args)
    return (link(page + 1) if page < pages else None), (link(page - 1) if 1 < page <= pages + 1 else None)


def _paginate(stmt, order, page: int, per_page: int) -> tuple[list, int, int]:
    """(rows of ``page``, total, pages) of ``stmt``."""
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = list(db.session.scalars(stmt.order_by(*order).offset((page - 1) * per_page).limit(per_page)))
    return rows, total, max(1, math.ceil(total / per_page))


def _parse_when(name: str, text: str | None, end_of_day: bool = False) -> datetime | None:
    """An ISO 8601 date or date-time as an aware UTC datetime (naive: UTC).

    :raises ApiProblem: 422 naming ``name``.
    """
    if not text:
        return None
    bad = ApiProblem(422, "Some query parameters are invalid.",
                     {name: ["Use an ISO 8601 date or date-time, e.g. 2026-05-01T12:00:00Z."]})
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            when = datetime(day.year, day.month, day.day, tzinfo=UTC)
            if end_of_day:
                when += timedelta(days=1)
        else:
            when = datetime.fromisoformat(text.replace("z", "Z"))
            when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (ValueError, OverflowError):
        raise bad from None
    return when


# ---------------------------------------------------------------- monitors

@api_operation("POST", "/monitors", body=MonitorCreate, response=MonitorOut, status=201, tag=TAG,
               summary="Create a monitor")
@requires("monitor.manage", api=True)
def create_monitor():
    """Create a monitor of any type (``type`` selects the fields). It is checked at once, then
    every ``interval`` seconds. Heartbeat monitors answer with their ``ping_url``. A 422
    problem's ``errors`` names every bad field (``url``, ``steps.0.assertions.1.expected`` …)."""
    data = _json_object()
    try:
        monitor = services.create_monitor(data, by=acting_user())
    except ServiceError as exc:
        raise _refused(exc) from None
    return _monitor_answer(monitor.id, 201)


@api_operation("GET", "/monitors", query=MonitorListQuery, response=MonitorPage, tag=TAG,
               summary="List monitors")
@requires("monitor.view", api=True)
def list_monitors():
    """Monitors by id, filtered by ``type``, ``status``, ``tag`` and ``q`` (text in the name),
    in pages of ``per_page`` (``page`` from 1); ``next``/``prev`` link the neighbours."""
    query: MonitorListQuery = request_query()
    stmt = select(Monitor)
    if query.type:
        stmt = stmt.where(Monitor.type == query.type)
    if query.status:
        stmt = stmt.where(Monitor.status == query.status)
    if query.tag:
        stmt = stmt.where(_has_tag(query.tag))
    if query.q:
        pattern = "%" + query.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(Monitor.name.ilike(pattern, escape="\\"))
    rows, total, pages = _paginate(stmt, (Monitor.id,), query.page, query.per_page)
    nxt, prev = _page_links(query.page, pages)
    return answer(MonitorPage, {"items": [services.monitor_to_dict(m) for m in rows], "page": query.page,
                                "per_page": query.per_page, "total": total, "pages": pages,
                                "next": nxt, "prev": prev})


@api_operation("GET", "/monitors/export", query=ExportQuery, response=MonitorExport, tag=TAG,
               summary="Export every monitor")
@requires("monitor.manage", api=True)
def export_monitors():
    """Every monitor's definition with its contacts, as a JSON array that ``POST
    /monitors/import`` accepts (no ids or runtime state). Groups travel by name: a monitor
    alerting a shared group has ``contact_group: {name, contacts}`` (and ``contacts: []``),
    one with its own group ``contact_group: null`` and its ``contacts``; likewise
    ``escalation_group``. Request secrets (FTP passwords, secret headers, URL and body
    secrets) are masked as ``********`` unless ``include_secrets=true``; an import refuses
    masked secrets. Needs ``monitor.manage``."""
    query: ExportQuery = request_query()
    return answer(MonitorExport, services.export_monitors(include_secrets=query.include_secrets))


@api_operation("POST", "/monitors/import", body=ImportIn, response=ImportOut, status=201, tag=TAG,
               summary="Import monitors")
@requires("monitor.manage", api=True)
def import_monitors():
    """Create many monitors, all or nothing: the export's JSON array, or ``{"monitors": [...]}``.
    A 422 problem's ``errors`` names each bad member by index (``3.url``: ``Item 3: …``).
    Heartbeat monitors get new ping URLs. ``contact_group`` / ``escalation_group`` (a name,
    or ``{name, contacts}``) use the existing group of that name (case-insensitively, left
    unchanged) or create it from ``{name, contacts}``; a bare unknown name is a 422.
    ``contact_group_id`` / ``escalation_group_id`` are accepted too."""
    data = _json_value()
    if isinstance(data, dict):
        if set(data) != {"monitors"}:
            raise ApiProblem(422, "Send a JSON array of monitors, or {\"monitors\": [...]}.",
                             {"monitors": ["Field required" if "monitors" not in data
                                           else "Only 'monitors' is allowed."]})
        data = data["monitors"]
    elif not isinstance(data, list):
        raise ApiProblem(400, "Send a JSON array of monitors, or {\"monitors\": [...]}.")
    try:
        created = services.import_monitors(data, by=acting_user())
    except ServiceError as exc:
        raise _refused(exc) from None
    ids = [m.id for m in created]
    return answer(ImportOut, {"ids": ids, "count": len(ids)}, 201)


@api_operation("GET", "/monitors/{monitor_id}", response=MonitorOut, tag=TAG, summary="Get a monitor")
@requires("monitor.view", api=True)
def get_monitor(monitor_id: int):
    """One monitor with its current state."""
    return _monitor_answer(get_monitor_or_404(monitor_id, acting_user()).id)


@api_operation("PATCH", "/monitors/{monitor_id}", body=MonitorPatch, response=MonitorOut, tag=TAG,
               summary="Change a monitor")
@requires("monitor.manage", api=True)
def update_monitor(monitor_id: int):
    """Change any fields (``paused: true`` pauses, ``false`` resumes and checks at once). The
    result must be a valid definition; changing ``type`` drops the old type's fields."""
    monitor = get_monitor_or_404(monitor_id, acting_user())
    data = _json_object()
    if not data:
        raise ApiProblem(422, "Send at least one member to change.", {"body": ["Send at least one field."]})
    try:
        services.update_monitor(monitor, data, by=acting_user())
    except ServiceError as exc:
        raise _refused(exc) from None
    return _monitor_answer(monitor_id)


@api_operation("DELETE", "/monitors/{monitor_id}", status=204, tag=TAG, summary="Delete a monitor")
@requires("monitor.manage", api=True)
def delete_monitor(monitor_id: int):
    """Delete the monitor with its history, incidents and own contact group."""
    services.delete_monitor(get_monitor_or_404(monitor_id, acting_user()), by=acting_user())
    return "", 204


# ---------------------------------------------------------------- contacts

@api_operation("GET", "/monitors/{monitor_id}/contacts", response=ContactList, tag=TAG,
               summary="List a monitor's contacts")
@requires("monitor.view", api=True)
def list_contacts(monitor_id: int):
    """Who is alerted when the monitor goes down or recovers."""
    monitor = get_monitor_or_404(monitor_id, acting_user())
    return answer(ContactList, {"items": services.monitor_contacts(monitor)})


@api_operation("POST", "/monitors/{monitor_id}/contacts", body=ContactIn, response=ContactOut, status=201,
               errors=(409,), tag=TAG, summary="Add a contact to a monitor")
@requires("monitor.manage", api=True)
def add_contact(monitor_id: int):
    """Add an ``email`` address or a ``phone`` number (SMS; normalised to E.164, national
    numbers read in ``PHONE_DEFAULT_REGION``). 409 when already a contact."""
    monitor = get_monitor_or_404(monitor_id, acting_user())
    data: ContactIn = request_body()
    try:
        contact = services.add_contact(monitor, email=data.email, phone=data.phone)
    except ServiceError as exc:
        raise _refused(exc) from None
    return answer(ContactOut, contact, 201)


@api_operation("DELETE", "/monitors/{monitor_id}/contacts/{contact_id}", status=204, tag=TAG,
               summary="Remove a contact from a monitor")
@requires("monitor.manage", api=True)
def remove_contact(monitor_id: int, contact_id: int):
    """Stop alerting this recipient about this monitor."""
    monitor = get_monitor_or_404(monitor_id, acting_user())
    try:
        services.remove_contact(monitor, contact_id)
    except ServiceError as exc:
        raise ApiProblem(exc.status, exc.message) from None
    return "", 204


# ---------------------------------------------------------------- contact groups



def _group_answer(group_id: int, status: int = 200):
    group = db.session.scalar(select(ContactGroup).where(ContactGroup.id == group_id)
                              .execution_options(populate_existing=True))
    headers = {"Location": f"/api/v1/contact-groups/{group_id}"} if status == 201 else {}
    return answer(ContactGroupOut, services.contact_group_to_dict(group), status, **headers)


@api_operation("GET", "/contact-groups", response=ContactGroupList, tag=GROUP_TAG,
               summary="List contact groups")
@requires("monitor.view", api=True)
def list_contact_groups():
    """Every contact group by name, with its recipients and the monitors using it (monitors'
    own groups, named ``Monitor #<id>: …``, too)."""
    groups = services.list_contact_groups()
    usage = services.group_usage(groups)
    return answer(ContactGroupList, {"items": [services.contact_group_to_dict(g, usage[g.id]) for g in groups]})


@api_operation("POST", "/contact-groups", body=ContactGroupIn, response=ContactGroupOut, status=201,
               errors=(409,), tag=GROUP_TAG, summary="Create a contact group")
@requires("monitor.manage", api=True)
def create_contact_group():
    """Create a named group that many monitors can alert (``contact_group_id``) or escalate
    to (``escalation_group_id``). ``phones`` are normalised to E.164 (national numbers read
    in ``PHONE_DEFAULT_REGION``); duplicates are dropped. A 422 names a bad recipient as
    ``emails.<i>`` / ``phones.<i>``; 409 when another group has the name (case-insensitively)."""
    data: ContactGroupIn = request_body()
    try:
        group = services.create_contact_group(data.name, data.emails, data.phones)
    except ServiceError as exc:
        raise _refused(exc) from None
    return _group_answer(group.id, 201)


@api_operation("GET", "/contact-groups/{group_id}", response=ContactGroupOut, tag=GROUP_TAG,
               summary="Get a contact group")
@requires("monitor.view", api=True)
def get_contact_group(group_id: int):
    """One contact group with its recipients and the monitors using it."""
    return _group_answer(get_group_or_404(group_id, acting_user()).id)


@api_operation("PATCH", "/contact-groups/{group_id}", body=ContactGroupPatch, response=ContactGroupOut,
               errors=(409,), tag=GROUP_TAG, summary="Change a contact group")
@requires("monitor.manage", api=True)
def update_contact_group(group_id: int):
    """Rename the group (``name``) and/or replace its email recipients (``emails``) or SMS
    numbers (``phones``): the list given becomes the group's, recipients kept keep their
    ids. Send at least one member."""
    group = get_group_or_404(group_id, acting_user())
    data: ContactGroupPatch = request_body()
    if not data.model_fields_set:
        raise ApiProblem(422, "Send at least one member to change.", {"body": ["Send at least one field."]})
    if "name" in data.model_fields_set and data.name is None:
        raise ApiProblem(422, "Some fields are invalid.", {"name": ["A group needs a name."]})
    try:
        services.update_contact_group(group, name=data.name, emails=data.emails, phones=data.phones)
    except ServiceError as exc:
        raise _refused(exc) from None
    return _group_answer(group_id)


@api_operation("DELETE", "/contact-groups/{group_id}", status=204, errors=(409,), tag=GROUP_TAG,
               summary="Delete a contact group")
@requires("monitor.manage", api=True)
def delete_contact_group(group_id: int):
    """Delete the group and its recipients. 409 while a monitor alerts it or escalates to
    it (the detail names them): point those monitors at another group first."""
    try:
        services.delete_contact_group(get_group_or_404(group_id, acting_user()))
    except ServiceError as exc:
        raise ApiProblem(exc.status, exc.message) from None
    return "", 204


@api_operation("POST", "/contact-groups/{group_id}/contacts", body=ContactIn, response=ContactOut,
               status=201, errors=(409,), tag=GROUP_TAG, summary="Add a contact to a group")
@requires("monitor.manage", api=True)
def add_group_contact(group_id: int):
    """Add an ``email`` address or a ``phone`` number (SMS; normalised to E.164) to the
    group, so to every monitor alerting it. 409 when already in the group."""
    group = get_group_or_404(group_id, acting_user())
    data: ContactIn = request_body()
    try:
        contact = services.add_group_contact(group, email=data.email, phone=data.phone)
    except ServiceError as exc:
        raise _refused(exc) from None
    return answer(ContactOut, contact, 201)


@api_operation("DELETE", "/contact-groups/{group_id}/contacts/{contact_id}", status=204, tag=GROUP_TAG,
               summary="Remove a contact from a group")
@requires("monitor.manage", api=True)
def remove_group_contact(group_id: int, contact_id: int):
    """Stop alerting this recipient through this group."""
    group = get_group_or_404(group_id, acting_user())
    try:
        services.remove_group_contact(group, contact_id)
    except ServiceError as exc:
        raise ApiProblem(exc.status, exc.message) from None
    return "", 204


# ---------------------------------------------------------------- history

@api_operation("GET", "/monitors/{monitor_id}/logs", query=LogQuery, response=LogPage, tag=TAG,
               summary="A monitor's check history")
@requires("monitor.view", api=True)
def monitor_logs(monitor_id: int):
    """Raw check results, newest first, between ``from`` (inclusive) and ``to`` (exclusive;
    a date means the end of that day), optionally only ``up`` or ``down``. Raw results are
    kept ``MONITOR_RESULT_RETENTION_DAYS`` days; use ``/uptime`` for longer periods."""
    monitor = get_monitor_or_404(monitor_id, acting_user())
    query: LogQuery = request_query()
    start = _parse_when("from", query.from_)
    end = _parse_when("to", query.to, end_of_day=True)
    if start and end and end <= start:
        raise ApiProblem(422, "Some query parameters are invalid.", {"to": ["Must be after from."]})
    stmt = select(CheckResult).where(CheckResult.monitor_id == monitor.id)
    if start:
        stmt = stmt.where(CheckResult.checked_at >= start)
    if end:
        stmt = stmt.where(CheckResult.checked_at < end)
    if query.status:
        stmt = stmt.where(CheckResult.status == query.status)
    rows, total, pages = _paginate(stmt, (CheckResult.checked_at.desc(), CheckResult.id.desc()),
                                   query.page, query.per_page)
    nxt, prev = _page_links(query.page, pages)
    return answer(LogPage, {"items": rows, "page": query.page, "per_page": query.per_page,
                            "total": total, "pages": pages, "next": nxt, "prev": prev})


@api_operation("GET", "/monitors/{monitor_id}/uptime", query=UptimeQuery, response=UptimeOut, tag=TAG,
               summary="A monitor's uptime")
@requires("monitor.view", api=True)
def monitor_uptime(monitor_id: int):
    """Uptime percentage, incidents and downtime over the last day, week, month or year,
    computed from hourly/daily rollups and incidents (kept beyond the raw results).
    Incidents during maintenance do not count."""
    from crm.monitoring.engine import rollups

    monitor = get_monitor_or_404(monitor_id, acting_user())
    query: UptimeQuery = request_query()
    end = utcnow()
    start = end - PERIODS[query.period]
    stats = rollups.uptime(monitor.id, start, end)
    return answer(UptimeOut, {"period": query.period, "start": start, "end": end,
                              "uptime_percent": stats["uptime_percent"], "incidents": stats["incidents"],
                              "downtime_seconds": stats["downtime_seconds"], "checks": stats["checks"],
                              "failed_checks": stats["failed_checks"]})


@api_operation("POST", "/monitors/{monitor_id}/results", body=ResultIn, response=ResultOut, status=201,
               tag=TAG, summary="Push a check result")
@requires("monitor.manage", api=True)
def push_result(monitor_id: int):
    """Record a result measured by a remote agent (``crm-monitor run`` behind a firewall).
    It goes through the same pipeline as the server's own checks. While an agent reports, the
    server postpones its own checks of the monitor (to two intervals after the result), so
    an agent that stops reporting is noticed by the server checking again."""
    from crm.monitoring.engine.results import record_outcomes

    monitor = get_monitor_or_404(monitor_id, acting_user())
    data: ResultIn = request_body()
    now = utcnow()
    checked_at = data.checked_at or now
    if checked_at.tzinfo is None:
        raise ApiProblem(422, "Some fields are invalid.", {"checked_at": ["Include a UTC offset (Z or +00:00)."]})
    checked_at = checked_at.astimezone(UTC)
    if checked_at > now + MAX_FUTURE_SKEW or checked_at < now - MAX_RESULT_AGE:
        raise ApiProblem(422, "Some fields are invalid.",
                         {"checked_at": ["Must be within the last 7 days and not in the future."]})
    outcome = CheckOutcome(status=data.status, response_time_ms=data.response_time_ms,
                           status_code=data.status_code,
                           error=data.error or (None if data.status == "up" else "reported down by agent"),
                           protocol=monitor.protocol, checked_at=checked_at)
    record_outcomes([(monitor.id, outcome)], commit=False)
    monitor = db.session.get(Monitor, monitor_id)
    monitor.next_check_at = max(now, checked_at) + timedelta(seconds=2 * (monitor.interval_seconds or 60))
    db.session.commit()
    return answer(ResultOut, {"monitor_id": monitor.id, "status": monitor.status}, 201)


# ---------------------------------------------------------------- heartbeats (public)

def _ping(token: str):
    from crm.monitoring.engine.heartbeat import record_ping

    if record_ping(token) is None:
        raise ApiProblem(404, "No heartbeat monitor has this ping URL.")
    return answer(HeartbeatOut, {"ok": True})


@api_operation("POST", "/heartbeat/{token}", response=HeartbeatOut, tag="Heartbeats",
               text_params=("token",), summary="Ping a heartbeat monitor")
@public
def heartbeat_ping(token: str):
    """Called by the monitored job at least every ``interval`` seconds (no log-in: the token
    in the URL is the secret). A ping to a down monitor is its recovery. 404 for an unknown
    token."""
    return _ping(token)


@api_operation("GET", "/heartbeat/{token}", response=HeartbeatOut, tag="Heartbeats",
               text_params=("token",), summary="Ping a heartbeat monitor (GET)")
@public
def heartbeat_ping_get(token: str):
    """The same ping for clients that can only send GET (``curl -fsS <ping_url>``, cron)."""
    return _ping(token)

