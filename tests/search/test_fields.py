"""Zendesk-style fields in the search box, alone and with free words, on both databases."""
from __future__ import annotations

from datetime import timedelta

import pytest

from crm import clock
from crm.errors import ServiceError
from crm.tickets import services
from crm.tickets.services import TicketFilters
from tests.search.conftest import BASE


@pytest.fixture
def people(make_user):
    """An admin, two engineers and two customers with known names and emails."""
    return {"admin": make_user("admin"),
            "erin": make_user("engineer", name="Erin Fixwell", email="erin@example.com"),
            "sam": make_user("engineer", name="Sam Solder", email="sam@example.com"),
            "carla": make_user("customer", name="Carla Buyer", email="carla@example.com"),
            "dan": make_user("customer", name="Dan Shopper", email="dan@example.com")}


@pytest.fixture
def tickets(people, add_ticket):
    """Four tickets about kettles and mugs with different fields."""
    p = people
    return {
        "a": add_ticket(p["carla"], "Kettle leaks", status="open", priority="high",
                        assignee=p["erin"], created=BASE - timedelta(days=400)),
        "b": add_ticket(p["carla"], "Mug chipped", status="pending", priority="low",
                        assignee=p["sam"], created=BASE - timedelta(days=10)),
        "c": add_ticket(p["dan"], "Kettle whistles", status="closed", priority="high",
                        created=BASE - timedelta(days=2)),
        "d": add_ticket(p["dan"], "Kettle lid", status="open", priority="urgent",
                        assignee=p["erin"], created=BASE),
    }


def names(tickets, found):
    by_id = {t.id: k for k, t in tickets.items()}
    return "".join(sorted(by_id[i] for i in found))


def test_status_and_priority_alone_repeated_and_negated(people, tickets, find):
    admin = people["admin"]
    assert names(tickets, find(admin, "status:open")) == "ad"
    assert names(tickets, find(admin, "status:open status:pending")) == "abd"
    assert names(tickets, find(admin, "priority:high")) == "ac"
    assert names(tickets, find(admin, "-priority:high")) == "bd"
    assert names(tickets, find(admin, "Status:IN-PROGRESS")) == ""


def test_assignee_me_email_name_and_none(people, tickets, find):
    assert names(tickets, find(people["erin"], "assignee:me")) == "ad"
    assert names(tickets, find(people["admin"], "assignee:sam@example.com")) == "b"
    assert names(tickets, find(people["admin"], 'assignee:"Erin Fixwell"')) == "ad"
    assert names(tickets, find(people["admin"], "assignee:none")) == "c"
    assert names(tickets, find(people["admin"], "assignee:nobody@example.com")) == ""


def test_requester_by_email_or_name(people, tickets, find):
    admin = people["admin"]
    assert names(tickets, find(admin, "requester:carla@example.com")) == "ab"
    assert names(tickets, find(admin, 'requester:"dan shopper"')) == "cd"
    assert names(tickets, find(admin, "requester:CARLA@EXAMPLE.COM kettle")) == "a"


def test_created_and_updated_by_day_and_by_age(people, tickets, find):
    admin = people["admin"]
    day = BASE.date()
    assert names(tickets, find(admin, f"created:{day}")) == "d"
    assert names(tickets, find(admin, f"created>{day - timedelta(days=3)}")) == "cd"
    assert names(tickets, find(admin, f"created>={day - timedelta(days=2)}")) == "cd"
    assert names(tickets, find(admin, f"created<{day - timedelta(days=2)}")) == "ab"
    assert names(tickets, find(admin, f"created<={day - timedelta(days=2)}")) == "abc"
    assert names(tickets, find(admin, "created>200d")) == "a"
    assert names(tickets, find(admin, "updated<7d")) == ""  # updated 30 days ago
    assert names(tickets, find(admin, "updated>7d")) == "abcd"
    clock.set_offset(timedelta(days=-29))
    assert names(tickets, find(admin, "updated<2d")) == "abcd"
    assert names(tickets, find(admin, "created<2d kettle")) == "d"


def test_ids_by_field_and_hash(people, tickets, find):
    admin = people["admin"]
    assert names(tickets, find(admin, f"id:{tickets['b'].id}")) == "b"
    assert names(tickets, find(admin, f"id>{tickets['b'].id}")) == "cd"
    assert names(tickets, find(admin, f"#{tickets['c'].id} kettle")) == "c"


def test_free_words_and_fields_combine(people, tickets, find):
    admin = people["admin"]
    assert names(tickets, find(admin, "kettle status:open priority:urgent")) == "d"
    assert names(tickets, find(admin, "kettle -status:closed assignee:erin@example.com")) == "ad"
    assert names(tickets, find(admin, "kettle", status="closed")) == "c"
    count = lambda q: services.count_tickets(admin, TicketFilters(q=q))  # noqa: E731
    assert [count(q) for q in ("kettle", "kettle status:open", "kettle -priority:high")] \
        == [3, 2, 1]
    assert count(str(tickets["b"].id)) == 1 and count("kettle colour") == 0


BAD = [
    ("colour:red", "Unknown search field: colour (known: status, priority, assignee, "
                   "requester, created, updated, id)."),
    ("kettle tag:vip colour:red", "Unknown search fields: tag, colour"),
    ("status:done", "status:done: use status:<open|in_progress|pending|resolved|closed>."),
    ("priority>low", "priority>low: use priority:<low|normal|high|urgent>."),
    ("created>yesterday", "created>yesterday: use a day (2026-01-31)"),
    ("created>1y", "created>1y: use a day"),
    ("id:abc", "id:abc: use id:<number>."),
    ("assignee>me", "assignee>me: use assignee:<value>."),
]


def test_bad_fields_are_errors_that_name_them(people, find):
    for q, message in BAD:
        with pytest.raises(ServiceError) as exc:
            find(people["admin"], q)
        assert exc.value.status == 422 and exc.value.field == "q"
        assert exc.value.message.startswith(message), (q, exc.value.message)


def test_customers_have_no_assignee_or_requester_field(people, tickets, find):
    with pytest.raises(ServiceError) as exc:
        find(people["carla"], "assignee:me requester:dan@example.com")
    assert "Unknown search fields: assignee, requester" in exc.value.message
    assert names(tickets, find(people["carla"], "status:open")) == "a"
