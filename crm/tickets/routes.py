"""Staff console: ticket lists with filters and search, ticket page, actions."""
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from crm.auth.models import ACTIVE, ENGINEER, User
from crm.auth.policy import has_permission, requires
from crm.errors import ServiceError
from crm.extensions import db
from crm.htmx import is_htmx_partial, poll_unchanged, render_page_or_fragment
from crm.tickets import bp, services
from crm.tickets.access import get_ticket_or_404
from crm.tickets.filters import filters_from_args
from crm.tickets.forms import (
    ActionForm,
    AssignForm,
    CommentForm,
    FilterForm,
    PriorityForm,
    StatusForm,
)
from crm.tickets.models import STATUS_LABELS
from crm.tickets.workflow import allowed_next


def _engineers() -> list:
    """Approved engineers as (id, name) rows, by name: only the columns the forms need."""
    return list(db.session.execute(select(User.id, User.name)
                                   .where(User.role == ENGINEER, User.status == ACTIVE)
                                   .order_by(User.name)))


@bp.route("/")
@requires("ticket.list_staff")
def index():
    """Ticket list. ``view=mine`` (an engineer's default: assigned to me), ``view=active``
    (open + in progress + pending) or ``view=all``; filters and text search (htmx live)."""
    default_view = "mine" if current_user.role == ENGINEER else "active"
    view = request.args.get("view", default_view)
    if view not in ("mine", "active", "all"):
        view = default_view
    engineers = _engineers()
    form = FilterForm(request.args)
    form.assignee.choices = [("", "Anyone"), ("none", "Unassigned")] + [(str(e.id), e.name) for e in engineers]
    error = None
    tickets, next_cursor = [], None
    try:
        filters = filters_from_args(request.args)
        if view == "active":
            filters.active = True
        tickets, next_cursor = services.list_tickets(
            current_user, filters, cursor=request.args.get("cursor") or None,
            scope="assigned" if view == "mine" else None)
    except ServiceError as exc:
        error = exc.message
        if exc.field and hasattr(form, exc.field):
            getattr(form, exc.field).errors = [exc.message]
    status = 422 if error else 200
    html = render_page_or_fragment("tickets/index.html", "tickets/_ticket_table.html",
                                   tickets=tickets, next_cursor=next_cursor, form=form, view=view,
                                   error=error)
    return html, status


def _detail_context(ticket, comment_form=None):
    status_form = StatusForm(formdata=None)
    next_statuses = allowed_next(ticket.status)
    status_form.status.choices = ([("", "Choose…")] + [(s, STATUS_LABELS[s]) for s in next_statuses]
                                  if next_statuses else [])
    assign_form = AssignForm(formdata=None)
    assign_form.assignee_id.choices = [(e.id, e.name) for e in _engineers()]
    if ticket.assignee_id:
        assign_form.assignee_id.data = ticket.assignee_id
    priority_form = PriorityForm(formdata=None, priority=ticket.priority)
    return {
        "ticket": ticket,
        "comments": services.visible_comments(current_user, ticket),
        "changes": services.history(ticket),
        "comment_form": comment_form or CommentForm(formdata=None),
        "status_form": status_form,
        "priority_form": priority_form,
        "assign_form": assign_form,
        "action_form": ActionForm(formdata=None),
        "can_update": services.can_update(current_user, ticket),
        "can_accept": current_user.role == ENGINEER and ticket.assignee_id == current_user.id
        and ticket.status == "open",
        "can_reassign": has_permission(current_user, "ticket.reassign"),
    }


@bp.route("/<int:ticket_id>")
@requires("ticket.list_staff")
def detail(ticket_id: int):
    """Ticket page: thread with internal notes, history, actions; the thread polls (htmx)."""
    t = get_ticket_or_404(ticket_id, current_user)
    if poll_unchanged(t.updated_at.isoformat()):
        return "", 204
    return render_page_or_fragment("tickets/detail.html", "tickets/_live.html", **_detail_context(t))


def _back(ticket_id: int):
    return redirect(url_for("tickets.detail", ticket_id=ticket_id))


def _refuse(ticket, message: str, comment_form=None):
    """Re-render the ticket page with the refusal shown (422), keeping what was typed."""
    flash(message, "danger")
    ctx = _detail_context(ticket, comment_form)
    if is_htmx_partial():
        return render_template("tickets/_live.html", **ctx), 422
    return render_template("tickets/detail.html", **ctx), 422


@bp.route("/<int:ticket_id>/accept", methods=["POST"])
@requires("ticket.accept")
def accept(ticket_id: int):
    """The assigned engineer accepts the ticket (open → in progress)."""
    t = get_ticket_or_404(ticket_id, current_user)
    if not ActionForm().validate_on_submit():
        return _refuse(t, "The form expired; please try again.")
    try:
        services.accept(t, current_user)
    except ServiceError as exc:
        if exc.status == 403:
            raise
        return _refuse(t, exc.message)
    flash(f"Ticket #{t.id} accepted.", "success")
    return _back(t.id)


@bp.route("/<int:ticket_id>/status", methods=["POST"])
@requires("ticket.update")
def change_status(ticket_id: int):
    """Move the ticket along the workflow."""
    t = get_ticket_or_404(ticket_id, current_user)
    form = StatusForm()
    form.status.choices = list(STATUS_LABELS.items())
    if not form.validate_on_submit():
        return _refuse(t, "Choose a valid status.")
    try:
        services.change_status(t, current_user, form.status.data)
    except ServiceError as exc:
        if exc.status == 403:
            raise
        return _refuse(t, exc.message)
    flash(f"Ticket #{t.id} is now {t.status_label.lower()}.", "success")
    return _back(t.id)


@bp.route("/<int:ticket_id>/priority", methods=["POST"])
@requires("ticket.update")
def change_priority(ticket_id: int):
    """Change the priority."""
    t = get_ticket_or_404(ticket_id, current_user)
    form = PriorityForm()
    if not form.validate_on_submit():
        return _refuse(t, "Choose a valid priority.")
    try:
        services.change_priority(t, current_user, form.priority.data)
    except ServiceError as exc:
        if exc.status == 403:
            raise
        return _refuse(t, exc.message)
    flash(f"Priority set to {t.priority}.", "success")
    return _back(t.id)


@bp.route("/<int:ticket_id>/comments", methods=["POST"])
@requires("ticket.list_staff")
def comment(ticket_id: int):
    """Add a public reply or an internal note."""
    t = get_ticket_or_404(ticket_id, current_user)
    form = CommentForm()
    if not form.validate_on_submit():
        return _refuse(t, "Write a reply first (at most 10,000 characters).", form)
    try:
        services.add_comment(t, current_user, form.body.data, public=not form.internal.data)
    except ServiceError as exc:
        if exc.status == 403:
            raise
        return _refuse(t, exc.message, form)
    flash("Internal note added." if form.internal.data else "Reply sent to the requester.", "success")
    return _back(t.id)


@bp.route("/<int:ticket_id>/assign", methods=["POST"])
@requires("ticket.reassign")
def assign(ticket_id: int):
    """Reassign to another approved engineer (managers, admins)."""
    t = get_ticket_or_404(ticket_id, current_user)
    form = AssignForm()
    form.assignee_id.choices = [(e.id, e.name) for e in _engineers()]
    if not form.validate_on_submit():
        return _refuse(t, "Choose an approved engineer.")
    try:
        services.reassign(t, current_user, form.assignee_id.data)
    except ServiceError as exc:
        if exc.status == 403:
            raise
        return _refuse(t, exc.message)
    flash(f"Ticket #{t.id} reassigned.", "success")
    return _back(t.id)
