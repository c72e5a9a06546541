"""Staff ticket lists: sort orders with keyset pages, a bounded count, the requester filter by
name or email, date ranges, and "#38" opening ticket 38."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from crm import clock
from crm.auth.models import User
from crm.errors import ServiceError
from crm.extensions import db
from crm.tickets import services
from crm.tickets.models import PRIORITIES, STATUSES, Ticket
from crm.tickets.services import SORTS, TicketFilters
from tests.api.conftest import Api, assert_problem
from tests.tickets.conftest import HTMX_BOOSTED, HTMX_PARTIAL


def text_of(resp) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture
def many(make_user, engineer):
    """17 tickets of two customers over several days, with mixed priorities and statuses."""
    a = make_user("customer", name="Ann Archer", email="ann@example.com")
    b = make_user("customer", name="Bob Baker", email="bob@example.org")
    made = []
    for i in range(17):
        clock.set_offset(timedelta(hours=i * 7))
        t = services.create_ticket(a if i % 3 else b, f"Ticket {i}", "text", PRIORITIES[i % 4])
        step = i % 5
        if step >= 1:
            services.accept(t, engineer)
        if step >= 2:
            services.change_status(t, engineer, "pending")
        if step >= 3:
            services.change_status(t, engineer, "resolved")
        if step >= 4:
            services.change_status(t, engineer, "closed")
        made.append(t.id)
    clock.set_offset(timedelta(0))
    return made


def _expected(sort: str) -> list[int]:
    rows = db.session.query(Ticket).all()
    if sort == "relevance":  # no words to rank: the default order (ranked: tests/search/)
        sort = "-updated"
    column, descending = SORTS[sort]
    if column in ("priority", "status"):
        order = (PRIORITIES if column == "priority" else STATUSES)
        rank = (
            (lambda t: -order.index(getattr(t, column)))
            if descending
            else (lambda t: order.index(getattr(t, column)))
        )
        return [
            t.id for t in sorted(rows, key=lambda t: (rank(t), -t.updated_at.timestamp(), -t.id))
        ]
    return [
        t.id for t in sorted(rows, key=lambda t: (getattr(t, column), t.id), reverse=descending)
    ]


@pytest.mark.parametrize("sort", list(SORTS))
def test_every_sort_pages_through_all_tickets_by_keyset(many, make_user, sort):
    admin = make_user("admin")
    seen, cursor = [], None
    for _ in range(10):
        page, cursor = services.list_tickets(
            admin, TicketFilters(), cursor=cursor, limit=4, sort=sort
        )
        seen += [t.id for t in page]
        if cursor is None:
            break
    assert seen == _expected(sort)


def test_sorted_list_with_a_status_filter_and_a_cursor_of_another_sort(many, make_user):
    admin = make_user("admin")
    page, _ = services.list_tickets(admin, TicketFilters(status="open"), sort="-priority", limit=50)
    assert page and {t.status for t in page} == {"open"}
    _, cursor = services.list_tickets(admin, TicketFilters(), sort="-priority", limit=2)
    with pytest.raises(ServiceError) as exc:
        services.list_tickets(admin, TicketFilters(), sort="-updated", cursor=cursor)
    assert exc.value.status == 422 and exc.value.field == "cursor"


def test_console_column_headers_sort_and_mark_the_current_order(client, login, make_user, many):
    login(make_user("admin"))
    body = text_of(client.get("/tickets/?view=all&sort=-priority"))
    assert 'aria-sort="descending"' in body and "sort=priority" in body  # the next click reverses
    ids = [int(x) for x in re.findall(r'data-label="#">(\d+)<', body)]
    assert ids == _expected("-priority")[:25]
    assert client.get("/tickets/?view=all&sort=sideways").status_code == 422


def test_api_sorts_and_refuses_unknown_sorts(client, token_for, make_user, many):
    api, admin = Api(client, token_for), make_user("admin")
    resp = api.get("/tickets?sort=created&limit=5", admin)
    assert [t["id"] for t in resp.json["items"]] == _expected("created")[:5]
    nxt = api.get(f"/tickets?sort=created&limit=5&cursor={resp.json['next_cursor']}", admin)
    assert [t["id"] for t in nxt.json["items"]] == _expected("created")[5:10]
    assert "sort" in assert_problem(api.get("/tickets?sort=bogus", admin), 422)["errors"]


def test_count_is_exact_up_to_the_bound_then_says_more(make_user, many):
    admin = make_user("admin")
    assert services.count_tickets(admin, TicketFilters()) == 17
    assert services.count_tickets(admin, TicketFilters(status="closed")) == 3
    assert services.count_tickets(admin, TicketFilters(), bound=10) == 11  # "10+"


def test_console_shows_the_count(client, login, make_user, many, monkeypatch):
    login(make_user("admin"))
    assert "17 tickets" in text_of(client.get("/tickets/?view=all"))
    monkeypatch.setattr(services, "COUNT_BOUND", 10)
    assert "10+ tickets" in text_of(client.get("/tickets/?view=all"))


# ---------------------------------------------------------------- requester by name or email


def test_requester_filter_takes_a_name_or_an_email(client, login, make_user, many):
    login(make_user("agent"))
    ann = db.session.query(User).filter_by(email="ann@example.com").one()
    ann_tickets = {t.id for t in db.session.query(Ticket).filter_by(requester_id=ann.id)}
    for typed in ("ann@example.com", "ANN@example.com", "Ann Archer", str(ann.id)):
        body = text_of(client.get(f"/tickets/?view=all&requester={typed}"))
        assert set(int(x) for x in re.findall(r'data-label="#">(\d+)<', body)) <= ann_tickets, typed
        assert f"{len(ann_tickets)} tickets" in body, typed
    resp = client.get("/tickets/?view=all&requester=Nobody Known")
    assert resp.status_code == 422 and "No customer is called" in text_of(resp)


def test_requester_filter_with_a_shared_name_asks_for_the_email(client, login, make_user):
    make_user("customer", name="Sam Same", email="sam1@example.com")
    make_user("customer", name="Sam Same", email="sam2@example.com")
    login(make_user("agent"))
    resp = client.get("/tickets/?view=all&requester=Sam Same")
    assert resp.status_code == 422 and "pick one by email" in text_of(resp)


def test_requester_suggestions_fragment(client, login, make_user, many):
    make_user("engineer", name="Anne Staff", email="anne.staff@example.com")
    login(make_user("agent"))
    body = text_of(client.get("/tickets/requesters?requester=an", headers=HTMX_PARTIAL))
    assert '<option value="ann@example.com">Ann Archer</option>' in body
    assert "anne.staff" not in body and "bob@" not in body  # customers only, matching only
    assert text_of(client.get("/tickets/requesters?requester=a")).strip() == ""
    page = text_of(client.get("/tickets/"))
    assert 'list="requester-options"' in page and '<datalist id="requester-options">' in page


def test_start_after_end_is_a_form_error(client, login, make_user, token_for):
    agent = make_user("agent")
    login(agent)
    resp = client.get("/tickets/?view=all&created_after=2026-03-02&created_before=2026-03-01")
    assert resp.status_code == 422 and "The end date is before the start date." in text_of(resp)
    assert 'id="created_before-errors"' in text_of(resp)
    assert (
        client.get(
            "/tickets/?view=all&created_after=2026-03-01&created_before=2026-03-01"
        ).status_code
        == 200
    )
    problem = assert_problem(
        Api(client, token_for).get(
            "/tickets?created_after=2026-03-02&created_before=2026-03-01", agent
        ),
        422,
    )
    assert "created_before" in problem["errors"]


# ---------------------------------------------------------------- "#38" opens ticket 38


@pytest.mark.parametrize("q", ["#{id}", "{id}", " #{id} "])
def test_searching_a_ticket_number_opens_it_whatever_the_filters(client, login, make_user, many, q):
    login(make_user("agent"))
    target = many[5]
    query = q.format(id=target)
    resp = client.get(
        "/tickets/",
        query_string={"view": "active", "status": "closed", "priority": "low", "q": query},
    )
    assert resp.status_code == 302 and resp.headers["Location"] == f"/tickets/{target}"
    boosted = client.get(
        "/tickets/", query_string={"view": "mine", "q": query}, headers=HTMX_BOOSTED
    )
    assert boosted.status_code == 302
    # While typing (the live fragment), the list offers the ticket instead of jumping to it.
    live = client.get("/tickets/", query_string={"view": "all", "q": query}, headers=HTMX_PARTIAL)
    assert (
        live.status_code == 200
        and f'href="/tickets/{target}">Open ticket #{target}</a>' in text_of(live)
    )


def test_searching_an_unknown_number_is_an_ordinary_search(client, login, make_user, many):
    login(make_user("agent"))
    resp = client.get("/tickets/?view=all&q=%2399999")
    assert resp.status_code == 200 and "No tickets match" in text_of(resp)
