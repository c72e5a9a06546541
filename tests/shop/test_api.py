"""The shop API: shop customers (validation, audit, portal link, search, pages), orders and
their tracking, shop connections (the secret never answered)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.extensions import db
from crm.shop.models import ShopChange, ShopConnection, ShopCustomer, ShopNote, ShopOrder
from tests.shop.factories import make_customer, make_order, make_product


@pytest.fixture
def agent_api(client, make_user, token_for):
    """``call(method, path, json=None, **query)`` as an agent with a Bearer token."""
    user = make_user("agent")
    headers = {"Authorization": f"Bearer {token_for(user)}"}

    def call(method: str, path: str, json=None, **query):
        return client.open(f"/api/v1{path}", method=method, json=json, headers=headers,
                           query_string=query)
    call.user = user
    return call


# ---------------------------------------------------------------- customers

def test_an_agent_creates_a_customer_normalised_linked_and_audited(agent_api, make_user):
    portal = make_user("customer", email="grace@example.com")
    resp = agent_api("POST", "/shop/customers", {
        "first_name": " Grace ", "last_name": "Hopper", "email": "Grace@Example.com",
        "phone": "+44 7400 123456", "tags": ["VIP", "VIP", "Waiting on order"],
        "addresses": [{"address1": "1 Navy Way", "city": "Arlington", "country_code": "US"}]})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert resp.headers["Location"] == f"/api/v1/shop/customers/{body['id']}"
    assert (body["first_name"], body["email"], body["phone"]) == (
        "Grace", "grace@example.com", "+447400123456")
    assert body["tags"] == ["VIP", "Waiting on order"]
    assert body["user_id"] == portal.id and body["lifetime_value"] == "0.00"
    audit = db.session.scalar(select(ShopChange).where(ShopChange.entity_id == body["id"]))
    assert (audit.field, audit.actor_id) == ("created", agent_api.user.id)


INVALID_CUSTOMERS = [
    ({"first_name": "A", "phone": "12"}, "phone"),
    ({"first_name": "A", "email": "not-an-email"}, "email"),
    ({"first_name": "x" * 121}, "first_name"),
    ({"first_name": "A", "tags": ["t" * 41]}, "tags.0"),
    ({"first_name": "A", "addresses": [{"street": "1 Main St"}]}, "addresses.0.street"),
    ({"first_name": "A", "accepts_marketing": "yes"}, "accepts_marketing"),
    ({"first_name": "A", "nickname": "Al"}, "nickname"),
]


def test_invalid_customers_are_refused_with_the_field_named(agent_api):
    failures = []
    for payload, field in INVALID_CUSTOMERS:
        resp = agent_api("POST", "/shop/customers", payload)
        body = resp.get_json() or {}
        if (resp.status_code, resp.content_type) != (422, "application/problem+json") \
                or field not in body.get("errors", {}):
            failures.append(f"{payload}: {resp.status_code} {body}")
    assert not failures, failures
    assert db.session.scalar(select(ShopCustomer.id)) is None


def test_a_second_customer_with_the_same_email_is_a_409(agent_api):
    make_customer(email="ada@example.com")
    resp = agent_api("POST", "/shop/customers", {"email": "ADA@example.com"})
    assert resp.status_code == 409 and "email" in resp.get_json()["errors"]


def test_patch_changes_only_what_is_sent_and_audits_each_change(agent_api):
    customer = make_customer()
    resp = agent_api("PATCH", f"/shop/customers/{customer.id}",
                     {"last_name": "Byron", "tags": ["Sentiments/positive"]})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert (body["last_name"], body["first_name"], body["tags"]) == (
        "Byron", "Ada", ["Sentiments/positive"])
    changes = {c.field: (c.before, c.after) for c in db.session.scalars(select(ShopChange))}
    assert changes["last_name"] == ("Lovelace", "Byron")
    assert set(changes) == {"last_name", "tags"}


def test_invalid_patches_change_nothing(agent_api):
    customer = make_customer()
    for payload, field in (({}, "body"), ({"phone": "0"}, "phone"), ({"email": None}, "email"),
                           ({"email": ""}, "email"), ({"tags": "VIP"}, "tags")):
        resp = agent_api("PATCH", f"/shop/customers/{customer.id}", payload)
        assert resp.status_code == 422 and field in resp.get_json()["errors"], payload
    db.session.rollback()
    assert db.session.get(ShopCustomer, customer.id).last_name == "Lovelace"
    assert db.session.scalar(select(ShopChange.id)) is None


def test_search_by_name_email_phone_and_order_number_and_filter_by_tag(agent_api):
    ada = make_customer()
    bob = make_customer(email="bob@example.com", first_name="Bob", last_name="Norman",
                        phone="+353861234567", tags=["Low Value"])
    make_order(bob, name="#2002")
    for q, expected in (("lovel", [ada.id]), ("bob@", [bob.id]), ("+35386", [bob.id]),
                        ("2002", [bob.id]), ("#2002", [bob.id]), ("ada lovelace", [ada.id])):
        ids = [c["id"] for c in agent_api("GET", "/shop/customers", q=q).get_json()["items"]]
        assert ids == expected, q
    tagged = agent_api("GET", "/shop/customers", tag="Low Value").get_json()["items"]
    assert [c["id"] for c in tagged] == [bob.id]


def test_customers_come_in_keyset_pages(agent_api):
    ids = [make_customer(email=f"c{n}@example.com").id for n in range(3)]
    first = agent_api("GET", "/shop/customers", limit=2).get_json()
    assert [c["id"] for c in first["items"]] == ids[::-1][:2] and first["has_more"]
    second = agent_api("GET", "/shop/customers", limit=2, cursor=first["next_cursor"]).get_json()
    assert [c["id"] for c in second["items"]] == [ids[0]] and not second["has_more"]
    assert agent_api("GET", "/shop/customers", cursor="bogus").status_code == 422


def test_a_missing_customer_is_a_404(agent_api):
    assert agent_api("GET", "/shop/customers/999").status_code == 404


# ---------------------------------------------------------------- orders

def test_orders_filter_and_the_tracking_timeline(agent_api):
    customer = make_customer()
    shipped = make_order(customer, name="#1001")
    waiting = make_order(customer, name="#1002", shipped=False)
    items = agent_api("GET", "/shop/orders", delivery_state="Delivered").get_json()["items"]
    assert [o["id"] for o in items] == [shipped.id]
    assert items[0]["total"] == "109.00" and items[0]["line_items"][0]["sku"] == "KET-1"
    by_customer = agent_api("GET", f"/shop/customers/{customer.id}/orders").get_json()["items"]
    assert [o["id"] for o in by_customer] == [waiting.id, shipped.id]
    tracking = agent_api("GET", f"/shop/orders/{shipped.id}/tracking").get_json()
    assert tracking["delivery_state"] == "Delivered"
    events = tracking["fulfilments"][0]["events"]
    assert [e["state"] for e in events] == ["InfoReceived", "InTransit", "Delivered"]
    tracking_number = tracking["fulfilments"][0]["tracking_number"]
    found = agent_api("GET", "/shop/orders", q=tracking_number).get_json()["items"]
    assert [o["id"] for o in found] == [shipped.id]
    assert agent_api("GET", f"/shop/orders/{waiting.id}/tracking").get_json()["fulfilments"] == []


def test_an_unknown_filter_value_is_a_422(agent_api):
    for param in ("status", "financial_status", "fulfilment_status", "delivery_state"):
        resp = agent_api("GET", "/shop/orders", **{param: "teleported"})
        assert resp.status_code == 422 and param in resp.get_json()["errors"], param


def test_a_customer_cannot_read_orders_through_the_staff_api(client, make_user, token_for):
    user = make_user("customer")
    order = make_order(make_customer(email=user.email, user=user))
    resp = client.get(f"/api/v1/shop/orders/{order.id}",
                      headers={"Authorization": f"Bearer {token_for(user)}"})
    assert resp.status_code == 403


# ---------------------------------------------------------------- connections

@pytest.fixture
def admin_api(client, make_user, token_for):
    headers = {"Authorization": f"Bearer {token_for(make_user('admin'))}"}

    def call(method, path, json=None):
        return client.open(f"/api/v1{path}", method=method, json=json, headers=headers)
    return call


def test_a_connection_answers_its_webhook_url_and_never_its_secret(admin_api):
    secret = "shpss_secret_value_1234567890"
    resp = admin_api("POST", "/shop-connections",
                     {"platform": "shopify", "name": "Main shop", "secret": secret})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["webhook_url"] == f"http://crm.test/api/v1/webhooks/shopify/{body['id']}"
    listed = admin_api("GET", "/shop-connections")
    got = admin_api("GET", f"/shop-connections/{body['id']}")
    for answer in (resp, listed, got):
        assert secret not in answer.get_data(as_text=True) and "secret" not in answer.get_json()
    assert [c["id"] for c in listed.get_json()["items"]] == [body["id"]]
    assert admin_api("DELETE", f"/shop-connections/{body['id']}").status_code == 204
    assert db.session.get(ShopConnection, body["id"]) is None
    assert admin_api("GET", f"/shop-connections/{body['id']}").status_code == 404


def test_invalid_connections_are_refused(admin_api):
    for payload, field in (
            ({"platform": "shopify", "name": "Shop", "secret": "short"}, "secret"),
            ({"platform": "magento", "name": "Shop", "secret": "x" * 20}, "platform"),
            ({"platform": "woocommerce", "name": "Shop", "secret": "x" * 20}, "platform"),
            ({"platform": "shopify", "name": "", "secret": "x" * 20}, "name"),
            ({"platform": "shopify", "secret": "x" * 20}, "name")):
        resp = admin_api("POST", "/shop-connections", payload)
        assert resp.status_code == 422 and field in resp.get_json()["errors"], payload
    assert db.session.scalar(select(ShopConnection.id)) is None


# ---------------------------------------------------------------- products

def test_products_list_by_sku_title_and_tag_and_get(agent_api):
    kettle = make_product()
    mug = make_product(title="Big mug", sku="MUG-1", tags=())
    assert [p["id"] for p in agent_api("GET", "/shop/products").get_json()["items"]] == [
        mug.id, kettle.id]
    for query, expected in (({"q": "KET-BLU"}, [kettle.id]), ({"q": "mug"}, [mug.id]),
                            ({"tag": "top seller"}, [kettle.id])):
        items = agent_api("GET", "/shop/products", **query).get_json()["items"]
        assert [p["id"] for p in items] == expected, query
    got = agent_api("GET", f"/shop/products/{kettle.id}").get_json()
    assert got["variants"][0] == {"id": got["variants"][0]["id"], "title": "Default",
                                  "sku": "KET-BLU", "price": "39.00", "inventory_quantity": 12}
    assert agent_api("GET", f"/shop/products/{mug.id + 100}").status_code == 404


# ---------------------------------------------------------------- notes

def test_notes_are_added_listed_and_deleted_by_their_author_or_a_manager(
        client, agent_api, make_user, token_for):
    customer = make_customer()
    added = agent_api("POST", f"/shop/customers/{customer.id}/notes", {"body": " Rang twice "})
    assert added.status_code == 201, added.get_json()
    note = added.get_json()
    assert (note["body"], note["author"]["id"]) == ("Rang twice", agent_api.user.id)
    listed = agent_api("GET", f"/shop/customers/{customer.id}/notes").get_json()["items"]
    assert [n["id"] for n in listed] == [note["id"]]
    for payload in ({"body": "   "}, {"body": ""}, {"body": "x" * 5001}, {}):
        resp = agent_api("POST", f"/shop/customers/{customer.id}/notes", payload)
        assert resp.status_code == 422 and "body" in resp.get_json()["errors"], payload

    def delete_as(role: str):
        headers = {"Authorization": f"Bearer {token_for(make_user(role))}"}
        return client.delete(f"/api/v1/shop/customers/{customer.id}/notes/{note['id']}",
                             headers=headers)
    assert delete_as("agent").status_code == 403  # another agent
    assert delete_as("manager").status_code == 204
    assert agent_api("GET", f"/shop/customers/{customer.id}/notes").get_json()["items"] == []
    fields = [c.field for c in db.session.scalars(select(ShopChange).order_by(ShopChange.id))]
    assert fields == ["note_added", "note_deleted"]
    own = agent_api("POST", f"/shop/customers/{customer.id}/notes", {"body": "Mine"}).get_json()
    assert agent_api("DELETE", f"/shop/customers/{customer.id}/notes/{own['id']}"
                     ).status_code == 204
    other = make_customer(email="other@example.com")
    assert agent_api("DELETE", f"/shop/customers/{other.id}/notes/{own['id']}"
                     ).status_code == 404


def test_a_manager_deletes_a_customer_profile_its_orders_stay(client, agent_api, make_user,
                                                              token_for):
    customer = make_customer()
    order = make_order(customer)
    agent_api("POST", f"/shop/customers/{customer.id}/notes", {"body": "Angry"})
    assert agent_api("DELETE", f"/shop/customers/{customer.id}").status_code == 403
    manager = {"Authorization": f"Bearer {token_for(make_user('manager'))}"}
    resp = client.delete(f"/api/v1/shop/customers/{customer.id}", headers=manager)
    assert resp.status_code == 204
    db.session.rollback()
    assert db.session.get(ShopCustomer, customer.id) is None
    assert db.session.scalar(select(ShopNote.id)) is None
    assert db.session.scalar(select(ShopOrder.customer_id).where(ShopOrder.id == order.id)) is None
    deleted = db.session.scalar(select(ShopChange).where(ShopChange.field == "deleted"))
    assert deleted.before == "Ada Lovelace"
    assert client.delete(f"/api/v1/shop/customers/{customer.id}",
                         headers=manager).status_code == 404
