"""Staff console: ticket lists with filters and search, ticket page, actions.

Failed forms re-render the ticket page with the message (422) and tell htmx to keep the
page's own URL in the address bar (``HX-Replace-Url``), and every POST-only URL answers a GET
with a redirect to its page, so reloading after a refusal never meets a 405.
"""
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from crm.auth.models import ACTIVE, ENGINEER, User
from crm.auth.policy import has_permission, requires
from crm.errors import ServiceError
from crm.extensions import db
from crm.htmx import is_htmx_partial, poll_unchanged, render_page_or_fragment, rerender_at
from crm.tickets import bp, search, services
from crm.tickets.access import get_ticket_or_404
from crm.tickets.filters import filters_from_args
from crm.tickets.forms import (
    ActionForm,
    AssignForm,
    CommentForm,
    FilterForm,
    NoteForm,
    PriorityForm,
    ReplyForm,
    StatusForm,
    show_refusal,
)
from crm.tickets.models import STATUS_LABELS, Ticket
from crm.tickets.workflow import allowed_next


def _engineers() -> list:
    """Approved engineers as (id, name) rows, by name: only the columns the forms need."""
    return list(db.session.execute(select(User.id, User.name)
                                   .where(User.role == ENGINEER, User.status == ACTIVE)
                                   .order_by(User.name)))


def _resolve_requester(args) -> dict:
    """The list's query arguments with ``requester`` (a name, an email or an id, as typed or
    picked from the suggestions) replaced by the customer's id.

    :raises ServiceError: 422 on ``requester`` when nobody, or several people, match.
    """
    typed = (args.get("requester") or "").strip()
    resolved = args.to_dict()
    if not typed or (typed.isdigit() and len(typed) <= 12):
        return resolved
    if len(typed) > 254:
        raise ServiceError(
            "Requester: at most 254 characters (a name or an email).", field="requester", status=422
        )
    matches = services.find_requesters(typed, exact=True)
    if not matches:
        raise ServiceError(
            f"No customer is called or has the email {typed!r}.", field="requester", status=422
        )
    if len(matches) > 1:
        raise ServiceError(
            f"{len(matches)} customers are called {typed!r}: pick one by email from the "
            "suggestions.",
            field="requester",
            status=422,
        )
    resolved["requester"] = str(matches[0].id)
    return resolved


@bp.route("/")
@requires("ticket.list_staff")
def index():
    """Ticket list. ``view=mine`` (an engineer's default: assigned to me), ``view=active``
    (open + in progress + pending) or ``view=all``; filters, ``sort`` and text search (htmx
    live). Searching ``#38`` or ``38`` opens ticket 38 (a full-page request; the live
    fragment offers the link instead of jumping while someone types)."""
    default_view = "mine" if current_user.role == ENGINEER else "active"
    view = request.args.get("view", default_view)
    if view not in ("mine", "active", "all"):
        view = default_view
    engineers = _engineers()
    form = FilterForm(request.args)
    form.assignee.choices = [("", "Anyone"), ("none", "Unassigned")] + [
        (str(e.id), e.name) for e in engineers
    ]
    error = None
    tickets, next_cursor, count, jump, marks = [], None, None, None, {}
    sort = request.args.get("sort") or services.DEFAULT_SORT
    try:
        wanted = search.ticket_id_from_query(request.args.get("q", ""))
        jump = db.session.get(Ticket, wanted) if wanted else None
        if jump is not None and not services.can_view(current_user, jump):
            jump = None
        if jump is not None and not is_htmx_partial():
            return redirect(url_for("tickets.detail", ticket_id=jump.id))
        filters = filters_from_args(_resolve_requester(request.args))
        if view == "active":
            filters.active = True
        scope = "assigned" if view == "mine" else None
        tickets, next_cursor = services.list_tickets(
            current_user, filters, cursor=request.args.get("cursor") or None, scope=scope, sort=sort
        )
        count = services.count_tickets(
            current_user, filters, scope=scope, bound=services.COUNT_BOUND
        )
        marks = search.highlights(
            db.session.connection(), filters.q, current_user, [t.id for t in tickets]
        )
    except ServiceError as exc:
        error = exc.message
        if exc.field and hasattr(form, exc.field):
            getattr(form, exc.field).errors = [exc.message]
    status = 422 if error else 200
    html = render_page_or_fragment(
        "tickets/index.html",
        "tickets/_ticket_table.html",
        tickets=tickets,
        next_cursor=next_cursor,
        form=form,
        view=view,
        error=error,
        count=count,
        count_bound=services.COUNT_BOUND,
        jump=jump,
        max_q=search.MAX_QUERY_LENGTH,
        marks=marks,
        sort=sort if sort in services.SORTS else services.DEFAULT_SORT,
    )
    return html, status


@bp.route("/requesters")
@requires("ticket.list_staff")
def requester_suggestions():
    """``<option>``s for the requester filter's ``<datalist>``: customers whose name or email
    contains what was typed (``requester``, at least 2 characters), at most 10."""
    typed = (request.args.get("requester") or "").strip()[:254]
    people = services.find_requesters(typed) if len(typed) >= 2 else []
    return render_template("tickets/_requester_options.html", people=people)


def _status_choices(ticket) -> list[tuple[str, str]]:
    """The status select: the current status first (preselected, so the form sent back as
    rendered changes nothing), then the statuses the workflow allows next; empty when there
    is no next status (the form is not shown)."""
    next_statuses = allowed_next(ticket.status)
    if not next_statuses:
        return []
    return [(ticket.status, f"{STATUS_LABELS[ticket.status]} (current)")] + [
        (s, STATUS_LABELS[s]) for s in next_statuses
    ]


def _assignee_choices(ticket) -> list[tuple]:
    """The assignee select: approved engineers by name, plus the ticket's current value when
    it is not one of them ("Unassigned", or an assignee no longer approved), so the form
    preselects what the ticket has now. Empty when no engineer is approved."""
    choices: list[tuple] = [(e.id, e.name) for e in _engineers()]
    if not choices:
        return []
    if ticket.assignee_id is None:
        choices.insert(0, ("", "Unassigned"))
    elif ticket.assignee_id not in {value for value, _label in choices}:
        current = db.session.get(User, ticket.assignee_id)
        choices.insert(
            0, (ticket.assignee_id, f"{current.name if current else '?'} (not approved)")
        )
    return choices


def _detail_context(ticket, reply_form=None, note_form=None, tab="reply"):
    status_form = StatusForm(formdata=None, status=ticket.status)
    status_form.status.choices = _status_choices(ticket)
    assign_form = AssignForm(formdata=None)
    assign_form.assignee_id.choices = _assignee_choices(ticket)
    assign_form.assignee_id.data = ticket.assignee_id
    priority_form = PriorityForm(formdata=None, priority=ticket.priority)
    can_update = services.can_update(current_user, ticket)
    return {
        "ticket": ticket,
        "comments": services.visible_comments(current_user, ticket),
        "changes": services.history(ticket),
        "follow_up_of": services.follow_up_parent(ticket),
        "follow_ups": services.follow_ups(ticket),
        "reply_form": reply_form or ReplyForm(formdata=None, prefix="reply"),
        "note_form": note_form or NoteForm(formdata=None, prefix="note"),
        "tab": tab,
        "can_resolve": can_update and "resolved" in allowed_next(ticket.status),
        "status_form": status_form,
        "priority_form": priority_form,
        "assign_form": assign_form,
        "action_form": ActionForm(formdata=None),
        "can_update": can_update,
        "can_accept": services.can_accept(current_user, ticket),
        "can_reassign": has_permission(current_user, "ticket.reassign"),
    }


@bp.route("/<int:ticket_id>")
@requires("ticket.list_staff")
def detail(ticket_id: int):
    """Ticket page: thread with internal notes, history, actions; the thread polls (htmx)."""
    t = get_ticket_or_404(ticket_id, current_user)
    if poll_unchanged(t.updated_at.isoformat()):
        return "", 204
    return render_page_or_fragment(
        "tickets/detail.html", "tickets/_live.html", **_detail_context(t)
    )


def _back(ticket_id: int):
    return redirect(url_for("tickets.detail", ticket_id=ticket_id))


def _refuse(ticket, message: str, **forms):
    """Re-render the ticket page with the refusal shown (422), keeping what was typed, at the
    ticket page's own URL (``HX-Replace-Url``), so a reload shows the page again."""
    flash(message, "danger")
    ctx = _detail_context(ticket, **forms)
    template = "tickets/_live.html" if is_htmx_partial() else "tickets/detail.html"
    return rerender_at(
        url_for("tickets.detail", ticket_id=ticket.id), render_template(template, **ctx)
    )


def _refused(ticket, exc: ServiceError, form=None, **forms):
    """A service refused a console action: 403 raised again, otherwise the ticket page
    re-rendered with the message (the comment form's ``body`` marked), see :func:`_refuse`."""
    return _refuse(ticket, show_refusal(exc, form, fields=("body",)), **forms)


def _nothing_changed(ticket_id: int):
    """An action form sent back with the ticket's current value: no change, no refusal."""
    flash("Nothing changed.", "info")
    return _back(ticket_id)


def _action_page(ticket_id: int):
    """A GET on an action's address (a reload, a bookmark, a pasted address): the ticket page.

    Served by the action's own rule (GET and POST), not a rule of its own: Werkzeug checks
    methods before converters, so a second rule would turn "no such id" into a 405."""
    return redirect(url_for("tickets.detail", ticket_id=ticket_id), 303)


@bp.route("/<int:ticket_id>/accept", methods=["GET", "POST"])
@requires("ticket.accept")
def accept(ticket_id: int):
    """The assigned engineer accepts the ticket (open → in progress)."""
    if request.method == "GET":
        return _action_page(ticket_id)
    t = get_ticket_or_404(ticket_id, current_user)
    if not ActionForm().validate_on_submit():
        return _refuse(t, "The form expired; please try again.")
    try:
        services.accept(t, current_user)
    except ServiceError as exc:
        return _refused(t, exc)
    flash(f"Ticket #{t.id} accepted.", "success")
    return _back(t.id)


@bp.route("/<int:ticket_id>/status", methods=["GET", "POST"])
@requires("ticket.update")
def change_status(ticket_id: int):
    """Move the ticket along the workflow."""
    if request.method == "GET":
        return _action_page(ticket_id)
    t = get_ticket_or_404(ticket_id, current_user)
    form = StatusForm()
    form.status.choices = list(STATUS_LABELS.items())
    if not form.validate_on_submit():
        return _refuse(t, "Choose a valid status.")
    if form.status.data == t.status:
        return _nothing_changed(t.id)
    try:
        services.change_status(t, current_user, form.status.data)
    except ServiceError as exc:
        return _refused(t, exc)
    flash(f"Ticket #{t.id} is now {t.status_label.lower()}.", "success")
    return _back(t.id)


@bp.route("/<int:ticket_id>/priority", methods=["GET", "POST"])
@requires("ticket.update")
def change_priority(ticket_id: int):
    """Change the priority."""
    if request.method == "GET":
        return _action_page(ticket_id)
    t = get_ticket_or_404(ticket_id, current_user)
    form = PriorityForm()
    if not form.validate_on_submit():
        return _refuse(t, "Choose a valid priority.")
    if form.priority.data == t.priority:
        return _nothing_changed(t.id)
    try:
        services.change_priority(t, current_user, form.priority.data)
    except ServiceError as exc:
        return _refused(t, exc)
    flash(f"Priority set to {t.priority}.", "success")
    return _back(t.id)


def _posted_comment_form():
    """(form, public, tab) for the posted comment: the "Public reply" tab (``reply-`` fields),
    the "Internal note" tab (``note-`` fields), or the plain form the API-less clients and
    older pages post (``body`` and an ``internal`` tick box)."""
    if "note-body" in request.form:
        return NoteForm(prefix="note"), False, "note"
    if "reply-body" in request.form:
        return ReplyForm(prefix="reply"), True, "reply"
    form = CommentForm()
    return form, not form.internal.data, "note" if form.internal.data else "reply"


@bp.route("/<int:ticket_id>/comments", methods=["GET", "POST"])
@requires("ticket.list_staff")
def comment(ticket_id: int):
    """Add a public reply or an internal note; with ``resolve`` ("Send and resolve") the
    ticket is resolved in the same transaction (:func:`services.reply_and_resolve`)."""
    if request.method == "GET":
        return _action_page(ticket_id)
    t = get_ticket_or_404(ticket_id, current_user)
    form, public, tab = _posted_comment_form()
    resolve = bool(request.form.get("resolve"))
    forms: dict = {"tab": tab}
    if isinstance(form, ReplyForm):
        forms["reply_form"] = form
    elif isinstance(form, NoteForm):
        forms["note_form"] = form
    if not form.validate_on_submit():
        return _refuse(t, "Write a reply first (at most 10,000 characters).", **forms)
    try:
        if resolve:
            services.reply_and_resolve(t, current_user, form.body.data, public=public)
        else:
            services.add_comment(t, current_user, form.body.data, public=public)
    except ServiceError as exc:
        return _refused(t, exc, form, **forms)
    what = "Reply sent to the requester" if public else "Internal note added"
    flash(f"{what} and ticket #{t.id} resolved." if resolve else f"{what}.", "success")
    return _back(t.id)


@bp.route("/<int:ticket_id>/assign", methods=["GET", "POST"])
@requires("ticket.reassign")
def assign(ticket_id: int):
    """Reassign to another approved engineer (managers, admins)."""
    if request.method == "GET":
        return _action_page(ticket_id)
    t = get_ticket_or_404(ticket_id, current_user)
    form = AssignForm()
    form.assignee_id.choices = _assignee_choices(t)
    if not form.validate_on_submit():
        return _refuse(t, "Choose an approved engineer.")
    if form.assignee_id.data == t.assignee_id:
        return _nothing_changed(t.id)
    try:
        services.reassign(t, current_user, form.assignee_id.data)
    except ServiceError as exc:
        return _refused(t, exc)
    flash(f"Ticket #{t.id} reassigned.", "success")
    return _back(t.id)
