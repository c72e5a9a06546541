"""The webhook receivers in the OpenAPI document. They are routed by
:mod:`crm.shop.webhooks` (a blueprint nested in the API's, outside its rate limit), so their
entries are added to the registry here rather than through ``api_operation``."""
from __future__ import annotations

import inspect

from crm.api.openapi import OPERATIONS, PREFIX, Operation
from crm.api.shop.schemas import WebhookAnswer
from crm.auth.policy import PUBLIC
from crm.shop import webhooks

OPERATIONS.append(Operation(
    method="POST", path=PREFIX + "/webhooks/shopify/{connection_id}",
    endpoint="shop_webhooks.shopify", permission=PUBLIC, tag="Shop connections",
    summary="Receive a Shopify webhook", description=inspect.cleandoc(webhooks.shopify.__doc__),
    response=WebhookAnswer, path_params=["connection_id"],
    errors={400: "A signed body that is not a JSON object.",
            401: "Missing or wrong X-Shopify-Hmac-Sha256 signature.",
            404: "No Shopify connection has this id.", 413: "A body over 2 MiB.",
            422: "A signed payload whose members cannot be read (nothing stored)."},
    header_params=(
        {"name": webhooks.SIGNATURE_HEADER, "schema": {"type": "string"},
         "description": "Base64 HMAC-SHA256 of the raw body, keyed with the secret."},
        {"name": webhooks.WEBHOOK_ID_HEADER, "schema": {"type": "string", "maxLength": 100},
         "description": "Delivery id; a repeat is answered ``duplicate``."},
        {"name": webhooks.TOPIC_HEADER, "schema": {"type": "string"},
         "description": "``orders/create``, ``fulfillments/update`` …"})))
