"""The variables each email template receives: a declaration with a realistic sample.

Every email template set ``crm/templates/email/<name>.*`` has an entry in
:data:`TEMPLATE_VARIABLES`: the names it may use, what each means, and a sample value. The
sample is the *shape* of the value too: a dict sample lists the keys the template may read
(nested dicts and lists likewise), and :func:`build_context` projects whatever a caller
passes onto that shape, so a template only ever sees plain dicts, lists and scalars built from
its declaration — never an ORM object (an admin's ``{{ ticket.assignee.password_hash }}``
finds nothing to read). The admin editor validates edits against :func:`sample_context` and
shows the declaration beside the form.

``base_url`` (the public URL, no trailing slash) is given to every template.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

#: the variable every template receives, besides its own declaration.
BASE_URL = "base_url"
BASE_URL_SAMPLE = "https://crm.example.com"


@dataclass(frozen=True)
class Variable:
    """One declared template variable: what it means and a realistic sample (whose structure is
    the variable's shape — see :func:`project`)."""

    description: str
    sample: Any


# ------------------------------------------------------------------ shared shapes

PERSON = {"name": "Ada Lovelace", "email": "ada@example.com"}
ENGINEER_SAMPLE = {"name": "Grace Hopper", "email": "grace@example.com"}
TICKET = {
    "id": 1042, "subject": "Printer on floor 3 prints blank pages",
    "description": "Since this morning every job sent to PRN-3 comes out blank.\nToner is new.",
    "priority": "high", "status": "In progress",
    "requester": PERSON, "assignee": ENGINEER_SAMPLE,
}
_RECIPIENT = Variable("The recipient: name, email.", PERSON)
_TICKET = Variable("The ticket: id, subject, description, priority, status (label), requester "
                   "{name, email}, assignee {name, email} or empty when unassigned.", TICKET)
_MONITOR = Variable("The monitor: id, name, type (http, tcp, ping, heartbeat …).",
                    {"id": 7, "name": "Public website", "type": "http"})
_INCIDENT = Variable("The incident: opened_at, closed_at (\"YYYY-MM-DD HH:MM:SS\", UTC; closed_at "
                     "empty while open), cause.",
                     {"opened_at": "2026-12-01 09:12:44", "closed_at": "2026-12-01 09:40:02",
                      "cause": "HTTP 503 Service Unavailable"})
_DOWNTIME = Variable(
    "How long the monitor was (or has been) down, human readable.", "27 minutes 18 seconds"
)
_CAUSE = Variable("Why the checks failed.", "HTTP 503 Service Unavailable")
_REPORT_INCIDENT = {
    "opened_at": "2026-11-30 02:10 UTC",
    "closed_at": "2026-11-30 02:24 UTC",
    "duration_seconds": 864,
    "duration_label": "14 min 24 s",
    "cause": "connection refused",
    "in_maintenance": False,
}
_REPORT_MONITOR = {
    "id": 7,
    "name": "Shop front",
    "type": "http",
    "checks": 1440,
    "failed_checks": 14,
    "no_response": 2,
    "uptime_percent": 99.0,
    "avg_ms": 212.0,
    "p95_ms": 480.0,
    "downtime_seconds": 864,
    "incidents": [_REPORT_INCIDENT],
    "uptime_label": "99.000 %",
    "avg_label": "212 ms",
    "p95_label": "≤ 480 ms",
    "downtime_label": "14 min 24 s",
}
_REPORT = {
    "id": 12,
    "group_name": "Ops",
    "period": "daily",
    "period_title": "Daily",
    "period_label": "2026-11-30",
    "start": "2026-11-30 00:00 UTC",
    "end": "2026-12-01 00:00 UTC",
    "generated_at": "2026-12-01 00:05 UTC",
    "monitors": [_REPORT_MONITOR],
    "monitor_count": 1,
    "checks": 1440,
    "incident_count": 1,
    "no_response": 2,
    "downtime_label": "14 min 24 s",
    "uptime_label": "99.000 %",
}


#: template name → {variable name → declaration}. Keep in step with the template files.
TEMPLATE_VARIABLES: dict[str, dict[str, Variable]] = {
    "direct": {
        "subject": Variable("The subject the admin typed.", "Planned network work on Saturday"),
        "body": Variable(
            "The message the admin typed.", "Hello,\nthe office network is down on Saturday 8–10."
        ),
    },
    "email_verified": {"user": _RECIPIENT},
    "verify_email": {
        "user": _RECIPIENT,
        "link": Variable(
            "The one-time verification link.", "https://crm.example.com/auth/verify/SAMPLE-TOKEN"
        ),
        "valid_for": Variable("How long the link works, human readable.", "24 hours"),
    },
    "password_reset": {
        "user": _RECIPIENT,
        "link": Variable(
            "The one-time reset link.", "https://crm.example.com/auth/reset/SAMPLE-TOKEN"
        ),
        "ttl_minutes": Variable("Minutes the link works.", 30),
    },
    "password_changed": {
        "user": _RECIPIENT,
        "when": Variable("When the password changed.", "03 Dec 2026 12:00 UTC"),
        "link": Variable("Where to reset the password.", "https://crm.example.com/auth/reset"),
    },
    "registration_decided": {
        "user": Variable("The applicant: name, email, role.", {**PERSON, "role": "engineer"}),
        "approved": Variable("True when approved, false when rejected.", True),
    },
    "staff_registered": {
        "applicant": Variable(
            "The staff applicant: name, email, role.",
            {"name": "Alan Turing", "email": "alan@example.com", "role": "engineer"},
        ),
    },
    "ticket_created": {"ticket": _TICKET, "user": Variable("The requester: name, email.", PERSON)},
    "ticket_accepted": {"ticket": _TICKET, "user": Variable("The requester: name, email.", PERSON)},
    "ticket_assigned": {
        "ticket": _TICKET,
        "user": Variable("The engineer now assigned: name, email.", ENGINEER_SAMPLE),
    },
    "ticket_moved": {
        "ticket": _TICKET,
        "user": Variable(
            "The engineer who had the ticket: name, email.",
            {"name": "Alan Turing", "email": "alan@example.com"},
        ),
        "new_assignee": Variable("The engineer who has it now: name, email.", ENGINEER_SAMPLE),
    },
    "ticket_status": {
        "ticket": _TICKET,
        "before": Variable("The previous status (label).", "Open"),
        "after": Variable("The new status (label).", "In progress"),
    },
    "ticket_reply": {
        "ticket": _TICKET,
        "comment": Variable(
            "The reply: body, author {name}.",
            {"body": "Could you send a photo of a blank page?", "author": {"name": "Grace Hopper"}},
        ),
        "ticket_path": Variable(
            "Path of the ticket page for the recipient (append to base_url).",
            "/portal/tickets/1042",
        ),
    },
    "monitor_down": {
        "monitor": _MONITOR,
        "incident": _INCIDENT,
        "downtime": _DOWNTIME,
        "cause": _CAUSE,
        "kind": Variable("down (first alert), reminder or escalation.", "down"),
    },
    "monitor_up": {
        "monitor": _MONITOR,
        "incident": _INCIDENT,
        "downtime": _DOWNTIME,
        "cause": _CAUSE,
        "kind": Variable("Always up.", "up"),
    },
    "health_report": {
        "report": Variable(
            "The report: period_title, period_label, group_name, start, end, generated_at, "
            "uptime_label, monitor_count, checks, no_response, incident_count, downtime_label, "
            "monitors (each: name, type, uptime_label, checks, no_response, avg_label, "
            "p95_label, downtime_label, incidents (each: opened_at, closed_at, duration_label, "
            "cause, in_maintenance)).",
            _REPORT,
        ),
    },
    "maintenance_broadcast": {
        "user": _RECIPIENT,
        "broadcast": Variable(
            "The announcement: subject, body.",
            {
                "subject": "Planned maintenance on Saturday",
                "body": "The portal is offline on Saturday from 08:00 to 10:00 UTC.",
            },
        ),
        "window": Variable(
            "The maintenance window (or empty): title, starts, ends, recurrence.",
            {
                "title": "Portal upgrade",
                "starts": "2026-12-05 08:00 UTC",
                "ends": "2026-12-05 10:00 UTC",
                "recurrence": "",
            },
        ),
        "unsubscribe_url": Variable(
            "The recipient's one-click unsubscribe link.",
            "https://crm.example.com/broadcasts/unsubscribe/SAMPLE-TOKEN",
        ),
    },
    "error_issue": {
        "kind": Variable(
            "new (the first event of a new issue) or regression (an event after the "
            "issue was resolved).",
            "new",
        ),
        "issue": Variable(
            "The issue: id, title, culprit (top in-app frame), exception_type, "
            "event_count, first_seen, last_seen (UTC), project (name).",
            {
                "id": 17,
                "title": "KeyError: 'customer'",
                "culprit": "crm.tickets.services.create",
                "exception_type": "KeyError",
                "event_count": 1,
                "first_seen": "2026-12-03 14:02:11",
                "last_seen": "2026-12-03 14:02:11",
                "project": "cr-tracker",
            },
        ),
        "occurrence": Variable(
            "The event that caused this mail: message, path, release, received_at.",
            {
                "message": "'customer'",
                "path": "/tickets/new",
                "release": "0.1.0",
                "received_at": "2026-12-03 14:02:11",
            },
        ),
    },
}


def declared(template: str) -> dict[str, Variable]:
    """The declaration of ``template`` (without ``base_url``).

    :raises KeyError: a template without a declaration.
    """
    return TEMPLATE_VARIABLES[template]


def sample_context(template: str, base_url: str = BASE_URL_SAMPLE) -> dict:
    """The sample context of ``template`` (every declared variable plus ``base_url``), already
    in template shape. :raises KeyError: an undeclared template."""
    ctx = {name: project(var.sample, var.sample) for name, var in declared(template).items()}
    ctx[BASE_URL] = base_url
    return ctx


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _field(value: Any, key: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(key)
    return getattr(value, key, None)


def project(value: Any, shape: Any) -> Any:
    """``value`` reduced to ``shape``: a dict shape gives a plain dict with exactly its keys
    (read from a mapping's items or an object's attributes), a list shape a list of items
    projected on its first element, a scalar shape a str/int/float/bool/None (datetimes as
    ``YYYY-MM-DD HH:MM:SS``, anything else as its ``str``). None stays None (an empty list for
    list shapes).
    """
    if isinstance(shape, Mapping):
        if value is None:
            return None
        return {key: project(_field(value, key), sub) for key, sub in shape.items()}
    if isinstance(shape, list):
        if value is None:
            return []
        item_shape = shape[0] if shape else ""
        return [project(item, item_shape) for item in value]
    return _scalar(value)


def build_context(template: str, context: Mapping[str, Any]) -> dict:
    """The render context of ``template``: each declared variable projected onto its sample's
    shape (missing ones are None), plus ``base_url``.

    :raises KeyError: ``template`` has no declaration.
    :raises TypeError: ``context`` holds a name the template does not declare (a caller bug:
        declare it in :data:`TEMPLATE_VARIABLES` first).
    """
    spec = declared(template)
    extra = set(context) - set(spec) - {BASE_URL}
    if extra:
        raise TypeError(f"email template {template!r} does not declare {', '.join(sorted(extra))}")
    ctx = {name: project(context.get(name), var.sample) for name, var in spec.items()}
    ctx[BASE_URL] = _scalar(context.get(BASE_URL))
    return ctx


# ------------------------------------------------------------------ ORM → template values


def person(user: Any) -> dict | None:
    """``{name, email}`` of a user (None for None)."""
    return None if user is None else {"name": user.name, "email": user.email}


def ticket_vars(ticket: Any) -> dict:
    """The ``ticket`` variable of a :class:`~crm.tickets.models.Ticket` (requester and
    assignee as :func:`person`; status as its label)."""
    from crm.tickets.models import STATUS_LABELS

    return {
        "id": ticket.id,
        "subject": ticket.subject,
        "description": ticket.description,
        "priority": ticket.priority,
        "status": STATUS_LABELS.get(ticket.status, ticket.status),
        "requester": person(ticket.requester),
        "assignee": person(ticket.assignee),
    }


def names(values: Iterable[str]) -> str:
    """``a, b and c`` — for messages listing variable names."""
    items = sorted(values)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
