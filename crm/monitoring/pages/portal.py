"""The customer portal's own monitors (blueprint ``my_monitors``, ``/portal/monitors``):
a verified customer lists, adds, reads and deletes the monitors they own (self-service
uptime), within their plan. The rules are the services' (:mod:`crm.monitoring.services`,
:mod:`crm.monitoring.plans`); another customer's monitor is a 404
(:func:`crm.monitoring.access.get_monitor_or_404`).
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from crm.auth.policy import requires
from crm.errors import ServiceError
from crm.extensions import db
from crm.monitoring import plans, services
from crm.monitoring.access import get_monitor_or_404
from crm.monitoring.engine import results
from crm.monitoring.models import Monitor
from crm.pagination import id_keyset_page

bp = Blueprint("my_monitors", __name__, url_prefix="/portal/monitors")

#: what a customer may watch, as the form offers it (value = monitor type)
KINDS = [("http", "Website (HTTP or HTTPS)"), ("tls", "TLS certificate expiry"),
         ("tcp", "TCP port"), ("dns", "DNS name"), ("heartbeat", "Heartbeat (your job pings us)")]
#: results shown on a monitor's page
RECENT_RESULTS = 20


class OwnMonitorForm(FlaskForm):
    """A customer's new monitor: what to watch and how often; the fields a kind does not use
    are ignored (``host`` for a website, ``url`` for the others)."""

    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    type = SelectField("What to watch", choices=KINDS)
    url = StringField("Website address (URL)", validators=[Optional(), Length(max=2000)])
    keyword = StringField("Text the page must contain (optional)",
                          validators=[Optional(), Length(max=200)])
    host = StringField("Host name", validators=[Optional(), Length(max=253)])
    port = IntegerField("Port", validators=[Optional(), NumberRange(1, 65535)])
    interval = IntegerField("Check every (seconds)", default=300,
                            validators=[DataRequired(), NumberRange(10, 86_400)])
    email_me = BooleanField("Email me when it goes down and when it is back", default=True)

    def definition(self, email: str) -> dict:
        """The API-shaped definition (:func:`crm.monitoring.services.create_monitor`)."""
        data = {"name": self.name.data, "type": self.type.data, "interval": self.interval.data}
        if self.type.data == "http":
            data["url"] = (self.url.data or "").strip()
            if self.keyword.data:
                data["keyword"] = self.keyword.data
        elif self.type.data in ("tls", "tcp", "dns"):
            data["host"] = (self.host.data or "").strip()
            if self.type.data != "dns":
                data["port"] = self.port.data or (443 if self.type.data == "tls" else None)
        if self.email_me.data:
            data["contacts"] = [{"email": email}]
        return data


def _form_page(form: OwnMonitorForm, status: int = 200):
    plan = plans.plan_for(current_user)
    return render_template("monitoring/portal/new.html", form=form, plan=plan,
                           owned=plans.monitors_owned(current_user)), status


def _show_refusal(form: OwnMonitorForm, exc: ServiceError) -> None:
    """Put a service's refusal under the fields it names (``url``, ``host`` …), the rest
    above the form."""
    placed = False
    for name, messages in (exc.errors or {exc.field or "": [exc.message]}).items():
        field = getattr(form, name.split(".")[0], None) if name else None
        if field is not None and name.split(".")[0] in form._fields:
            field.errors = list(field.errors or []) + list(messages)
            placed = True
    if not placed:
        form.form_errors.append(exc.message)


@bp.route("")
@requires("monitor.own")
def index():
    """The customer's monitors, newest first, with their state and the plan's use."""
    stmt = services.list_monitors(services.MonitorFilters(owner_id=current_user.id))
    rows, next_before = id_keyset_page(stmt, Monitor)
    return render_template("monitoring/portal/index.html", monitors=rows, next_before=next_before,
                           plan=plans.plan_for(current_user),
                           owned=plans.monitors_owned(current_user))


@bp.route("/new", methods=["GET", "POST"])
@requires("monitor.own")
def new():
    """Add a monitor (the plan's count, shortest interval and the customer outbound policy
    apply; refusals show under their fields)."""
    form = OwnMonitorForm()
    if request.method == "GET":
        form.interval.data = max(form.interval.data or 300,
                                 plans.plan_for(current_user).min_interval_seconds)
        return _form_page(form)
    if not form.validate_on_submit():
        return _form_page(form, 422)
    try:
        monitor = services.create_monitor(form.definition(current_user.email), by=current_user,
                                          owner=current_user)
    except ServiceError as exc:
        db.session.rollback()
        _show_refusal(form, exc)
        return _form_page(form, exc.status)
    flash(f"“{monitor.name}” is being checked now.", "success")
    return redirect(url_for("my_monitors.show", monitor_id=monitor.id))


@bp.route("/<int:monitor_id>")
@requires("monitor.own")
def show(monitor_id: int):
    """One of the customer's monitors: state, its push URL (heartbeats) and recent results."""
    monitor = get_monitor_or_404(monitor_id, current_user)
    recent = db.session.scalars(results.check_history(monitor.id).limit(RECENT_RESULTS)).all()
    return render_template("monitoring/portal/show.html", monitor=monitor, recent=recent,
                           ping_url=services.ping_url(monitor))


@bp.route("/<int:monitor_id>/delete", methods=["GET", "POST"])
@requires("monitor.own")
def delete(monitor_id: int):
    """Delete the monitor with its history: GET asks first, POST with ``confirm=yes`` does it
    (a POST without it only asks)."""
    monitor = get_monitor_or_404(monitor_id, current_user)
    if request.method == "GET" or request.form.get("confirm") != "yes":
        return render_template("monitoring/portal/delete.html", monitor=monitor)
    name = monitor.name
    services.delete_monitor(monitor, by=current_user)
    flash(f"“{name}” and its history were deleted.", "success")
    return redirect(url_for("my_monitors.index"))
