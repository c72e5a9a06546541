"""Demo shop data for ``make run`` and the round-trip test: shop customers (the demo portal
customers, linked, plus buyers without an account), their orders in every delivery state
with timelines, and a few products (called by :func:`crm.demo.seed_demo`)."""
from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from crm.clock import utcnow
from crm.extensions import db
from crm.shop.models import (
    DELIVERY_STATES,
    PENDING,
    Fulfilment,
    FulfilmentEvent,
    Product,
    ProductVariant,
    ShopCustomer,
    ShopNote,
    ShopOrder,
)

PRODUCTS = [("Blue kettle", "KET-BLU", "39.00", ["Top seller"]),
            ("Espresso machine", "ESP-200", "249.00", ["High upsell value"]),
            ("Milk frother", "FRO-10", "29.50", []),
            ("Descaling tablets", "DES-6", "9.90", ["Top seller"])]
BUYERS = [("Lin", "Okafor", "lin.okafor@example.org", "+353861234567"),
          ("Marta", "Silva", "marta.silva@example.org", None)]
#: the timeline leading to each state (the state itself last)
PATH = {"InfoReceived": [], "InTransit": ["InfoReceived"],
        "OutForDelivery": ["InfoReceived", "InTransit"],
        "AttemptFail": ["InfoReceived", "InTransit", "OutForDelivery"],
        "Delivered": ["InfoReceived", "InTransit", "OutForDelivery"],
        "AvailableForPickup": ["InfoReceived", "InTransit"],
        "Exception": ["InfoReceived", "InTransit"], "Expired": ["InfoReceived"]}


def seed_shop(rng: random.Random, portal_customers: list, author=None) -> None:
    """Add the demo shop rows (committed). ``portal_customers``: demo customer accounts
    (verified), each given a linked shop customer with orders and a note by ``author``."""
    now = utcnow()
    variants = []
    for title, sku, price, tags in PRODUCTS:
        product = Product(title=title, vendor="CR Kitchen", tags=tags, created_at=now,
                          updated_at=now)
        variant = ProductVariant(title="Default", sku=sku, price=Decimal(price),
                                 inventory_quantity=rng.randint(0, 80))
        product.variants = [variant]
        db.session.add(product)
        variants.append((title, variant))
    people = [(u.name.split(" ")[0], " ".join(u.name.split(" ")[1:]), u.email, None, u.id)
              for u in portal_customers] + [(*b, None) for b in BUYERS]
    states = list(DELIVERY_STATES)
    n = 0
    for first, last, email, phone, user_id in people:
        customer = ShopCustomer(first_name=first, last_name=last, email=email, phone=phone,
                                addresses=[{"address1": f"{rng.randint(1, 99)} Quay Street",
                                            "city": "Galway", "country_code": "IE"}],
                                tags=["Waiting on order"] if user_id else ["Low Value"],
                                accepts_marketing=bool(user_id), user_id=user_id,
                                currency="EUR", created_at=now - timedelta(days=60),
                                updated_at=now)
        db.session.add(customer)
        db.session.flush()
        total = Decimal("0.00")
        for _ in range(2):
            n += 1
            state = states[n % len(states)]
            title, variant = variants[n % len(variants)]
            total += _order(customer, n, state, title, variant, now)
        customer.orders_count, customer.lifetime_value = 2, total
        if user_id:
            db.session.add(ShopNote(customer_id=customer.id,
                                    author_id=author.id if author else None,
                                    body="Asked twice where the order is; prefers email.",
                                    created_at=now - timedelta(days=1)))
    db.session.commit()


def _order(customer: ShopCustomer, n: int, state: str, title: str, variant: ProductVariant,
           now) -> Decimal:
    """One demo order of ``customer`` reaching delivery ``state``; returns its total."""
    placed = now - timedelta(days=n % 9 + 1, hours=n)
    quantity = 1 + n % 2
    subtotal = variant.price * quantity
    order = ShopOrder(name=f"#{1100 + n}", customer_id=customer.id, email=customer.email,
                      status="open", financial_status="paid",
                      fulfilment_status="unfulfilled" if state == PENDING else "fulfilled",
                      delivery_state=state, currency="EUR", subtotal=subtotal,
                      total_discounts=Decimal("0.00"), total_tax=Decimal("0.00"),
                      total=subtotal, discount_codes=[],
                      line_items=[{"title": title, "sku": variant.sku, "quantity": quantity,
                                   "price": str(variant.price)}],
                      shipping_address=customer.addresses[0], placed_at=placed,
                      created_at=placed, updated_at=placed)
    db.session.add(order)
    db.session.flush()
    if state != PENDING:
        shipment = Fulfilment(order_id=order.id, carrier="An Post",
                              tracking_number=f"CE{100000 + n}IE",
                              tracking_url=f"https://www.anpost.com/track?item=CE{100000 + n}IE",
                              status="success", delivery_state=state, created_at=placed,
                              updated_at=placed)
        db.session.add(shipment)
        db.session.flush()
        for hours, step in enumerate([*PATH.get(state, []), state]):
            db.session.add(FulfilmentEvent(fulfilment_id=shipment.id, state=step,
                                           location="Galway, IE",
                                           happened_at=placed + timedelta(hours=6 + 12 * hours)))
    return subtotal
