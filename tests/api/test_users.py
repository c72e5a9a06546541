"""Admin user management, staff registrations and the customer list through the API."""
import pytest

from crm.auth.models import User
from crm.extensions import db
from tests.api.conftest import assert_problem
from tests.conftest import PASSWORD

USER_KEYS = {"id", "email", "name", "role", "status", "created_at", "decided_at", "last_login_at"}


@pytest.mark.parametrize("path", ["/users", "/users/1", "/registrations"])
@pytest.mark.parametrize("role", ["customer", "engineer", "agent", "manager"])
def test_only_admins_manage_users(api, make_user, role, path):
    assert_problem(api.get(path, make_user(role)), 403)


def test_admin_lists_users_newest_first_with_filters(api, make_user):
    admin = make_user("admin")
    eng = make_user("engineer")
    pending = make_user("engineer", status="pending")
    cust = make_user("customer")
    resp = api.get("/users", admin)
    assert resp.status_code == 200
    assert [u["id"] for u in resp.json["items"]] == [cust.id, pending.id, eng.id, admin.id]
    assert set(resp.json["items"][0]) == USER_KEYS
    assert [u["id"] for u in api.get("/users?role=engineer", admin).json["items"]] == [
        pending.id,
        eng.id,
    ]
    assert [
        u["id"] for u in api.get("/users?role=engineer&status=pending", admin).json["items"]
    ] == [pending.id]


def test_user_list_pages_by_cursor(api, make_user):
    admin = make_user("admin")
    others = [make_user("customer").id for _ in range(4)]
    expected = sorted(others + [admin.id], reverse=True)
    seen, cursor = [], ""
    while True:
        page = api.get(f"/users?limit=2&cursor={cursor}", admin).json
        seen += [u["id"] for u in page["items"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert seen == expected


@pytest.mark.parametrize(
    "query, field",
    [
        ("role=wizard", "role"),
        ("status=asleep", "status"),
        ("cursor=bm9wZQ", "cursor"),
        ("limit=-1", "limit"),
    ],
)
def test_user_list_bad_parameters_are_422(api, make_user, query, field):
    body = assert_problem(api.get(f"/users?{query}", make_user("admin")), 422)
    assert field in body["errors"]


def test_admin_gets_one_user_or_404(api, make_user):
    admin, cust = make_user("admin"), make_user("customer")
    resp = api.get(f"/users/{cust.id}", admin)
    assert resp.json["email"] == cust.email
    assert_problem(api.get("/users/999999", admin), 404)


def test_admin_changes_role_and_status(api, make_user):
    admin, user = make_user("admin"), make_user("customer")
    resp = api.patch(f"/users/{user.id}", admin, json={"role": "agent", "status": "disabled"})
    assert resp.status_code == 200
    assert (resp.json["role"], resp.json["status"]) == ("agent", "disabled")
    db.session.expire_all()
    assert (db.session.get(User, user.id).role, db.session.get(User, user.id).status) == (
        "agent",
        "disabled",
    )


def test_activating_an_engineer_hands_out_waiting_tickets(api, make_user, make_ticket):
    admin, customer = make_user("admin"), make_user("customer")
    waiting = make_ticket(customer)
    engineer = make_user("engineer", status="pending")
    assert api.patch(f"/users/{engineer.id}", admin, json={"status": "active"}).status_code == 200
    assert api.get(f"/tickets/{waiting.id}", admin).json["assignee"]["id"] == engineer.id


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"role": "king"}, "role"),
        ({"status": "gone"}, "status"),
        ({}, "body"),
        ({"role": None}, "role"),
        ({"email": "x@y.z"}, "email"),
    ],
)
def test_user_patch_validation(api, make_user, payload, field):
    admin, user = make_user("admin"), make_user("customer")
    body = assert_problem(api.patch(f"/users/{user.id}", admin, json=payload), 422)
    assert field in body["errors"]


def test_admin_cannot_demote_themself(api, make_user):
    admin = make_user("admin")
    assert_problem(api.patch(f"/users/{admin.id}", admin, json={"role": "agent"}), 409)
    assert db.session.get(User, admin.id).role == "admin"


def test_registrations_default_to_pending_staff(api, make_user):
    admin = make_user("admin")
    make_user("customer", status="pending")  # not staff: never listed
    make_user("agent")
    pending = make_user("manager", status="pending")
    rejected = make_user("engineer", status="rejected")
    assert [u["id"] for u in api.get("/registrations", admin).json["items"]] == [pending.id]
    assert [u["id"] for u in api.get("/registrations?status=rejected", admin).json["items"]] == [
        rejected.id
    ]


def test_approved_staff_can_then_get_a_token(api, client, make_user):
    admin, engineer = make_user("admin"), make_user("engineer", status="pending")
    login = {"email": engineer.email, "password": PASSWORD}
    assert_problem(client.post("/api/v1/auth/token", json=login), 403)
    resp = api.post(f"/registrations/{engineer.id}/approve", admin)
    assert resp.status_code == 200
    assert resp.json["status"] == "active"
    assert resp.json["decided_at"] is not None
    assert client.post("/api/v1/auth/token", json=login).status_code == 200


def test_rejected_staff_is_told_at_login(api, client, make_user):
    admin, agent = make_user("admin"), make_user("agent", status="pending")
    resp = api.post(f"/registrations/{agent.id}/reject", admin)
    assert resp.json["status"] == "rejected"
    body = assert_problem(
        client.post("/api/v1/auth/token", json={"email": agent.email, "password": PASSWORD}), 403
    )
    assert "rejected" in body["detail"]


def test_deciding_a_registration_twice_is_409(api, make_user):
    admin, agent = make_user("admin"), make_user("agent", status="pending")
    assert api.post(f"/registrations/{agent.id}/approve", admin).status_code == 200
    body = assert_problem(api.post(f"/registrations/{agent.id}/reject", admin), 409)
    assert "not pending" in body["detail"]
    assert_problem(api.post("/registrations/999999/approve", admin), 404)


@pytest.mark.parametrize(
    "role, allowed",
    [("customer", False), ("engineer", False), ("agent", True), ("manager", True), ("admin", True)],
)
def test_customer_list_follows_policy(api, make_user, role, allowed):
    resp = api.get("/customers", make_user(role))
    if allowed:
        assert resp.status_code == 200
    else:
        assert_problem(resp, 403)


def test_customer_list_counts_tickets_and_searches(api, make_user, make_ticket):
    agent = make_user("agent")
    ann = make_user("customer", name="Ann Archer")
    ben = make_user("customer", name="Ben Baker")
    make_ticket(ann)
    make_ticket(ann)
    items = api.get("/customers", agent).json["items"]
    assert [(c["id"], c["ticket_count"]) for c in items] == [(ben.id, 0), (ann.id, 2)]
    assert [c["id"] for c in api.get("/customers?q=archer", agent).json["items"]] == [ann.id]
