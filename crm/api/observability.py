"""API resources of the error tracker: projects (with their DSNs), issues and their events.

The rules live in :mod:`crm.observability.errors.services` and the lookup helpers in
:mod:`crm.observability.errors.access`; these handlers authorise, validate, call them and
serialise. ``error.view`` reads issues and events; ``error.manage`` changes issues and
manages projects. The ingest itself (``/api/<project_id>/envelope/``) is Sentry's protocol,
not part of this API (:mod:`crm.observability.errors.ingest`).
"""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field
from sqlalchemy import select

from crm.api.common import answer, page_answer, page_by_id
from crm.api.openapi import ApiProblem, api_operation, request_body, request_query
from crm.api.schemas import (
    Body,
    CursorText,
    Id,
    Out,
    Page,
    PageQuery,
    ShortSearchText,
    UserRef,
    _patch_field,
    _text,
)
from crm.auth.policy import acting_user, requires
from crm.extensions import db
from crm.observability.errors import services
from crm.observability.errors.access import get_issue_or_404, get_project_or_404
from crm.observability.errors.models import ISSUE_STATUSES, ErrorEvent, ErrorProject

TAG = "Errors"
IssueStatus = Literal[tuple(ISSUE_STATUSES)]  # type: ignore[valid-type]
ProjectName = _text(min_length=1, max_length=120,
                    pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,119}$")


class ProjectIn(Body):
    """A new project: an application that will report errors with the DSN it gets."""

    name: ProjectName


class ProjectOut(Out):
    """A project and its DSN (``sentry_sdk.init(dsn=...)``; points at ``PUBLIC_URL``)."""

    id: int
    name: str
    dsn: str = Field(description="The DSN for the official Sentry SDKs.")
    built_in: bool = Field(description="True for ``cr-tracker``, CR Tracker's own errors.")
    created_at: datetime


class ProjectPage(Page):
    """A page of projects, newest first."""

    items: list[ProjectOut]


class IssueListQuery(PageQuery):
    """Filters of a project's issue list."""

    status: IssueStatus | None = Field(None, description="Only issues with this status.")
    q: ShortSearchText | None = Field(None, description="Text in the title.")


class IssueOut(Out):
    """An issue: events with one fingerprint. Timestamps are ISO 8601 UTC."""

    id: int
    project_id: int
    title: str
    exception_type: str
    culprit: str = Field(description="The top in-app frame (``module.function``).")
    status: IssueStatus
    count: int = Field(validation_alias="event_count", description="Events so far.")
    first_seen: datetime
    last_seen: datetime
    assignee: UserRef | None
    ticket_id: int | None = Field(description="The ticket the issue became, if any.")


class IssuePage(Page):
    """A page of issues, most recently seen first."""

    items: list[IssueOut]


class IssuePatch(Body):
    """Change an issue: ``status`` and/or ``assignee_id`` (null unassigns)."""

    status: IssueStatus = _patch_field("resolved, ignored or unresolved.")
    assignee_id: Id | None = Field(default=None, description="An active staff member's id, "
                                   "or null for nobody.")


class EventOut(Out):
    """One event of an issue (secrets already scrubbed). Timestamps are ISO 8601 UTC."""

    id: int
    event_id: str
    received_at: datetime
    occurred_at: datetime
    level: str
    exception_type: str
    message: str
    traceback: str
    release: str | None
    environment: str | None
    client_ip: str | None
    method: str | None
    path: str | None
    user_label: str | None
    user_agent: str | None


class EventPage(Page):
    """A page of an issue's events, newest first."""

    items: list[EventOut]


class EventListQuery(PageQuery):
    """Pagination of an issue's events (newest first)."""

    cursor: CursorText | None = Field(None, description="``next_cursor`` of the previous page.")


def _project_dict(project: ErrorProject) -> dict:
    return {"id": project.id, "name": project.name, "dsn": services.dsn_for(project),
            "built_in": project.built_in, "created_at": project.created_at}


# ---------------------------------------------------------------- projects

@api_operation("POST", "/projects", body=ProjectIn, response=ProjectOut, status=201, tag=TAG,
               summary="Create a project", errors=(409,))
@requires("error.manage", api=True)
def create_project():
    """A new project with its DSN; 409 when the name is taken."""
    data: ProjectIn = request_body()
    project = services.create_project(acting_user(), data.name)
    return answer(ProjectOut, _project_dict(project), 201,
                  Location=f"/api/v1/projects/{project.id}")


@api_operation("GET", "/projects", query=PageQuery, response=ProjectPage, tag=TAG,
               summary="List projects")
@requires("error.manage", api=True)
def list_projects():
    """Every project with its DSN, newest first (keyset pages)."""
    query: PageQuery = request_query()
    rows, next_cursor = page_by_id(select(ErrorProject), ErrorProject.id, query.limit,
                                   query.cursor)
    return page_answer(ProjectPage, [_project_dict(p) for p in rows], query.limit, next_cursor)


@api_operation("GET", "/projects/{project_id}/issues", query=IssueListQuery,
               response=IssuePage, tag=TAG, summary="List a project's issues")
@requires("error.view", api=True)
def list_project_issues(project_id: int):
    """The project's issues, most recently seen first (keyset pages)."""
    project = get_project_or_404(project_id)
    query: IssueListQuery = request_query()
    filters = services.IssueFilters(project_id=project.id, status=query.status, q=query.q)
    rows, next_cursor = services.list_issues(acting_user(), filters, query.cursor, query.limit)
    return page_answer(IssuePage, rows, query.limit, next_cursor)


# ---------------------------------------------------------------- issues

def _issue_answer(issue_id: int):
    db.session.expire_all()
    return answer(IssueOut, get_issue_or_404(issue_id))


@api_operation("GET", "/issues/{issue_id}", response=IssueOut, tag=TAG, summary="Get an issue")
@requires("error.view", api=True)
def get_issue(issue_id: int):
    """One issue with its counts and first/last seen."""
    return answer(IssueOut, get_issue_or_404(issue_id))


@api_operation("PATCH", "/issues/{issue_id}", body=IssuePatch, response=IssueOut, tag=TAG,
               summary="Resolve, ignore, reopen or assign an issue")
@requires("error.manage", api=True)
def update_issue(issue_id: int):
    """Set ``status`` (``resolved``, ``ignored``, ``unresolved``) and/or ``assignee_id`` (an
    active staff member, or null). A resolved issue that gets a new event reopens by itself
    (a regression)."""
    issue = get_issue_or_404(issue_id)
    data: IssuePatch = request_body()
    fields = data.model_fields_set
    if not fields:
        raise ApiProblem(422, "Send at least one member to change.",
                         {"body": ["Send status and/or assignee_id."]})
    services.update_issue(issue, acting_user(), status=data.status,
                          assignee_id=data.assignee_id, fields=fields)
    return _issue_answer(issue_id)


@api_operation("GET", "/issues/{issue_id}/events", query=EventListQuery, response=EventPage,
               tag=TAG, summary="List an issue's events")
@requires("error.view", api=True)
def list_issue_events(issue_id: int):
    """The issue's events, newest first, with their tracebacks (keyset pages)."""
    issue = get_issue_or_404(issue_id)
    query: EventListQuery = request_query()
    rows, next_cursor = page_by_id(select(ErrorEvent).where(ErrorEvent.issue_id == issue.id),
                                   ErrorEvent.id, query.limit, query.cursor)
    return page_answer(EventPage, rows, query.limit, next_cursor)
