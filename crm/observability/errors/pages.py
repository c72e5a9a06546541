"""Console pages of the error tracker (blueprint ``errors`` at ``/errors``): the issue list
with filters, an issue's page (chart of events, latest events with tracebacks, resolve /
ignore / assign, turn into a ticket) and the projects with their DSNs."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from crm.auth.policy import has_permission, requires
from crm.clock import utcnow
from crm.errors import ServiceError
from crm.htmx import render_page_or_fragment, rerender_at
from crm.monitoring.pages.dashboards import Chart, time_axis, time_label
from crm.observability.errors import services
from crm.observability.errors.access import get_issue_or_404
from crm.observability.errors.forms import (
    IssueAssignForm,
    IssueFilterForm,
    IssueStatusForm,
    IssueTicketForm,
    ProjectForm,
)

bp = Blueprint("errors", __name__, url_prefix="/errors")


def _filter_form() -> IssueFilterForm:
    form = IssueFilterForm(request.args)
    form.project.choices = [("", "All projects")] + [
        (str(p.id), p.name) for p in services.list_projects()]
    return form


@bp.route("/")
@requires("error.view")
def index():
    """Issues, most recently seen first, filtered by project, status and title."""
    form = _filter_form()
    filters = services.IssueFilters()
    if form.validate():
        filters = services.IssueFilters(
            project_id=int(form.project.data) if (form.project.data or "").isdigit() else None,
            status=form.status.data or None, q=(form.q.data or "").strip() or None)
    try:
        issues, next_cursor = services.list_issues(current_user, filters,
                                                   request.args.get("cursor"), limit=25)
    except ServiceError:
        issues, next_cursor = services.list_issues(current_user, filters, None, limit=25)
    return render_page_or_fragment("observability/issues.html", "observability/_issue_rows.html",
                                   form=form, issues=issues, next_cursor=next_cursor,
                                   may_manage=has_permission(current_user, "error.manage"))


def event_chart(issue_id: int, first_seen: datetime, now: datetime | None = None) -> Chart:
    """Events over time: per hour over the last 48 hours for a young issue, else per day over
    the last 30 days (UTC buckets)."""
    now = now or utcnow()
    if now - first_seen <= timedelta(hours=48):
        step, start = timedelta(hours=1), now.replace(minute=0, second=0, microsecond=0)
        start -= timedelta(hours=47)
    else:
        step, start = timedelta(days=1), now.replace(hour=0, minute=0, second=0, microsecond=0)
        start -= timedelta(days=29)
    counts = Counter(int((t - start) // step) for t in services.event_times(issue_id, start))
    buckets = int((now - start) // step) + 1
    x = [time_label(start + i * step) for i in range(buckets)]
    y = [counts.get(i, 0) for i in range(buckets)]
    figure = {"data": [{"type": "bar", "x": x, "y": y, "name": "Events",
                        "hovertemplate": "%{y} events<extra></extra>"}],
              "layout": {"template": None, "height": 240, "showlegend": False,
                         "margin": {"l": 40, "r": 10, "t": 10, "b": 40},
                         "xaxis": time_axis(start, start + buckets * step),
                         "yaxis": {"rangemode": "tozero", "automargin": True}}}
    return Chart(figure, empty_text="No events in this period.")


def _issue_page(item, status_form: IssueStatusForm | None = None,
                assign_form: IssueAssignForm | None = None) -> str:
    """The issue page's HTML (forms as given, e.g. with their errors, or fresh)."""
    status_form = status_form or IssueStatusForm(status=item.status)
    assign_form = assign_form or IssueAssignForm(assignee_id=str(item.assignee_id or ""))
    assign_form.assignee_id.choices = [("", "Unassigned")] + [
        (str(u.id), f"{u.name} ({u.role})") for u in services.assignable_staff()]
    return render_template(
        "observability/issue.html", issue=item, events=services.latest_events(item.id),
        events_chart=event_chart(item.id, item.first_seen), status_form=status_form,
        assign_form=assign_form, ticket_form=IssueTicketForm(),
        may_manage=has_permission(current_user, "error.manage"))


def _refused(item, message: str, **forms):
    """The issue page again, with ``message`` flashed, as a 422 at the issue's address."""
    flash(message, "danger")
    return rerender_at(url_for("errors.issue", issue_id=item.id), _issue_page(item, **forms))


@bp.route("/issues/<int:issue_id>")
@requires("error.view")
def issue(issue_id: int):
    """One issue: counts, first/last seen, chart, latest events with tracebacks, actions."""
    return _issue_page(get_issue_or_404(issue_id))


@bp.route("/issues/<int:issue_id>/status", methods=["POST"])
@requires("error.manage")
def set_status(issue_id: int):
    """Resolve, ignore or reopen the issue."""
    item = get_issue_or_404(issue_id)
    form = IssueStatusForm()
    if not form.validate_on_submit():
        return _refused(item, "Choose resolved, ignored or unresolved.", status_form=form)
    services.update_issue(item, current_user, status=form.status.data, fields={"status"})
    flash(f"Issue marked {form.status.data}.", "success")
    return redirect(url_for("errors.issue", issue_id=issue_id))


@bp.route("/issues/<int:issue_id>/assign", methods=["POST"])
@requires("error.manage")
def assign(issue_id: int):
    """Assign the issue to a staff member, or to nobody."""
    item = get_issue_or_404(issue_id)
    raw = request.form.get("assignee_id", "")
    if raw and not (raw.isdigit() and len(raw) <= 10):
        return _refused(item, "Choose a staff member.")
    try:
        services.update_issue(item, current_user, assignee_id=int(raw) if raw else None,
                              fields={"assignee_id"})
    except ServiceError as exc:
        if exc.status == 403:
            raise
        return _refused(item, exc.message)
    flash("Assignee saved.", "success")
    return redirect(url_for("errors.issue", issue_id=issue_id))


@bp.route("/issues/<int:issue_id>/ticket", methods=["POST"])
@requires("error.ticket")
def to_ticket(issue_id: int):
    """Turn the issue into a ticket (or open the ticket it already became)."""
    item = get_issue_or_404(issue_id)
    ticket = services.issue_to_ticket(item, current_user)
    flash(f"Ticket #{ticket.id} tracks this issue.", "success")
    return redirect(url_for("tickets.detail", ticket_id=ticket.id))


@bp.route("/projects", methods=["GET", "POST"])
@requires("error.manage")
def projects():
    """Projects reporting errors, with their DSNs; a form adds one."""
    form = ProjectForm()
    status = 200
    if form.validate_on_submit():
        try:
            project = services.create_project(current_user, form.name.data)
        except ServiceError as exc:
            if exc.status == 403:
                raise
            form.name.errors.append(exc.message)
            status = 422
        else:
            flash(f"Project {project.name} created: use its DSN below.", "success")
            return redirect(url_for("errors.projects"))
    elif request.method == "POST":
        status = 422
    rows = [(p, services.dsn_for(p)) for p in services.list_projects()]
    return render_template("observability/projects.html", form=form, projects=rows), status
