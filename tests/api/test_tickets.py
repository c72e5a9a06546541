"""Tickets through the API: creation, role scoping, filters, pagination, changes, accept."""
import base64
from datetime import timedelta

import pytest

from crm import clock
from crm.extensions import db
from crm.tickets.models import Ticket, TicketChange
from tests.api.conftest import assert_problem

TICKET_KEYS = {"id", "subject", "description", "priority", "status", "requester", "assignee",
               "created_at", "updated_at", "follow_up_of_id"}


def _ids(resp) -> list[int]:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return [t["id"] for t in resp.json["items"]]


# ---------------------------------------------------------------- create

def test_customer_creates_ticket_assigned_to_an_engineer(api, make_user):
    engineer = make_user("engineer")
    customer = make_user("customer")
    resp = api.post(
        "/tickets",
        customer,
        json={"subject": "Broken mug", "description": "Arrived broken", "priority": "high"},
    )
    assert resp.status_code == 201
    body = resp.json
    assert set(body) == TICKET_KEYS
    assert body["status"] == "open"
    assert body["priority"] == "high"
    assert body["requester"] == {"id": customer.id, "name": customer.name}
    assert body["assignee"] == {"id": engineer.id, "name": engineer.name}
    assert body["created_at"].endswith("Z")
    assert resp.headers["Location"] == f"/api/v1/tickets/{body['id']}"
    assert db.session.get(Ticket, body["id"]).assignee_id == engineer.id


def test_ticket_waits_unassigned_without_engineers(api, make_user):
    resp = api.post("/tickets", make_user("customer"), json={"subject": "S", "description": "D"})
    assert resp.status_code == 201
    assert resp.json["assignee"] is None
    assert resp.json["priority"] == "normal"


@pytest.mark.parametrize("role", ["engineer", "agent", "manager", "admin"])
def test_staff_cannot_create_tickets(api, make_user, role):
    resp = api.post("/tickets", make_user(role), json={"subject": "S", "description": "D"})
    assert_problem(resp, 403)
    assert db.session.scalar(db.select(Ticket)) is None


@pytest.mark.parametrize(
    "payload, fields",
    [
        ({"subject": "s" * 201, "description": "D"}, {"subject"}),
        ({"subject": "S", "description": "d" * 10_001}, {"description"}),
        ({"subject": "S", "description": "D", "priority": "whenever"}, {"priority"}),
        ({"subject": 1, "description": ["D"]}, {"subject", "description"}),
        ({}, {"subject", "description"}),
        ({"subject": "  ", "description": "D"}, {"subject"}),
    ],
)
def test_ticket_validation_errors_per_field(api, make_user, payload, fields):
    body = assert_problem(api.post("/tickets", make_user("customer"), json=payload), 422)
    assert set(body["errors"]) == fields
    assert db.session.scalar(db.select(Ticket)) is None


# ---------------------------------------------------------------- scoping


@pytest.fixture
def world(make_user, make_ticket):
    """Two engineers, two customers; alice has two tickets, bob one; assignment alternates."""
    eng1, eng2 = make_user("engineer"), make_user("engineer")
    alice, bob = make_user("customer"), make_user("customer")
    t1 = make_ticket(alice, subject="Alice printer")
    t2 = make_ticket(alice, subject="Alice modem", priority="urgent")
    t3 = make_ticket(bob, subject="Bob invoice")
    return {"eng1": eng1, "eng2": eng2, "alice": alice, "bob": bob, "t1": t1, "t2": t2, "t3": t3}


def test_customer_lists_only_own_tickets(api, world):
    assert sorted(_ids(api.get("/tickets", world["alice"]))) == sorted(
        [world["t1"].id, world["t2"].id]
    )
    assert _ids(api.get("/tickets", world["bob"])) == [world["t3"].id]


def test_customer_cannot_see_other_customers_ticket(api, world):
    assert_problem(api.get(f"/tickets/{world['t3'].id}", world["alice"]), 404)
    resp = api.get(f"/tickets/{world['t1'].id}", world["alice"])
    assert resp.status_code == 200
    assert resp.json["subject"] == "Alice printer"


def test_engineer_assignee_me_lists_assigned_tickets_only(api, world):
    eng1 = world["eng1"]
    mine = {t.id for t in (world["t1"], world["t2"], world["t3"]) if t.assignee_id == eng1.id}
    assert mine and len(mine) < 3
    assert set(_ids(api.get("/tickets?assignee=me", eng1))) == mine
    assert len(_ids(api.get("/tickets", eng1))) == 3  # search covers every ticket


@pytest.mark.parametrize("role", ["agent", "manager", "admin"])
def test_desk_roles_list_every_ticket(api, world, make_user, role):
    assert len(_ids(api.get("/tickets", make_user(role)))) == 3


def test_missing_ticket_is_404_problem(api, make_user):
    assert_problem(api.get("/tickets/999999", make_user("admin")), 404)
    assert_problem(api.get("/tickets/99999999999999999999", make_user("admin")), 404)


# ---------------------------------------------------------------- filters and pagination


def test_filters_by_status_priority_requester_and_text(api, world, make_user):
    admin = make_user("admin")
    assert _ids(api.get("/tickets?priority=urgent", admin)) == [world["t2"].id]
    assert _ids(api.get(f"/tickets?requester={world['bob'].id}", admin)) == [world["t3"].id]
    assert _ids(api.get("/tickets?q=invoice", admin)) == [world["t3"].id]
    assert _ids(api.get("/tickets?status=closed", admin)) == []
    assert len(_ids(api.get("/tickets?status=open&active=true", admin))) == 3
    assert _ids(api.get("/tickets?assignee=none", admin)) == []
    assert set(_ids(api.get(f"/tickets?assignee={world['eng2'].id}", admin))) == {
        t.id for t in (world["t1"], world["t2"], world["t3"]) if t.assignee_id == world["eng2"].id
    }


def test_filters_by_creation_date(api, make_user, make_ticket):
    customer, admin = make_user("customer"), make_user("admin")
    clock.set_offset(timedelta(days=-10))
    old = make_ticket(customer, subject="Old")
    clock.set_offset(timedelta(0))
    new = make_ticket(customer, subject="New")
    since = (clock.utcnow() - timedelta(days=1)).date().isoformat()
    assert _ids(api.get(f"/tickets?created_after={since}", admin)) == [new.id]
    assert _ids(api.get(f"/tickets?created_before={since}", admin)) == [old.id]


@pytest.mark.parametrize(
    "query, field",
    [
        ("status=lost", "status"),
        ("priority=meh", "priority"),
        ("assignee=bob", "assignee"),
        ("requester=x", "requester"),
        ("created_after=yesterday", "created_after"),
        ("created_before=9999-12-31", "created_before"),
        ("active=maybe", "active"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("cursor=garbage", "cursor"),
        ("q=" + "x" * 201, "q"),
        ("q=a%00b", "q"),
    ],
)
def test_bad_list_parameters_are_422_naming_the_parameter(
    api, make_user, make_ticket, query, field
):
    make_ticket(make_user("customer"))
    body = assert_problem(api.get(f"/tickets?{query}", make_user("admin")), 422)
    assert field in body["errors"]


def _cursor(raw: str) -> str:
    """A hand-made cursor in the services' encoding (base64url of a JSON pair)."""
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "raw",
    [
        '["2024-01-01T00:00:00", 1]',  # naive datetime
        '["2024-01-01T00:00:00+00:00", 1e400]',  # an id too large for a float
        '["2024-01-01T00:00:00+00:00", 1000000000000000000000]',  # an id too large for the database
        '["0001-01-01T00:00:00+05:00", 1]',  # before year 1 in UTC
    ],
)
def test_forged_cursors_are_422_not_500(api, make_user, raw):
    body = assert_problem(api.get(f"/tickets?cursor={_cursor(raw)}", make_user("admin")), 422)
    assert "cursor" in body["errors"]


def test_empty_parameters_mean_no_filter(api, world, make_user):
    assert len(_ids(api.get("/tickets?status=&priority=&q=&cursor=", make_user("admin")))) == 3


def test_walking_next_cursor_visits_every_ticket_once(api, make_user, make_ticket):
    customer = make_user("customer")
    made = [make_ticket(customer, subject=f"Ticket {i}").id for i in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        url = "/tickets?limit=3" + (f"&cursor={cursor}" if cursor else "")
        resp = api.get(url, customer)
        assert resp.status_code == 200
        assert resp.json["limit"] == 3
        seen += [t["id"] for t in resp.json["items"]]
        pages += 1
        cursor = resp.json["next_cursor"]
        assert resp.json["has_more"] is (cursor is not None)
        if not cursor:
            break
    assert pages == 3
    assert seen == sorted(made, reverse=True)  # same updated_at order as creation here


def test_default_page_size_is_25(api, make_user):
    resp = api.get("/tickets", make_user("admin"))
    assert resp.json == {"items": [], "limit": 25, "next_cursor": None, "has_more": False}


# ---------------------------------------------------------------- changes


def test_requester_edits_text_while_open(api, world):
    resp = api.patch(
        f"/tickets/{world['t1'].id}", world["alice"], json={"subject": "Printer smoking"}
    )
    assert resp.status_code == 200
    assert resp.json["subject"] == "Printer smoking"
    assert resp.json["description"] == "Smoke everywhere"
    assert db.session.get(Ticket, world["t1"].id).subject == "Printer smoking"


def test_requester_cannot_edit_once_work_started(api, world):
    ticket = world["t1"]
    engineer = world["eng1"] if ticket.assignee_id == world["eng1"].id else world["eng2"]
    assert api.post(f"/tickets/{ticket.id}/accept", engineer).status_code == 200
    body = assert_problem(
        api.patch(f"/tickets/{ticket.id}", world["alice"], json={"subject": "X"}), 409
    )
    assert "no longer be edited" in body["detail"]


def test_customer_cannot_change_status(api, world):
    assert_problem(
        api.patch(f"/tickets/{world['t1'].id}", world["alice"], json={"status": "closed"}), 403
    )
    assert db.session.get(Ticket, world["t1"].id).status == "open"


def test_assigned_engineer_changes_status_and_priority(api, world):
    ticket = world["t1"]
    engineer = db.session.get(type(world["eng1"]), ticket.assignee_id)
    resp = api.patch(
        f"/tickets/{ticket.id}", engineer, json={"status": "resolved", "priority": "low"}
    )
    assert resp.status_code == 200
    assert (resp.json["status"], resp.json["priority"]) == ("resolved", "low")
    fields = {
        c.field
        for c in db.session.scalars(
            db.select(TicketChange).where(
                TicketChange.ticket_id == ticket.id, TicketChange.actor_id == engineer.id
            )
        )
    }
    assert fields == {"status", "priority"}


def test_engineer_cannot_change_someone_elses_ticket(api, world):
    ticket = world["t1"]
    other = world["eng2"] if ticket.assignee_id == world["eng1"].id else world["eng1"]
    assert_problem(api.patch(f"/tickets/{ticket.id}", other, json={"priority": "low"}), 403)
    assert db.session.get(Ticket, ticket.id).priority == "normal"


def test_workflow_refusal_is_409_and_changes_nothing(api, world, make_user):
    agent = make_user("agent")
    ticket = world["t1"]
    body = assert_problem(
        api.patch(f"/tickets/{ticket.id}", agent, json={"priority": "high", "status": "pending"}),
        409,
    )
    assert "status" in body["errors"]
    stored = db.session.get(Ticket, ticket.id)
    assert (stored.status, stored.priority) == ("open", "normal")


def test_manager_reassigns_to_another_engineer(api, world, make_user):
    ticket = world["t1"]
    other = world["eng2"] if ticket.assignee_id == world["eng1"].id else world["eng1"]
    resp = api.patch(f"/tickets/{ticket.id}", make_user("manager"), json={"assignee_id": other.id})
    assert resp.status_code == 200
    assert resp.json["assignee"] == {"id": other.id, "name": other.name}


@pytest.mark.parametrize("role", ["agent", "engineer", "customer"])
def test_only_managers_and_admins_reassign(api, world, make_user, role):
    ticket = world["t1"]
    actor = world["alice"] if role == "customer" else make_user(role)
    other = world["eng2"] if ticket.assignee_id == world["eng1"].id else world["eng1"]
    assert_problem(api.patch(f"/tickets/{ticket.id}", actor, json={"assignee_id": other.id}), 403)
    assert db.session.get(Ticket, ticket.id).assignee_id != other.id


def test_reassigning_to_a_non_engineer_is_422(api, world, make_user):
    admin = make_user("admin")
    body = assert_problem(
        api.patch(f"/tickets/{world['t1'].id}", admin, json={"assignee_id": world["alice"].id}), 422
    )
    assert "assignee_id" in body["errors"]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({}, "body"),
        ({"status": None}, "status"),
        ({"status": "done"}, "status"),
        ({"assignee_id": "3"}, "assignee_id"),
        ({"assignee_id": 2**40}, "assignee_id"),
        ({"subject": ""}, "subject"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_patch_validation_errors(api, world, make_user, payload, field):
    body = assert_problem(
        api.patch(f"/tickets/{world['t1'].id}", make_user("admin"), json=payload), 422
    )
    assert field in body["errors"]


def test_patching_a_hidden_ticket_is_404(api, world):
    assert_problem(
        api.patch(f"/tickets/{world['t3'].id}", world["alice"], json={"subject": "Mine now"}), 404
    )
    assert db.session.get(Ticket, world["t3"].id).subject == "Bob invoice"


def test_assigned_engineer_accepts_ticket(api, world):
    ticket = world["t1"]
    engineer = world["eng1"] if ticket.assignee_id == world["eng1"].id else world["eng2"]
    resp = api.post(f"/tickets/{ticket.id}/accept", engineer)
    assert resp.status_code == 200
    assert resp.json["status"] == "in_progress"
    assert_problem(api.post(f"/tickets/{ticket.id}/accept", engineer), 409)


def test_other_engineer_cannot_accept(api, world):
    ticket = world["t1"]
    other = world["eng2"] if ticket.assignee_id == world["eng1"].id else world["eng1"]
    assert_problem(api.post(f"/tickets/{ticket.id}/accept", other), 403)
    assert db.session.get(Ticket, ticket.id).status == "open"


@pytest.mark.parametrize("role", ["customer", "agent", "manager", "admin"])
def test_only_engineers_may_accept(api, world, make_user, role):
    actor = world["alice"] if role == "customer" else make_user(role)
    assert_problem(api.post(f"/tickets/{world['t1'].id}/accept", actor), 403)
