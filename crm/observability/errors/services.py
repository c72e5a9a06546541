"""The error tracker's rules, shared by the ingest, our own error capture, the console, the
API and the jobs.

* :func:`record_event` stores an event and groups it into its issue (one row per
  project and fingerprint, counted with atomic UPDATEs so concurrent events lose nothing);
  an event for a resolved issue reopens it (a regression); a new issue or a regression
  emails the admins through the outbox, at most once per issue per
  ``ERROR_NOTIFY_THROTTLE_SECONDS``.
* Issue changes (:func:`update_issue`) and :func:`issue_to_ticket` check the actor's
  permission themselves, so every door gets the same answer.
"""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from flask import current_app
from sqlalchemy import and_, case, literal, null, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from crm.auth.models import ACTIVE, ADMIN, User
from crm.auth.policy import STAFF, has_permission
from crm.clock import utcnow
from crm.errors import NotAllowed, ServiceError
from crm.extensions import db
from crm.observability.errors.event import EventData
from crm.observability.errors.fingerprint import fingerprint, top_frame
from crm.observability.errors.models import (
    BUILT_IN_PROJECT,
    ISSUE_STATUSES,
    RESOLVED,
    UNRESOLVED,
    ErrorEvent,
    ErrorIssue,
    ErrorProject,
)
from crm.types import UTCDateTime

NEW, REGRESSION = "new", "regression"
#: largest id a row can have (PostgreSQL ``integer``): larger ones name nothing
MAX_ID = 2_147_483_647
NOTIFY_TEMPLATE = "error_issue"
_PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,119}$")


# ---------------------------------------------------------------- projects

def built_in_project() -> ErrorProject:
    """The project of CR Tracker's own errors (``cr-tracker``), created on first use."""
    project = db.session.scalar(select(ErrorProject).where(ErrorProject.name == BUILT_IN_PROJECT))
    if project is not None:
        return project
    try:
        with db.session.begin_nested():
            project = ErrorProject(name=BUILT_IN_PROJECT, built_in=True)
            db.session.add(project)
    except IntegrityError:  # another process created it first
        project = db.session.scalar(
            select(ErrorProject).where(ErrorProject.name == BUILT_IN_PROJECT))
    return project


def create_project(actor, name: str) -> ErrorProject:
    """A new project with a fresh DSN key; committed.

    :param name: 1–120 characters: letters, digits, space, ``.``, ``_``, ``-``.
    :raises NotAllowed: the actor may not manage the error tracker (403).
    :raises ServiceError: 422 for a bad name, 409 when the name is taken.
    """
    if not has_permission(actor, "error.manage"):
        raise NotAllowed()
    name = (name or "").strip()
    if not _PROJECT_NAME.fullmatch(name):
        raise ServiceError("Use 1–120 letters, digits, spaces, '.', '_' or '-'.", field="name",
                           status=422)
    if db.session.scalar(select(ErrorProject.id).where(ErrorProject.name == name)):
        raise ServiceError("A project with this name exists.", field="name", status=409)
    project = ErrorProject(name=name)
    db.session.add(project)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ServiceError("A project with this name exists.", field="name", status=409) from None
    return project


def list_projects() -> list[ErrorProject]:
    """Every project, the built-in one first, then by name."""
    return list(db.session.scalars(select(ErrorProject)
                                   .order_by(ErrorProject.built_in.desc(), ErrorProject.name)))


def dsn_for(project: ErrorProject) -> str:
    """The project's DSN for ``sentry_sdk.init(dsn=...)``: ``PUBLIC_URL`` with the key as
    user name and the project id as the last path segment
    (``https://<key>@crm.example.com/<id>``; the SDK posts to ``/api/<id>/envelope/``)."""
    base = urlsplit(current_app.config["SERVER_NAME_FOR_LINKS"].rstrip("/"))
    netloc = f"{project.public_key}@{base.netloc.rpartition('@')[2]}"
    return urlunsplit((base.scheme, netloc, f"{base.path}/{project.id}", "", ""))


# ---------------------------------------------------------------- events and issues

@dataclass(frozen=True)
class Recorded:
    """What :func:`record_event` stored: the event's row ``id``, its Sentry ``event_id`` (32
    hex) and its ``issue_id`` (plain values: nothing to reload after the commit)."""

    id: int
    event_id: str
    issue_id: int


def _count_event(project_id: int, key: str, now: datetime) -> tuple[int, bool] | None:
    """Count one more event on the issue of fingerprint ``key`` and reopen it when it was
    resolved, in one UPDATE (every SET reads the row as it was, so the CASEs see the old
    status; concurrent events queue on the row lock and lose no count).

    :returns: (issue id, True when this event reopened it), or None when no issue has the
        fingerprint yet.
    """
    was_resolved = ErrorIssue.status == RESOLVED
    at = literal(now, UTCDateTime())
    row = db.session.execute(
        update(ErrorIssue)
        .where(ErrorIssue.project_id == project_id, ErrorIssue.fingerprint == key)
        .values(event_count=ErrorIssue.event_count + 1, last_seen=at,
                status=case((was_resolved, UNRESOLVED), else_=ErrorIssue.status),
                regressed_at=case((was_resolved, at), else_=ErrorIssue.regressed_at),
                resolved_at=case((was_resolved, null()), else_=ErrorIssue.resolved_at))
        .returning(ErrorIssue.id, ErrorIssue.regressed_at)
        .execution_options(synchronize_session=False)).first()
    return None if row is None else (row.id, row.regressed_at == now)


def _group(project_id: int, data: EventData, now: datetime) -> tuple[int, str | None]:
    """The id of the event's issue (counted, created or reopened) and ``"new"``,
    ``"regression"`` or None."""
    key = fingerprint(data.exception_type, data.message, data.frames)
    counted = _count_event(project_id, key, now)
    if counted is None:
        try:
            with db.session.begin_nested():
                issue = ErrorIssue(project_id=project_id, fingerprint=key, title=data.title,
                                   exception_type=data.exception_type[:200],
                                   culprit=top_frame(data.frames), level=data.level,
                                   status=UNRESOLVED, event_count=1, first_seen=now,
                                   last_seen=now)
                db.session.add(issue)
                db.session.flush()
            return issue.id, NEW
        except IntegrityError:  # a concurrent event created it: count on it
            counted = _count_event(project_id, key, now)
    issue_id, reopened = counted
    return issue_id, REGRESSION if reopened else None


def record_event(project_id: int, data: EventData) -> tuple[Recorded, str | None]:
    """Store ``data`` in project ``project_id``, grouped into its issue; committed.

    :returns: (what was stored, ``"new"`` for a new issue, ``"regression"`` for an event
        that reopened a resolved issue, else None).
    """
    now = utcnow()
    issue_id, kind = _group(project_id, data, now)
    event = ErrorEvent(issue_id=issue_id, project_id=project_id, event_id=data.event_id,
                       received_at=now, occurred_at=data.occurred_at, level=data.level,
                       exception_type=data.exception_type[:200], message=data.message,
                       traceback=data.traceback, release=data.release,
                       environment=data.environment, platform=data.platform,
                       client_ip=data.client_ip, method=data.method, path=data.path,
                       user_id=data.user_id, user_label=data.user_label,
                       user_agent=data.user_agent, data=data.data)
    db.session.add(event)
    db.session.flush()
    recorded = Recorded(event.id, data.event_id, issue_id)
    if kind:
        _notify(issue_id, kind, event, now)
    db.session.commit()
    return recorded, kind


def should_notify(issue_id: int, now: datetime) -> bool:
    """Claim the issue's email slot: True for at most one caller per issue per
    ``ERROR_NOTIFY_THROTTLE_SECONDS`` (a guarded UPDATE, so concurrent events agree)."""
    cutoff = now - timedelta(seconds=current_app.config["ERROR_NOTIFY_THROTTLE_SECONDS"])
    claimed = db.session.execute(
        update(ErrorIssue).where(ErrorIssue.id == issue_id, or_(
            ErrorIssue.last_notified_at.is_(None), ErrorIssue.last_notified_at <= cutoff))
        .values(last_notified_at=now))
    return claimed.rowcount == 1


def _notify(issue_id: int, kind: str, event: ErrorEvent, now: datetime) -> None:
    """Queue the admins' email about a new issue or a regression (when not throttled)."""
    from crm.notifications.services import queue_templated

    if not should_notify(issue_id, now):
        return
    admins = list(db.session.scalars(select(User.email).where(User.role == ADMIN,
                                                              User.status == ACTIVE)))
    issue = db.session.scalar(select(ErrorIssue).where(ErrorIssue.id == issue_id)
                              .options(selectinload(ErrorIssue.project))
                              .execution_options(populate_existing=True))
    queue_templated(NOTIFY_TEMPLATE, admins, event=f"error_issue.{kind}", kind=kind,
                    issue={"id": issue.id, "title": issue.title, "culprit": issue.culprit,
                           "exception_type": issue.exception_type,
                           "event_count": issue.event_count, "first_seen": issue.first_seen,
                           "last_seen": issue.last_seen, "project": issue.project.name},
                    occurrence={"message": event.message[:2000], "path": event.path or "",
                                "release": event.release or "", "received_at": now})


# ---------------------------------------------------------------- issue changes

def update_issue(issue: ErrorIssue, actor, *, status: str | None = None,
                 assignee_id: int | None = None, fields: set[str] = frozenset()) -> ErrorIssue:
    """Change the status (``resolved``, ``ignored``, ``unresolved``) and/or the assignee
    (an active staff member's id, or None to unassign) of ``issue``; committed.

    :param fields: which of ``status``/``assignee_id`` to change (the API's PATCH members).
    :raises NotAllowed: the actor may not manage the error tracker (403).
    :raises ServiceError: 422 for an unknown status or an assignee who is not active staff.
    """
    if not has_permission(actor, "error.manage"):
        raise NotAllowed()
    if "status" in fields:
        if status not in ISSUE_STATUSES:
            raise ServiceError("Unknown status.", field="status", status=422)
        issue.status = status
        issue.resolved_at = utcnow() if status == RESOLVED else None
    if "assignee_id" in fields:
        if assignee_id is not None:
            user = db.session.get(User, assignee_id) if 0 < assignee_id <= MAX_ID else None
            if user is None or user.status != ACTIVE or user.role not in STAFF:
                raise ServiceError("Choose an active staff member.", field="assignee_id",
                                   status=422)
        issue.assignee_id = assignee_id
    db.session.commit()
    return issue


def issue_to_ticket(issue: ErrorIssue, actor):
    """Turn ``issue`` into a ticket raised by ``actor`` (assigned as every new ticket is);
    once linked, the same ticket is returned again.

    :returns: the ticket (:class:`crm.tickets.models.Ticket`).
    :raises NotAllowed: the actor may not turn issues into tickets (403).
    """
    from crm.tickets import services as tickets
    from crm.tickets.models import Ticket

    if not has_permission(actor, "error.ticket"):
        raise NotAllowed()
    if issue.ticket_id:
        existing = db.session.get(Ticket, issue.ticket_id)
        if existing is not None:
            return existing
    event = db.session.scalar(select(ErrorEvent).where(ErrorEvent.issue_id == issue.id)
                              .order_by(ErrorEvent.id.desc()).limit(1))
    lines = [f"Error issue #{issue.id} ({issue.event_count} events, first seen "
             f"{issue.first_seen:%Y-%m-%d %H:%M} UTC, last seen {issue.last_seen:%Y-%m-%d %H:%M}"
             f" UTC).", f"Where: {issue.culprit or 'unknown'}", ""]
    if event is not None:
        lines += [event.traceback or event.message]
    issue_id = issue.id
    ticket = tickets.create_ticket(actor, f"Error: {issue.title}"[:200],
                                   "\n".join(lines)[:10_000], "normal",
                                   idempotency_key=f"error-issue-{issue_id}")
    db.session.execute(update(ErrorIssue).where(ErrorIssue.id == issue_id,
                                                ErrorIssue.ticket_id.is_(None))
                       .values(ticket_id=ticket.id))
    db.session.commit()
    return ticket


# ---------------------------------------------------------------- lists

@dataclass
class IssueFilters:
    """Filters of the issue lists (console and API); None means "any"."""

    project_id: int | None = None
    status: str | None = None
    q: str | None = None
    assignee: str | None = None  # "me", "none" or a user id


def encode_cursor(issue: ErrorIssue) -> str:
    """Opaque keyset cursor after ``issue`` in "last seen, newest first" order."""
    raw = f"{issue.last_seen.timestamp():.6f}:{issue.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Inverse of :func:`encode_cursor`.

    :raises ServiceError: 422 naming ``cursor`` for anything this module did not make.
    """
    from datetime import UTC
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, row_id = raw.partition(":")
        seen, last_id = datetime.fromtimestamp(float(stamp), UTC), int(row_id)
        if not 0 < last_id <= MAX_ID:
            raise ValueError(row_id)
        return seen, last_id
    except (ValueError, UnicodeDecodeError, binascii.Error, OverflowError, OSError):
        raise ServiceError("Invalid cursor.", field="cursor", status=422) from None


def list_issues(actor, filters: IssueFilters, cursor: str | None = None, limit: int = 25
                ) -> tuple[list[ErrorIssue], str | None]:
    """One page of issues, most recently seen first (project and assignee loaded).

    :returns: (issues, cursor of the next page or None).
    :raises ServiceError: 422 for a bad cursor.
    """
    stmt = select(ErrorIssue).options(selectinload(ErrorIssue.project),
                                      selectinload(ErrorIssue.assignee))
    if filters.project_id:
        stmt = stmt.where(ErrorIssue.project_id == filters.project_id)
    if filters.status:
        stmt = stmt.where(ErrorIssue.status == filters.status)
    if filters.q:
        stmt = stmt.where(ErrorIssue.title.ilike(f"%{filters.q}%"))
    if filters.assignee == "me":
        stmt = stmt.where(ErrorIssue.assignee_id == actor.id)
    elif filters.assignee == "none":
        stmt = stmt.where(ErrorIssue.assignee_id.is_(None))
    elif filters.assignee and filters.assignee.isdigit() and int(filters.assignee) <= MAX_ID:
        stmt = stmt.where(ErrorIssue.assignee_id == int(filters.assignee))
    if cursor:
        seen, last_id = decode_cursor(cursor)
        stmt = stmt.where(or_(ErrorIssue.last_seen < seen,
                              and_(ErrorIssue.last_seen == seen, ErrorIssue.id < last_id)))
    rows = list(db.session.scalars(stmt.order_by(ErrorIssue.last_seen.desc(),
                                                 ErrorIssue.id.desc()).limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def latest_events(issue_id: int, limit: int = 10) -> list[ErrorEvent]:
    """The issue's newest events, newest first."""
    return list(db.session.scalars(select(ErrorEvent).where(ErrorEvent.issue_id == issue_id)
                                   .order_by(ErrorEvent.id.desc()).limit(limit)))


def event_times(issue_id: int, since: datetime, limit: int = 100_000) -> list[datetime]:
    """Arrival times of the issue's events since ``since`` (at most ``limit``), for charts."""
    return list(db.session.scalars(
        select(ErrorEvent.received_at).where(ErrorEvent.issue_id == issue_id,
                                             ErrorEvent.received_at >= since)
        .order_by(ErrorEvent.received_at.desc()).limit(limit)))


def assignable_staff() -> list[User]:
    """Active staff who may be assigned an issue, by name."""
    return list(db.session.scalars(select(User).where(User.status == ACTIVE,
                                                      User.role.in_(STAFF)).order_by(User.name)))
