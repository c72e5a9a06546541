"""Fixtures of the search tests: a fixed corpus of tickets written straight into the tables
(the search document is kept by the database's triggers, whoever writes the rows)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from crm import clock
from crm.extensions import db
from crm.tickets import services
from crm.tickets.models import Comment, Ticket
from crm.tickets.services import TicketFilters

#: The base time of the corpus: ticket ``n`` was updated ``n`` minutes after it.
BASE = clock.utcnow().replace(microsecond=0) - timedelta(days=30)


@pytest.fixture
def add_ticket(make_user):
    """``add_ticket(requester, subject, description, comments=(), status=..., priority=...,
    assignee=None, age_days=0)``: a committed ticket written directly (no auto-assignment,
    no mail); ``comments`` are ``(body, public)`` pairs. Tickets added later are "updated"
    later, so the newest-update order is the reverse of the order of creation."""
    state = {"n": 0}

    def add(requester, subject: str, description: str = "Nothing more to say.",
            comments: tuple = (), status: str = "open", priority: str = "normal",
            assignee=None, created=None):
        state["n"] += 1
        when = BASE + timedelta(minutes=state["n"])
        ticket = Ticket(subject=subject, description=description, status=status,
                        priority=priority, requester_id=requester.id,
                        assignee_id=assignee.id if assignee else None,
                        created_at=created or when, updated_at=when)
        db.session.add(ticket)
        db.session.flush()
        for body, public in comments:
            db.session.add(Comment(ticket_id=ticket.id, body=body, public=public,
                                   author_id=requester.id, created_at=when))
        db.session.commit()
        return ticket
    return add


@pytest.fixture
def find():
    """``find(user, q, sort="-updated", **filters)`` → the ids of every matching ticket in
    list order, following every cursor (pages of 7, so paging is exercised)."""
    def run(user, q, sort: str = "-updated", **filters):
        ids, cursor = [], None
        while True:
            page, cursor = services.list_tickets(user, TicketFilters(q=q, **filters),
                                                 cursor=cursor, limit=7, sort=sort)
            ids += [t.id for t in page]
            if not cursor:
                return ids
    return run
