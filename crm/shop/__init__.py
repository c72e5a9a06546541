"""Customer service for shops: shop customers, orders and their delivery, products, shop
connections and their webhooks (blueprints ``shop``, ``shop_portal``, ``shop_webhooks``).

Rules live in :mod:`crm.shop.services`, object access in :mod:`crm.shop.access`, platform
payloads in :mod:`crm.shop.importers`; the API is :mod:`crm.api.shop`.
"""
from flask import Blueprint

bp = Blueprint("shop", __name__, url_prefix="/shop")

from crm.shop import events, routes  # noqa: E402,F401
