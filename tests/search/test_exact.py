"""Exactness: every matching ticket is reached by paging, in every order, on both databases;
relevance ranks subject over description over replies over internal notes."""
from __future__ import annotations

from datetime import timedelta

import pytest

from crm.errors import ServiceError
from crm.extensions import db
from crm.tickets import services
from crm.tickets.models import Comment, Ticket
from crm.tickets.services import TicketFilters
from tests.search.conftest import BASE


@pytest.fixture
def many(make_user):
    """330 tickets: 300 say "order" (100 in the subject, 100 in the description, 100 in a
    reply), 30 do not; updates 1 minute apart, creations in another order."""
    customer = make_user("customer")
    rows = []
    for i in range(330):
        where = i % 11
        subject = f"Order question {i}" if where < 4 else f"Question {i}"
        description = "About my order." if 4 <= where < 7 else "About my parcel."
        rows.append(Ticket(subject=subject, description=description, status="open",
                           priority="normal", requester_id=customer.id,
                           created_at=BASE + timedelta(minutes=(i * 37) % 330),
                           updated_at=BASE + timedelta(minutes=i)))
    db.session.add_all(rows)
    db.session.flush()
    for i, t in enumerate(rows):
        if 7 <= i % 11 < 10:
            db.session.add(Comment(ticket_id=t.id, body="Your order ships today.", public=True,
                                   author_id=customer.id, created_at=t.updated_at))
    db.session.commit()
    return rows


def test_three_hundred_tickets_sharing_a_word_are_all_reached_in_every_order(
        make_user, many, find):
    admin = make_user("admin")
    expected = {t.id for i, t in enumerate(many) if i % 11 < 10}
    assert len(expected) == 300
    newest = find(admin, "order")
    assert newest == sorted(expected, key=lambda i: -i)  # updated in id order here
    oldest_created = find(admin, "orders", sort="created")
    by_created = {t.id: (t.created_at, t.id) for t in many}
    assert oldest_created == sorted(expected, key=lambda i: by_created[i])
    assert services.count_tickets(admin, TicketFilters(q="order")) == 300
    # Best match: subject matches first, then description, then replies; newest id on a tie.
    ranked = find(admin, "order", sort="relevance")
    assert len(ranked) == len(set(ranked)) == 300 and set(ranked) == expected
    part = {t.id: ("subject" if i % 11 < 4 else "description" if i % 11 < 7 else "reply")
            for i, t in enumerate(many)}
    assert [part[i] for i in ranked] == ["subject"] * 120 + ["description"] * 90 + ["reply"] * 90
    assert ranked[120:210] == sorted(ranked[120:210], reverse=True)  # equal ranks: newest id
    page, _ = services.list_tickets(admin, TicketFilters(q="order"), limit=3, sort="relevance")
    assert [t.id for t in page] == ranked[:3]


def test_relevance_without_words_lists_newest_update_first(make_user, add_ticket, find):
    admin, customer = make_user("admin"), make_user("customer")
    made = [add_ticket(customer, f"Ticket {i}").id for i in range(9)]
    assert find(admin, "status:open", sort="relevance") == made[::-1]


def test_forged_relevance_cursors_are_refused(make_user):
    admin = make_user("admin")
    for cursor in ("%%%", "WzEsMl0", "WyJyYW5rIiwgIngiLCAxXQ", "WyJyYW5rIiwgMSwgMF0",
                   services.encode_cursor(Ticket(id=1, updated_at=BASE), "-updated")):
        with pytest.raises(ServiceError) as exc:
            services.list_tickets(admin, TicketFilters(q="order"), cursor=cursor,
                                  sort="relevance")
        assert exc.value.field == "cursor" and exc.value.status == 422


@pytest.mark.only_backend("sqlite")
def test_sqlite_walk_and_match_set_plans_return_the_same_rows(make_user, many):
    from dataclasses import replace

    from sqlalchemy import select

    from crm.search.tickets import compile_query, sqlite_walks
    admin = make_user("admin")
    conn = db.session.connection()
    found = compile_query("order -parcel", admin, "sqlite", conn)
    assert found.walk is False and not sqlite_walks(conn, found.fts_match())
    walked = replace(found, walk=True)
    order = (Ticket.updated_at.desc(), Ticket.id.desc())
    rows = [list(db.session.scalars(select(Ticket.id).where(f.condition(admin)).order_by(*order)))
            for f in (found, walked)]
    assert rows[0] == rows[1] and len(rows[0]) == 90  # "order" in the description only
    assert "EXISTS" in str(walked.text_condition()) and "IN" in str(found.text_condition())
