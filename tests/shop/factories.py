"""Shop rows for tests: a connection, a customer, an order with a shipment and its timeline.

Rows are written directly (the services are what the tests exercise; these only set the
scene) and committed.
"""
from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from crm.clock import utcnow
from crm.extensions import db
from crm.shop.models import (
    DELIVERED,
    IN_TRANSIT,
    INFO_RECEIVED,
    Fulfilment,
    FulfilmentEvent,
    Product,
    ProductVariant,
    ShopConnection,
    ShopCustomer,
    ShopNote,
    ShopOrder,
)

SECRET = "shpss_0123456789abcdef0123456789abcdef"
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "shopify"


def fixture(name: str) -> dict:
    """A Shopify Admin API payload from ../shared/fixtures/shopify (``order`` → its object),
    or a small stand-in of the same shape when the shared folder is absent."""
    path = FIXTURES / f"{name}.json"
    if path.exists():
        return json.loads(path.read_text())[name]
    return STAND_INS[name]


STAND_INS = {
    "order": {"id": 450789469, "name": "#1001", "order_number": 1001,
              "email": "bob.norman@hostmail.com", "currency": "USD",
              "financial_status": "authorized", "fulfillment_status": None,
              "total_price": "409.94", "subtotal_price": "398.00", "total_discounts": "0.00",
              "total_tax": "11.94", "created_at": "2008-01-10T11:00:00-05:00",
              "discount_codes": [{"code": "TENOFF", "amount": "10.00"}],
              "line_items": [{"name": "IPod Nano - 8gb - green", "sku": "IPOD2008GREEN",
                              "quantity": 1, "price": "199.00"}],
              "shipping_address": {"address1": "Chestnut Street 92", "city": "Louisville",
                                   "zip": "40202", "country": "United States"},
              "fulfillments": [{"id": 255858046, "order_id": 450789469, "status": "failure",
                                "tracking_company": None, "tracking_number": "1Z2345",
                                "tracking_url": "http://wwwapps.ups.com/etracking/1Z2345",
                                "created_at": "2014-01-22T15:58:27-05:00",
                                "updated_at": "2014-01-22T15:58:27-05:00"}],
              "customer": {"id": 207119551, "email": "bob.norman@hostmail.com",
                           "first_name": "Bob", "last_name": "Norman", "orders_count": 0,
                           "total_spent": "0.00", "tags": "", "accepts_marketing": False}},
    "customer": {"id": 207119551, "email": "bob.norman@hostmail.com", "first_name": "Bob",
                 "last_name": "Norman", "orders_count": 1, "total_spent": "41.94",
                 "tags": "", "accepts_marketing": False, "note": None},
    "product": {"id": 632910392, "title": "IPod Nano - 8GB", "vendor": "Apple",
                "tags": "Emotive, MP3", "variants": [
                    {"id": 808950810, "title": "Pink", "sku": "IPOD2008PINK", "price": "199.00",
                     "inventory_quantity": 10},
                    {"id": 49148385, "title": "Red", "sku": "IPOD2008RED", "price": "199.00",
                     "inventory_quantity": 20}]},
    "fulfillment": {"id": 255858046, "order_id": 450789469, "status": "pending",
                    "tracking_company": "null-company", "tracking_number": "1Z2345",
                    "tracking_url": "http://www.google.com/search?q=1Z2345",
                    "created_at": "2013-11-01T16:06:08-04:00",
                    "updated_at": "2013-11-01T16:06:08-04:00"},
}


def make_connection(name: str = "Matrix shop", secret: str = SECRET) -> ShopConnection:
    """A Shopify connection signed with ``secret``."""
    row = ShopConnection(platform="shopify", name=name, secret=secret, created_at=utcnow())
    db.session.add(row)
    db.session.commit()
    return row


def make_customer(email: str | None = "ada@example.com", user=None, **fields) -> ShopCustomer:
    """A shop customer (linked to ``user`` when given)."""
    now = utcnow()
    row = ShopCustomer(**{"first_name": "Ada", "last_name": "Lovelace", "email": email,
                          "phone": "+447400123456", "addresses": [], "tags": ["High Value"],
                          "lifetime_value": Decimal("120.50"), "orders_count": 1,
                          "accepts_marketing": True, **fields},
                       user_id=user.id if user else None, created_at=now, updated_at=now)
    db.session.add(row)
    db.session.commit()
    return row


def make_order(customer: ShopCustomer | None, name: str = "#1001", shipped: bool = True,
               **fields) -> ShopOrder:
    """An order of ``customer``; ``shipped``: with a UPS shipment labelled, in transit and
    delivered (three timeline events)."""
    now = utcnow()
    order = ShopOrder(**{"name": name, "email": customer.email if customer else None,
                         "status": "open", "financial_status": "paid",
                         "fulfilment_status": "fulfilled" if shipped else "unfulfilled",
                         "delivery_state": DELIVERED if shipped else "Pending",
                         "currency": "EUR", "subtotal": Decimal("100.00"),
                         "total_discounts": Decimal("10.00"), "total_tax": Decimal("19.00"),
                         "total": Decimal("109.00"),
                         "discount_codes": [{"code": "SORRY10", "amount": "10.00"}],
                         "line_items": [{"title": "Kettle", "sku": "KET-1", "quantity": 1,
                                         "price": "100.00"}],
                         "shipping_address": {"address1": "1 Main St", "city": "Dublin",
                                              "country": "Ireland"}, **fields},
                      customer_id=customer.id if customer else None, placed_at=now,
                      created_at=now, updated_at=now)
    db.session.add(order)
    db.session.flush()
    if shipped:
        shipment = Fulfilment(order_id=order.id, carrier="UPS", tracking_number=f"1Z{order.id:06d}",
                              tracking_url="https://www.ups.com/track?tracknum=1Z",
                              status="success", delivery_state=DELIVERED, created_at=now,
                              updated_at=now)
        db.session.add(shipment)
        db.session.flush()
        for hours, state in ((48, INFO_RECEIVED), (24, IN_TRANSIT), (1, DELIVERED)):
            db.session.add(FulfilmentEvent(fulfilment_id=shipment.id, state=state,
                                           location="Dublin, IE",
                                           happened_at=now - timedelta(hours=hours)))
    db.session.commit()
    return order


def make_product(title: str = "Blue kettle", sku: str = "KET-BLU", tags=("Top seller",)):
    """A product with one variant (price 39.00, 12 in stock)."""
    now = utcnow()
    product = Product(title=title, vendor="CR Kitchen", tags=list(tags), created_at=now,
                      updated_at=now, variants=[ProductVariant(title="Default", sku=sku,
                                                               price=Decimal("39.00"),
                                                               inventory_quantity=12)])
    db.session.add(product)
    db.session.commit()
    return product


def make_note(customer: ShopCustomer, author, body: str = "Called about the kettle.") -> ShopNote:
    """A note on ``customer`` by ``author``."""
    note = ShopNote(customer_id=customer.id, author_id=author.id, body=body, created_at=utcnow())
    db.session.add(note)
    db.session.commit()
    return note
