"""API resources of the shop, one module per resource:

* :mod:`.customers`: shop customers (``/shop/customers``) and their orders;
* :mod:`.orders`: orders and their delivery timeline (``/shop/orders``);
* :mod:`.connections`: shop connections (``/shop-connections``) whose webhooks
  :mod:`crm.shop.webhooks` receives.

Shop customers live under ``/shop/`` because ``/customers`` already lists the portal's
customer accounts. Handlers authorise, parse (:mod:`.schemas`), call
:mod:`crm.shop.services` and serialise; refusals are problems rendered by the app's handler.
"""
from crm.api.shop import connections, customers, orders  # noqa: F401
