"""Customer pages: own tickets, raise, follow (live), reply, edit while open."""
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from crm.auth.policy import requires
from crm.errors import ServiceError
from crm.extensions import db
from crm.htmx import poll_unchanged, render_page_or_fragment, rerender_at
from crm.portal import bp
from crm.tickets import search, services
from crm.tickets.access import get_ticket_or_404
from crm.tickets.forms import CommentForm, EditTicketForm, TicketForm, show_refusal
from crm.tickets.services import TicketFilters


@bp.route("/")
@requires("portal.use")
def index():
    """The customer's tickets, newest update first (or best match first, ``sort=relevance``),
    25 a page; ``q`` searches them: their text and public replies, never internal notes
    (the search language of the staff list, without ``assignee:``/``requester:``)."""
    cursor = request.args.get("cursor") or None
    q = (request.args.get("q") or "").strip()
    sort = "relevance" if request.args.get("sort") == "relevance" else services.DEFAULT_SORT
    tickets, next_cursor, marks, error = [], None, {}, None
    try:
        if len(q) > search.MAX_QUERY_LENGTH:
            raise ServiceError(f"At most {search.MAX_QUERY_LENGTH} characters.", field="q")
        tickets, next_cursor = services.list_tickets(current_user, TicketFilters(q=q or None),
                                                     cursor=cursor, sort=sort)
        marks = search.highlights(db.session.connection(), q, current_user,
                                  [t.id for t in tickets])
    except ServiceError as exc:
        error = exc.message
    html = render_template("portal/index.html", tickets=tickets, next_cursor=next_cursor, q=q,
                           sort=sort, marks=marks, error=error, max_q=search.MAX_QUERY_LENGTH)
    return html, 422 if error else 200


@bp.route("/tickets/new", methods=["GET", "POST"])
@requires("ticket.create")
def new_ticket():
    """Raise a ticket; it is auto-assigned on creation."""
    form = TicketForm()
    follow_up_id = (
        form.follow_up_of.data
        if form.is_submitted()
        else request.args.get("follow_up_of", type=int)
    )
    original = services.follow_up_source(current_user, follow_up_id)
    if not form.is_submitted() and original is not None:
        form.follow_up_of.data = original.id
        form.subject.data = f"Follow-up to #{original.id}: {original.subject}"[:200]
    if form.validate_on_submit():
        try:
            if form.follow_up_of.data:
                ticket = services.create_follow_up(
                    current_user,
                    form.follow_up_of.data,
                    form.subject.data,
                    form.description.data,
                    form.priority.data,
                    idempotency_key=form.idempotency_key.data or None,
                )
            else:
                ticket = services.create_ticket(
                    current_user,
                    form.subject.data,
                    form.description.data,
                    form.priority.data,
                    idempotency_key=form.idempotency_key.data or None,
                )
        except ServiceError as exc:
            show_refusal(
                exc, form, fields=("subject", "description", "priority"), default="subject"
            )
        else:
            flash(f"Ticket #{ticket.id} created. We will keep you posted by email.", "success")
            return redirect(url_for("portal.ticket", ticket_id=ticket.id))
    status = 422 if form.is_submitted() else 200
    return render_template("portal/new.html", form=form, original=original), status


def _detail_context(ticket, form=None):
    return {
        "ticket": ticket,
        "comments": services.visible_comments(current_user, ticket),
        "form": form or CommentForm(),
        "can_edit": services.can_edit_content(current_user, ticket),
        "follow_up_of": services.follow_up_parent(ticket),
    }


@bp.route("/tickets/<int:ticket_id>")
@requires("ticket.view")
def ticket(ticket_id: int):
    """A ticket's status and public thread; the live part polls every 3 s (htmx)."""
    t = get_ticket_or_404(ticket_id, current_user)
    if current_user.is_staff:
        return redirect(url_for("tickets.detail", ticket_id=t.id))
    if poll_unchanged(t.updated_at.isoformat()):
        return "", 204
    return render_page_or_fragment(
        "portal/ticket.html", "portal/_ticket_live.html", **_detail_context(t)
    )


@bp.route("/tickets/<int:ticket_id>/comments", methods=["GET", "POST"])
@requires("ticket.comment")
def comment(ticket_id: int):
    """Post a public reply on the customer's own ticket; a reply to a resolved ticket reopens
    it (services.add_comment), a closed one takes none (the page offers a follow-up). A GET
    (a reload, a bookmark) is sent to the ticket's page."""
    if request.method == "GET":
        return redirect(url_for("portal.ticket", ticket_id=ticket_id), 303)
    t = get_ticket_or_404(ticket_id, current_user)
    reopening = t.status == "resolved"
    form = CommentForm()
    if form.validate_on_submit():
        try:
            services.add_comment(t, current_user, form.body.data, public=True)
        except ServiceError as exc:
            show_refusal(exc, form, default="body")
        else:
            flash(
                "Reply sent. The ticket is open again."
                if t.status == "open" and reopening
                else "Reply sent.",
                "success",
            )
            return redirect(url_for("portal.ticket", ticket_id=t.id))
    return rerender_at(
        url_for("portal.ticket", ticket_id=t.id),
        render_template("portal/ticket.html", **_detail_context(t, form)),
    )


@bp.route("/tickets/<int:ticket_id>/edit", methods=["GET", "POST"])
@requires("ticket.edit_own")
def edit(ticket_id: int):
    """Edit subject/description while the ticket is open."""
    t = get_ticket_or_404(ticket_id, current_user)
    if not services.can_edit_content(current_user, t):
        flash("This ticket can no longer be edited: work on it has started.", "warning")
        return redirect(url_for("portal.ticket", ticket_id=t.id))
    form = EditTicketForm(obj=t)
    if form.validate_on_submit():
        try:
            services.edit_content(t, current_user, form.subject.data, form.description.data)
        except ServiceError as exc:
            show_refusal(exc, form, fields=("subject", "description"), default="subject")
        else:
            flash("Ticket updated.", "success")
            return redirect(url_for("portal.ticket", ticket_id=t.id))
    status = 422 if form.is_submitted() else 200
    return render_template("portal/edit.html", form=form, ticket=t), status
