"""The one source of "now" for the product, so that time-dependent rules can be tested.

Every timestamp in the database is UTC. Tests move time with :func:`set_offset`.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

_offset = timedelta(0)


def utcnow() -> datetime:
    """Return the current time as a timezone-aware UTC datetime (plus any test offset)."""
    return datetime.now(UTC) + _offset


def set_offset(delta: timedelta) -> None:
    """Shift :func:`utcnow` by ``delta`` (tests only; ``timedelta(0)`` resets)."""
    global _offset
    _offset = delta
