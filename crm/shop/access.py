"""The access helpers of shop rows, used by the console, the portal and the API."""
from __future__ import annotations

from flask import abort
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crm.extensions import db
from crm.shop.models import Fulfilment, ShopConnection, ShopCustomer, ShopNote, ShopOrder
from crm.shop.services import orders_visible_to


def get_customer_or_404(customer_id: int) -> ShopCustomer:
    """The shop customer (staff only reach this: the permission is checked by the route).

    :raises werkzeug.exceptions.NotFound: no such customer (404).
    """
    customer = db.session.get(ShopCustomer, customer_id)
    if customer is None:
        abort(404)
    return customer


def get_order_or_404(order_id: int, user) -> ShopOrder:
    """The order with its customer, fulfilments and their events loaded, if ``user`` may
    see it (staff: any; a customer: only the orders of their linked shop customers).

    :raises werkzeug.exceptions.NotFound: missing, or another customer's order (404, so
        order ids cannot be probed).
    """
    order = db.session.scalar(
        orders_visible_to(user).where(ShopOrder.id == order_id)
        .options(selectinload(ShopOrder.customer),
                 selectinload(ShopOrder.fulfilments).selectinload(Fulfilment.events)))
    if order is None:
        abort(404)
    return order


def get_connection_or_404(connection_id: int) -> ShopConnection:
    """The shop connection.

    :raises werkzeug.exceptions.NotFound: no such connection (404).
    """
    connection = db.session.scalar(select(ShopConnection)
                                   .where(ShopConnection.id == connection_id))
    if connection is None:
        abort(404)
    return connection


def get_note_or_404(customer: ShopCustomer, note_id: int) -> ShopNote:
    """The note ``note_id`` of ``customer``, author loaded.

    :raises werkzeug.exceptions.NotFound: no such note on this customer (404).
    """
    note = db.session.scalar(select(ShopNote).where(ShopNote.id == note_id,
                                                    ShopNote.customer_id == customer.id)
                             .options(selectinload(ShopNote.author)))
    if note is None:
        abort(404)
    return note
