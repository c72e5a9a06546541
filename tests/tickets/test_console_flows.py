"""What a user meets after a refused form or an over-long search (console and API).

* A failed form re-renders at the page's own address (``HX-Replace-Url`` for htmx's boosted
  forms) and every POST-only address answers a GET with its page, so a reload never gets 405.
* An over-long search gets the console's own message or a 414 problem, never a raw page.
"""
from __future__ import annotations

import pytest

from crm.extensions import db
from crm.tickets.models import Comment
from crm.tickets.search import MAX_QUERY_LENGTH, MAX_QUERY_STRING
from tests.api.conftest import Api, assert_problem
from tests.tickets.conftest import HTMX_BOOSTED


def text_of(resp) -> str:
    return resp.get_data(as_text=True)


# ---------------------------------------------------------------- reload after a failed form

def test_empty_portal_reply_rerenders_at_the_tickets_address(
    client, login, engineer, customer, make_ticket
):
    t = make_ticket(customer)
    login(customer)
    resp = client.post(
        f"/portal/tickets/{t.id}/comments", data={"body": "  "}, headers=HTMX_BOOSTED
    )
    assert resp.status_code == 422 and "This field is required." in text_of(resp)
    assert resp.headers["HX-Replace-Url"] == f"/portal/tickets/{t.id}"
    # The address the form posted to, reloaded (GET): the ticket's page, not 405.
    reload = client.get(f"/portal/tickets/{t.id}/comments")
    assert reload.status_code == 303 and reload.headers["Location"] == f"/portal/tickets/{t.id}"
    assert client.get(reload.headers["Location"]).status_code == 200
    assert db.session.query(Comment).count() == 0


@pytest.mark.parametrize("action", ["comments", "status", "priority", "accept", "assign"])
def test_every_staff_action_address_answers_a_get_with_the_ticket_page(
    client, login, make_user, engineer, customer, make_ticket, action
):
    t = make_ticket(customer)
    login(engineer if action == "accept" else make_user("admin"))
    resp = client.get(f"/tickets/{t.id}/{action}")
    assert resp.status_code == 303 and resp.headers["Location"] == f"/tickets/{t.id}"


@pytest.mark.parametrize(
    "path, data",
    [
        ("comments", {"reply-body": ""}),
        ("comments", {"note-body": ""}),
        ("status", {"status": "nonsense"}),
        ("priority", {"priority": "galactic"}),
        ("assign", {"assignee_id": "999999"}),
    ],
)
def test_refused_staff_forms_keep_the_tickets_address(
    client, login, make_user, engineer, customer, make_ticket, path, data
):
    t = make_ticket(customer)
    login(make_user("admin"))
    resp = client.post(f"/tickets/{t.id}/{path}", data=data, headers=HTMX_BOOSTED)
    assert resp.status_code == 422
    assert resp.headers["HX-Replace-Url"] == f"/tickets/{t.id}"
    assert f"#{t.id}" in text_of(resp)


def test_engineer_accept_refusal_keeps_the_tickets_address(
    client, login, engineer, customer, make_ticket
):
    from crm.tickets import services

    t = make_ticket(customer)
    services.accept(t, engineer)
    login(engineer)
    resp = client.post(f"/tickets/{t.id}/accept", headers=HTMX_BOOSTED)
    assert resp.status_code == 422 and resp.headers["HX-Replace-Url"] == f"/tickets/{t.id}"
    assert "Only an open ticket can be accepted" in text_of(resp)


# ---------------------------------------------------------------- over-long searches


def test_search_field_is_bounded_in_the_page(client, login, make_user):
    login(make_user("agent"))
    body = text_of(client.get("/tickets/"))
    assert f'maxlength="{MAX_QUERY_LENGTH}"' in body and 'id="q"' in body


def test_over_long_search_gets_the_consoles_own_message(
    client, login, make_user, engineer, customer, make_ticket
):
    make_ticket(customer)
    login(make_user("agent"))
    resp = client.get("/tickets/?view=all&q=" + "x" * (MAX_QUERY_LENGTH + 1))
    assert resp.status_code == 422
    body = text_of(resp)
    assert (
        "<h1" in body
        and f"At most {MAX_QUERY_LENGTH} characters." in body
        and 'aria-invalid="true"' in body
    )


def test_search_of_ten_thousand_characters_gets_a_form_message_not_a_raw_page(
    client, login, make_user
):
    login(make_user("agent"))
    resp = client.get("/tickets/?view=all&q=" + "y" * 10_000)
    assert resp.status_code == 422
    body = text_of(resp)
    assert (
        "<h1" in body
        and f"At most {MAX_QUERY_LENGTH} characters." in body
        and 'id="q-errors"' in body
    )


def test_api_answers_an_over_long_query_string_with_a_414_problem(client, token_for, make_user):
    api = Api(client, token_for)
    admin = make_user("admin")
    body = assert_problem(api.get("/tickets?q=" + "z" * (MAX_QUERY_STRING + 1), admin), 414)
    assert "q" in body["errors"]
    # Within the bound, the parameter rule (at most 200 characters) still answers 422.
    assert_problem(api.get("/tickets?q=" + "z" * (MAX_QUERY_LENGTH + 1), admin), 422)
    assert api.get("/tickets?q=" + "z" * MAX_QUERY_LENGTH, admin).status_code == 200
