"""Shop rules: who may see and change customers and orders, validation of every write, the
audit trail, the link between a shop customer and the portal user, and the lists.

Every door (console, API, webhooks) calls these functions. Writes are validated here (a
:class:`~crm.errors.ServiceError` with status 422 and ``errors`` per field), recorded as
:class:`~crm.shop.models.ShopChange` rows, and committed.

Rules by role: agents, managers and admins view customers and order history and create or
update customers (:data:`crm.auth.policy.POLICY` ``shop.*``); a customer sees only the orders
of the shop customer linked to them (:func:`orders_visible_to`).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import Select, String, cast, delete, func, or_, select
from sqlalchemy.orm import selectinload

from crm.auth.models import ADMIN, CUSTOMER, MANAGER, User, normalise_email
from crm.clock import utcnow
from crm.errors import NotAllowed, ServiceError
from crm.extensions import db
from crm.shop.models import (
    DELIVERY_STATES,
    FINANCIAL_STATUSES,
    FULFILMENT_STATUSES,
    ORDER_STATUSES,
    Fulfilment,
    Product,
    ProductVariant,
    ShopChange,
    ShopCustomer,
    ShopNote,
    ShopOrder,
)

MAX_NAME = 120
MAX_TAG = 40
MAX_TAGS = 50
MAX_ADDRESSES = 10
MAX_NOTE = 5000
MAX_QUERY = 100
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: the members of an address we keep (Shopify's names); others are dropped
ADDRESS_KEYS = ("first_name", "last_name", "company", "address1", "address2", "city",
                "province", "province_code", "zip", "country", "country_code", "phone")
CUSTOMER_FIELDS = ("first_name", "last_name", "email", "phone", "addresses", "tags",
                   "accepts_marketing", "note")


# ---------------------------------------------------------------- audit

def record_change(entity: str, entity_id: int, actor: User | None, field: str, before,
                  after) -> None:
    """Add one audit row (not committed): ``entity`` ``customer``/``order``/``connection``,
    values shown as text cut to 255 characters; ``actor`` None for webhooks and imports."""
    def text(value):
        return None if value is None else str(value)[:255]
    db.session.add(ShopChange(entity=entity, entity_id=entity_id,
                              actor_id=getattr(actor, "id", None), field=field,
                              before=text(before), after=text(after), created_at=utcnow()))


def changes_of(entity: str, entity_id: int, limit: int = 50) -> list[ShopChange]:
    """The newest ``limit`` audit rows of one row, newest first."""
    return list(db.session.scalars(
        select(ShopChange).where(ShopChange.entity == entity, ShopChange.entity_id == entity_id)
        .order_by(ShopChange.created_at.desc(), ShopChange.id.desc()).limit(limit)))


# ---------------------------------------------------------------- validation

def e164(raw: str) -> str:
    """``raw`` as an E.164 phone number (``+447400123456``), numbers without ``+`` read in
    ``PHONE_DEFAULT_REGION``.

    :raises ServiceError: 422 (field ``phone``) for text that is not a valid number.
    """
    from crm.notifications.sms import normalise_phone
    return normalise_phone(raw)


def _clean_tags(value, errors: dict) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        errors.setdefault("tags", []).append("A list of tags (text).")
        return []
    tags = list(dict.fromkeys(t.strip() for t in value if t.strip()))
    if len(tags) > MAX_TAGS:
        errors.setdefault("tags", []).append(f"At most {MAX_TAGS} tags.")
    if any(len(t) > MAX_TAG for t in tags):
        errors.setdefault("tags", []).append(f"A tag has at most {MAX_TAG} characters.")
    return tags


def parse_tags(text: str) -> list[str]:
    """Tags typed as one line, comma-separated (``"VIP, Waiting on order"``), as a list."""
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def clean_addresses(value, errors: dict) -> list[dict]:
    """``value`` (a list of dicts) reduced to :data:`ADDRESS_KEYS`, values as text ≤ 200
    characters, empty addresses dropped; problems are appended to ``errors["addresses"]``."""
    if not isinstance(value, list) or not all(isinstance(a, dict) for a in value):
        errors.setdefault("addresses", []).append("A list of address objects.")
        return []
    if len(value) > MAX_ADDRESSES:
        errors.setdefault("addresses", []).append(f"At most {MAX_ADDRESSES} addresses.")
    out = []
    for address in value[:MAX_ADDRESSES]:
        kept = {k: str(address[k])[:200] for k in ADDRESS_KEYS if address.get(k) not in (None, "")}
        if kept:
            out.append(kept)
    return out


def clean_customer(fields: dict) -> dict:
    """Validate and normalise the given customer members (any subset of
    :data:`CUSTOMER_FIELDS`): names trimmed (≤ 120 characters), email lower-cased, phone in
    E.164, tags de-duplicated, addresses reduced to :data:`ADDRESS_KEYS`.

    :returns: the cleaned members.
    :raises ServiceError: 422 with ``errors`` per field; the first names ``field``.
    """
    errors: dict[str, list[str]] = {}
    out: dict = {}
    for name in ("first_name", "last_name"):
        if name in fields:
            value = (fields[name] or "").strip()
            if len(value) > MAX_NAME:
                errors.setdefault(name, []).append(f"At most {MAX_NAME} characters.")
            out[name] = value
    if "email" in fields:
        email = normalise_email(fields["email"] or "")
        if email and (len(email) > 254 or not _EMAIL.match(email)):
            errors.setdefault("email", []).append("Enter an email address like name@example.com.")
        out["email"] = email or None
    if "phone" in fields:
        raw = (fields["phone"] or "").strip()
        try:
            out["phone"] = e164(raw) if raw else None
        except ServiceError as exc:
            errors.setdefault("phone", []).append(exc.message)
    if "tags" in fields:
        out["tags"] = _clean_tags(fields["tags"], errors)
    if "addresses" in fields:
        out["addresses"] = clean_addresses(fields["addresses"], errors)
    if "accepts_marketing" in fields:
        out["accepts_marketing"] = bool(fields["accepts_marketing"])
    if "note" in fields:
        note = (fields["note"] or "").strip()
        if len(note) > MAX_NOTE:
            errors.setdefault("note", []).append(f"At most {MAX_NOTE:,} characters.")
        out["note"] = note or None
    if errors:
        first = next(iter(errors))
        raise ServiceError(errors[first][0], field=first, status=422, errors=errors)
    return out


def _require_unique_email(customer: ShopCustomer) -> None:
    """:raises ServiceError: 409 when another shop customer has this email."""
    if not customer.email:
        return
    other = db.session.scalar(select(ShopCustomer.id).where(
        ShopCustomer.email == customer.email, ShopCustomer.id != (customer.id or 0)))
    if other:
        message = f"Customer #{other} already has this email address."
        raise ServiceError(message, field="email", status=409, errors={"email": [message]})


# ---------------------------------------------------------------- the portal link

def verified_user_for(email: str | None) -> User | None:
    """The active customer account whose *verified* email is ``email``, else None."""
    if not email:
        return None
    return db.session.scalar(select(User).where(
        User.email == normalise_email(email), User.role == CUSTOMER,
        User.email_verified_at.is_not(None)))


def link_user(customer: ShopCustomer) -> None:
    """Link ``customer`` to the portal user with the same verified email (or unlink when
    the email changed to one no verified customer account has). Not committed."""
    user = verified_user_for(customer.email)
    customer.user_id = user.id if user else None


def link_customers_of(user: User) -> int:
    """Link every shop customer with ``user``'s email to ``user`` (once it is verified).

    :returns: how many customers were linked (not committed).
    """
    if user.role != CUSTOMER or user.email_verified_at is None:
        return 0
    rows = list(db.session.scalars(select(ShopCustomer).where(
        ShopCustomer.email == normalise_email(user.email), ShopCustomer.user_id.is_(None))))
    for row in rows:
        row.user_id = user.id
    return len(rows)


# ---------------------------------------------------------------- customers

def create_customer(actor: User | None, fields: dict) -> ShopCustomer:
    """Create a shop customer from ``fields`` (see :func:`clean_customer`), linked to the
    portal user with the same verified email; audited and committed.

    :raises ServiceError: 422 invalid members, 409 a customer with this email exists.
    """
    data = clean_customer({k: v for k, v in fields.items() if k in CUSTOMER_FIELDS})
    now = utcnow()
    customer = ShopCustomer(**{"first_name": "", "last_name": "", "addresses": [], "tags": [],
                               **data}, created_at=now, updated_at=now)
    _require_unique_email(customer)
    link_user(customer)
    db.session.add(customer)
    db.session.flush()
    record_change("customer", customer.id, actor, "created", None, customer.name)
    db.session.commit()
    return customer


def update_customer(customer: ShopCustomer, actor: User | None, fields: dict) -> ShopCustomer:
    """Change the given members of ``customer`` (any subset of :data:`CUSTOMER_FIELDS`),
    all or nothing; each changed member is audited (before → after). Committed.

    :raises ServiceError: as :func:`create_customer`.
    """
    data = clean_customer({k: v for k, v in fields.items() if k in CUSTOMER_FIELDS})
    changed = {k: v for k, v in data.items() if getattr(customer, k) != v}
    before = {k: getattr(customer, k) for k in changed}
    for key, value in changed.items():
        setattr(customer, key, value)
    _require_unique_email(customer)
    if "email" in changed:
        link_user(customer)
    if changed:
        customer.updated_at = utcnow()
        for key, value in changed.items():
            record_change("customer", customer.id, actor, key, before[key], value)
    db.session.commit()
    return customer


def delete_customer(customer: ShopCustomer, actor: User) -> None:
    """Delete a shop customer profile with its notes (audited); their orders stay, without a
    customer, and the shops' ids of the profile are forgotten (a later delivery creates it
    anew). The portal account, if any, is left alone. Committed."""
    from crm.shop.models import ShopExternalId

    record_change("customer", customer.id, actor, "deleted", customer.name, None)
    db.session.execute(delete(ShopExternalId).where(ShopExternalId.kind == "customer",
                                                    ShopExternalId.local_id == customer.id))
    db.session.delete(customer)
    db.session.commit()


# ---------------------------------------------------------------- notes

def notes_of(customer: ShopCustomer) -> list[ShopNote]:
    """The customer's notes, newest first, authors loaded."""
    return list(db.session.scalars(
        select(ShopNote).where(ShopNote.customer_id == customer.id)
        .options(selectinload(ShopNote.author))
        .order_by(ShopNote.created_at.desc(), ShopNote.id.desc())))


def add_note(customer: ShopCustomer, actor: User, body: str) -> ShopNote:
    """Add a time-stamped note (1–5,000 characters after trimming); audited, committed.

    :raises ServiceError: 422 (field ``body``) for a blank or too long note.
    """
    text = (body or "").strip()
    if not text or len(text) > MAX_NOTE:
        message = f"Write a note of 1 to {MAX_NOTE:,} characters."
        raise ServiceError(message, field="body", status=422, errors={"body": [message]})
    note = ShopNote(customer_id=customer.id, author_id=actor.id, body=text, created_at=utcnow())
    db.session.add(note)
    db.session.flush()
    record_change("customer", customer.id, actor, "note_added", None, text)
    db.session.commit()
    return note


def can_delete_note(user: User, note: ShopNote) -> bool:
    """Its author, a manager or an admin may delete a note."""
    return note.author_id == user.id or user.role in (MANAGER, ADMIN)


def delete_note(note: ShopNote, actor: User) -> None:
    """Delete a note (audited with its text), committed.

    :raises NotAllowed: ``actor`` is neither its author nor a manager or admin (403).
    """
    if not can_delete_note(actor, note):
        raise NotAllowed("Only the note's author or a manager can delete it.")
    record_change("customer", note.customer_id, actor, "note_deleted", note.body, None)
    db.session.delete(note)
    db.session.commit()


@dataclass
class CustomerFilters:
    """Filters of a customer list: ``q`` text in first/last name, email, phone or an order
    number (``#1001``); ``tag`` one tag; ``accepts_marketing``; ``linked`` (has a portal
    account)."""

    q: str | None = None
    tag: str | None = None
    accepts_marketing: bool | None = None
    linked: bool | None = None


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def customers_query(filters: CustomerFilters) -> Select:
    """``select(ShopCustomer)`` with ``filters`` applied (no order, no limit).

    :raises ServiceError: 422 (field ``q``) for a search longer than 100 characters.
    """
    stmt = select(ShopCustomer)
    q = (filters.q or "").strip()
    if len(q) > MAX_QUERY:
        raise ServiceError(f"At most {MAX_QUERY} characters.", field="q", status=422,
                           errors={"q": [f"At most {MAX_QUERY} characters."]})
    if q:
        like = _like(q)
        by_order = select(ShopOrder.customer_id).where(func.lower(ShopOrder.name).in_(
            [q.lower(), f"#{q.lstrip('#').lower()}"]))
        stmt = stmt.where(or_(
            func.lower(ShopCustomer.first_name).like(like, escape="\\"),
            func.lower(ShopCustomer.last_name).like(like, escape="\\"),
            func.lower(ShopCustomer.first_name + " " + ShopCustomer.last_name)
            .like(like, escape="\\"),
            ShopCustomer.email.like(like, escape="\\"),
            ShopCustomer.phone.like(_like(re.sub(r"[^\d+]", "", q) or q), escape="\\"),
            ShopCustomer.id.in_(by_order)))
    if filters.tag:
        # the JSON text of the list holds the tag in quotes (ASCII; others are \u-escaped)
        tag = json.dumps(filters.tag.strip())
        stmt = stmt.where(func.lower(cast(ShopCustomer.tags, String)).like(
            _like(tag), escape="\\"))
    if filters.accepts_marketing is not None:
        stmt = stmt.where(ShopCustomer.accepts_marketing.is_(filters.accepts_marketing))
    if filters.linked is not None:
        column = ShopCustomer.user_id
        stmt = stmt.where(column.is_not(None) if filters.linked else column.is_(None))
    return stmt


# ---------------------------------------------------------------- orders

@dataclass
class OrderFilters:
    """Filters of an order list (each value one of its vocabulary, else a 422):
    ``status``, ``financial_status``, ``fulfilment_status``, ``delivery_state``,
    ``customer_id``, and ``q``: an order name (``#1001``), a tracking number or an email."""

    status: str | None = None
    financial_status: str | None = None
    fulfilment_status: str | None = None
    delivery_state: str | None = None
    customer_id: int | None = None
    q: str | None = None


_ORDER_VOCABULARY = {"status": ORDER_STATUSES, "financial_status": FINANCIAL_STATUSES,
                     "fulfilment_status": FULFILMENT_STATUSES,
                     "delivery_state": DELIVERY_STATES}


def orders_query(filters: OrderFilters) -> Select:
    """``select(ShopOrder)`` with ``filters`` applied and customers loaded (no order).

    :raises ServiceError: 422 naming the parameter whose value is not in its vocabulary.
    """
    stmt = select(ShopOrder).options(selectinload(ShopOrder.customer))
    for name, allowed in _ORDER_VOCABULARY.items():
        value = getattr(filters, name)
        if value:
            if value not in allowed:
                message = "One of: " + ", ".join(allowed) + "."
                raise ServiceError(message, field=name, status=422, errors={name: [message]})
            stmt = stmt.where(getattr(ShopOrder, name) == value)
    if filters.customer_id:
        stmt = stmt.where(ShopOrder.customer_id == filters.customer_id)
    q = (filters.q or "").strip()
    if len(q) > MAX_QUERY:
        raise ServiceError(f"At most {MAX_QUERY} characters.", field="q", status=422,
                           errors={"q": [f"At most {MAX_QUERY} characters."]})
    if q:
        tracked = select(Fulfilment.order_id).where(Fulfilment.tracking_number == q)
        stmt = stmt.where(or_(ShopOrder.name.in_([q, f"#{q.lstrip('#')}"]),
                              ShopOrder.email == q.lower(), ShopOrder.id.in_(tracked)))
    return stmt


def orders_of(customer: ShopCustomer, limit: int = 50) -> list[ShopOrder]:
    """The customer's newest ``limit`` orders with fulfilments and their events loaded."""
    return list(db.session.scalars(
        select(ShopOrder).where(ShopOrder.customer_id == customer.id)
        .options(selectinload(ShopOrder.fulfilments).selectinload(Fulfilment.events))
        .order_by(ShopOrder.id.desc()).limit(limit)))


def orders_visible_to(user: User) -> Select:
    """``select(ShopOrder)`` of the orders a portal customer may see: those of the shop
    customers linked to them (:func:`link_user`). Staff get every order."""
    stmt = select(ShopOrder)
    if user.role != CUSTOMER:
        return stmt
    mine = select(ShopCustomer.id).where(ShopCustomer.user_id == user.id)
    return stmt.where(ShopOrder.customer_id.in_(mine))


def tracking(order: ShopOrder) -> list[dict]:
    """The delivery timeline of ``order``: one dict per fulfilment, oldest first:
    ``{id, carrier, tracking_number, tracking_url, status, delivery_state, events}`` where
    ``events`` is a list of ``{state, label, message, location, happened_at}``, oldest first.
    Needs ``order.fulfilments`` and their ``events`` loaded."""
    return [{"id": f.id, "carrier": f.carrier, "tracking_number": f.tracking_number,
             "tracking_url": f.tracking_url, "status": f.status,
             "delivery_state": f.delivery_state, "delivery_label": f.delivery_label,
             "events": [{"state": e.state, "label": e.label, "message": e.message,
                         "location": e.location, "happened_at": e.happened_at}
                        for e in f.events]}
            for f in order.fulfilments]


def products_query(q: str | None = None, tag: str | None = None) -> Select:
    """``select(Product)`` with variants loaded: ``q`` an exact SKU or text in the title,
    ``tag`` one tag (no order, no limit).

    :raises ServiceError: 422 (field ``q``) for a search longer than 100 characters.
    """
    stmt = select(Product).options(selectinload(Product.variants))
    q = (q or "").strip()
    if len(q) > MAX_QUERY:
        raise ServiceError(f"At most {MAX_QUERY} characters.", field="q", status=422,
                           errors={"q": [f"At most {MAX_QUERY} characters."]})
    if q:
        by_sku = select(ProductVariant.product_id).where(ProductVariant.sku == q)
        stmt = stmt.where(or_(func.lower(Product.title).like(_like(q), escape="\\"),
                              Product.id.in_(by_sku)))
    if tag:
        stmt = stmt.where(func.lower(cast(Product.tags, String)).like(
            _like(json.dumps(tag.strip())), escape="\\"))
    return stmt


def money(value) -> Decimal:
    """A money amount from text or a number, rounded to cents (``"409.9"`` → ``409.90``);
    blank or unreadable amounts are 0."""
    try:
        return Decimal(str(value if value not in (None, "") else "0")).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return Decimal("0.00")
