"""Request and response models of the monitoring API, on the shared bases of
:mod:`crm.api.schemas` (strict bodies, lax queries, keyset pages, NUL-free text).

Monitor definitions themselves are :mod:`crm.monitoring.schemas` (shared with the console and
``crm-monitor``); the services validate them, so the create, change and import bodies are
documented here and parsed by :func:`crm.api.openapi.request_document`.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, RootModel, create_model

from crm.api.schemas import (
    Body,
    ContactEmailText,
    ErrorText,
    Id,
    Out,
    Page,
    PageQuery,
    PhoneText,
    Query,
    ShortSearchText,
    TagText,
    WhenText,
)
from crm.monitoring.models import MONITOR_STATUSES, MONITOR_TYPES, RESULT_STATUSES
from crm.monitoring.schemas import MODELS, MonitorIn

MAX_PAGE = 100_000

MonitorStatus = Literal[MONITOR_STATUSES]  # type: ignore[valid-type]
MonitorType = Literal[MONITOR_TYPES]  # type: ignore[valid-type]
ResultStatus = Literal[RESULT_STATUSES]  # type: ignore[valid-type]


# ---------------------------------------------------------------- monitors

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
    contact_group_id: int | None = Field(
        description="The group alerted (its own group's id once it has one).")
    escalation_group_id: int | None = Field(
        description="The group alerted after escalate_after_minutes.")
    contacts: list[dict]
    ping_url: str | None
    status: str = Field(description=f"One of {', '.join(MONITOR_STATUSES)}.")
    last_checked_at: datetime | None
    next_check_at: datetime | None
    owner_id: int | None = Field(
        None, description="The customer who owns the monitor (self-service); null: the "
                          "operators'.")


class ImportOut(BaseModel):
    """Ids of the monitors created, in the order given."""

    ids: list[int]
    count: int


class MonitorExport(RootModel[list[dict]]):
    """Every monitor's definition with its contacts (the import's shape)."""


class ExportQuery(Query):
    """Options of the export."""

    include_secrets: bool = Field(
        False, description="Include request secrets (FTP passwords, secret headers, URL and "
                           "body secrets) instead of ********.")


# ---------------------------------------------------------------- pages

_DEPRECATED = {"deprecated": True}


class NumberedPageQuery(PageQuery):
    """Keyset pagination (``limit``, ``cursor``), and the page numbers it replaces: ``page``
    (with ``per_page``) still pages by number for one release."""

    page: int | None = Field(
        None, ge=1, le=MAX_PAGE, json_schema_extra=_DEPRECATED,
        description="Deprecated: page number from 1 (use ``cursor``). Answers also carry "
                    "``page``, ``per_page``, ``total``, ``pages``, ``next`` and ``prev``.")
    per_page: int | None = Field(
        None, ge=1, le=100, json_schema_extra=_DEPRECATED,
        description="Deprecated: rows per page (use ``limit``).")

    def size(self) -> int:
        """Rows per page: ``limit`` when given, else ``per_page``, else ``limit``'s default."""
        if "limit" in self.model_fields_set or self.per_page is None:
            return self.limit
        return self.per_page

    def numbered(self) -> bool:
        """True when the request pages by number (``page`` without ``cursor``)."""
        return self.page is not None and not self.cursor


def _numbered(description: str):
    """A deprecated member of numbered pages: null unless the request paged by ``page``."""
    return Field(None, json_schema_extra=_DEPRECATED,
                 description=f"Deprecated, ``page=`` requests only: {description}")


class NumberedPage(Page):
    """A keyset page; with ``page=`` in the request, also the page-number members."""

    page: int | None = _numbered("the page number.")
    per_page: int | None = _numbered("rows per page.")
    total: int | None = _numbered("rows matching.")
    pages: int | None = _numbered("pages in all.")
    next: str | None = _numbered("link to the next page number.")
    prev: str | None = _numbered("link to the previous page number.")


class MonitorListQuery(NumberedPageQuery):
    """Filters of ``GET /api/v1/monitors`` (:class:`crm.monitoring.services.MonitorFilters`)."""

    type: MonitorType | None = None
    status: MonitorStatus | None = None
    tag: TagText | None = None
    q: ShortSearchText | None = Field(None, description="Text in the name.")


class MonitorPage(NumberedPage):
    """A page of monitors by id."""

    items: list[MonitorOut]


# ---------------------------------------------------------------- contacts and groups

class ContactIn(Body):
    """One alert recipient: ``email`` or ``phone`` (normalised to E.164)."""

    email: ContactEmailText | None = None
    phone: PhoneText | None = None


class ContactOut(Out):
    """An alert recipient of a contact group."""

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


# ---------------------------------------------------------------- history

class LogQuery(NumberedPageQuery):
    """Filters of a monitor's check history."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    limit: int = Field(50, ge=1, le=100, description="Rows per page (1–100).")
    from_: WhenText | None = Field(
        None, alias="from",
        description="ISO 8601 (UTC when no offset; a date means its midnight UTC).")
    to: WhenText | None = Field(
        None, description="ISO 8601 (UTC when no offset; a date means the end of that day).")
    status: ResultStatus | None = None


class LogEntry(Out):
    """One check result."""

    checked_at: datetime = Field(description="When the check ran (UTC).")
    status: str
    response_time_ms: float | None
    status_code: int | None
    error: str | None
    protocol: str


class LogPage(NumberedPage):
    """A page of check results, newest first."""

    items: list[LogEntry]


class UptimeQuery(Query):
    """The period ending now: day (24 h), week (7 d), month (30 d) or year (365 d)."""

    period: Literal["day", "week", "month", "year"] = "day"


class UptimeOut(BaseModel):
    """Availability over the period, from rollups and incidents (maintenance excluded)."""

    period: str
    start: datetime
    end: datetime
    uptime_percent: float | None = Field(
        description="None while the period holds no time of the monitor's life.")
    incidents: int
    downtime_seconds: int
    checks: int
    failed_checks: int


# ---------------------------------------------------------------- agents and heartbeats

def _aware_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("give an ISO 8601 date-time with a UTC offset, e.g. 2026-05-01T12:00:00Z")
    return value


class ResultIn(Body):
    """A check result measured elsewhere (``crm-monitor run``): recorded like the server's own
    checks (raw result, rollups, confirmation, flips, incidents, alerts)."""

    # lax: ``checked_at`` arrives as ISO 8601 text, which strict mode refuses for a datetime
    model_config = ConfigDict(strict=False, extra="forbid")

    checked_at: Annotated[datetime, BeforeValidator(_aware_text)] | None = Field(
        None, description="When the check ran (ISO 8601 with offset); now when omitted.")
    status: ResultStatus
    response_time_ms: Annotated[float, Field(ge=0, le=3_600_000)] | None = None
    status_code: Annotated[int, Field(ge=0, le=999)] | None = None
    error: ErrorText | None = None


class ResultOut(BaseModel):
    """The monitor's state after the result."""

    monitor_id: int
    status: str


class HeartbeatOut(BaseModel):
    """The ping was recorded."""

    ok: bool = True


# ---------------------------------------------------------------- incidents

class IncidentQuery(PageQuery):
    """Filters of ``GET /api/v1/incidents``."""

    state: Literal["open", "closed"] | None = Field(
        None, description="Only open (not yet recovered) or closed incidents.")
    monitor_id: Id | None = Field(None, description="Only this monitor's incidents.")


class IncidentOut(Out):
    """An outage of one monitor: opened at the confirmed failure, closed at the recovery."""

    id: int
    monitor_id: int
    monitor_name: str = Field(description="The monitor's name.")
    opened_at: datetime = Field(description="When the monitor was confirmed down (UTC).")
    closed_at: datetime | None = Field(description="When it recovered (UTC); null while open.")
    duration_seconds: int | None = Field(description="Downtime in seconds, once closed.")
    cause: str | None = Field(description="What the failing check reported.")
    escalated_at: datetime | None
    in_maintenance: bool = Field(description="Opened during a maintenance window (no alerts).")


class IncidentPage(Page):
    """A page of incidents, newest first."""

    items: list[IncidentOut]
