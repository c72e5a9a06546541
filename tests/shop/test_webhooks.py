"""The Shopify webhook receiver over real HTTP: signatures (good, bad, missing, replayed,
duplicated), topics, and what each delivery stores."""
from __future__ import annotations

import json
from decimal import Decimal

import httpx
from redis import Redis
from sqlalchemy import func, select

from crm.extensions import db
from crm.shop.models import (
    DELIVERED,
    EXCEPTION,
    IN_TRANSIT,
    Fulfilment,
    FulfilmentEvent,
    Product,
    ProductVariant,
    ShopCustomer,
    ShopOrder,
    WebhookDelivery,
)
from crm.shop.webhooks import shopify_signature
from tests.security.conftest import app_with  # noqa: F401  (fixture)
from tests.shop.factories import SECRET, fixture, make_connection


def deliver(base: str, connection_id: int, payload, topic: str = "orders/create",
            webhook_id: str | None = "wh-1", secret: str | None = SECRET,
            signature: str | None = None) -> httpx.Response:
    """POST ``payload`` as Shopify does: raw JSON bytes, signed with ``secret`` (or the
    given ``signature``; ``secret=None`` and no signature: unsigned)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": topic,
               "X-Shopify-Shop-Domain": "matrix.myshopify.com"}
    if webhook_id:
        headers["X-Shopify-Webhook-Id"] = webhook_id
    if signature is None and secret is not None:
        signature = shopify_signature(secret, body)
    if signature is not None:
        headers["X-Shopify-Hmac-Sha256"] = signature
    return httpx.post(f"{base}/api/v1/webhooks/shopify/{connection_id}", content=body,
                      headers=headers, timeout=30)


def count(model) -> int:
    db.session.rollback()  # see the rows the server's threads committed
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_signed_order_is_stored_with_its_customer_money_items_and_delivery(
        live_server, connection):
    order_json = fixture("order")
    resp = deliver(live_server, connection.id, order_json)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"status": "processed"}
    db.session.rollback()
    order = db.session.scalar(select(ShopOrder))
    assert order.name == order_json["name"]
    assert order.total == Decimal(order_json["total_price"])
    assert order.currency == order_json["currency"]
    assert order.financial_status == order_json["financial_status"]
    assert order.line_items[0]["sku"] == order_json["line_items"][0]["sku"]
    assert order.discount_codes[0]["code"] == order_json["discount_codes"][0]["code"]
    customer = db.session.get(ShopCustomer, order.customer_id)
    assert customer.email == order_json["customer"]["email"]
    shipment = db.session.scalar(select(Fulfilment).where(Fulfilment.order_id == order.id))
    assert shipment.tracking_number == order_json["fulfillments"][0]["tracking_number"]
    # the fixture's fulfilment failed: Shopify "failure" is our Exception
    assert shipment.delivery_state == order.delivery_state == EXCEPTION
    delivery = db.session.scalar(select(WebhookDelivery))
    assert (delivery.outcome, delivery.webhook_id, delivery.topic) == (
        "processed", "wh-1", "orders/create")


def test_a_duplicate_delivery_changes_nothing(live_server, connection):
    order_json = fixture("order")
    assert deliver(live_server, connection.id, order_json).json() == {"status": "processed"}
    changed = {**order_json, "total_price": "1.00", "note": "tampered"}
    resp = deliver(live_server, connection.id, changed)  # same webhook id, validly signed
    assert resp.status_code == 200 and resp.json() == {"status": "duplicate"}
    assert count(ShopOrder) == 1 and count(WebhookDelivery) == 1
    order = db.session.scalar(select(ShopOrder))
    assert order.total == Decimal(order_json["total_price"]) and order.note is None


def test_a_new_delivery_of_the_same_order_updates_it_without_duplicating(
        live_server, connection):
    order_json = fixture("order")
    deliver(live_server, connection.id, order_json, webhook_id="wh-a")
    resp = deliver(live_server, connection.id, {**order_json, "financial_status": "paid"},
                   topic="orders/updated", webhook_id="wh-b")
    assert resp.json() == {"status": "processed"}
    assert count(ShopOrder) == 1 and count(ShopCustomer) == 1 and count(Fulfilment) == 1
    assert db.session.scalar(select(ShopOrder.financial_status)) == "paid"


def test_an_unsigned_or_badly_signed_delivery_is_refused_recorded_and_not_stored(
        live_server, connection):
    order_json = fixture("order")
    cases = {"wrong secret": {"secret": "not-the-shop-secret-at-all"},
             "tampered body": {"signature": shopify_signature(SECRET, b"{}")},
             "garbage": {"signature": "!!not-base64=="},
             "missing": {"secret": None}}
    for n, (case, kwargs) in enumerate(cases.items()):
        resp = deliver(live_server, connection.id, order_json, webhook_id=f"wh-{n}", **kwargs)
        assert resp.status_code == 401, case
        assert resp.headers["Content-Type"].startswith("application/problem+json")
        assert "signature" in resp.json()["detail"].lower()
        assert count(ShopOrder) == 0 and count(ShopCustomer) == 0, case
        rejected = db.session.scalar(select(WebhookDelivery).order_by(WebhookDelivery.id.desc()))
        assert rejected.outcome == "rejected" and rejected.webhook_id is None, case
        assert rejected.claimed_id == f"wh-{n}"
        assert rejected.reason == ("Missing signature" if case == "missing"
                                   else "Wrong signature"), case


def test_a_forged_delivery_cannot_block_the_real_one_with_its_id(live_server, connection):
    order_json = fixture("order")
    assert deliver(live_server, connection.id, order_json, secret="forger-secret-1234567",
                   ).status_code == 401
    resp = deliver(live_server, connection.id, order_json)  # the shop's, same webhook id
    assert resp.json() == {"status": "processed"}
    assert count(ShopOrder) == 1


def test_another_connections_secret_does_not_sign_for_this_one(live_server, connection):
    other = make_connection(name="Other shop", secret="another-shop-secret-9876543210")
    resp = deliver(live_server, connection.id, fixture("order"), secret=other.secret)
    assert resp.status_code == 401 and count(ShopOrder) == 0


def test_an_unknown_connection_is_a_404(live_server, connection):
    resp = deliver(live_server, connection.id + 1000, fixture("order"))
    assert resp.status_code == 404 and count(WebhookDelivery) == 0


def test_a_signed_body_that_is_not_a_json_object_is_a_400(live_server, connection):
    resp = deliver(live_server, connection.id, b"[1, 2")
    assert resp.status_code == 400
    assert db.session.scalar(select(WebhookDelivery.outcome)) == "failed"


def test_a_topic_not_handled_is_acknowledged_and_ignored(live_server, connection):
    resp = deliver(live_server, connection.id, {"id": 1}, topic="app/uninstalled")
    assert resp.json() == {"status": "ignored"} and count(ShopOrder) == 0


def test_fulfilment_updates_build_the_delivery_timeline(live_server, connection):
    order_json = {**fixture("order"), "fulfillments": []}
    deliver(live_server, connection.id, order_json, webhook_id="o")
    shipment = {**fixture("fulfillment"), "order_id": order_json["id"]}
    for n, status in enumerate(["in_transit", "in_transit", "delivered"]):
        resp = deliver(live_server, connection.id, {**shipment, "shipment_status": status},
                       topic="fulfillments/update", webhook_id=f"f{n}")
        assert resp.json() == {"status": "processed"}
    db.session.rollback()
    states = list(db.session.scalars(select(FulfilmentEvent.state).order_by(FulfilmentEvent.id)))
    assert states == [IN_TRANSIT, DELIVERED]  # a repeated state adds no event
    assert db.session.scalar(select(ShopOrder.delivery_state)) == DELIVERED


def test_a_fulfilment_of_an_unknown_order_stores_nothing(live_server, connection):
    resp = deliver(live_server, connection.id, fixture("fulfillment"),
                   topic="fulfillments/create")
    assert resp.status_code == 200 and count(Fulfilment) == 0


def test_a_customer_is_linked_to_the_portal_user_with_the_same_verified_email(
        live_server, connection, make_user):
    customer_json = fixture("customer")
    user = make_user("customer", email=customer_json["email"])
    resp = deliver(live_server, connection.id, customer_json, topic="customers/create")
    assert resp.json() == {"status": "processed"}
    db.session.rollback()
    stored = db.session.scalar(select(ShopCustomer))
    assert stored.user_id == user.id
    assert stored.lifetime_value == Decimal(customer_json["total_spent"])
    deliver(live_server, connection.id, {**customer_json, "first_name": "Robert"},
            topic="customers/update", webhook_id="wh-2")
    assert count(ShopCustomer) == 1
    assert db.session.scalar(select(ShopCustomer.first_name)) == "Robert"


def test_an_unverified_account_is_not_linked(live_server, connection, make_user):
    customer_json = fixture("customer")
    make_user("customer", email=customer_json["email"], verified=False)
    deliver(live_server, connection.id, customer_json, topic="customers/create")
    db.session.rollback()
    assert db.session.scalar(select(ShopCustomer.user_id)) is None


def test_receivers_are_limited_per_connection_not_by_the_api_limit(app_with):  # noqa: F811
    """The API's per-caller budget (2 a minute here) does not stop a shop's deliveries; each
    connection has its own (3 a minute here), and one shop's burst leaves another's alone."""
    limited = app_with(RATELIMIT_ENABLED=True, API_RATE_LIMIT="2 per minute",
                       SHOP_WEBHOOK_RATE_LIMIT="3 per minute")
    with limited.app_context():
        first, second = make_connection(name="One").id, make_connection(name="Two").id
    client = limited.test_client()
    body = json.dumps(fixture("customer")).encode()
    headers = {"X-Shopify-Topic": "customers/create",
               "X-Shopify-Hmac-Sha256": shopify_signature(SECRET, body)}

    def post(connection_id: int, n: int):
        return client.post(f"/api/v1/webhooks/shopify/{connection_id}", data=body,
                           headers={**headers, "X-Shopify-Webhook-Id": f"w{n}"},
                           content_type="application/json")
    assert [post(first, n).status_code for n in range(3)] == [200, 200, 200]
    refused = post(first, 3)
    assert refused.status_code == 429 and refused.mimetype == "application/problem+json"
    assert post(second, 4).status_code == 200
    Redis.from_url(limited.config["REDIS_URL"]).flushdb()


def test_a_product_and_its_variants_are_stored_and_replaced_on_update(live_server, connection):
    product_json = fixture("product")
    resp = deliver(live_server, connection.id, product_json, topic="products/create")
    assert resp.json() == {"status": "processed"}
    db.session.rollback()
    stored = db.session.scalar(select(Product))
    variants = list(db.session.scalars(select(ProductVariant).order_by(ProductVariant.id)))
    assert stored.title == product_json["title"]
    assert [v.sku for v in variants] == [v["sku"] for v in product_json["variants"]]
    assert variants[0].price == Decimal(product_json["variants"][0]["price"])
    one = {**product_json["variants"][0], "inventory_quantity": 3}
    resp = deliver(live_server, connection.id, {**product_json, "variants": [one]},
                   topic="products/update", webhook_id="wh-2")
    assert resp.json() == {"status": "processed"}, resp.text
    assert count(Product) == 1 and count(ProductVariant) == 1
    assert db.session.scalar(select(ProductVariant.inventory_quantity)) == 3


def test_a_deleted_profile_is_created_anew_by_the_next_delivery(live_server, connection,
                                                                 make_user):
    from crm.shop.services import delete_customer

    customer_json = fixture("customer")
    deliver(live_server, connection.id, customer_json, topic="customers/create")
    db.session.rollback()
    delete_customer(db.session.scalar(select(ShopCustomer)), make_user("manager"))
    deliver(live_server, connection.id, customer_json, topic="customers/update",
            webhook_id="wh-2")
    deliver(live_server, connection.id, customer_json, topic="customers/update",
            webhook_id="wh-3")
    assert count(ShopCustomer) == 1


def test_a_signed_payload_with_unreadable_members_is_a_422_and_stores_nothing(
        live_server, connection):
    resp = deliver(live_server, connection.id, {**fixture("order"), "customer": {
        "id": 5, "email": "x@example.com", "orders_count": "many"}})
    assert resp.status_code == 422, resp.text
    assert count(ShopOrder) == 0 and count(ShopCustomer) == 0
    assert db.session.scalar(select(WebhookDelivery.outcome)) == "failed"
