"""API resources for shop customers: list, get, create, update, their orders."""
from __future__ import annotations

from flask import Response

from crm.api.common import answer, page_answer, page_by_id
from crm.api.openapi import ApiProblem, api_operation, request_body, request_query
from crm.api.shop.schemas import (
    OrderListQuery,
    OrderPage,
    ShopCustomerIn,
    ShopCustomerListQuery,
    ShopCustomerOut,
    ShopCustomerPage,
    ShopCustomerPatch,
)
from crm.auth.policy import acting_user, requires
from crm.shop import services
from crm.shop.access import get_customer_or_404
from crm.shop.models import ShopCustomer, ShopOrder

TAG = "Shop customers"


def _fields(model) -> dict:
    """The members the client sent, addresses as plain dicts without nulls."""
    data = model.model_dump(exclude_unset=True)
    if "addresses" in data:
        data["addresses"] = [{k: v for k, v in a.items() if v is not None}
                             for a in data["addresses"]]
    return data


@api_operation("GET", "/shop/customers", query=ShopCustomerListQuery, response=ShopCustomerPage,
               tag=TAG, summary="List shop customers")
@requires("shop.customer.view", api=True)
def list_shop_customers():
    """Shop customers, newest first (keyset pages), filtered by ``q``, ``tag``,
    ``accepts_marketing`` and ``linked``."""
    query: ShopCustomerListQuery = request_query()
    stmt = services.customers_query(services.CustomerFilters(
        q=query.q, tag=query.tag, accepts_marketing=query.accepts_marketing, linked=query.linked))
    rows, next_cursor = page_by_id(stmt, ShopCustomer.id, query.limit, query.cursor)
    return page_answer(ShopCustomerPage, rows, query.limit, next_cursor)


@api_operation("POST", "/shop/customers", body=ShopCustomerIn, response=ShopCustomerOut,
               status=201, errors=(409,), tag=TAG, summary="Create a shop customer")
@requires("shop.customer.edit", api=True)
def create_shop_customer():
    """Create a shop customer; 409 when another has this email, 422 for invalid members
    (an unreadable phone number, neither name nor email)."""
    data: ShopCustomerIn = request_body()
    customer = services.create_customer(acting_user(), _fields(data))
    return answer(ShopCustomerOut, customer, 201,
                  Location=f"/api/v1/shop/customers/{customer.id}")


@api_operation("GET", "/shop/customers/{shop_customer_id}", response=ShopCustomerOut, tag=TAG,
               summary="Get a shop customer")
@requires("shop.customer.view", api=True)
def get_shop_customer(shop_customer_id: int):
    """One shop customer."""
    return answer(ShopCustomerOut, get_customer_or_404(shop_customer_id))


@api_operation("PATCH", "/shop/customers/{shop_customer_id}", body=ShopCustomerPatch,
               response=ShopCustomerOut, errors=(409,), tag=TAG,
               summary="Change a shop customer")
@requires("shop.customer.edit", api=True)
def update_shop_customer(shop_customer_id: int):
    """Change the members sent, all or nothing; each change is audited."""
    customer = get_customer_or_404(shop_customer_id)
    data: ShopCustomerPatch = request_body()
    fields = _fields(data)
    if not fields:
        raise ApiProblem(422, "Send at least one member to change.",
                         {"body": ["Send at least one member to change."]})
    return answer(ShopCustomerOut, services.update_customer(customer, acting_user(), fields))


@api_operation("DELETE", "/shop/customers/{shop_customer_id}", status=204, tag=TAG,
               summary="Delete a shop customer profile")
@requires("shop.customer.delete", api=True)
def delete_shop_customer(shop_customer_id: int):
    """Delete the profile and its notes (audited); its orders stay, without a customer. The
    portal account, if any, is not deleted."""
    services.delete_customer(get_customer_or_404(shop_customer_id), acting_user())
    return Response(status=204)


@api_operation("GET", "/shop/customers/{shop_customer_id}/orders", query=OrderListQuery,
               response=OrderPage, tag=TAG, summary="List a shop customer's orders")
@requires("shop.order.view", api=True)
def list_shop_customer_orders(shop_customer_id: int):
    """The customer's orders, newest first, with the filters of the order list."""
    customer = get_customer_or_404(shop_customer_id)
    query: OrderListQuery = request_query()
    from crm.api.shop.orders import order_filters
    filters = order_filters(query)
    filters.customer_id = customer.id
    rows, next_cursor = page_by_id(services.orders_query(filters), ShopOrder.id, query.limit,
                                   query.cursor)
    return page_answer(OrderPage, rows, query.limit, next_cursor)



