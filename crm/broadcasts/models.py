"""Broadcasts and email opt-outs."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.clock import utcnow
from crm.extensions import db
from crm.types import UTCDateTime

QUEUED, SENDING, DONE, FAILED = "queued", "sending", "done", "failed"
EMAIL, SMS = "email", "sms"
CHANNELS = (EMAIL, SMS)
#: Who receives a broadcast (active customers only): everyone; those who opened a ticket in
#: the last ``segment_days`` days; those with a verified phone number.
SEGMENT_ALL, SEGMENT_RECENT_TICKETS, SEGMENT_VERIFIED_PHONE = (
    "all",
    "recent_tickets",
    "verified_phone",
)
SEGMENTS = (SEGMENT_ALL, SEGMENT_RECENT_TICKETS, SEGMENT_VERIFIED_PHONE)


class Broadcast(db.Model):
    """One announcement to a segment of customers, sent in batches by an RQ job.

    ``last_user_id`` is the job's cursor: each batch writes its outbox rows and moves the
    cursor in one transaction, so a job that dies and runs again never queues a customer
    twice. Counts: ``total`` customers in the segment when sending started, ``processed`` so
    far, ``sent_email`` / ``sent_sms`` outbox rows written, ``skipped`` customers who got
    nothing (opted out, no verified address or number for the chosen channels).
    """

    __tablename__ = "broadcasts"
    __table_args__ = (Index("ix_broadcasts_created", "created_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    window_id: Mapped[int | None] = mapped_column(
        ForeignKey("maintenance_windows.id", ondelete="SET NULL")
    )
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    channels: Mapped[list] = mapped_column(JSON, default=list)
    segment: Mapped[str] = mapped_column(String(32), default=SEGMENT_ALL)
    segment_days: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    sent_email: Mapped[int] = mapped_column(Integer, default=0)
    sent_sms: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    last_user_id: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    window = relationship("MaintenanceWindow")

    @property
    def progress(self) -> int:
        """Percent of the segment processed (100 once done)."""
        if self.status == DONE:
            return 100
        return int(100 * self.processed / self.total) if self.total else 0


class EmailOptOut(db.Model):
    """An address that unsubscribed from non-essential mail (broadcasts); stored lower-case."""

    __tablename__ = "email_opt_outs"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    source: Mapped[str] = mapped_column(String(16), default="link")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
