"""Shopify records (Admin REST API JSON, as webhooks deliver them) → our rows.

Each ``upsert_*`` finds the row by the shop's id (:class:`~crm.shop.models.ShopExternalId`),
so a re-delivered or re-imported record updates and never duplicates. They tolerate missing
and extra members (older payloads have no ``*_set`` money twins). Nothing is committed: the
caller (the webhook receiver, an import job) commits once per record.
"""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crm.auth.models import normalise_email
from crm.clock import utcnow
from crm.errors import ServiceError
from crm.extensions import db
from crm.shop import services
from crm.shop.models import (
    ATTEMPT_FAIL,
    AVAILABLE_FOR_PICKUP,
    DELIVERED,
    EXCEPTION,
    FINANCIAL_STATUSES,
    FULFILMENT_STATUSES,
    IN_TRANSIT,
    INFO_RECEIVED,
    OUT_FOR_DELIVERY,
    PENDING,
    Fulfilment,
    FulfilmentEvent,
    Product,
    ProductVariant,
    ShopCustomer,
    ShopExternalId,
    ShopOrder,
)

#: Shopify's shipment statuses (a fulfilment's ``shipment_status``, a fulfilment event's
#: ``status``) → our delivery state.
SHOPIFY_SHIPMENT_STATES = {
    "label_printed": INFO_RECEIVED, "label_purchased": INFO_RECEIVED,
    "confirmed": INFO_RECEIVED, "carrier_picked_up": IN_TRANSIT, "in_transit": IN_TRANSIT,
    "delayed": IN_TRANSIT, "out_for_delivery": OUT_FOR_DELIVERY,
    "attempted_delivery": ATTEMPT_FAIL, "ready_for_pickup": AVAILABLE_FOR_PICKUP,
    "picked_up": DELIVERED, "delivered": DELIVERED, "failure": EXCEPTION,
}
#: a fulfilment's own ``status`` when it has no shipment status yet
SHOPIFY_FULFILMENT_STATES = {"pending": PENDING, "open": PENDING, "success": INFO_RECEIVED,
                             "cancelled": EXCEPTION, "error": EXCEPTION, "failure": EXCEPTION}


def shopify_delivery_state(shipment_status: str | None, status: str | None = None) -> str:
    """Our delivery state for a Shopify fulfilment: its ``shipment_status`` when known,
    else its ``status`` (``failure`` → Exception, ``success`` → InfoReceived), else Pending."""
    if shipment_status in SHOPIFY_SHIPMENT_STATES:
        return SHOPIFY_SHIPMENT_STATES[shipment_status]
    return SHOPIFY_FULFILMENT_STATES.get(status or "", PENDING)


def parse_time(value) -> datetime | None:
    """An ISO 8601 time with offset (``2008-01-10T11:00:00-05:00``) as aware UTC; a naive
    one is taken as UTC; unreadable → None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)


def _local_id(connection_id: int, kind: str, external_id) -> int | None:
    return db.session.scalar(select(ShopExternalId.local_id).where(
        ShopExternalId.connection_id == connection_id, ShopExternalId.kind == kind,
        ShopExternalId.external_id == str(external_id)))


def _remember(connection_id: int, kind: str, external_id, local_id: int) -> None:
    db.session.add(ShopExternalId(connection_id=connection_id, kind=kind,
                                  external_id=str(external_id), local_id=local_id))


def _text(value, limit: int) -> str | None:
    return None if value in (None, "") else str(value)[:limit]


def upsert_customer(connection_id: int, data: dict) -> ShopCustomer | None:
    """Create or update the customer of a Shopify ``customer`` object. An unusable phone is
    dropped (shops accept numbers we cannot read); tags are Shopify's comma-separated text.

    :returns: the row (flushed), or None when ``data`` has no ``id``.
    """
    if not isinstance(data, dict) or data.get("id") is None:
        return None
    local = _local_id(connection_id, "customer", data["id"])
    customer = db.session.get(ShopCustomer, local) if local else None
    email = normalise_email(data.get("email") or "") or None
    if customer is None and email:  # a customer we already know by email, from elsewhere
        customer = db.session.scalar(select(ShopCustomer).where(ShopCustomer.email == email))
    now = utcnow()
    if customer is None:
        customer = ShopCustomer(first_name="", last_name="", addresses=[], tags=[],
                                created_at=parse_time(data.get("created_at")) or now)
    customer.first_name = (data.get("first_name") or "")[:120]
    customer.last_name = (data.get("last_name") or "")[:120]
    customer.email = email
    try:
        customer.phone = services.e164(data["phone"]) if data.get("phone") else None
    except ServiceError:
        customer.phone = None
    addresses = data.get("addresses")
    if addresses is None and isinstance(data.get("default_address"), dict):
        addresses = [data["default_address"]]
    customer.addresses = services.clean_addresses(addresses or [], {})
    tags = data.get("tags") or ""
    customer.tags = services.parse_tags(tags) if isinstance(tags, str) else []
    customer.accepts_marketing = bool(data.get("accepts_marketing"))
    customer.orders_count = int(data.get("orders_count") or 0)
    customer.lifetime_value = services.money(data.get("total_spent"))
    customer.note = _text(data.get("note"), services.MAX_NOTE)
    customer.updated_at = now
    with db.session.no_autoflush:
        services.link_user(customer)
    db.session.add(customer)
    db.session.flush()
    if local is None:
        _remember(connection_id, "customer", data["id"], customer.id)
    return customer


def _status_of(data: dict) -> str:
    if data.get("cancelled_at"):
        return "cancelled"
    return "closed" if data.get("closed_at") else "open"


def upsert_order(connection_id: int, data: dict) -> ShopOrder | None:
    """Create or update the order of a Shopify ``order`` object, with its customer and
    fulfilments.

    :returns: the row (flushed), or None when ``data`` has no ``id``.
    """
    if not isinstance(data, dict) or data.get("id") is None:
        return None
    local = _local_id(connection_id, "order", data["id"])
    order = db.session.get(ShopOrder, local) if local else None
    now = utcnow()
    customer = upsert_customer(connection_id, data.get("customer") or {})
    if order is None:
        order = ShopOrder(created_at=now, fulfilments=[])
    order.customer_id = customer.id if customer else None
    order.name = str(data.get("name") or f"#{data.get('order_number') or data['id']}")[:40]
    order.email = normalise_email(data.get("email") or "") or None
    order.status = _status_of(data)
    financial = data.get("financial_status")
    order.financial_status = financial if financial in FINANCIAL_STATUSES else "pending"
    fulfilment = data.get("fulfillment_status") or "unfulfilled"
    order.fulfilment_status = fulfilment if fulfilment in FULFILMENT_STATUSES else "unfulfilled"
    order.currency = str(data.get("currency") or "USD")[:3].upper()
    order.subtotal = services.money(data.get("subtotal_price"))
    order.total_discounts = services.money(data.get("total_discounts"))
    order.total_tax = services.money(data.get("total_tax"))
    order.total = services.money(data.get("total_price"))
    order.discount_codes = [{"code": str(d.get("code", ""))[:100],
                             "amount": str(services.money(d.get("amount")))}
                            for d in data.get("discount_codes") or [] if isinstance(d, dict)]
    order.line_items = [_line(item) for item in data.get("line_items") or []
                        if isinstance(item, dict)]
    address = data.get("shipping_address")
    order.shipping_address = (services.clean_addresses([address], {}) or [None])[0] \
        if isinstance(address, dict) else None
    order.note = _text(data.get("note"), services.MAX_NOTE)
    order.placed_at = parse_time(data.get("created_at")) or order.placed_at or now
    order.updated_at = now
    db.session.add(order)
    db.session.flush()
    if local is None:
        _remember(connection_id, "order", data["id"], order.id)
    for item in data.get("fulfillments") or []:
        upsert_fulfilment(connection_id, item, order=order)
    return order


def _line(item: dict) -> dict:
    return {"title": str(item.get("name") or item.get("title") or "")[:255],
            "sku": _text(item.get("sku"), 120), "quantity": int(item.get("quantity") or 0),
            "price": str(services.money(item.get("price")))}


def upsert_fulfilment(connection_id: int, data: dict,
                      order: ShopOrder | None = None) -> Fulfilment | None:
    """Create or update a fulfilment from a Shopify ``fulfillment`` object; a new delivery
    state appends an event to the timeline and becomes the order's ``delivery_state``.

    :param order: the order it belongs to; else found by ``order_id`` (an order we do not
        know yet: None, nothing stored).
    :returns: the row (flushed) or None.
    """
    if not isinstance(data, dict) or data.get("id") is None:
        return None
    if order is None:
        local_order = _local_id(connection_id, "order", data.get("order_id"))
        order = db.session.get(ShopOrder, local_order) if local_order else None
        if order is None:
            return None
    local = _local_id(connection_id, "fulfilment", data["id"])
    fulfilment = db.session.get(Fulfilment, local) if local else None
    now = utcnow()
    previous = fulfilment.delivery_state if fulfilment else None
    if fulfilment is None:
        fulfilment = Fulfilment(order_id=order.id,
                                created_at=parse_time(data.get("created_at")) or now)
        db.session.add(fulfilment)
    numbers = data.get("tracking_numbers") or [data.get("tracking_number")]
    urls = data.get("tracking_urls") or [data.get("tracking_url")]
    fulfilment.carrier = _text(data.get("tracking_company"), 120)
    fulfilment.tracking_number = _text(numbers[0] if numbers else None, 120)
    fulfilment.tracking_url = _text(urls[0] if urls else None, 2048)
    fulfilment.status = str(data.get("status") or "pending")[:16]
    state = shopify_delivery_state(data.get("shipment_status"), data.get("status"))
    fulfilment.delivery_state = state
    fulfilment.updated_at = now
    db.session.flush()
    if previous != state:
        db.session.add(FulfilmentEvent(fulfilment_id=fulfilment.id, state=state,
                                       message=_text(data.get("shipment_status"), 500),
                                       happened_at=parse_time(data.get("updated_at")) or now))
        order.delivery_state = state
        db.session.flush()
    if local is None:
        _remember(connection_id, "fulfilment", data["id"], fulfilment.id)
    return fulfilment


def upsert_product(connection_id: int, data: dict) -> Product | None:
    """Create or update a product from a Shopify ``product`` object; its variants (title,
    SKU, price, units in stock) are replaced by the payload's. Tags are Shopify's
    comma-separated text.

    :returns: the row (flushed), or None when ``data`` has no ``id``.
    """
    if not isinstance(data, dict) or data.get("id") is None:
        return None
    local = _local_id(connection_id, "product", data["id"])
    product = db.session.scalar(select(Product).where(Product.id == local)
                                .options(selectinload(Product.variants))) if local else None
    now = utcnow()
    if product is None:
        product = Product(created_at=parse_time(data.get("created_at")) or now, variants=[])
    product.title = str(data.get("title") or "Untitled")[:255]
    product.vendor = _text(data.get("vendor"), 120)
    product.product_type = _text(data.get("product_type"), 120)
    tags = data.get("tags") or ""
    product.tags = services.parse_tags(tags) if isinstance(tags, str) else []
    product.updated_at = now
    with db.session.no_autoflush:  # the payload lists every variant: they replace ours
        product.variants = [
            ProductVariant(title=str(v.get("title") or "")[:255], sku=_text(v.get("sku"), 120),
                           price=services.money(v.get("price")),
                           inventory_quantity=int(v.get("inventory_quantity") or 0))
            for v in data.get("variants") or [] if isinstance(v, dict)]
    db.session.add(product)
    db.session.flush()
    if local is None:
        _remember(connection_id, "product", data["id"], product.id)
    return product
