"""Pydantic models of the shop API (bodies strict, queries lax; see :mod:`crm.api.schemas`).

Money is a decimal string with two places (``"409.94"``) beside its ISO 4217 ``currency``;
timestamps are ISO 8601 UTC.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, EmailStr, Field

from crm.api.schemas import (
    Body,
    Email,
    Id,
    NameText,
    Out,
    Page,
    PageQuery,
    ShortSearchText,
    UserRef,
    _patch_field,
    _text,
)
from crm.shop.models import (
    DELIVERY_STATES,
    FINANCIAL_STATUSES,
    FULFILMENT_STATUSES,
    ORDER_STATUSES,
    PLATFORMS,
)
from crm.shop.services import MAX_NOTE

DeliveryState = Literal[DELIVERY_STATES]  # type: ignore[valid-type]
OrderStatus = Literal[ORDER_STATUSES]  # type: ignore[valid-type]
FinancialStatus = Literal[FINANCIAL_STATUSES]  # type: ignore[valid-type]
FulfilmentStatus = Literal[FULFILMENT_STATUSES]  # type: ignore[valid-type]
Platform = Literal[PLATFORMS]  # type: ignore[valid-type]
PersonName = _text(max_length=120)
EmailText = Email
#: the same for PATCH (its "omit, never null" schema hook cannot compose with a pattern)
PatchEmailText = Annotated[EmailStr, Field(max_length=254)]
PhoneInput = _text(max_length=32, description="A phone number in any format; stored in E.164.")
TagName = _text(min_length=1, max_length=40)
NoteText = _text(max_length=MAX_NOTE)
#: a note's text: at least one character that is not a space
NoteBody = _text(min_length=1, max_length=MAX_NOTE, pattern=r"\S")
AddressText = _text(max_length=200)
SecretText = _text(min_length=16, max_length=255, json_schema_extra={"format": "password"})


# ---------------------------------------------------------------- customers

class AddressIn(Body):
    """A postal address (Shopify's member names); every member optional."""

    first_name: AddressText | None = None
    last_name: AddressText | None = None
    company: AddressText | None = None
    address1: AddressText | None = None
    address2: AddressText | None = None
    city: AddressText | None = None
    province: AddressText | None = None
    province_code: AddressText | None = None
    zip: AddressText | None = None
    country: AddressText | None = None
    country_code: AddressText | None = None
    phone: AddressText | None = None


Addresses = Annotated[list[AddressIn], Field(max_length=10)]
Tags = Annotated[list[TagName], Field(max_length=50)]


class ShopCustomerIn(Body):
    """A new shop customer (every member optional, as shops allow). The customer is linked
    to the portal account with the same verified email."""

    first_name: PersonName = ""
    last_name: PersonName = ""
    email: EmailText | None = None
    phone: PhoneInput | None = None
    addresses: Addresses = []
    tags: Tags = []
    accepts_marketing: bool = False
    note: NoteText | None = None


class ShopCustomerPatch(Body):
    """Change any members of a shop customer (at least one); ``addresses`` and ``tags``
    replace the whole list."""

    first_name: PersonName = _patch_field("First name.")
    last_name: PersonName = _patch_field("Last name.")
    email: PatchEmailText = _patch_field("Email (re-links the portal account).")
    phone: PhoneInput = _patch_field("Phone number; an empty string removes it.")
    addresses: Addresses = _patch_field("Every address (replaces them).")
    tags: Tags = _patch_field("Every tag (replaces them).")
    accepts_marketing: bool = _patch_field("Marketing consent.")
    note: NoteText = _patch_field("Note; an empty string removes it.")


class ShopCustomerOut(Out):
    """A shop customer. ``user_id``: the linked portal account, if any."""

    id: int
    first_name: str
    last_name: str
    name: str
    email: str | None
    phone: str | None = Field(description="E.164.")
    addresses: list[dict]
    tags: list[str]
    lifetime_value: Decimal = Field(description="Total spent, in ``currency``.")
    currency: str
    orders_count: int
    accepts_marketing: bool
    note: str | None
    user_id: int | None
    created_at: datetime
    updated_at: datetime


class ShopCustomerListQuery(PageQuery):
    """Filters of the shop customer list."""

    q: ShortSearchText | None = Field(
        None, description="Text in first or last name, email or phone, or an order number.")
    tag: ShortSearchText | None = Field(None, description="Only customers with this tag.")
    accepts_marketing: bool | None = Field(None, description="Marketing consent.")
    linked: bool | None = Field(None, description="Has (true) or lacks a portal account.")


class ShopCustomerPage(Page):
    """A page of shop customers, newest first."""

    items: list[ShopCustomerOut]


class NoteIn(Body):
    """A note on a shop customer."""

    body: NoteBody


class NoteOut(Out):
    """A time-stamped note; ``author`` is null when the account was deleted."""

    id: int
    customer_id: int
    author: UserRef | None
    body: str
    created_at: datetime


class NoteList(BaseModel):
    """Every note on a customer, newest first."""

    items: list[NoteOut]


# ---------------------------------------------------------------- orders

class LineItemOut(Out):
    """One line of an order; ``price`` per unit, decimal text."""

    title: str
    sku: str | None = None
    quantity: int
    price: str


class OrderOut(Out):
    """An order. ``delivery_state`` is the latest state of its fulfilments."""

    id: int
    name: str = Field(description="The shop's order name (``#1001``).")
    customer_id: int | None
    email: str | None
    status: OrderStatus
    financial_status: FinancialStatus
    fulfilment_status: FulfilmentStatus
    delivery_state: DeliveryState
    currency: str
    subtotal: Decimal
    total_discounts: Decimal
    total_tax: Decimal
    total: Decimal
    discount_codes: list[dict]
    line_items: list[LineItemOut]
    shipping_address: dict | None
    note: str | None
    placed_at: datetime
    updated_at: datetime


class OrderListQuery(PageQuery):
    """Filters of the order lists."""

    status: OrderStatus | None = None
    financial_status: FinancialStatus | None = None
    fulfilment_status: FulfilmentStatus | None = None
    delivery_state: DeliveryState | None = None
    customer_id: Id | None = Field(None, description="Only this shop customer's orders.")
    q: ShortSearchText | None = Field(
        None, description="An order name (``#1001`` or ``1001``), a tracking number or an email.")


class OrderPage(Page):
    """A page of orders, newest first."""

    items: list[OrderOut]


class TrackingEventOut(Out):
    """One step of a shipment."""

    state: DeliveryState
    label: str
    message: str | None
    location: str | None
    happened_at: datetime


class FulfilmentOut(Out):
    """A shipment with its timeline, oldest event first."""

    id: int
    carrier: str | None
    tracking_number: str | None
    tracking_url: str | None
    status: str
    delivery_state: DeliveryState
    events: list[TrackingEventOut]


class TrackingOut(Out):
    """Where an order is: its delivery state and every shipment's timeline."""

    order_id: int
    name: str
    delivery_state: DeliveryState
    fulfilments: list[FulfilmentOut]


# ---------------------------------------------------------------- products

class VariantOut(Out):
    """A sellable variant: ``price`` in the shop's currency, units in stock."""

    id: int
    title: str
    sku: str | None
    price: Decimal
    inventory_quantity: int


class ProductOut(Out):
    """A product and its variants."""

    id: int
    title: str
    vendor: str | None
    product_type: str | None
    tags: list[str]
    variants: list[VariantOut]
    created_at: datetime
    updated_at: datetime


class ProductListQuery(PageQuery):
    """Filters of the product list."""

    q: ShortSearchText | None = Field(None, description="An exact SKU or text in the title.")
    tag: ShortSearchText | None = Field(None, description="Only products with this tag.")


class ProductPage(Page):
    """A page of products, newest first."""

    items: list[ProductOut]


# ---------------------------------------------------------------- connections

class ConnectionIn(Body):
    """A shop to receive webhooks from; ``secret`` is the shop's webhook signing secret
    (never shown again). Only Shopify is received so far (WooCommerce and BigCommerce
    later)."""

    platform: Literal["shopify"]
    name: NameText
    secret: SecretText


class ConnectionOut(Out):
    """A shop connection; ``webhook_url`` goes into the shop's webhook settings."""

    id: int
    platform: Platform
    name: str
    webhook_url: str
    created_at: datetime


class ConnectionPage(Page):
    """A page of shop connections, newest first."""

    items: list[ConnectionOut]


class WebhookAnswer(BaseModel):
    """What a webhook receiver answers a signed delivery."""

    status: Literal["processed", "ignored", "duplicate"] = Field(
        description="``processed`` stored, ``ignored`` a topic not handled, ``duplicate`` "
                    "a delivery id already received (nothing changed).")
