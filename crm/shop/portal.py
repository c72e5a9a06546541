"""The customer's "where is my order" pages (blueprint ``shop_portal``, under /portal).

A customer sees the orders of the shop customers linked to their verified email
(:func:`crm.shop.services.orders_visible_to`); any other order id is a 404.
"""
from flask import Blueprint, render_template
from flask_login import current_user

from crm.auth.policy import requires
from crm.pagination import id_keyset_page
from crm.shop import services
from crm.shop.access import get_order_or_404
from crm.shop.models import ShopOrder

bp = Blueprint("shop_portal", __name__, url_prefix="/portal/orders")


@bp.route("/")
@requires("shop.order.own")
def orders():
    """The customer's orders, newest first, 25 a page, each with its delivery state."""
    rows, next_before = id_keyset_page(services.orders_visible_to(current_user), ShopOrder)
    return render_template("shop/portal/orders.html", orders=rows, next_before=next_before)


@bp.route("/<int:order_id>")
@requires("shop.order.own")
def order(order_id: int):
    """One of the customer's orders with its delivery timeline (404 for anyone else's)."""
    o = get_order_or_404(order_id, current_user)
    return render_template("shop/portal/order.html", order=o, timeline=services.tracking(o))
