"""Shop connections and the webhook receivers (blueprint ``shop_webhooks``).

``POST /api/v1/webhooks/shopify/<connection_id>`` needs no log-in: the signature is the
authentication. Shopify signs the raw body with the connection's secret
(``X-Shopify-Hmac-Sha256``: base64 of HMAC-SHA256); the receiver recomputes it before it
reads anything, compares in constant time, and refuses a missing or wrong signature (401,
recorded as a ``rejected`` :class:`~crm.shop.models.WebhookDelivery` and a security event,
its body never stored). ``X-Shopify-Webhook-Id`` de-duplicates: a delivery already processed
is answered 200 and changes nothing.

The blueprint is nested in the API's (so the receiver is in the OpenAPI document) but exempt
from the API's per-caller rate limit: each connection is bounded instead
(``SHOP_WEBHOOK_RATE_LIMIT``, default 600 a minute). It is exempt from CSRF.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Callable

from flask import Blueprint, current_app, jsonify, request
from flask_limiter import ExemptionScope
from sqlalchemy.exc import IntegrityError

from crm.auth.models import User
from crm.clock import utcnow
from crm.errors import ServiceError, problem
from crm.extensions import csrf, db, limiter
from crm.observability.errors.ingest import key_authenticated
from crm.security import jsonsafe
from crm.shop import importers, services
from crm.shop.models import PLATFORMS, ShopConnection, WebhookDelivery

log = logging.getLogger(__name__)

#: nested in the API blueprint (:mod:`crm.api.shop`): endpoints ``api.shop_webhooks.*``
bp = Blueprint("shop_webhooks", __name__, url_prefix="/api/v1/webhooks")
csrf.exempt(bp)
# the API's per-caller limits (its blueprint's) do not apply; each connection has its own
limiter.exempt(bp, flags=ExemptionScope.ANCESTORS | ExemptionScope.APPLICATION
               | ExemptionScope.DEFAULT | ExemptionScope.META)

SIGNATURE_HEADER = "X-Shopify-Hmac-Sha256"
WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"
TOPIC_HEADER = "X-Shopify-Topic"
#: platforms whose receiver exists (others are refused at connection time)
SUPPORTED_PLATFORMS = ("shopify",)
MIN_SECRET, MAX_SECRET = 16, 255
MAX_BODY = 2 * 1024 * 1024


# ---------------------------------------------------------------- connections

def webhook_url(connection: ShopConnection) -> str:
    """The address to paste into the shop's webhook settings (on ``PUBLIC_URL``)."""
    base = current_app.config["SERVER_NAME_FOR_LINKS"].rstrip("/")
    return f"{base}/api/v1/webhooks/{connection.platform}/{connection.id}"


def create_connection(actor: User, platform: str, name: str, secret: str) -> ShopConnection:
    """Register a shop: ``platform`` (``shopify``), a ``name`` (1–120 characters) and the
    webhook signing ``secret`` (16–255 characters, as the shop shows it). Audited, committed.

    :raises ServiceError: 422 with ``errors`` per field.
    """
    errors: dict[str, list[str]] = {}
    name = (name or "").strip() or (name or "")
    if platform not in PLATFORMS:
        errors["platform"] = ["One of: " + ", ".join(PLATFORMS) + "."]
    elif platform not in SUPPORTED_PLATFORMS:
        errors["platform"] = [f"{platform} webhooks are not received yet; use shopify."]
    if not 1 <= len(name) <= 120:
        errors["name"] = ["1 to 120 characters."]
    if not MIN_SECRET <= len(secret or "") <= MAX_SECRET:
        errors["secret"] = [f"{MIN_SECRET} to {MAX_SECRET} characters: the signing secret "
                            "the shop shows for its webhooks."]
    if errors:
        first = next(iter(errors))
        raise ServiceError(errors[first][0], field=first, status=422, errors=errors)
    connection = ShopConnection(platform=platform, name=name, secret=secret,
                                created_by_id=actor.id, created_at=utcnow())
    db.session.add(connection)
    db.session.flush()
    services.record_change("connection", connection.id, actor, "created", None, name)
    db.session.commit()
    return connection


def delete_connection(connection: ShopConnection, actor: User) -> None:
    """Remove a connection and its delivery log (the rows it imported stay). Audited."""
    services.record_change("connection", connection.id, actor, "deleted", connection.name, None)
    db.session.delete(connection)
    db.session.commit()


# ---------------------------------------------------------------- signatures

def shopify_signature(secret: str, body: bytes) -> str:
    """Shopify's signature of ``body``: base64 of HMAC-SHA256 keyed with ``secret``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signature_matches(secret: str, body: bytes, offered: str | None) -> bool:
    """True when ``offered`` is the signature of ``body`` (constant-time comparison)."""
    if not offered:
        return False
    expected = shopify_signature(secret, body).encode()
    return hmac.compare_digest(expected, offered.strip().encode("ascii", "replace"))


def _reject(connection: ShopConnection, reason: str, claimed: str | None, topic: str | None):
    """Record a refused delivery (no body kept) and answer 401."""
    from crm.security.audit import security_event

    db.session.rollback()
    db.session.add(WebhookDelivery(connection_id=connection.id, claimed_id=claimed,
                                   topic=topic, outcome="rejected", reason=reason,
                                   received_at=utcnow()))
    db.session.commit()
    security_event("shop_webhook.rejected", outcome="failure", connection_id=connection.id,
                   reason=reason)
    return problem(401, detail=f"{reason}: sign the raw body with the connection's secret "
                   f"(base64 HMAC-SHA256 in {SIGNATURE_HEADER}).")


# ---------------------------------------------------------------- topics

def _order(connection_id: int, data: dict) -> None:
    importers.upsert_order(connection_id, data)


def _fulfilment(connection_id: int, data: dict) -> None:
    importers.upsert_fulfilment(connection_id, data)


def _customer(connection_id: int, data: dict) -> None:
    importers.upsert_customer(connection_id, data)


def _product(connection_id: int, data: dict) -> None:
    importers.upsert_product(connection_id, data)


#: Shopify topic → handler(connection id, payload). Others are acknowledged and ignored.
SHOPIFY_TOPICS: dict[str, Callable[[int, dict], None]] = {
    "orders/create": _order, "orders/updated": _order, "orders/fulfilled": _order,
    "orders/cancelled": _order, "orders/paid": _order,
    "fulfillments/create": _fulfilment, "fulfillments/update": _fulfilment,
    "customers/create": _customer, "customers/update": _customer,
    "products/create": _product, "products/update": _product,
}


def _connection_limit() -> str:
    return current_app.config.get("SHOP_WEBHOOK_RATE_LIMIT", "600 per minute")


def _connection_key() -> str:
    return f"shop-connection:{(request.view_args or {}).get('connection_id')}"


@bp.route("/shopify/<int(min=1, max=2147483647):connection_id>", methods=["POST"])
@limiter.limit(_connection_limit, key_func=_connection_key)
@key_authenticated
def shopify(connection_id: int):
    """Receive one Shopify webhook (see the module doc).

    Answers 200 ``{"status": "processed"|"ignored"|"duplicate"}``; 401 bad or missing
    signature; 404 no such Shopify connection; 413 a body over 2 MiB; 400 a signed body
    that is not a JSON object, 422 one whose members cannot be read (both recorded as
    ``failed``, nothing stored)."""
    connection = db.session.get(ShopConnection, connection_id)
    if connection is None or connection.platform != "shopify":
        return problem(404, detail="No Shopify connection has this id.")
    if (request.content_length or 0) > MAX_BODY:
        return problem(413, detail="The body is over 2 MiB.")
    raw = request.get_data(cache=True)
    claimed = (request.headers.get(WEBHOOK_ID_HEADER) or "").strip()[:100] or None
    topic = (request.headers.get(TOPIC_HEADER) or "").strip()[:64] or None
    offered = request.headers.get(SIGNATURE_HEADER)
    if not offered:
        return _reject(connection, "Missing signature", claimed, topic)
    if not signature_matches(connection.secret, raw, offered):
        return _reject(connection, "Wrong signature", claimed, topic)
    if claimed and db.session.scalar(db.select(WebhookDelivery.id).where(
            WebhookDelivery.connection_id == connection.id,
            WebhookDelivery.webhook_id == claimed)):
        return jsonify(status="duplicate")
    try:
        data = jsonsafe.loads(raw)
    except (jsonsafe.UnsafeJSON, ValueError, UnicodeDecodeError, RecursionError):
        data = None
    if not isinstance(data, dict):
        db.session.add(WebhookDelivery(connection_id=connection.id, webhook_id=claimed,
                                       topic=topic, outcome="failed", reason="Not a JSON object",
                                       received_at=utcnow()))
        db.session.commit()
        return problem(400, detail="The body is not a JSON object.")
    handler = SHOPIFY_TOPICS.get(topic or "")
    if handler is not None:
        try:
            handler(connection.id, data)
        except (TypeError, ValueError, AttributeError, ArithmeticError):
            # a member of an unexpected type (text where a number belongs …): nothing is
            # stored, and a 422 stops the shop retrying a payload that cannot improve
            log.warning("unreadable shopify %s payload on connection %s", topic, connection.id,
                        exc_info=True)
            db.session.rollback()
            db.session.add(WebhookDelivery(connection_id=connection.id, webhook_id=claimed,
                                           topic=topic, outcome="failed",
                                           reason="Unreadable payload", received_at=utcnow()))
            db.session.commit()
            return problem(422, detail=f"The {topic} payload could not be read.")
    outcome = "processed" if handler else "ignored"
    db.session.add(WebhookDelivery(connection_id=connection.id, webhook_id=claimed, topic=topic,
                                   outcome=outcome, received_at=utcnow()))
    try:
        db.session.commit()
    except IntegrityError:  # the same delivery, processed by a concurrent request
        db.session.rollback()
        return jsonify(status="duplicate")
    log.info("shopify webhook %s on connection %s: %s", topic, connection.id, outcome)
    return jsonify(status=outcome)

