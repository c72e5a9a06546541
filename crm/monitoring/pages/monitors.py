"""Monitoring console (blueprint ``monitoring``, ``/monitors``): the overview, a monitor's
page, create/edit forms, run now, pause/resume, delete, contacts, named contact groups, the
uptime dashboard and the status-page editor.

Views only authorise, parse, call :mod:`crm.monitoring.services` (or the engine's
``runner.run_now``) and render; the numbers come from :mod:`crm.monitoring.pages.dashboards`,
which reads rollups, never raw results (except the monitor page's "recent results" table).
"""
from __future__ import annotations

from datetime import timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from crm.auth.policy import has_permission, requires
from crm.clock import utcnow
from crm.errors import ServiceError
from crm.extensions import db
from crm.htmx import is_htmx_partial, poll_unchanged, render_page_or_fragment, rerender_at
from crm.monitoring import services
from crm.monitoring.access import get_group_or_404, get_monitor_or_404
from crm.monitoring.models import (
    DAY,
    HEARTBEAT,
    CheckResult,
    ContactGroup,
    Incident,
    Monitor,
    StatusPage,
)
from crm.monitoring.pages import bp, dashboards, status_pages
from crm.monitoring.pages.forms import (
    TYPE_FIELDS,
    TYPE_LABELS,
    ActionForm,
    ContactForm,
    ContactGroupForm,
    DashboardForm,
    FilterForm,
    FormInputError,
    MonitorForm,
    StatusPageForm,
    StepForm,
    error_target,
    group_choices,
)
from crm.monitoring.schemas import monitor_to_spec_dict
from crm.pagination import id_keyset_page
from crm.security.params import multi_valued

CHART_RANGES = ("24h", "7d", "30d", "90d")




def _overview_version() -> str:
    """Changes whenever a monitor is added, removed, edited or checked (the poll's ``since``)."""
    count, checked, updated = db.session.execute(
        select(
            func.count(Monitor.id), func.max(Monitor.last_checked_at), func.max(Monitor.updated_at)
        )
    ).one()
    return (
        f"{count}-{checked.isoformat() if checked else ''}-{updated.isoformat() if updated else ''}"
    )


@bp.route("/")
@requires("monitor.view")
def index():
    """All monitors with status, the heartbeat bar of their last checks, uptime (24 h, 30 d),
    last response time and a sparkline; filters (htmx live), keyset pagination; the table
    polls every 10 s (204 when nothing changed)."""
    version = _overview_version()
    if poll_unchanged(version):
        return "", 204
    form = FilterForm(request.args)
    form.tag.choices = [("", "Any tag")] + [(t, t) for t in services.all_tags()]
    filters = services.MonitorFilters(
        text=(form.q.data or "").strip()[:120],
        status=form.status.data,
        type=form.type.data,
        tag=form.tag.data,
    )
    monitors, next_before = id_keyset_page(services.list_monitors(filters), Monitor, size=25)
    stats = dashboards.overview_stats([m.id for m in monitors], utcnow())
    beats = dashboards.recent_beats([m.id for m in monitors], dashboards.OVERVIEW_BEATS)
    any_monitor = version.split("-", 1)[0] != "0"
    return render_page_or_fragment(
        "monitoring/index.html",
        "monitoring/_monitor_table.html",
        monitors=monitors,
        stats=stats,
        beats=beats,
        beat_slots=dashboards.OVERVIEW_BEATS,
        next_before=next_before,
        form=form,
        version=version,
        any_monitor=any_monitor,
        type_labels=TYPE_LABELS,
    )


# ---------------------------------------------------------------- the monitor page


def _detail_context(monitor: Monitor, *, contact_form=None, outcome=None) -> dict:
    chart_range = request.args.get("range", "24h")
    if chart_range not in CHART_RANGES:
        chart_range = "24h"
    now = utcnow()
    start = now - dashboards.PRESETS[chart_range][1]
    figure = dashboards.response_time_figure(monitor.id, start, now)
    incidents = list(
        db.session.scalars(
            select(Incident)
            .where(Incident.monitor_id == monitor.id)
            .order_by(Incident.opened_at.desc())
            .limit(20)
        )
    )
    results = list(
        db.session.scalars(
            select(CheckResult)
            .where(CheckResult.monitor_id == monitor.id)
            .order_by(CheckResult.checked_at.desc())
            .limit(dashboards.DETAIL_BEATS)
        )
    )
    uptime = dashboards.overview_stats([monitor.id], now)[monitor.id]
    return {
        "monitor": monitor,
        "spec": monitor_to_spec_dict(monitor),
        "ping_url": services.ping_url(monitor) if monitor.type == HEARTBEAT else None,
        "figure": figure,
        "chart_range": chart_range,
        "chart_ranges": CHART_RANGES,
        "incidents": incidents,
        "results": results,
        "beats": dashboards.beats_from_results(results),
        "beat_slots": dashboards.DETAIL_BEATS,
        "uptime": uptime,
        "now": now,
        # a poll's answer also carries the results table, swapped out of band into the
        # <details> the page keeps (so a panel the user opened stays open)
        "poll": is_htmx_partial(),
        "contacts": services.monitor_contacts(monitor),
        "own_group": services.is_own_group(monitor, monitor.contact_group),
        "contact_form": contact_form or ContactForm(formdata=None),
        "action_form": ActionForm(formdata=None),
        "outcome": outcome,
        "type_labels": TYPE_LABELS,
        "version": _monitor_version(monitor),
        "can_manage": has_permission(current_user, "monitor.manage"),
    }


def _monitor_version(monitor: Monitor) -> str:
    checked = monitor.last_checked_at.isoformat() if monitor.last_checked_at else ""
    return (
        f"{checked}|{monitor.updated_at.isoformat() if monitor.updated_at else ''}|{monitor.status}"
    )


@bp.route("/<int:monitor_id>")
@requires("monitor.view")
def detail(monitor_id: int):
    """A monitor: status, settings, response-time chart, incidents, recent results and
    contacts; the live part polls every 10 s (204 when nothing changed)."""
    monitor = get_monitor_or_404(monitor_id, current_user)
    if poll_unchanged(_monitor_version(monitor)):
        return "", 204
    return render_page_or_fragment(
        "monitoring/detail.html", "monitoring/_live.html", **_detail_context(monitor)
    )


@bp.route("/<int:monitor_id>/run", methods=["POST"])
@requires("monitor.manage")
def run_now(monitor_id: int):
    """Run the check once now (nothing recorded) and show the outcome; for synthetic
    monitors each step with its assertions."""
    from crm.monitoring.engine import runner

    monitor = get_monitor_or_404(monitor_id, current_user)
    if not ActionForm().validate_on_submit():
        abort(400, "The form expired; please try again.")
    outcome = runner.run_now(monitor)
    if is_htmx_partial():
        return render_template("monitoring/_run_outcome.html", outcome=outcome, monitor=monitor)
    return rerender_at(
        url_for("monitoring.detail", monitor_id=monitor.id),
        render_template("monitoring/detail.html", **_detail_context(monitor, outcome=outcome)),
        200,
    )


@bp.route("/<int:monitor_id>/pause", methods=["POST"])
@requires("monitor.manage")
def pause(monitor_id: int):
    """Stop checking the monitor (no alerts while paused)."""
    return _set_paused(monitor_id, True)


@bp.route("/<int:monitor_id>/resume", methods=["POST"])
@requires("monitor.manage")
def resume(monitor_id: int):
    """Check the monitor again (at once)."""
    return _set_paused(monitor_id, False)


def _set_paused(monitor_id: int, paused: bool):
    monitor = get_monitor_or_404(monitor_id, current_user)
    if not ActionForm().validate_on_submit():
        abort(400, "The form expired; please try again.")
    services.update_monitor(monitor, {"paused": paused}, by=current_user)
    flash(f"{monitor.name} {'paused' if paused else 'resumed'}.", "success")
    return redirect(url_for("monitoring.detail", monitor_id=monitor.id))


@bp.route("/<int:monitor_id>/delete", methods=["GET", "POST"])
@requires("monitor.manage")
def delete(monitor_id: int):
    """Ask to confirm (GET), then delete the monitor with its history (POST)."""
    monitor = get_monitor_or_404(monitor_id, current_user)
    form = ActionForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400, "The form expired; please try again.")
        name = monitor.name
        services.delete_monitor(monitor, by=current_user)
        flash(f"Monitor {name} deleted.", "success")
        return redirect(url_for("monitoring.index"))
    return render_template("monitoring/delete.html", monitor=monitor, form=form)


def _add_contact_from_form(form: ContactForm, add, reraise_404: bool = False) -> str | None:
    """Validate a contact form and call ``add(email=…)`` or ``add(phone=…)``.

    :returns: the value added, or None with the error on ``form.value`` (the session rolled
        back) for the caller to re-render with 422.
    :raises ServiceError: a 404 from ``add`` when ``reraise_404`` (the monitor vanished).
    """
    if not form.validate_on_submit():
        if not form.value.errors:
            form.value.errors = ["Enter an email address or a phone number."]
        return None
    value = form.value.data.strip()
    try:
        add(**{("phone" if form.kind.data == "phone" else "email"): value})
    except ServiceError as exc:
        if reraise_404 and exc.status == 404:
            raise
        db.session.rollback()
        form.value.errors = [exc.message]
        return None
    return value


@bp.route("/<int:monitor_id>/contacts", methods=["POST"])
@requires("monitor.manage")
def add_contact(monitor_id: int):
    """Add an email address or phone number that receives this monitor's alerts."""
    monitor = get_monitor_or_404(monitor_id, current_user)
    form = ContactForm()
    value = _add_contact_from_form(
        form, lambda **recipient: services.add_contact(monitor, **recipient), reraise_404=True
    )
    if value is not None:
        flash(f"{value} will receive this monitor's alerts.", "success")
        return redirect(url_for("monitoring.detail", monitor_id=monitor.id) + "#contacts")
    monitor = get_monitor_or_404(monitor_id, current_user)
    return rerender_at(
        url_for("monitoring.detail", monitor_id=monitor.id),
        render_template("monitoring/detail.html", **_detail_context(monitor, contact_form=form)),
    )


@bp.route("/<int:monitor_id>/contacts/<int:contact_id>/delete", methods=["POST"])
@requires("monitor.manage")
def remove_contact(monitor_id: int, contact_id: int):
    """Stop sending this monitor's alerts to one contact."""
    monitor = get_monitor_or_404(monitor_id, current_user)
    if not ActionForm().validate_on_submit():
        abort(400, "The form expired; please try again.")
    try:
        services.remove_contact(monitor, contact_id)
    except ServiceError as exc:
        abort(exc.status if exc.status in (404, 409) else 400, exc.message)
    flash("Contact removed.", "success")
    return redirect(url_for("monitoring.detail", monitor_id=monitor.id) + "#contacts")


# ---------------------------------------------------------------- create and edit


def _apply_service_error(form: MonitorForm, exc: ServiceError) -> list[str]:
    """Attach a service error's messages to the fields they name; returns the messages no
    field matched (shown above the form)."""
    problems = exc.errors or ({exc.field: [exc.message]} if exc.field else {})
    loose = []
    for path, messages in problems.items():
        target = error_target(form, path)
        if target is None:
            loose += [f"{path}: {m}" if path and path != "body" else m for m in messages]
        else:
            target.errors = list(target.errors) + [m[:1].upper() + m[1:] for m in messages]
    if not problems:
        loose.append(exc.message)
    return loose


def _form_page(form: MonitorForm, monitor: Monitor | None, errors: list[str], status: int = 200):
    return render_template(
        "monitoring/form.html",
        form=form,
        monitor=monitor,
        errors=errors,
        type_fields=TYPE_FIELDS,
        type_labels=TYPE_LABELS,
        step_template=StepForm(formdata=None, prefix="steps-__index__"),
    ), status


def _submit(form: MonitorForm, monitor: Monitor | None):
    """Validate ``form``, call the service, redirect, or re-render with messages (422)."""
    if not form.validate_on_submit():
        return _form_page(form, monitor, ["Please correct the fields marked below."], 422)
    try:
        data = form.to_data(keep_password=monitor is not None)
    except FormInputError as exc:
        target = error_target(form, exc.field.replace("-", "."))
        if target is not None:
            target.errors = [exc.message]
        return _form_page(form, monitor, [] if target is not None else [exc.message], 422)
    try:
        if monitor is None:
            monitor = services.create_monitor(data, by=current_user)
            flash(f"Monitor {monitor.name} created; its first check runs shortly.", "success")
        else:
            services.update_monitor(monitor, data, by=current_user)
            flash(f"Monitor {monitor.name} saved.", "success")
    except ServiceError as exc:
        if exc.status in (403, 404):
            raise
        db.session.rollback()
        return _form_page(form, monitor, _apply_service_error(form, exc), 422)
    return redirect(url_for("monitoring.detail", monitor_id=monitor.id))


def _with_group_choices(form: MonitorForm, monitor: Monitor | None) -> MonitorForm:
    """Fill the contact/escalation group selects; the monitor's own group shows as the
    empty choice ("its own contacts")."""
    groups = services.shareable_groups(monitor)
    form.contact_group_id.choices = group_choices(groups)
    form.escalation_group_id.choices = group_choices(groups, escalation=True)
    if (
        monitor is not None
        and request.method == "GET"
        and services.is_own_group(monitor, monitor.contact_group)
    ):
        form.contact_group_id.data = None
    return form


@bp.route("/new", methods=["GET", "POST"])
@requires("monitor.manage")
def create():
    """Create a monitor of any type (type-specific fields shown by monitoring_form.js)."""
    form = _with_group_choices(MonitorForm(), None)
    if request.method == "GET":
        if request.args.get("type") in TYPE_LABELS:
            form.type.data = request.args["type"]
        return _form_page(form, None, [])
    return _submit(form, None)


@bp.route("/<int:monitor_id>/edit", methods=["GET", "POST"])
@requires("monitor.manage")
def edit(monitor_id: int):
    """Change a monitor's settings (an empty FTP password keeps the stored one)."""
    monitor = get_monitor_or_404(monitor_id, current_user)
    if request.method == "GET":
        form = MonitorForm(formdata=None)
        form.fill_from(monitor_to_spec_dict(monitor))
        return _form_page(_with_group_choices(form, monitor), monitor, [])
    return _submit(_with_group_choices(MonitorForm(), monitor), monitor)


# ---------------------------------------------------------------- contact groups


def _groups_page(form: ContactGroupForm, status: int = 200):
    groups = services.list_contact_groups()
    usage = services.group_usage(groups)
    return render_template(
        "monitoring/contact_groups.html",
        groups=groups,
        usage=usage,
        form=form,
        can_manage=has_permission(current_user, "monitor.manage"),
    ), status


def _group_page(
    group: ContactGroup, *, rename_form=None, contact_form=None, error=None, status: int = 200
):
    alerting, escalating = services.group_monitors(group)
    if rename_form is None:
        rename_form = ContactGroupForm(formdata=None, prefix="group")
        rename_form.name.data = group.name
    return render_template(
        "monitoring/contact_group.html",
        group=group,
        alerting=alerting,
        escalating=escalating,
        rename_form=rename_form,
        contact_form=contact_form or ContactForm(formdata=None),
        action_form=ActionForm(formdata=None),
        error=error,
        can_manage=has_permission(current_user, "monitor.manage"),
    ), status


@bp.route("/contact-groups")
@requires("monitor.view")
def contact_groups():
    """Every contact group with its recipients and the monitors that alert it or escalate to
    it; the "new group" form for those who manage monitors."""
    return _groups_page(ContactGroupForm(formdata=None))


@bp.route("/contact-groups/new", methods=["POST"])
@requires("monitor.manage")
def contact_group_create():
    """Create a named group (recipients are added on its page); 422 with the field's message."""
    form = ContactGroupForm()
    if form.validate_on_submit():
        try:
            group = services.create_contact_group(form.name.data)
        except ServiceError as exc:
            db.session.rollback()
            form.name.errors = [exc.message]
        else:
            flash(
                f"Contact group {group.name} created: add its email addresses and phone numbers.",
                "success",
            )
            return redirect(url_for("monitoring.contact_group", group_id=group.id))
    return rerender_at(url_for("monitoring.contact_groups"), *_groups_page(form, 422))


@bp.route("/contact-groups/<int:group_id>")
@requires("monitor.view")
def contact_group(group_id: int):
    """One group: its recipients, the monitors using it, and (to managers of monitors) the
    rename, add/remove recipient and delete forms."""
    return _group_page(get_group_or_404(group_id, current_user))


@bp.route("/contact-groups/<int:group_id>/rename", methods=["POST"])
@requires("monitor.manage")
def contact_group_rename(group_id: int):
    """Rename the group; 422 with the field's message (blank, taken, reserved)."""
    group = get_group_or_404(group_id, current_user)
    form = ContactGroupForm(prefix="group")
    if form.validate_on_submit():
        try:
            services.update_contact_group(group, name=form.name.data)
        except ServiceError as exc:
            db.session.rollback()
            form.name.errors = [exc.message]
        else:
            flash(f"Contact group renamed to {group.name}.", "success")
            return redirect(url_for("monitoring.contact_group", group_id=group.id))
    return rerender_at(
        url_for("monitoring.contact_group", group_id=group_id),
        *_group_page(get_group_or_404(group_id, current_user), rename_form=form, status=422),
    )


@bp.route("/contact-groups/<int:group_id>/contacts", methods=["POST"])
@requires("monitor.manage")
def contact_group_add_contact(group_id: int):
    """Add an email address or phone number (normalised to E.164) to the group."""
    group = get_group_or_404(group_id, current_user)
    form = ContactForm()
    value = _add_contact_from_form(
        form, lambda **recipient: services.add_group_contact(group, **recipient)
    )
    if value is not None:
        flash(f"{value} added to {group.name}.", "success")
        return redirect(url_for("monitoring.contact_group", group_id=group.id) + "#contacts")
    return rerender_at(
        url_for("monitoring.contact_group", group_id=group_id),
        *_group_page(get_group_or_404(group_id, current_user), contact_form=form, status=422),
    )


@bp.route("/contact-groups/<int:group_id>/contacts/<int:contact_id>/delete", methods=["POST"])
@requires("monitor.manage")
def contact_group_remove_contact(group_id: int, contact_id: int):
    """Remove one recipient from the group."""
    group = get_group_or_404(group_id, current_user)
    if not ActionForm().validate_on_submit():
        abort(400, "The form expired; please try again.")
    try:
        services.remove_group_contact(group, contact_id)
    except ServiceError as exc:
        abort(exc.status if exc.status in (404, 409) else 400, exc.message)
    flash("Contact removed.", "success")
    return redirect(url_for("monitoring.contact_group", group_id=group.id) + "#contacts")


@bp.route("/contact-groups/<int:group_id>/delete", methods=["POST"])
@requires("monitor.manage")
def contact_group_delete(group_id: int):
    """Delete the group; refused (409, the page says which monitors) while monitors use it."""
    group = get_group_or_404(group_id, current_user)
    if not ActionForm().validate_on_submit():
        abort(400, "The form expired; please try again.")
    name = group.name
    try:
        services.delete_contact_group(group)
    except ServiceError as exc:
        db.session.rollback()
        return rerender_at(
            url_for("monitoring.contact_group", group_id=group_id),
            *_group_page(
                get_group_or_404(group_id, current_user), error=exc.message, status=exc.status
            ),
        )
    flash(f"Contact group {name} deleted.", "success")
    return redirect(url_for("monitoring.contact_groups"))


# ---------------------------------------------------------------- the dashboard


@bp.route("/dashboard")
@requires("monitor.view")
def dashboard():
    """Uptime dashboard (Plotly): failed / unanswered checks per day, week or month by
    monitor, by protocol and by response code; uptime over a period of up to a year. Reads
    rollups (hourly up to 7 days, daily beyond) and incidents only."""
    form = DashboardForm(request.args)
    now = utcnow()
    custom = (
        form.range.data == "custom"
        or (form.start.data or form.end.data)
        and form.range.data not in dashboards.PRESETS
    )
    error = None
    try:
        rng = dashboards.parse_range(
            None if custom else form.range.data,
            form.start.data if custom else None,
            form.end.data if custom else None,
            now,
        )
    except ValueError as exc:
        error = str(exc)
        form.start.errors = [error]
        rng = dashboards.parse_range("30d", None, None, now)
    data = dashboards.dashboard(rng, form.unit.data or "day")
    return render_template(
        "monitoring/dashboard.html",
        form=form,
        rng=rng,
        data=data,
        error=error,
        day_period=rng.period == DAY,
    ), (422 if error else 200)


# ---------------------------------------------------------------- status pages (staff)


def _status_page_form(page: StatusPage | None) -> StatusPageForm:
    form = StatusPageForm(obj=page if request.method == "GET" else None)
    form.monitors.choices = [
        (m.id, m.name)
        for m in db.session.execute(select(Monitor.id, Monitor.name).order_by(Monitor.name))
    ]
    if request.method == "GET" and page is not None:
        form.monitors.data = [m.id for m in page.monitors]
    return form


@bp.route("/status-pages")
@requires("monitor.manage")
def status_page_list():
    """Public status pages and the monitors each shows."""
    pages = list(
        db.session.scalars(
            select(StatusPage).options(selectinload(StatusPage.monitors)).order_by(StatusPage.title)
        )
    )
    return render_template(
        "monitoring/status_pages.html", pages=pages, action_form=ActionForm(formdata=None)
    )


@bp.route("/status-pages/new", methods=["GET", "POST"])
@requires("monitor.manage")
@multi_valued("monitors")
def status_page_create():
    """Create a public status page (title, slug, monitors)."""
    return _status_page_submit(None)


@bp.route("/status-pages/<int:page_id>/edit", methods=["GET", "POST"])
@requires("monitor.manage")
@multi_valued("monitors")
def status_page_edit(page_id: int):
    """Change a status page."""
    page = db.session.get(StatusPage, page_id) or abort(404)
    return _status_page_submit(page)


def _status_page_submit(page: StatusPage | None):
    form = _status_page_form(page)
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                page = status_pages.save_status_page(
                    page,
                    slug=form.slug.data,
                    title=form.title.data,
                    description=form.description.data or "",
                    monitor_ids=form.monitors.data or [],
                )
            except ServiceError as exc:
                db.session.rollback()
                getattr(form, exc.field or "slug").errors = [exc.message]
            else:
                flash(f"Status page {page.title} saved: /status/{page.slug}", "success")
                return redirect(url_for("monitoring.status_page_list"))
        return render_template("monitoring/status_page_form.html", form=form, page=page), 422
    return render_template("monitoring/status_page_form.html", form=form, page=page)


@bp.route("/status-pages/<int:page_id>/delete", methods=["POST"])
@requires("monitor.manage")
def status_page_delete(page_id: int):
    """Delete a status page (its monitors stay)."""
    page = db.session.get(StatusPage, page_id) or abort(404)
    if not ActionForm().validate_on_submit():
        abort(400, "The form expired; please try again.")
    title = page.title
    status_pages.delete_status_page(page)
    flash(f"Status page {title} deleted.", "success")
    return redirect(url_for("monitoring.status_page_list"))


@bp.app_template_filter("duration")
def duration_filter(seconds: int | float | None) -> str:
    """``3725`` → ``1 h 2 min``; ``None`` → ``—``."""
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    delta = timedelta(seconds=seconds)
    days, rest = delta.days, delta.seconds
    hours, minutes = rest // 3600, rest % 3600 // 60
    parts = (
        ([f"{days} d"] if days else [])
        + ([f"{hours} h"] if hours else [])
        + ([f"{minutes} min"] if minutes and not days else [])
    )
    return " ".join(parts) or "0 min"


@bp.app_template_filter("pct")
def pct_filter(value: float | None, digits: int = 2) -> str:
    """``99.5`` → ``99.50 %``; ``None`` → ``—``."""
    return "—" if value is None else f"{value:.{digits}f} %"


@bp.app_template_global()
def monitor_target(monitor: Monitor) -> str:
    """What a monitor checks, in one line (its URL, host:port, host name or steps); secrets in
    a URL are masked (crm.net.redact.mask_url)."""
    from crm.net.redact import mask_url

    config = monitor.config or {}
    if config.get("url"):
        return mask_url(config["url"])
    if monitor.type == HEARTBEAT:
        return "push (heartbeat)"
    if config.get("steps"):
        steps = config["steps"]
        plural = "s" if len(steps) != 1 else ""
        return f"{len(steps)} step{plural}: {mask_url(steps[0].get('url', ''))}"
    host = config.get("host", "")
    return f"{host}:{config['port']}" if config.get("port") else host
