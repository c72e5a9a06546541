"""Error tracker tables: projects (a DSN each), issues (groups of events) and events."""
from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.clock import utcnow
from crm.extensions import db
from crm.types import UTCDateTime

UNRESOLVED, RESOLVED, IGNORED = "unresolved", "resolved", "ignored"
ISSUE_STATUSES = (UNRESOLVED, RESOLVED, IGNORED)
#: the project CR Tracker's own errors go to (created on first use)
BUILT_IN_PROJECT = "cr-tracker"
LEVELS = ("fatal", "error", "warning", "info", "debug")


def new_key() -> str:
    """A project's public DSN key: 32 lowercase hex characters (as Sentry's)."""
    return secrets.token_hex(16)


class ErrorProject(db.Model):
    """An application reporting errors; ``public_key`` is the secret part of its DSN.

    ``quota_per_minute`` overrides ``ERROR_INGEST_QUOTA_PER_MINUTE`` (None: the default).
    """

    __tablename__ = "error_projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    public_key: Mapped[str] = mapped_column(String(32), unique=True, default=new_key)
    built_in: Mapped[bool] = mapped_column(Boolean, default=False)
    quota_per_minute: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ErrorIssue(db.Model):
    """Events sharing one fingerprint within a project.

    ``event_count``/``last_seen`` are updated in place (one UPDATE per event, so concurrent
    events never lose a count); ``last_notified_at`` throttles the admins' emails;
    ``regressed_at`` is set when an event arrived after the issue was resolved.
    """

    __tablename__ = "error_issues"
    __table_args__ = (
        UniqueConstraint("project_id", "fingerprint", name="uq_error_issues_fingerprint"),
        Index("ix_error_issues_project_seen", "project_id", "last_seen", "id"),
        Index("ix_error_issues_status_seen", "status", "last_seen", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("error_projects.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(255))
    exception_type: Mapped[str] = mapped_column(String(200), default="")
    culprit: Mapped[str] = mapped_column(String(255), default="")
    level: Mapped[str] = mapped_column(String(16), default="error")
    status: Mapped[str] = mapped_column(String(16), default=UNRESOLVED)
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    regressed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    project: Mapped[ErrorProject] = relationship(lazy="raise")
    assignee = relationship("User", lazy="raise")


class ErrorEvent(db.Model):
    """One occurrence: what was raised, where, for whom (already scrubbed of secrets).

    ``data`` keeps the rest as JSON: ``request`` (url, query, scrubbed headers), ``tags``,
    ``contexts``, ``extra``, ``frames`` (file, function, line, in_app), ``job``.
    """

    __tablename__ = "error_events"
    __table_args__ = (
        Index("ix_error_events_issue", "issue_id", "id"),
        Index("ix_error_events_project_received", "project_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("error_issues.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("error_projects.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    level: Mapped[str] = mapped_column(String(16), default="error")
    exception_type: Mapped[str] = mapped_column(String(200), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    traceback: Mapped[str] = mapped_column(Text, default="")
    release: Mapped[str | None] = mapped_column(String(200))
    environment: Mapped[str | None] = mapped_column(String(64))
    platform: Mapped[str | None] = mapped_column(String(32))
    client_ip: Mapped[str | None] = mapped_column(String(45))
    method: Mapped[str | None] = mapped_column(String(16))
    path: Mapped[str | None] = mapped_column(String(2000))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    user_label: Mapped[str | None] = mapped_column(String(255))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
