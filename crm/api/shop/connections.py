"""API resources for shop connections: create (→ the webhook URL), list, get, delete.
The signing secret is accepted once and never answered."""
from __future__ import annotations

from flask import Response

from crm.api.common import answer, page_answer, page_by_id
from crm.api.openapi import api_operation, request_body, request_query
from crm.api.schemas import PageQuery
from crm.api.shop.schemas import ConnectionIn, ConnectionOut, ConnectionPage
from crm.auth.policy import acting_user, requires
from crm.extensions import db
from crm.shop import webhooks
from crm.shop.access import get_connection_or_404
from crm.shop.models import ShopConnection

TAG = "Shop connections"


def _out(connection: ShopConnection) -> dict:
    return {"id": connection.id, "platform": connection.platform, "name": connection.name,
            "webhook_url": webhooks.webhook_url(connection),
            "created_at": connection.created_at}


@api_operation("POST", "/shop-connections", body=ConnectionIn, response=ConnectionOut,
               status=201, tag=TAG, summary="Connect a shop")
@requires("shop.connection.manage", api=True)
def create_shop_connection():
    """Register a shop's webhooks: answer the ``webhook_url`` to paste into the shop. Only
    ``shopify`` is received so far (others: 422)."""
    data: ConnectionIn = request_body()
    connection = webhooks.create_connection(acting_user(), data.platform, data.name,
                                            data.secret)
    return answer(ConnectionOut, _out(connection), 201,
                  Location=f"/api/v1/shop-connections/{connection.id}")


@api_operation("GET", "/shop-connections", query=PageQuery, response=ConnectionPage, tag=TAG,
               summary="List shop connections")
@requires("shop.connection.manage", api=True)
def list_shop_connections():
    """Shop connections, newest first."""
    query: PageQuery = request_query()
    rows, next_cursor = page_by_id(db.select(ShopConnection), ShopConnection.id, query.limit,
                                   query.cursor)
    return page_answer(ConnectionPage, [_out(c) for c in rows], query.limit, next_cursor)


@api_operation("GET", "/shop-connections/{connection_id}", response=ConnectionOut, tag=TAG,
               summary="Get a shop connection")
@requires("shop.connection.manage", api=True)
def get_shop_connection(connection_id: int):
    """One shop connection (without its secret)."""
    return answer(ConnectionOut, _out(get_connection_or_404(connection_id)))


@api_operation("DELETE", "/shop-connections/{connection_id}", status=204, tag=TAG,
               summary="Disconnect a shop")
@requires("shop.connection.manage", api=True)
def delete_shop_connection(connection_id: int):
    """Remove the connection: its webhooks are refused from now on (404); the customers and
    orders it brought stay."""
    webhooks.delete_connection(get_connection_or_404(connection_id), acting_user())
    return Response(status=204)
