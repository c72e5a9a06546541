"""Parse ticket-list filters from query arguments (console and API share this)."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from werkzeug.datastructures import MultiDict

from crm.errors import ServiceError
from crm.tickets.models import PRIORITIES, STATUSES
from crm.tickets.services import TicketFilters

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def parse_when(value: str, field: str, end_of_day: bool = False) -> datetime:
    """Parse ``YYYY-MM-DD`` (start of that UTC day, or the next day's start when
    ``end_of_day``) or an ISO 8601 datetime (naive = UTC).

    :raises ServiceError: 422 naming ``field``.
    """
    value = value.strip()
    try:
        if len(value) == 10:
            when = datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)
            if end_of_day:
                when += timedelta(days=1)
        else:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
            when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise ServiceError(
            "Use a date (YYYY-MM-DD) or an ISO 8601 date-time between years 1 and 9999.",
            field=field,
            status=422,
        ) from None
    return when


def filters_from_args(args: MultiDict) -> TicketFilters:
    """Build :class:`TicketFilters` from request args; empty values mean "no filter".

    Accepted: ``status``, ``priority``, ``assignee`` (id, ``me``, ``none``), ``requester`` (id),
    ``created_after``, ``created_before``, ``q``, ``active`` (boolean).

    :raises ServiceError: 422 naming the first bad field.
    """
    f = TicketFilters()
    status = (args.get("status") or "").strip()
    if status:
        if status not in STATUSES:
            raise ServiceError(
                f"Status must be one of: {', '.join(STATUSES)}.", field="status", status=422
            )
        f.status = status
    priority = (args.get("priority") or "").strip()
    if priority:
        if priority not in PRIORITIES:
            raise ServiceError(
                f"Priority must be one of: {', '.join(PRIORITIES)}.", field="priority", status=422
            )
        f.priority = priority
    assignee = (args.get("assignee") or "").strip()
    if assignee:
        if assignee not in ("me", "none") and not (assignee.isdigit() and len(assignee) <= 12):
            raise ServiceError(
                "Assignee must be a user id, 'me' or 'none'.", field="assignee", status=422
            )
        f.assignee = assignee
    requester = (args.get("requester") or "").strip()
    if requester:
        if not (requester.isdigit() and len(requester) <= 12):
            raise ServiceError("Requester must be a user id.", field="requester", status=422)
        f.requester = int(requester)
    if (args.get("created_after") or "").strip():
        f.created_after = parse_when(args["created_after"], "created_after")
    if (args.get("created_before") or "").strip():
        f.created_before = parse_when(args["created_before"], "created_before", end_of_day=True)
    if f.created_after and f.created_before and f.created_after >= f.created_before:
        raise ServiceError(
            "The end date is before the start date.", field="created_before", status=422
        )
    q = (args.get("q") or "").strip()
    if len(q) > 200:
        raise ServiceError("At most 200 characters.", field="q", status=422)
    f.q = q or None
    active = (args.get("active") or "").strip().lower()
    if active not in TRUE | FALSE:
        raise ServiceError("Active must be true or false.", field="active", status=422)
    f.active = active in TRUE
    return f
