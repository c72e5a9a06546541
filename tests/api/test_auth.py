"""Registration, tokens and bearer authentication."""
from datetime import timedelta

import pytest

from crm import clock
from crm.auth.models import DISABLED, PENDING, REJECTED, User
from crm.auth.services import REFUSALS
from crm.extensions import db
from tests.api.conftest import assert_problem
from tests.conftest import PASSWORD


def _register(client, **overrides):
    body = {
        "email": "new@example.com",
        "password": PASSWORD,
        "name": "New Person",
        "role": "customer",
    }
    body.update(overrides)
    return client.post("/api/v1/auth/register", json=body)


def test_customer_registration_is_active_at_once(client):
    resp = _register(client, email="Ann@Example.com")
    assert resp.status_code == 201
    user = db.session.scalar(db.select(User))
    assert resp.json == {
        "id": user.id,
        "email": "ann@example.com",
        "role": "customer",
        "status": "active",
    }
    assert resp.headers["Location"] == f"/api/v1/users/{user.id}"


@pytest.mark.parametrize("role", ["engineer", "agent", "manager"])
def test_staff_registration_is_pending(client, role):
    resp = _register(client, role=role)
    assert resp.status_code == 201
    assert resp.json["role"] == role
    assert resp.json["status"] == "pending"
    assert db.session.get(User, resp.json["id"]).status == PENDING


def test_registering_as_admin_is_refused(client):
    body = assert_problem(_register(client, role="admin"), 422)
    assert "role" in body["errors"]
    assert db.session.scalar(db.select(User)) is None


def test_registering_a_taken_email_is_a_conflict(client, make_user):
    make_user("customer", email="taken@example.com")
    body = assert_problem(_register(client, email="TAKEN@example.com"), 409)
    assert body["errors"] == {"email": ["An account with this email already exists."]}


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"password": "short"}, "password"),
        ({"password": "x" * 129}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a" * 250 + "@example.com"}, "email"),
        ({"name": ""}, "name"),
        ({"name": "n" * 121}, "name"),
        ({"role": "wizard"}, "role"),
        ({"name": 42}, "name"),
        ({"password": None}, "password"),
        ({"nickname": "extra"}, "nickname"),
    ],
)
def test_registration_validation_names_the_field(client, overrides, field):
    body = assert_problem(_register(client, **overrides), 422)
    assert list(body["errors"]) == [field]
    assert all(isinstance(m, str) and m for m in body["errors"][field])


def test_registration_missing_fields_are_each_reported(client):
    body = assert_problem(client.post("/api/v1/auth/register", json={}), 422)
    assert set(body["errors"]) == {"email", "password", "name"}


def test_blank_name_is_refused_by_the_service(client):
    body = assert_problem(_register(client, name="   "), 422)
    assert "name" in body["errors"]


def test_malformed_json_is_a_400_problem(client):
    resp = client.post("/api/v1/auth/register", data='{"email": ', content_type="application/json")
    body = assert_problem(resp, 400)
    assert "JSON" in body["detail"]


@pytest.mark.parametrize("payload", ["[1, 2]", '"text"', "null", "3"])
def test_a_body_that_is_not_an_object_is_a_400_problem(client, payload):
    resp = client.post("/api/v1/auth/register", data=payload, content_type="application/json")
    assert_problem(resp, 400)


def test_a_form_body_is_unsupported_media_type(client):
    resp = client.post("/api/v1/auth/register", data={"email": "a@example.com"})
    assert_problem(resp, 415)


def test_nul_characters_are_refused_not_stored(client):
    body = assert_problem(_register(client, name="Bad\u0000Name"), 422)
    assert "name" in body["errors"]


def test_token_for_right_credentials(client, make_user, app):
    user = make_user("engineer")
    resp = client.post(
        "/api/v1/auth/token", json={"email": user.email.upper(), "password": PASSWORD}
    )
    assert resp.status_code == 200
    assert resp.json["token_type"] == "Bearer"
    assert resp.json["expires_in"] == app.config["JWT_ACCESS_TTL_SECONDS"]
    me = client.get(
        "/api/v1/tickets?assignee=me",
        headers={"Authorization": f"Bearer {resp.json['access_token']}"},
    )
    assert me.status_code == 200


@pytest.mark.parametrize(
    "email, password", [("customer@nowhere.test", PASSWORD), (None, "wrong-password")]
)
def test_wrong_credentials_are_401(client, make_user, email, password):
    user = make_user("customer")
    resp = client.post(
        "/api/v1/auth/token", json={"email": email or user.email, "password": password}
    )
    body = assert_problem(resp, 401)
    assert body["detail"] == "Wrong email or password."
    assert "access_token" not in body


@pytest.mark.parametrize("status", [PENDING, REJECTED, DISABLED])
def test_staff_not_active_cannot_get_a_token_and_is_told_why(client, make_user, status):
    user = make_user("engineer", status=status)
    resp = client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD})
    body = assert_problem(resp, 403)
    assert body["detail"] == REFUSALS[status]


def test_token_request_validation_is_per_field(client):
    body = assert_problem(client.post("/api/v1/auth/token", json={"email": 5}), 422)
    assert set(body["errors"]) == {"email", "password"}


def test_missing_token_is_401_problem_with_challenge(api):
    resp = api.get("/tickets")
    assert_problem(resp, 401)
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer "])
def test_bad_token_is_401_problem(api, header):
    assert_problem(api.get("/tickets", headers={"Authorization": header}), 401)


def test_expired_token_is_401(api, make_user, app):
    user = make_user("customer")
    headers = api.headers(user)
    assert api.get("/tickets", headers=headers).status_code == 200
    clock.set_offset(timedelta(seconds=app.config["JWT_ACCESS_TTL_SECONDS"] + 1))
    assert_problem(api.get("/tickets", headers=headers), 401)


def test_token_of_a_user_disabled_since_is_refused(api, make_user):
    user = make_user("agent")
    headers = api.headers(user)
    user.status = DISABLED
    db.session.commit()
    assert_problem(api.get("/tickets", headers=headers), 401)
