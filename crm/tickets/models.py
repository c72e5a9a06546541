"""Tickets, their comments (public replies and internal notes) and their change history."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.clock import utcnow
from crm.extensions import db
from crm.types import UTCDateTime

OPEN, IN_PROGRESS, PENDING, RESOLVED, CLOSED = (
    "open",
    "in_progress",
    "pending",
    "resolved",
    "closed",
)
STATUSES = (OPEN, IN_PROGRESS, PENDING, RESOLVED, CLOSED)
ACTIVE_STATUSES = (OPEN, IN_PROGRESS, PENDING)
STATUS_LABELS = {
    OPEN: "Open",
    IN_PROGRESS: "In progress",
    PENDING: "Pending",
    RESOLVED: "Resolved",
    CLOSED: "Closed",
}
PRIORITIES = ("low", "normal", "high", "urgent")


class Ticket(db.Model):
    """A customer's complaint and the work on it.

    ``status`` follows the workflow in :mod:`crm.tickets.workflow`; every change is recorded
    as a :class:`TicketChange`.
    """

    __tablename__ = "tickets"
    __table_args__ = (
        # Admin/agent list: filter by status and assignee, newest update first (keyset).
        Index("ix_tickets_status_assignee_updated", "status", "assignee_id", "updated_at", "id"),
        Index("ix_tickets_assignee_status", "assignee_id", "status"),
        Index("ix_tickets_assignee_updated", "assignee_id", "updated_at", "id"),
        Index("ix_tickets_requester_updated", "requester_id", "updated_at", "id"),
        Index("ix_tickets_updated", "updated_at", "id"),
        Index("ix_tickets_priority_updated", "priority", "updated_at", "id"),
        Index("ix_tickets_created", "created_at", "id"),
        # Lists sorted by status (workflow order), then newest update (keyset per status).
        Index("ix_tickets_status_updated", "status", "updated_at", "id"),
        Index("ix_tickets_follow_up_of", "follow_up_of_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The closed ticket this one follows up (a customer cannot reply to a closed ticket).
    follow_up_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL")
    )

    requester: Mapped[User] = relationship(foreign_keys=[requester_id], lazy="raise_on_sql")
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id], lazy="raise_on_sql")

    @property
    def is_active(self) -> bool:
        """True while the ticket is open, in progress or pending."""
        return self.status in ACTIVE_STATUSES

    @property
    def status_label(self) -> str:
        """Human label of the status ("In progress")."""
        return STATUS_LABELS.get(self.status, self.status)


class Comment(db.Model):
    """A reply on a ticket: public (the requester sees it) or an internal note (staff only)."""

    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_ticket_created", "ticket_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    author: Mapped[User | None] = relationship(lazy="raise_on_sql")


class TicketChange(db.Model):
    """One recorded change to a ticket: who, which field, before → after, when (UTC).

    ``actor_id`` is None for changes made by the system (auto-assignment).
    """

    __tablename__ = "ticket_changes"
    __table_args__ = (Index("ix_ticket_changes_ticket_created", "ticket_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    field: Mapped[str] = mapped_column(String(32))
    before: Mapped[str | None] = mapped_column(String(255))
    after: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    actor: Mapped[User | None] = relationship(lazy="raise_on_sql")


class AppLock(db.Model):
    """Named rows that serialise critical sections on SQLite and PostgreSQL alike.

    ``UPDATE app_locks SET counter = counter + 1 WHERE name = ?`` takes PostgreSQL's row
    lock and SQLite's database write lock until the transaction ends.
    """

    __tablename__ = "app_locks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    counter: Mapped[int] = mapped_column(default=0)
