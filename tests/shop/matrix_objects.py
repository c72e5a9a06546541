"""Shop objects for the authorisation matrix, the bad-input and round-trip tests
(``tests/helpers_matrix.py`` ARG_VALUES ``shop_customer_id``, ``order_id``,
``connection_id``, ``product_id``, ``note_id``): created on first use and kept in
``world.extra``. The order belongs to the world's customer (linked by email), so the
customer's portal may show it."""
from __future__ import annotations

from tests.shop import factories


def customer(world):
    """The shop customer of the world's portal customer (same email, linked)."""
    if "shop_customer" not in world.extra:
        user = world.user("customer")
        world.extra["shop_customer"] = factories.make_customer(email=user.email, user=user)
    return world.extra["shop_customer"]


def order(world):
    """A shipped order of :func:`customer` with its delivery timeline."""
    if "shop_order" not in world.extra:
        world.extra["shop_order"] = factories.make_order(customer(world))
    return world.extra["shop_order"]


def connection(world):
    """A Shopify connection."""
    if "shop_connection" not in world.extra:
        world.extra["shop_connection"] = factories.make_connection()
    return world.extra["shop_connection"]


def product(world):
    """A product with one variant."""
    if "shop_product" not in world.extra:
        world.extra["shop_product"] = factories.make_product()
    return world.extra["shop_product"]


def note(world):
    """A note on :func:`customer` written by the world's agent."""
    if "shop_note" not in world.extra:
        world.extra["shop_note"] = factories.make_note(customer(world), world.user("agent"))
    return world.extra["shop_note"]
