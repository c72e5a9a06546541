"""Each ticket rule lives in one place (crm/tickets/services.py) and every door obeys it.

* A PATCH is refused by the service alone, with the precedence the API documents: every
  permission (403) before the workflow (409) before any value (422), and nothing is saved.
* Every bad keyset cursor is the service's 422 naming ``cursor`` (API and console alike).
* "May accept" is :func:`services.can_accept`: the console's Accept button and the service's
  refusal agree for every role.
"""
from __future__ import annotations

import base64

import pytest

from crm.errors import ServiceError
from crm.extensions import db
from crm.tickets import services
from crm.tickets.models import Ticket
from tests.api.conftest import Api, assert_problem

FORGED = [
    '["2024-01-01T00:00:00", 1]',  # naive datetime
    '["2024-01-01T00:00:00+00:00", 1e400]',  # an id too large for a float
    '["2024-01-01T00:00:00+00:00", 1000000000000000000000]',  # an id too large for the database
    '["2024-01-01T00:00:00+00:00", 0]',  # no such id
    '["2024-01-01T00:00:00+00:00", -5]',
    '["0001-01-01T00:00:00+05:00", 1]',  # before year 1 in UTC
    '["9999-12-31T23:59:59-05:00", 1]',  # after year 9999 in UTC
    '["not a time", 1]', '[1]', '{"a": 1}', 'null',
]


@pytest.fixture
def api(client, token_for) -> Api:
    """The API client of tests/api (bearer tokens per user)."""
    return Api(client, token_for)


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize("raw", FORGED)
def test_decode_cursor_refuses_every_bad_cursor_with_a_422_naming_cursor(app, raw):
    with pytest.raises(ServiceError) as caught:
        services.decode_cursor(_cursor(raw))
    assert caught.value.status == 422 and caught.value.field == "cursor"


@pytest.mark.parametrize("raw", FORGED)
def test_the_api_and_the_console_answer_a_bad_cursor_with_a_422(api, client, login, make_user, raw):
    admin = make_user("admin")
    body = assert_problem(api.get(f"/tickets?cursor={_cursor(raw)}", admin), 422)
    assert "cursor" in body["errors"]
    login(admin)
    assert client.get(f"/tickets/?view=all&cursor={_cursor(raw)}").status_code == 422


def test_a_good_cursor_still_decodes(app, make_user):
    customer = make_user("customer")
    ticket = services.create_ticket(customer, "Subject", "Text")
    when, ticket_id = services.decode_cursor(services.encode_cursor(ticket))
    assert ticket_id == ticket.id and when.tzinfo is not None


# ---------------------------------------------------------------- PATCH: the service refuses

def _stored(ticket_id: int) -> tuple:
    db.session.expire_all()
    t = db.session.get(Ticket, ticket_id)
    return t.subject, t.status, t.priority, t.assignee_id


def test_a_forbidden_member_is_403_even_when_another_would_be_409(api, make_user):
    """The requester edits text on a ticket no longer open (409) and changes status (403)."""
    engineer = make_user("engineer")
    customer = make_user("customer")
    ticket = services.create_ticket(customer, "Subject", "Text")
    services.accept(ticket, engineer)
    before = _stored(ticket.id)
    assert_problem(api.patch(f"/tickets/{ticket.id}", customer,
                             json={"subject": "New", "status": "closed"}), 403)
    assert _stored(ticket.id) == before


def test_the_workflow_is_409_even_when_a_value_would_be_422(api, make_user):
    """A manager reassigns to a customer (422) and asks for a status not next (open →
    pending: 409)."""
    make_user("engineer")
    customer = make_user("customer")
    ticket = services.create_ticket(customer, "Subject", "Text")
    before = _stored(ticket.id)
    body = assert_problem(
        api.patch(
            f"/tickets/{ticket.id}",
            make_user("manager"),
            json={"assignee_id": customer.id, "status": "pending"},
        ),
        409,
    )
    assert "status" in body["errors"]
    assert _stored(ticket.id) == before


def test_an_engineer_not_assigned_is_403_on_priority_with_the_services_message(api, make_user):
    assigned = make_user("engineer")
    ticket = services.create_ticket(make_user("customer"), "Subject", "Text")
    assert ticket.assignee_id == assigned.id
    other = make_user("engineer")
    body = assert_problem(api.patch(f"/tickets/{ticket.id}", other, json={"priority": "low"}), 403)
    assert "assigned engineer" in body["detail"]


# ---------------------------------------------------------------- can_accept


@pytest.mark.parametrize("role", ["assignee", "other engineer", "agent", "manager", "admin"])
def test_the_accept_button_shows_exactly_when_the_service_accepts(client, login, make_user, role):
    assignee = make_user("engineer")
    ticket = services.create_ticket(make_user("customer"), "Subject", "Text")
    user = (
        assignee
        if role == "assignee"
        else make_user("engineer" if role == "other engineer" else role)
    )
    login(user)
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    shown = f'action="/tickets/{ticket.id}/accept"' in page
    assert shown is services.can_accept(user, ticket) is (role == "assignee")
    if shown:
        services.accept(ticket, user)
        assert _stored(ticket.id)[1] == "in_progress"
        assert services.can_accept(user, ticket) is False
    else:
        with pytest.raises(ServiceError):
            services.accept(ticket, user)


# ---------------------------------------------------------------- one refusal helper


def test_show_refusal_raises_a_403_again_and_puts_other_refusals_on_the_named_field(app):
    from crm.errors import NotAllowed
    from crm.tickets.forms import EditTicketForm, show_refusal

    with app.test_request_context("/portal/tickets/1/edit", method="POST"):
        form = EditTicketForm(formdata=None)
        with pytest.raises(NotAllowed):
            show_refusal(NotAllowed("no"), form, fields=("subject",), default="subject")
        assert (
            show_refusal(
                ServiceError("Too long.", field="description", status=422),
                form,
                fields=("subject", "description"),
                default="subject",
            )
            == "Too long."
        )
        assert list(form.description.errors) == ["Too long."] and not form.subject.errors
        # a field the page does not show (or none) lands on the default
        show_refusal(
            ServiceError("Not open.", field="follow_up_of"),
            form,
            fields=("subject",),
            default="subject",
        )
        assert list(form.subject.errors) == ["Not open."]
