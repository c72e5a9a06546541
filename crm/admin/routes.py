"""Admin console pages."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, or_, select

from crm.admin import bp
from crm.admin import services as user_admin
from crm.admin.forms import CreateUserForm, MonitorPlanForm, UserForm, role_choices
from crm.auth import services as account
from crm.auth.models import ADMIN, CUSTOMER, PENDING, ROLES, STAFF_ROLES, USER_STATUSES, User
from crm.auth.policy import has_permission, requires
from crm.errors import NotAllowed, ServiceError
from crm.extensions import db
from crm.htmx import render_page_or_fragment, rerender_at
from crm.monitoring import plans
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
@requires("user.administer")
def users():
    """All users, filtered by role, status and text (name/email)."""
    role, status, q = (
        _choice_arg("role", ROLES),
        _choice_arg("status", USER_STATUSES),
        _search_arg(),
    )
    stmt = select(User)
    if role in ROLES:
        stmt = stmt.where(User.role == role)
    if status in USER_STATUSES:
        stmt = stmt.where(User.status == status)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(or_(func.lower(User.name).like(like), func.lower(User.email).like(like)))
    rows, next_before = id_keyset_page(stmt, User)
    return render_page_or_fragment(
        "admin/users.html",
        "admin/_users_table.html",
        users=rows,
        next_before=next_before,
        roles=ROLES,
        statuses=USER_STATUSES,
        role=role,
        status=status,
        q=q,
    )


def _me():
    return current_user._get_current_object()


def _form_error(form, exc: ServiceError) -> int:
    """Show ``exc`` on its field (or the first one); :returns: the status to answer."""
    field = getattr(form, exc.field, None) if exc.field else None
    (field if field is not None else next(iter(form))).errors.append(exc.message)
    return 403 if isinstance(exc, NotAllowed) else 422


@bp.route("/users/new", methods=["GET", "POST"])
@requires("user.administer")
def new_user():
    """Create an account (managers: any role but admin) with an initial password."""
    form = CreateUserForm()
    form.role.choices = role_choices(user_admin.assignable_roles(_me()))
    code = 200
    if form.validate_on_submit():
        try:
            u = user_admin.create_user(
                _me(),
                email=form.email.data,
                name=form.name.data,
                role=form.role.data,
                status=form.status.data,
                password=form.password.data,
            )
        except ServiceError as exc:
            code = _form_error(form, exc)
        else:
            flash(f"{u.name} ({u.role}) created. Pass the initial password on to them.", "success")
            return redirect(url_for("admin.user", user_id=u.id))
    elif form.is_submitted():
        code = 422
    return render_template("admin/user_new.html", form=form), code


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@requires("user.administer")
def user(user_id: int):
    """One user: details, ticket counts; edit name, email, role and status (managers: not
    admins' accounts, and never to or from the admin role)."""
    u = db.get_or_404(User, user_id)
    me = _me()
    form = UserForm(obj=u)
    form.role.choices = role_choices(ROLES if u.role == ADMIN else user_admin.assignable_roles(me))
    code = 200
    if form.is_submitted() and not user_admin.can_manage(me, u):
        form.role.errors = ["Only an admin can change an admin's account."]
        code = 403
    elif form.validate_on_submit():
        try:
            user_admin.update_user(
                me,
                u,
                name=form.name.data,
                email=form.email.data,
                role=form.role.data,
                status=form.status.data,
            )
        except ServiceError as exc:
            db.session.rollback()
            code = _form_error(form, exc)
        else:
            flash(f"{u.name} is now {u.role} ({u.status}).", "success")
            return redirect(url_for("admin.user", user_id=u.id))
    elif form.is_submitted():
        code = 422
    return _user_page(u, form, code=code)


def _user_page(u: User, form: UserForm | None = None, plan_form: MonitorPlanForm | None = None,
               code: int = 200):
    """The user page (``admin/user.html``) with these forms (fresh ones when None), answered
    with ``code``."""
    me = _me()
    if form is None:
        form = UserForm(obj=u, formdata=None)
        form.role.choices = role_choices(
            ROLES if u.role == ADMIN else user_admin.assignable_roles(me))
    if plan_form is None and u.role == CUSTOMER and has_permission(me, "monitor.plan"):
        plan_form = MonitorPlanForm(obj=plans.plan_for(u), formdata=None)
    requested = db.session.scalar(select(func.count(Ticket.id)).where(Ticket.requester_id == u.id))
    assigned = db.session.scalar(select(func.count(Ticket.id)).where(Ticket.assignee_id == u.id))
    return render_template(
        "admin/user.html",
        user=u,
        form=form,
        plan_form=plan_form,
        monitors_owned=plans.monitors_owned(u) if plan_form is not None else None,
        requested=requested,
        assigned=assigned,
        can_manage=user_admin.can_manage(me, u),
        deleted=user_admin.is_deleted(u),
    ), code


@bp.route("/users/<int:user_id>/monitoring-plan", methods=["GET", "POST"])
@requires("monitor.plan")
def monitoring_plan(user_id: int):
    """Set a customer's self-service monitoring plan (monitors allowed, shortest interval,
    SMS). GET shows the user's page."""
    u = db.get_or_404(User, user_id)
    if u.role != CUSTOMER:
        abort(404)
    form = MonitorPlanForm()
    if request.method == "GET" or not form.validate_on_submit():
        code = 422 if form.is_submitted() else 200
        return rerender_at(url_for("admin.user", user_id=u.id), *_user_page(u, plan_form=form,
                                                                            code=code))
    try:
        plans.set_plan(u, max_monitors=form.max_monitors.data,
                       min_interval_seconds=form.min_interval_seconds.data,
                       sms_included=form.sms_included.data, by=_me())
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        getattr(form, exc.field, form.max_monitors).errors = [exc.message]
        return rerender_at(url_for("admin.user", user_id=u.id),
                           *_user_page(u, plan_form=form, code=exc.status))
    flash(f"{u.name}'s plan: {form.max_monitors.data} monitors, checks every "
          f"{form.min_interval_seconds.data} s or more, SMS "
          f"{'included' if form.sms_included.data else 'not included'}.", "success")
    return redirect(url_for("admin.user", user_id=u.id))


_ACTIONS = {
    "deactivate": (user_admin.deactivate_user, "Deactivate", "deactivated"),
    "delete": (user_admin.delete_user, "Delete", "deleted"),
}


@bp.route("/users/<int:user_id>/<any(deactivate, delete):action>", methods=["GET", "POST"])
@requires("user.administer")
def user_action(user_id: int, action: str):
    """Deactivate or delete an account: GET shows what will happen and asks for
    confirmation; POST (with ``confirm=yes``) does it. Deleting anonymises the account
    (see :func:`crm.admin.services.delete_user`)."""
    u = db.get_or_404(User, user_id)
    me = _me()
    service, verb, done = _ACTIONS[action]
    form = ActionForm()
    error, code = None, 200
    if not user_admin.can_manage(me, u):
        error, code = "Only an admin can change an admin's account.", 403
    elif request.method == "POST":
        if not form.validate_on_submit():
            error, code = "The form expired; please try again.", 422
        elif request.form.get("confirm") != "yes":
            error, code = f"Tick the box to confirm: {verb.lower()} {u.name}.", 422
        else:
            label = f"{u.name} ({u.email})"
            try:
                service(me, u)
            except ServiceError as exc:
                db.session.rollback()
                error, code = exc.message, (403 if isinstance(exc, NotAllowed) else 409)
            else:
                flash(f"{label} {done}.", "success")
                return redirect(
                    url_for("admin.user", user_id=u.id)
                    if action == "deactivate"
                    else url_for("admin.users")
                )
    requested = db.session.scalar(select(func.count(Ticket.id)).where(Ticket.requester_id == u.id))
    return render_template(
        "admin/user_confirm.html",
        user=u,
        action=action,
        verb=verb,
        error=error,
        form=ActionForm(formdata=None),
        requested=requested,
        deleted=user_admin.is_deleted(u),
    ), code


@bp.route("/registrations")
@requires("registration.decide")
def registrations():
    """Staff registration requests (default: pending)."""
    status = _choice_arg("status", USER_STATUSES, PENDING)
    stmt = select(User).where(User.role.in_(STAFF_ROLES))
    if status in USER_STATUSES:
        stmt = stmt.where(User.status == status)
    rows, next_before = id_keyset_page(stmt, User)
    return render_template(
        "admin/registrations.html",
        users=rows,
        next_before=next_before,
        status=status,
        form=ActionForm(formdata=None),
    )


@bp.route("/registrations/<int:user_id>/approve", methods=["POST"])
@requires("registration.decide")
def approve(user_id: int):
    """Approve a pending staff registration (one click: it can be undone by disabling)."""
    u = db.get_or_404(User, user_id)
    if not ActionForm().validate_on_submit():
        flash("The form expired; please try again.", "danger")
        return redirect(url_for("admin.registrations"))
    try:
        account.decide_registration(u, current_user, approve=True)
    except ServiceError as exc:
        flash(exc.message, "warning")
    else:
        flash(f"{u.name} ({u.role}) approved.", "success")
    return redirect(url_for("admin.registrations"))


@bp.route("/registrations/<int:user_id>/reject", methods=["GET", "POST"])
@requires("registration.decide")
def reject(user_id: int):
    """Reject a pending staff registration: GET says what will happen and asks; POST with
    ``confirm=yes`` rejects (a POST without it only asks again, 422), because a rejection
    emails the person and cannot be taken back from this page."""
    u = db.get_or_404(User, user_id)
    form = ActionForm()
    error, code = None, 200
    if u.status != PENDING:
        error, code = f"This registration is not pending (it is {u.status}).", 409
    elif request.method == "POST":
        if not form.validate_on_submit():
            error, code = "The form expired; please try again.", 422
        elif request.form.get("confirm") != "yes":
            error, code = f"Tick the box to confirm: reject {u.name}.", 422
        else:
            try:
                account.decide_registration(u, current_user, approve=False)
            except ServiceError as exc:
                db.session.rollback()
                error, code = exc.message, (403 if isinstance(exc, NotAllowed) else 409)
            else:
                flash(f"{u.name} ({u.role}) rejected.", "success")
                return redirect(url_for("admin.registrations"))
    return render_template(
        "admin/registration_reject.html", user=u, error=error, form=ActionForm(formdata=None)
    ), code


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
    counts = (
        dict(
            db.session.execute(
                select(Ticket.requester_id, func.count(Ticket.id))
                .where(Ticket.requester_id.in_(ids))
                .group_by(Ticket.requester_id)
            ).all()
        )
        if ids
        else {}
    )
    return render_page_or_fragment(
        "admin/customers.html",
        "admin/_customers_table.html",
        customers=rows,
        counts=counts,
        next_before=next_before,
        q=q,
    )
