"""The ticket workflow, written out by hand: which status change each person may make.

The table below is the specification, not a copy of :data:`crm.tickets.workflow.TRANSITIONS`:
each row is checked against the services every door calls (``change_status``, ``accept``,
``add_comment``), and a refusal must leave the ticket as it was.
"""
from __future__ import annotations

import pytest

from crm.clock import utcnow
from crm.errors import ServiceError
from crm.extensions import db
from crm.tickets import services
from crm.tickets.models import Ticket, TicketChange
from tests.helpers_matrix import fast_passwords  # noqa: F401  (fixture)

OK = "ok"

#: (from status, action, actor, expected). ``action``: a status for ``change_status``,
#: ``"accept"``, or ``"reply"`` (a public reply by the actor). ``actor``: ``assignee`` (the
#: engineer the ticket is assigned to), ``other_engineer``, ``agent``, ``manager``, ``admin``,
#: ``requester`` (the customer). ``expected``: ``(OK, new status)`` or ``(HTTP status, words
#: of the refusal)``.
CASES = [
    # the assignee walks the whole table: every pair of statuses
    ("open", "open", "assignee", (409, "already open")),
    ("open", "in_progress", "assignee", (OK, "in_progress")),
    ("open", "pending", "assignee", (409, "cannot become pending")),
    ("open", "resolved", "assignee", (OK, "resolved")),
    ("open", "closed", "assignee", (OK, "closed")),
    ("in_progress", "open", "assignee", (OK, "open")),
    ("in_progress", "in_progress", "assignee", (409, "already in progress")),
    ("in_progress", "pending", "assignee", (OK, "pending")),
    ("in_progress", "resolved", "assignee", (OK, "resolved")),
    ("in_progress", "closed", "assignee", (409, "cannot become closed")),
    ("pending", "open", "assignee", (409, "cannot become open")),
    ("pending", "in_progress", "assignee", (OK, "in_progress")),
    ("pending", "pending", "assignee", (409, "already pending")),
    ("pending", "resolved", "assignee", (OK, "resolved")),
    ("pending", "closed", "assignee", (409, "cannot become closed")),
    ("resolved", "open", "assignee", (OK, "open")),
    ("resolved", "in_progress", "assignee", (409, "cannot become in progress")),
    ("resolved", "pending", "assignee", (409, "cannot become pending")),
    ("resolved", "resolved", "assignee", (409, "already resolved")),
    ("resolved", "closed", "assignee", (OK, "closed")),
    ("closed", "open", "assignee", (OK, "open")),
    ("closed", "in_progress", "assignee", (409, "cannot become in progress")),
    ("closed", "pending", "assignee", (409, "cannot become pending")),
    ("closed", "resolved", "assignee", (409, "cannot become resolved")),
    ("closed", "closed", "assignee", (409, "already closed")),
    ("open", "escalated", "assignee", (409, "Unknown status")),
    # who may change the status at all: the assignee, agents, managers, admins
    ("open", "resolved", "other_engineer", (403, "Only the assigned engineer")),
    ("in_progress", "pending", "other_engineer", (403, "Only the assigned engineer")),
    ("open", "resolved", "requester", (403, "Only the assigned engineer")),
    ("resolved", "open", "requester", (403, "Only the assigned engineer")),
    ("open", "resolved", "agent", (OK, "resolved")),
    ("in_progress", "pending", "manager", (OK, "pending")),
    ("resolved", "closed", "admin", (OK, "closed")),
    ("closed", "open", "agent", (OK, "open")),
    # permission comes before the workflow: an outsider learns nothing about the status
    ("pending", "closed", "other_engineer", (403, "Only the assigned engineer")),
    ("closed", "resolved", "requester", (403, "Only the assigned engineer")),
    # the workflow binds everyone who may change the ticket
    ("pending", "open", "manager", (409, "cannot become open")),
    ("closed", "resolved", "admin", (409, "cannot become resolved")),
    # accepting: only the assigned engineer, only while open
    ("open", "accept", "assignee", (OK, "in_progress")),
    ("in_progress", "accept", "assignee", (409, "Only an open ticket")),
    ("resolved", "accept", "assignee", (409, "Only an open ticket")),
    ("open", "accept", "other_engineer", (403, "Only the assigned engineer can accept")),
    ("open", "accept", "agent", (403, "Only the assigned engineer can accept")),
    ("open", "accept", "manager", (403, "Only the assigned engineer can accept")),
    # the requester's reply reopens a resolved ticket, is refused on a closed one and
    # changes nothing else
    ("resolved", "reply", "requester", (OK, "open")),
    ("closed", "reply", "requester", (409, "open a follow-up")),
    ("open", "reply", "requester", (OK, "open")),
    ("pending", "reply", "requester", (OK, "pending")),
    ("resolved", "reply", "agent", (OK, "resolved")),
    ("closed", "reply", "assignee", (OK, "closed")),
]


@pytest.fixture
def people(fast_passwords, make_user):  # noqa: F811
    """The actors of :data:`CASES`."""
    cast = {"assignee": make_user("engineer"), "other_engineer": make_user("engineer"),
            "requester": make_user("customer")}
    cast.update({role: make_user(role) for role in ("agent", "manager", "admin")})
    return cast


def _state(ticket_id: int) -> tuple:
    db.session.expire_all()
    ticket = db.session.get(Ticket, ticket_id)
    changes = db.session.scalar(db.select(db.func.count(TicketChange.id))
                                .where(TicketChange.ticket_id == ticket_id))
    return ticket.status, ticket.resolved_at, changes


def _act(ticket: Ticket, action: str, actor) -> None:
    if action == "accept":
        services.accept(ticket, actor)
    elif action == "reply":
        services.add_comment(ticket, actor, "Any news on this?")
    else:
        services.change_status(ticket, actor, action)


def _outcome(people, case) -> str | None:
    """None when the service answers ``case`` as the table says, else what it did."""
    before, action, actor_name, (outcome, detail) = case
    now = utcnow()  # the row as it stands (its creation is not under test here)
    ticket = Ticket(subject="Printer on fire", description="Smoke everywhere", priority="normal",
                    status=before, requester_id=people["requester"].id,
                    assignee_id=people["assignee"].id, created_at=now, updated_at=now,
                    assigned_at=now)
    db.session.add(ticket)
    db.session.commit()
    snapshot = _state(ticket.id)
    try:
        _act(ticket, action, people[actor_name])
    except ServiceError as refusal:
        if refusal.status != outcome or detail not in refusal.message:
            return f"refused {refusal.status}: {refusal.message}"
        if _state(ticket.id) != snapshot:
            return "a refused change altered the ticket"
        return None
    status, resolved_at, changes = _state(ticket.id)
    if outcome != OK:
        return f"allowed (now {status})"
    if status != detail:
        return f"became {status}"
    if (resolved_at is not None) != (detail == "resolved" and before != "resolved"):
        return f"resolved_at {resolved_at}"
    if changes != snapshot[2] + (status != before):
        return "history does not record the change once"
    return None


def test_every_listed_transition(people):
    """Each row of :data:`CASES` on a ticket of its own (one test for the table: the
    per-test database clean-up is the dominant cost)."""
    failures = []
    for case in CASES:
        problem = _outcome(people, case)
        if problem:
            before, action, actor, expected = case
            failures.append(f"{before} --{action}--> by {actor}: expected {expected}, {problem}")
    assert not failures, "\n  ".join(["transitions not as listed:"] + failures)
