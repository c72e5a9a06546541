"""Comments through the API: public replies, internal notes and who sees which."""
import pytest

from crm.extensions import db
from crm.tickets import services
from crm.tickets.models import Comment
from tests.api.conftest import assert_problem


@pytest.fixture
def thread(make_user, make_ticket):
    """A ticket with a public reply from its engineer and an internal note from an agent."""
    engineer, agent = make_user("engineer"), make_user("agent")
    customer = make_user("customer")
    ticket = make_ticket(customer)
    reply = services.add_comment(ticket, engineer, "We are on it.", public=True)
    note = services.add_comment(ticket, agent, "Customer is on the VIP list.", public=False)
    return {"ticket": ticket, "customer": customer, "engineer": engineer, "agent": agent,
            "reply": reply.id, "note": note.id}


def test_customer_cannot_see_internal_notes(api, thread):
    resp = api.get(f"/tickets/{thread['ticket'].id}/comments", thread["customer"])
    assert resp.status_code == 200
    assert [c["id"] for c in resp.json["items"]] == [thread["reply"]]
    assert "VIP" not in resp.get_data(as_text=True)


@pytest.mark.parametrize("role", ["engineer", "agent", "manager", "admin"])
def test_staff_see_internal_notes(api, thread, make_user, role):
    resp = api.get(f"/tickets/{thread['ticket'].id}/comments", make_user(role))
    items = resp.json["items"]
    assert [c["id"] for c in items] == [thread["reply"], thread["note"]]
    assert items[1]["public"] is False
    assert items[1]["author"] == {"id": thread["agent"].id, "name": thread["agent"].name}
    assert set(items[0]) == {"id", "ticket_id", "author", "body", "public", "created_at"}


def test_customer_posts_public_reply(api, thread):
    resp = api.post(f"/tickets/{thread['ticket'].id}/comments", thread["customer"],
                    json={"body": "Thanks!"})
    assert resp.status_code == 201
    assert resp.json["public"] is True
    assert resp.json["ticket_id"] == thread["ticket"].id
    assert resp.json["author"]["id"] == thread["customer"].id
    assert db.session.get(Comment, resp.json["id"]).body == "Thanks!"


def test_customer_posting_internal_note_is_403(api, thread):
    resp = api.post(f"/tickets/{thread['ticket'].id}/comments", thread["customer"],
                    json={"body": "Secret", "public": False})
    assert_problem(resp, 403)
    assert db.session.scalar(db.select(Comment).where(Comment.body == "Secret")) is None


def test_staff_posts_internal_note_hidden_from_customer(api, thread):
    resp = api.post(f"/tickets/{thread['ticket'].id}/comments", thread["engineer"],
                    json={"body": "Needs a new fuser", "public": False})
    assert resp.status_code == 201
    assert resp.json["public"] is False
    seen = api.get(f"/tickets/{thread['ticket'].id}/comments", thread["customer"]).json["items"]
    assert resp.json["id"] not in [c["id"] for c in seen]


def test_customer_cannot_read_or_comment_on_others_tickets(api, thread, make_user):
    stranger = make_user("customer")
    assert_problem(api.get(f"/tickets/{thread['ticket'].id}/comments", stranger), 404)
    assert_problem(api.post(f"/tickets/{thread['ticket'].id}/comments", stranger,
                            json={"body": "Hi"}), 404)


@pytest.mark.parametrize("payload, field", [
    ({"body": "x" * 10_001}, "body"), ({"body": ""}, "body"), ({}, "body"),
    ({"body": "ok", "public": "yes"}, "public"), ({"body": "   "}, "body"),
])
def test_comment_validation_errors(api, thread, payload, field):
    body = assert_problem(api.post(f"/tickets/{thread['ticket'].id}/comments", thread["engineer"],
                                   json=payload), 422)
    assert field in body["errors"]


def test_comment_pages_walk_oldest_first(api, thread):
    ticket, engineer = thread["ticket"], thread["engineer"]
    extra = [services.add_comment(ticket, engineer, f"Update {i}").id for i in range(3)]
    first = api.get(f"/tickets/{ticket.id}/comments?limit=2", engineer).json
    assert [c["id"] for c in first["items"]] == [thread["reply"], thread["note"]]
    assert first["has_more"] is True
    second = api.get(
        f"/tickets/{ticket.id}/comments?limit=2&cursor={first['next_cursor']}", engineer
    ).json
    assert [c["id"] for c in second["items"]] == extra[:2]
    third = api.get(
        f"/tickets/{ticket.id}/comments?limit=2&cursor={second['next_cursor']}", engineer
    ).json
    assert [c["id"] for c in third["items"]] == extra[2:]
    assert (third["has_more"], third["next_cursor"]) == (False, None)
