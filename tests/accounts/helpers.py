"""Shared helpers of the accounts tests: reading emailed links from the outbox."""
from __future__ import annotations

import re

from sqlalchemy import select

from crm.extensions import db
from crm.notifications.models import Notification

VERIFY_LINK = re.compile(r"https?://[^/\s]+(/auth/verify/[A-Za-z0-9_\-]+)")


def outbox(template: str, to: str | None = None) -> list[Notification]:
    """Outbox rows of ``template`` (optionally to ``to``), oldest first."""
    db.session.expire_all()
    rows = db.session.scalars(select(Notification).where(Notification.template == template)
                              .order_by(Notification.id)).all()
    return [n for n in rows if to is None or to in n.to]


def verify_path(to: str) -> str:
    """The path of the newest verification link emailed to ``to`` (from the outbox row)."""
    rows = outbox("verify_email", to)
    assert rows, f"no verification email to {to}"
    match = VERIFY_LINK.search(rows[-1].body_text)
    assert match, rows[-1].body_text
    return match.group(1)
