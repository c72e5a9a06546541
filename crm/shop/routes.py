"""Staff console of the shop: customer list, Customer 360, new/edit customer, order list,
order page and product list.

Views authorise (``@requires``), parse, call :mod:`crm.shop.services` and render; lists
are keyset pages by id (``?before=``), filtered live with htmx (a fragment for htmx).
"""
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from crm.auth.models import User
from crm.auth.policy import requires
from crm.errors import ServiceError
from crm.extensions import db
from crm.htmx import render_page_or_fragment, rerender_at
from crm.pagination import id_keyset_page
from crm.shop import bp, services
from crm.shop.access import get_customer_or_404, get_note_or_404, get_order_or_404
from crm.shop.forms import CustomerForm, DeleteForm, NoteForm, OrderFilterForm
from crm.shop.models import Product, ShopCustomer, ShopOrder
from crm.tickets.forms import show_refusal
from crm.tickets.models import Ticket

_BOOL = {"yes": True, "no": False}


@bp.route("/customers")
@requires("shop.customer.view")
def customers():
    """Shop customers, newest first, 25 a page; ``q`` (name, email, phone, order number),
    ``tag``, ``marketing=yes|no`` and ``linked=yes|no`` filter them."""
    filters = services.CustomerFilters(
        q=request.args.get("q") or None, tag=request.args.get("tag") or None,
        accepts_marketing=_BOOL.get(request.args.get("marketing", "")),
        linked=_BOOL.get(request.args.get("linked", "")))
    rows, next_before, error = [], None, None
    try:
        rows, next_before = id_keyset_page(services.customers_query(filters), ShopCustomer)
    except ServiceError as exc:
        error = exc.message
    html = render_page_or_fragment("shop/customers.html", "shop/_customers_table.html",
                                   customers=rows, next_before=next_before, filters=filters,
                                   args=request.args, error=error)
    return html, 422 if error else 200


@bp.route("/customers/new", methods=["GET", "POST"])
@requires("shop.customer.edit")
def new_customer():
    """Create a shop customer (linked at once to the portal user with that verified email)."""
    form = CustomerForm()
    if form.validate_on_submit():
        try:
            customer = services.create_customer(current_user, form.values())
        except ServiceError as exc:
            db.session.rollback()
            _show_errors(exc, form)
        else:
            flash(f"Customer {customer.name} created.", "success")
            return redirect(url_for("shop.customer", shop_customer_id=customer.id))
    status = 422 if form.is_submitted() else 200
    return render_template("shop/customer_form.html", form=form, customer=None), status


def _show_errors(exc: ServiceError, form: CustomerForm) -> None:
    """Put every refused member's message on its form field (a 403 is raised again)."""
    show_refusal(exc, None)
    errors = exc.errors or {exc.field or "first_name": [exc.message]}
    for name, messages in errors.items():
        field = getattr(form, CustomerForm.FIELD_OF.get(name, "first_name"))
        field.errors = [*field.errors, *messages]


def _customer_page(c: ShopCustomer, note_form: NoteForm | None = None) -> str:
    """Customer 360 of ``c`` (with ``note_form`` as posted, to show its refusal)."""
    tickets = []
    if c.user_id:
        tickets = list(db.session.scalars(select(Ticket).where(Ticket.requester_id == c.user_id)
                                          .order_by(Ticket.updated_at.desc()).limit(20)))
    linked = db.session.get(User, c.user_id) if c.user_id else None
    orders = services.orders_of(c)
    notes = services.notes_of(c)
    return render_template("shop/customer.html", customer=c, orders=orders,
                           timelines={o.id: services.tracking(o) for o in orders},
                           tickets=tickets, linked_user=linked, notes=notes,
                           deletable={n.id for n in notes
                                      if services.can_delete_note(current_user, n)},
                           note_form=note_form or NoteForm(formdata=None),
                           changes=services.changes_of("customer", c.id, limit=20))


@bp.route("/customers/<int:shop_customer_id>")
@requires("shop.customer.view")
def customer(shop_customer_id: int):
    """Customer 360: profile, tags, notes, orders with their delivery timeline, the tickets
    of the linked portal user, and the audit trail of the record."""
    return _customer_page(get_customer_or_404(shop_customer_id))


@bp.route("/customers/<int:shop_customer_id>/notes", methods=["GET", "POST"])
@requires("shop.customer.edit")
def add_note(shop_customer_id: int):
    """Add a time-stamped note; a refusal re-renders the page (422). A GET goes to the page."""
    page = url_for("shop.customer", shop_customer_id=shop_customer_id)
    if request.method == "GET":
        return redirect(page, 303)
    c = get_customer_or_404(shop_customer_id)
    form = NoteForm()
    if form.validate_on_submit():
        try:
            services.add_note(c, current_user, form.body.data)
        except ServiceError as exc:
            db.session.rollback()
            show_refusal(exc, form, fields=("body",), default="body")
        else:
            flash("Note added.", "success")
            return redirect(page)
    return rerender_at(page, _customer_page(c, form))


@bp.route("/customers/<int:shop_customer_id>/notes/<int:note_id>/delete",
          methods=["GET", "POST"])
@requires("shop.customer.edit")
def delete_note(shop_customer_id: int, note_id: int):
    """Delete a note: its author, a manager or an admin (others: 403). A GET goes to the
    page."""
    page = url_for("shop.customer", shop_customer_id=shop_customer_id)
    if request.method == "GET":
        return redirect(page, 303)
    c = get_customer_or_404(shop_customer_id)
    note = get_note_or_404(c, note_id)
    if DeleteForm().validate_on_submit():
        services.delete_note(note, current_user)
        flash("Note deleted.", "success")
    return redirect(page)


@bp.route("/customers/<int:shop_customer_id>/edit", methods=["GET", "POST"])
@requires("shop.customer.edit")
def edit_customer(shop_customer_id: int):
    """Edit a shop customer's profile; only changed members are stored and audited."""
    c = get_customer_or_404(shop_customer_id)
    form = CustomerForm(obj=c, tag_list=", ".join(c.tags or []))
    if form.validate_on_submit():
        try:
            services.update_customer(c, current_user, form.values())
        except ServiceError as exc:
            db.session.rollback()
            _show_errors(exc, form)
        else:
            flash("Customer saved.", "success")
            return redirect(url_for("shop.customer", shop_customer_id=c.id))
    status = 422 if form.is_submitted() else 200
    return render_template("shop/customer_form.html", form=form, customer=c), status


@bp.route("/orders")
@requires("shop.order.view")
def orders():
    """Orders, newest first, 25 a page, filtered by status, payment, fulfilment, delivery
    state and ``q`` (order number, tracking number or email)."""
    form = OrderFilterForm(request.args)
    filters = services.OrderFilters(
        q=form.q.data or None, status=form.status.data or None,
        financial_status=form.financial_status.data or None,
        fulfilment_status=form.fulfilment_status.data or None,
        delivery_state=form.delivery_state.data or None)
    rows, next_before, error = [], None, None
    try:
        rows, next_before = id_keyset_page(services.orders_query(filters), ShopOrder)
    except ServiceError as exc:
        error = exc.message
    html = render_page_or_fragment("shop/orders.html", "shop/_orders_table.html", orders=rows,
                                   next_before=next_before, form=form, error=error)
    return html, 422 if error else 200


@bp.route("/orders/<int:order_id>")
@requires("shop.order.view")
def order(order_id: int):
    """An order: totals, line items, shipping address and the delivery timeline."""
    o = get_order_or_404(order_id, current_user)
    return render_template("shop/order.html", order=o, timeline=services.tracking(o))


@bp.route("/products")
@requires("shop.product.view")
def products():
    """Products with their variants (SKU, price, units in stock), newest first, 25 a page;
    ``q`` an exact SKU or text in the title, ``tag`` one tag."""
    rows, next_before, error = [], None, None
    try:
        stmt = services.products_query(request.args.get("q"), request.args.get("tag") or None)
        rows, next_before = id_keyset_page(stmt, Product)
    except ServiceError as exc:
        error = exc.message
    html = render_page_or_fragment("shop/products.html", "shop/_products_table.html",
                                   products=rows, next_before=next_before, args=request.args,
                                   error=error)
    return html, 422 if error else 200
