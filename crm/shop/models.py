"""Shop data: the shop's buyers (customers), their orders with fulfilments and the delivery
timeline, products with variants, shop connections and the webhook deliveries they receive.

Money is ``Numeric(14, 2)`` (read as :class:`decimal.Decimal`) with the ISO 4217 currency
beside it; timestamps are UTC (:class:`crm.types.UTCDateTime`). Every list filter and sort
has an index ending in ``id`` so keyset pages stay index scans.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.clock import utcnow
from crm.extensions import db
from crm.types import UTCDateTime

Money = Numeric(14, 2)

#: The one delivery vocabulary (AfterShip's tags), mapped from each platform's statuses.
PENDING, INFO_RECEIVED, IN_TRANSIT = "Pending", "InfoReceived", "InTransit"
OUT_FOR_DELIVERY, ATTEMPT_FAIL, DELIVERED = "OutForDelivery", "AttemptFail", "Delivered"
AVAILABLE_FOR_PICKUP, EXCEPTION, EXPIRED = "AvailableForPickup", "Exception", "Expired"
DELIVERY_STATES = (PENDING, INFO_RECEIVED, IN_TRANSIT, OUT_FOR_DELIVERY, ATTEMPT_FAIL,
                   DELIVERED, AVAILABLE_FOR_PICKUP, EXCEPTION, EXPIRED)
DELIVERY_LABELS = {PENDING: "Pending", INFO_RECEIVED: "Label created", IN_TRANSIT: "In transit",
                   OUT_FOR_DELIVERY: "Out for delivery", ATTEMPT_FAIL: "Delivery attempt failed",
                   DELIVERED: "Delivered", AVAILABLE_FOR_PICKUP: "Ready for pick-up",
                   EXCEPTION: "Problem with delivery", EXPIRED: "Tracking expired"}

ORDER_STATUSES = ("open", "closed", "cancelled")
FINANCIAL_STATUSES = ("pending", "authorized", "partially_paid", "paid", "partially_refunded",
                      "refunded", "voided")
FULFILMENT_STATUSES = ("unfulfilled", "partial", "fulfilled", "restocked")
PLATFORMS = ("shopify", "woocommerce", "bigcommerce")


class ShopConnection(db.Model):
    """A shop whose webhooks we receive: platform, a name, and the shared signing secret.

    The secret is kept as given (the receiver needs it to recompute the HMAC); no answer
    ever shows it, not even the one that creates the connection.
    """

    __tablename__ = "shop_connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(120))
    secret: Mapped[str] = mapped_column(String(255))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ShopExternalId(db.Model):
    """The id a connected shop gives one of our rows (``kind``: customer, order, product,
    fulfilment), so a re-delivered or re-imported record updates instead of duplicating."""

    __tablename__ = "shop_external_ids"
    __table_args__ = (
        UniqueConstraint("connection_id", "kind", "external_id", name="uq_shop_external_ids"),
        Index("ix_shop_external_ids_local", "kind", "local_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("shop_connections.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    local_id: Mapped[int] = mapped_column(Integer)


class ShopCustomer(db.Model):
    """A shop's buyer, with or without a portal account.

    ``user_id`` links the portal user whose *verified* email equals ``email``
    (:func:`crm.shop.services.link_user`); that user sees these orders in the portal.
    ``addresses``: list of dicts (``address1``, ``city``, ``zip``, ``country_code`` …);
    ``tags``: list of strings. ``lifetime_value`` is in ``currency``.
    """

    __tablename__ = "shop_customers"
    __table_args__ = (
        # lists are keyset pages by id (newest first); exact filters use these
        Index("ix_shop_customers_name", "last_name", "first_name", "id"),
        Index("ix_shop_customers_email", "email"),
        Index("ix_shop_customers_phone", "phone"),
        Index("ix_shop_customers_user", "user_id"),
        Index("ix_shop_customers_marketing", "accepts_marketing", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(120), default="")
    last_name: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))
    addresses: Mapped[list] = mapped_column(JSON, default=list)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    lifetime_value: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    orders_count: Mapped[int] = mapped_column(Integer, default=0)
    accepts_marketing: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User | None] = relationship(lazy="raise_on_sql")

    @property
    def name(self) -> str:
        """"First Last", or the email when both are blank."""
        full = f"{self.first_name} {self.last_name}".strip()
        return full or (self.email or f"Customer #{self.id}")


class ShopNote(db.Model):
    """An agent's time-stamped note on a shop customer; deletable by its author or a
    manager (:func:`crm.shop.services.delete_note`)."""

    __tablename__ = "shop_notes"
    __table_args__ = (Index("ix_shop_notes_customer", "customer_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("shop_customers.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    author: Mapped[User | None] = relationship(lazy="raise_on_sql")


class ShopOrder(db.Model):
    """An order: money in ``currency`` (Decimal), ``line_items`` as a list of dicts
    (``title``, ``sku``, ``quantity``, ``price`` as text), ``discount_codes`` as a list of
    ``{code, amount}``, ``shipping_address`` as a dict. ``delivery_state`` is the latest
    state of its fulfilments (:data:`DELIVERY_STATES`), kept here for list filters."""

    __tablename__ = "shop_orders"
    __table_args__ = (
        # lists are keyset pages by id (newest first), one index per filter
        Index("ix_shop_orders_customer", "customer_id", "id"),
        Index("ix_shop_orders_status", "status", "id"),
        Index("ix_shop_orders_financial", "financial_status", "id"),
        Index("ix_shop_orders_fulfilment", "fulfilment_status", "id"),
        Index("ix_shop_orders_delivery", "delivery_state", "id"),
        Index("ix_shop_orders_name", "name"),
        Index("ix_shop_orders_email", "email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("shop_customers.id", ondelete="SET NULL"))
    email: Mapped[str | None] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(16), default="open")
    financial_status: Mapped[str] = mapped_column(String(24), default="pending")
    fulfilment_status: Mapped[str] = mapped_column(String(16), default="unfulfilled")
    delivery_state: Mapped[str] = mapped_column(String(24), default=PENDING)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    subtotal: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    total_discounts: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    total_tax: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    discount_codes: Mapped[list] = mapped_column(JSON, default=list)
    line_items: Mapped[list] = mapped_column(JSON, default=list)
    shipping_address: Mapped[dict | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    customer: Mapped[ShopCustomer | None] = relationship(lazy="raise_on_sql")
    fulfilments: Mapped[list[Fulfilment]] = relationship(
        lazy="raise_on_sql", order_by="Fulfilment.id", cascade="all, delete-orphan",
        back_populates="order")

    @property
    def delivery_label(self) -> str:
        """Words for :attr:`delivery_state` ("Out for delivery")."""
        return DELIVERY_LABELS.get(self.delivery_state, self.delivery_state)


class Fulfilment(db.Model):
    """A shipment of (part of) an order: carrier, tracking number and URL, its platform
    ``status`` (``pending``, ``success``, ``cancelled`` …) and its ``delivery_state``."""

    __tablename__ = "shop_fulfilments"
    __table_args__ = (
        Index("ix_shop_fulfilments_order", "order_id", "id"),
        Index("ix_shop_fulfilments_tracking", "tracking_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("shop_orders.id", ondelete="CASCADE"))
    carrier: Mapped[str | None] = mapped_column(String(120))
    tracking_number: Mapped[str | None] = mapped_column(String(120))
    tracking_url: Mapped[str | None] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    delivery_state: Mapped[str] = mapped_column(String(24), default=PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    order: Mapped[ShopOrder] = relationship(lazy="raise_on_sql", back_populates="fulfilments")
    events: Mapped[list[FulfilmentEvent]] = relationship(
        lazy="raise_on_sql", order_by="(FulfilmentEvent.happened_at, FulfilmentEvent.id)",
        cascade="all, delete-orphan")

    @property
    def delivery_label(self) -> str:
        """Words for :attr:`delivery_state`."""
        return DELIVERY_LABELS.get(self.delivery_state, self.delivery_state)


class FulfilmentEvent(db.Model):
    """One step of a shipment's timeline: the delivery ``state`` it reached, when (UTC),
    the carrier's ``message`` and where (``location``, free text)."""

    __tablename__ = "shop_fulfilment_events"
    __table_args__ = (Index("ix_shop_fulfilment_events_timeline", "fulfilment_id",
                            "happened_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fulfilment_id: Mapped[int] = mapped_column(
        ForeignKey("shop_fulfilments.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(24))
    message: Mapped[str | None] = mapped_column(String(500))
    location: Mapped[str | None] = mapped_column(String(200))
    happened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def label(self) -> str:
        """Words for :attr:`state`."""
        return DELIVERY_LABELS.get(self.state, self.state)


class Product(db.Model):
    """A product with its variants; ``tags`` is a list of strings."""

    __tablename__ = "shop_products"
    __table_args__ = (Index("ix_shop_products_title", "title", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    vendor: Mapped[str | None] = mapped_column(String(120))
    product_type: Mapped[str | None] = mapped_column(String(120))
    tags: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    variants: Mapped[list[ProductVariant]] = relationship(
        lazy="raise_on_sql", order_by="ProductVariant.id", cascade="all, delete-orphan")


class ProductVariant(db.Model):
    """One sellable variant: SKU, price (in the shop's currency) and units in stock."""

    __tablename__ = "shop_product_variants"
    __table_args__ = (Index("ix_shop_product_variants_product", "product_id", "id"),
                      Index("ix_shop_product_variants_sku", "sku"))

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("shop_products.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(255), default="")
    sku: Mapped[str | None] = mapped_column(String(120))
    price: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    inventory_quantity: Mapped[int] = mapped_column(Integer, default=0)


class WebhookDelivery(db.Model):
    """A webhook delivery as received: ``outcome`` ``processed``, ``ignored`` (a topic we do
    not handle) or ``rejected`` (bad or missing signature; nothing of its body is kept).

    ``webhook_id`` is set only for signed deliveries (unique per connection: a re-delivery
    changes nothing); a rejected delivery keeps the id it claimed in ``claimed_id`` so a
    forger cannot block a real delivery by sending its id first.
    """

    __tablename__ = "shop_webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("connection_id", "webhook_id", name="uq_shop_webhook_deliveries"),
        Index("ix_shop_webhook_deliveries_received", "connection_id", "received_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("shop_connections.id", ondelete="CASCADE"))
    webhook_id: Mapped[str | None] = mapped_column(String(100))
    claimed_id: Mapped[str | None] = mapped_column(String(100))
    topic: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ShopChange(db.Model):
    """The audit trail of shop writes: who changed which ``field`` of which row (``entity``
    ``customer``/``order``/``connection`` and its id), before → after, when (UTC).
    ``actor_id`` is None for changes a webhook or import made."""

    __tablename__ = "shop_changes"
    __table_args__ = (Index("ix_shop_changes_entity", "entity", "entity_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[int] = mapped_column(Integer)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    field: Mapped[str] = mapped_column(String(32))
    before: Mapped[str | None] = mapped_column(String(255))
    after: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
