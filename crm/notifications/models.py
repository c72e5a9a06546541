"""The notification outbox and the development mail catcher's mailbox."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.clock import utcnow
from crm.extensions import db
from crm.types import UTCDateTime

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
NOTIFICATION_STATUSES = (PENDING, SENDING, SENT, FAILED)


class Notification(db.Model):
    """An email waiting to be, being, or having been sent (a row of the outbox).

    Life-cycle: ``pending`` → (claimed by a worker) ``sending`` → ``sent``; a failed send goes
    to ``failed`` with ``last_error`` and, while attempts remain, a ``next_attempt_at`` for
    the sweeper. ``message_id`` is fixed at creation so a re-send after a worker death
    carries the same RFC 5322 Message-ID and receivers can discard a duplicate.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_status_next", "status", "next_attempt_at"),
        Index("ix_notifications_created", "created_at", "id"),
        Index("ix_notifications_ticket", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), default="email")
    template: Mapped[str | None] = mapped_column(String(64))
    event: Mapped[str | None] = mapped_column(String(64))
    to: Mapped[list] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(String(255))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: files attached at send time: [{filename, content_type, health_report_id}] — the bytes
    #: are loaded when the message is built (see ``jobs.attachment_bytes``), not copied here.
    attachments: Mapped[list | None] = mapped_column(JSON)
    #: extra RFC 5322 headers, e.g. ``List-Unsubscribe`` / ``List-Unsubscribe-Post`` (RFC 8058).
    headers: Mapped[dict | None] = mapped_column(JSON)


class CaughtMail(db.Model):
    """A message received by the development SMTP catcher (``make run`` without MAIL_SERVER)."""

    __tablename__ = "caught_mail"
    __table_args__ = (Index("ix_caught_mail_received", "received_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    mail_from: Mapped[str] = mapped_column(String(254))
    rcpt_to: Mapped[list] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(String(255), default="")
    message_id: Mapped[str | None] = mapped_column(String(255))
    raw: Mapped[str] = mapped_column(Text)


class SmsMessage(db.Model):
    """A text message handed to the built-in ``outbox`` SMS transport (the default when no
    SMS provider is configured): kept in the database and shown to admins in the console, so
    development and tests can read one-time codes and alerts without a phone."""

    __tablename__ = "sms_messages"
    __table_args__ = (Index("ix_sms_messages_to_created", "to", "created_at"),
                      Index("ix_sms_messages_created", "created_at", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    to: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="SET NULL"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EmailTemplate(db.Model):
    """An admin's edit of a named email template; overrides the file set under
    ``crm/templates/email/<name>.*``. The three parts are Jinja templates rendered in a
    sandbox (:mod:`jinja2.sandbox`)."""

    __tablename__ = "email_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    subject: Mapped[str] = mapped_column(String(255))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
