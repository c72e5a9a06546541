"""API resources for orders: list, get, and the delivery timeline ("where is my order")."""
from __future__ import annotations

from crm.api.common import answer, page_answer, page_by_id
from crm.api.openapi import api_operation, request_query
from crm.api.shop.schemas import OrderListQuery, OrderOut, OrderPage, TrackingOut
from crm.auth.policy import acting_user, requires
from crm.shop import services
from crm.shop.access import get_order_or_404
from crm.shop.models import ShopOrder

TAG = "Orders"


def order_filters(query: OrderListQuery) -> services.OrderFilters:
    """The service's filters from a validated order-list query."""
    return services.OrderFilters(
        status=query.status, financial_status=query.financial_status,
        fulfilment_status=query.fulfilment_status, delivery_state=query.delivery_state,
        customer_id=query.customer_id, q=query.q)


@api_operation("GET", "/shop/orders", query=OrderListQuery, response=OrderPage, tag=TAG,
               summary="List orders")
@requires("shop.order.view", api=True)
def list_shop_orders():
    """Orders, newest first (keyset pages), filtered by status, payment, fulfilment,
    delivery state, customer and ``q``."""
    query: OrderListQuery = request_query()
    rows, next_cursor = page_by_id(services.orders_query(order_filters(query)), ShopOrder.id,
                                   query.limit, query.cursor)
    return page_answer(OrderPage, rows, query.limit, next_cursor)


@api_operation("GET", "/shop/orders/{order_id}", response=OrderOut, tag=TAG,
               summary="Get an order")
@requires("shop.order.view", api=True)
def get_shop_order(order_id: int):
    """One order."""
    return answer(OrderOut, get_order_or_404(order_id, acting_user()))


@api_operation("GET", "/shop/orders/{order_id}/tracking", response=TrackingOut, tag=TAG,
               summary="Where an order is")
@requires("shop.order.view", api=True)
def get_shop_order_tracking(order_id: int):
    """The order's delivery state and each shipment's timeline (carrier, tracking number
    and URL, events oldest first)."""
    order = get_order_or_404(order_id, acting_user())
    return answer(TrackingOut, {"order_id": order.id, "name": order.name,
                                "delivery_state": order.delivery_state,
                                "fulfilments": services.tracking(order)})
