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
    ranked = find(admin, "order", sort="relevance")
    assert len(ranked) == len(set(ranked)) == 300 and set(ranked) == expected
    assert services.count_tickets(admin, TicketFilters(q="order")) == 300


def test_relevance_puts_subject_matches_first_then_description_then_replies(make_user, many,
                                                                            find):
    admin = make_user("admin")
    ranked = find(admin, "order", sort="relevance")
    part = {t.id: ("subject" if i % 11 < 4 else "description" if i % 11 < 7 else "reply")
            for i, t in enumerate(many)}
    assert [part[i] for i in ranked] == ["subject"] * 120 + ["description"] * 90 + ["reply"] * 90
    page, _ = services.list_tickets(admin, TicketFilters(q="order"), limit=3, sort="relevance")
    assert [t.id for t in page] == ranked[:3]


def test_relevance_without_words_lists_newest_update_first(make_user, many, find):
    admin = make_user("admin")
    assert find(admin, "status:open", sort="relevance") == find(admin, "status:open")


@pytest.mark.parametrize("cursor", ["%%%", "WzEsMl0", "WyJyYW5rIiwgIngiLCAxXQ", "WyJyYW5rIiwgMSwgMF0"])
def test_forged_relevance_cursors_are_refused(make_user, many, cursor):
    with pytest.raises(ServiceError) as exc:
        services.list_tickets(make_user("admin"), TicketFilters(q="order"), cursor=cursor,
                              sort="relevance")
    assert exc.value.field == "cursor" and exc.value.status == 422
