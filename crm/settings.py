"""Admin-configurable site settings stored in the database (a small key → JSON value table).

Keys in use: ``devconsole.message`` (text shown in the browser's developer console),
``security.require_totp_roles`` (list of staff roles that must use two-factor log-in).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.clock import utcnow
from crm.extensions import db
from crm.types import UTCDateTime


class SiteSetting(db.Model):
    """One setting: ``key`` → JSON ``value``."""

    __tablename__ = "site_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[object] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


def get_setting(key: str, default=None):
    """The stored value of ``key``, or ``default`` when unset."""
    row = db.session.get(SiteSetting, key)
    return default if row is None else row.value


def set_setting(key: str, value, by=None) -> None:
    """Store ``value`` (JSON-serialisable) under ``key`` and commit."""
    row = db.session.get(SiteSetting, key)
    if row is None:
        row = SiteSetting(key=key)
        db.session.add(row)
    row.value = value
    row.updated_by_id = getattr(by, "id", None)
    db.session.commit()
