"""API resources of the shop, one module per resource:

* :mod:`.customers`: shop customers (``/shop/customers``) and their orders;
* :mod:`.notes`: notes on shop customers;
* :mod:`.orders`: orders and their delivery timeline (``/shop/orders``);
* :mod:`.products`: products and their variants (``/shop/products``);
* :mod:`.connections`: shop connections (``/shop-connections``);
* :mod:`.webhooks`: the receivers' OpenAPI entries (the receivers are
  :mod:`crm.shop.webhooks`, a blueprint nested in the API's).

Shop customers live under ``/shop/`` because ``/customers`` already lists the portal's
customer accounts. Handlers authorise, parse (:mod:`.schemas`), call
:mod:`crm.shop.services` and serialise; refusals are problems rendered by the app's handler.
"""
from crm.api import bp
from crm.api.shop import (  # noqa: F401
    connections,
    customers,
    notes,
    orders,
    products,
    webhooks,
)
from crm.shop.webhooks import bp as webhooks_bp

bp.register_blueprint(webhooks_bp)
