"""Admin console pages."""
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, or_, select

from crm.admin import bp
from crm.admin.forms import UserForm
from crm.auth import services as account
from crm.auth.models import CUSTOMER, PENDING, ROLES, STAFF_ROLES, USER_STATUSES, User
from crm.auth.policy import requires
from crm.errors import ServiceError
from crm.extensions import db
from crm.htmx import render_page_or_fragment
from crm.pagination import id_keyset_page
from crm.tickets.forms import ActionForm
from crm.tickets.models import Ticket


def _choice_arg(name: str, allowed, default: str = "") -> str:
    """A query argument that must be one of ``allowed`` (or empty). :raises ServiceError: 422."""
    value = request.args.get(name, default)
    if value and value not in allowed:
        raise ServiceError(f"Unknown {name} {value[:40]!r}: choose one of {', '.join(allowed)}.",
                           field=name, status=422)
    return value


def _search_arg() -> str:
    """The ``q`` argument, at most 100 characters. :raises ServiceError: 422 when longer."""
    q = request.args.get("q", "").strip()
    if len(q) > 100:
        raise ServiceError("Search text is limited to 100 characters.", field="q", status=422)
    return q


@bp.route("/users")
@requires("user.manage")
def users():
    """All users, filtered by role, status and text (name/email)."""
    role, status, q = _choice_arg("role", ROLES), _choice_arg("status", USER_STATUSES), _search_arg()
    stmt = select(User)
    if role in ROLES:
        stmt = stmt.where(User.role == role)
    if status in USER_STATUSES:
        stmt = stmt.where(User.status == status)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(or_(func.lower(User.name).like(like), func.lower(User.email).like(like)))
    rows, next_before = id_keyset_page(stmt, User)
    return render_page_or_fragment("admin/users.html", "admin/_users_table.html", users=rows,
                                   next_before=next_before, roles=ROLES, statuses=USER_STATUSES,
                                   role=role, status=status, q=q)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@requires("user.manage")
def user(user_id: int):
    """One user: details, ticket counts, change role and status."""
    u = db.get_or_404(User, user_id)
    form = UserForm(obj=u)
    code = 200
    if form.validate_on_submit():
        try:
            account.update_user(u, current_user, role=form.role.data, status=form.status.data)
        except ServiceError as exc:
            getattr(form, exc.field or "role").errors.append(exc.message)
            code = 422
        else:
            flash(f"{u.name} is now {u.role} ({u.status}).", "success")
            return redirect(url_for("admin.user", user_id=u.id))
    elif form.is_submitted():
        code = 422
    requested = db.session.scalar(select(func.count(Ticket.id)).where(Ticket.requester_id == u.id))
    assigned = db.session.scalar(select(func.count(Ticket.id)).where(Ticket.assignee_id == u.id))
    return render_template("admin/user.html", user=u, form=form, requested=requested,
                           assigned=assigned), code


@bp.route("/registrations")
@requires("registration.decide")
def registrations():
    """Staff registration requests (default: pending)."""
    status = _choice_arg("status", USER_STATUSES, PENDING)
    stmt = select(User).where(User.role.in_(STAFF_ROLES))
    if status in USER_STATUSES:
        stmt = stmt.where(User.status == status)
    rows, next_before = id_keyset_page(stmt, User)
    return render_template("admin/registrations.html", users=rows, next_before=next_before,
                           status=status, form=ActionForm(formdata=None))


@bp.route("/registrations/<int:user_id>/<any(approve, reject):decision>", methods=["POST"])
@requires("registration.decide")
def decide(user_id: int, decision: str):
    """Approve or reject a pending staff registration."""
    u = db.get_or_404(User, user_id)
    if not ActionForm().validate_on_submit():
        flash("The form expired; please try again.", "danger")
        return redirect(url_for("admin.registrations"))
    try:
        account.decide_registration(u, current_user, approve=decision == "approve")
    except ServiceError as exc:
        flash(exc.message, "warning")
    else:
        flash(f"{u.name} ({u.role}) {'approved' if decision == 'approve' else 'rejected'}.", "success")
    return redirect(url_for("admin.registrations"))


@bp.route("/customers")
@requires("customer.list")
def customers():
    """Customers with their ticket counts (one grouped query, no N+1)."""
    q = _search_arg()
    stmt = select(User).where(User.role == CUSTOMER)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(or_(func.lower(User.name).like(like), func.lower(User.email).like(like)))
    rows, next_before = id_keyset_page(stmt, User)
    ids = [u.id for u in rows]
    counts = dict(db.session.execute(select(Ticket.requester_id, func.count(Ticket.id))
                                     .where(Ticket.requester_id.in_(ids))
                                     .group_by(Ticket.requester_id)).all()) if ids else {}
    return render_page_or_fragment("admin/customers.html", "admin/_customers_table.html",
                                   customers=rows, counts=counts, next_before=next_before, q=q)
