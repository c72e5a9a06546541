"""Maintenance windows in the console (blueprint ``maintenance`` at ``/maintenance``,
permission ``maintenance.manage``): list (current, upcoming, past), create, edit, delete.

The windows' effect — alerts suppressed, status ``maintenance`` — is the engine's
(:mod:`crm.monitoring.maintenance`); this module only keeps the rows valid:

* ``ends_at`` after ``starts_at``;
* a recurring window (daily, weekly, monthly) lasts less than its repeat interval (a daily
  window of 25 hours would overlap itself), and its ``recurrence_until``, when given, is not
  before ``starts_at``;
* it applies to all monitors or to at least one chosen monitor.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from crm.auth.policy import requires
from crm.clock import utcnow
from crm.extensions import db
from crm.monitoring.models import MaintenanceWindow, Monitor
from crm.monitoring.pages.forms import normalise_newlines
from crm.security.params import multi_valued

bp = Blueprint("maintenance", __name__, url_prefix="/maintenance")

RECURRENCES = ("", "daily", "weekly", "monthly")
#: The shortest repeat interval of each recurrence (a month can be 28 days).
RECURRENCE_INTERVAL = {
    "daily": timedelta(days=1),
    "weekly": timedelta(days=7),
    "monthly": timedelta(days=28),
}
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


class WindowForm(FlaskForm):
    """A maintenance window; times are UTC (``datetime-local`` inputs)."""

    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    description = TextAreaField(
        "Description (shown on status pages when announced)",
        filters=[normalise_newlines],
        validators=[Optional(), Length(max=5000)],
    )
    starts_at = DateTimeLocalField(
        "Starts (UTC)",
        format=DATETIME_FORMAT,
        validators=[DataRequired("Enter the start as YYYY-MM-DDTHH:MM.")],
    )
    ends_at = DateTimeLocalField(
        "Ends (UTC)",
        format=DATETIME_FORMAT,
        validators=[DataRequired("Enter the end as YYYY-MM-DDTHH:MM.")],
    )
    recurrence = SelectField(
        "Repeats",
        choices=[
            ("", "Does not repeat"),
            ("daily", "Daily"),
            ("weekly", "Weekly"),
            ("monthly", "Monthly"),
        ],
        validators=[Optional()],
    )
    recurrence_until = DateTimeLocalField(
        "Repeat until (UTC, empty: no end)", format=DATETIME_FORMAT, validators=[Optional()]
    )
    all_monitors = BooleanField("All monitors")
    monitors = SelectMultipleField("Monitors", coerce=int, validators=[Optional()])
    announced = BooleanField("Announce on public status pages", default=True)
    submit = SubmitField("Save window")

    def validate(self, extra_validators=None) -> bool:
        """Field checks, then the rules between fields (see the module docstring)."""
        ok = super().validate(extra_validators)
        start, end = self.starts_at.data, self.ends_at.data
        if start and end and end <= start:
            self.ends_at.errors.append("The end must be after the start.")
            ok = False
        if self.recurrence.data in RECURRENCE_INTERVAL:
            interval = RECURRENCE_INTERVAL[self.recurrence.data]
            if start and end and end - start >= interval:
                self.ends_at.errors.append(
                    f"A {self.recurrence.data} window must last less than {interval.days} day(s)."
                )
                ok = False
            until = self.recurrence_until.data
            if until and start and until < start:
                self.recurrence_until.errors.append("“Repeat until” must not be before the start.")
                ok = False
        elif self.recurrence_until.data:
            self.recurrence_until.errors.append("“Repeat until” applies to repeating windows only.")
            ok = False
        if not self.all_monitors.data and not self.monitors.data:
            self.monitors.errors.append("Choose at least one monitor, or tick “All monitors”.")
            ok = False
        return ok


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None else None


def window_state(window: MaintenanceWindow, now: datetime, active_ids: set[int]) -> str:
    """``current`` (an occurrence covers ``now``), ``past`` (no occurrence will start again)
    or ``upcoming``."""
    from crm.monitoring.maintenance import next_occurrence

    if window.id in active_ids:
        return "current"
    return "upcoming" if next_occurrence(window, now) is not None else "past"


def _form(window: MaintenanceWindow | None = None, formdata=True) -> WindowForm:
    kwargs = {} if formdata else {"formdata": None}
    if window is not None and not formdata:
        kwargs.update(
            title=window.title,
            description=window.description,
            recurrence=window.recurrence,
            all_monitors=window.all_monitors,
            announced=window.announced,
            monitors=[m.id for m in window.monitors],
            starts_at=window.starts_at.replace(tzinfo=None),
            ends_at=window.ends_at.replace(tzinfo=None),
            recurrence_until=window.recurrence_until.replace(tzinfo=None)
            if window.recurrence_until
            else None,
        )
    form = WindowForm(**kwargs)
    form.monitors.choices = [
        (m.id, m.name) for m in db.session.scalars(select(Monitor).order_by(Monitor.name))
    ]
    return form


def save_window(window: MaintenanceWindow, form: WindowForm) -> MaintenanceWindow:
    """Copy a validated :class:`WindowForm` onto ``window`` (new or existing) and commit."""
    window.title = form.title.data.strip()
    window.description = (form.description.data or "").strip()
    window.starts_at = _utc(form.starts_at.data)
    window.ends_at = _utc(form.ends_at.data)
    window.recurrence = form.recurrence.data or ""
    window.recurrence_until = _utc(form.recurrence_until.data) if window.recurrence else None
    window.all_monitors = bool(form.all_monitors.data)
    window.announced = bool(form.announced.data)
    ids = [] if window.all_monitors else list(form.monitors.data or [])
    window.monitors = (
        list(db.session.scalars(select(Monitor).where(Monitor.id.in_(ids)))) if ids else []
    )
    if window.id is None:
        window.created_by_id = current_user.id
        db.session.add(window)
    db.session.commit()
    return window


@bp.route("/")
@requires("maintenance.manage")
def index():
    """Windows grouped as current, upcoming and past (newest first within each)."""
    from crm.monitoring.maintenance import active_windows

    now = utcnow()
    active_ids = {w.id for w in active_windows(now)}
    windows = db.session.scalars(
        select(MaintenanceWindow)
        .options(selectinload(MaintenanceWindow.monitors))
        .order_by(MaintenanceWindow.starts_at.desc())
        .limit(500)
    )
    groups = {"current": [], "upcoming": [], "past": []}
    for w in windows:
        groups[window_state(w, now, active_ids)].append(w)
    groups["upcoming"].reverse()  # soonest first
    return render_template(
        "monitoring/maintenance/index.html", groups=groups, delete_form=_delete_form()
    )


def _delete_form():
    from crm.tickets.forms import ActionForm

    return ActionForm(formdata=None)


@bp.route("/new", methods=["GET", "POST"])
@requires("maintenance.manage")
@multi_valued("monitors")
def new():
    """Create a window (one-off or recurring)."""
    form = _form()
    if form.validate_on_submit():
        window = save_window(MaintenanceWindow(), form)
        flash(f"Maintenance window “{window.title}” created.", "success")
        return redirect(url_for("maintenance.index"))
    return render_template(
        "monitoring/maintenance/form.html", form=form, window=None
    ), 422 if form.is_submitted() else 200


@bp.route("/<int:window_id>", methods=["GET", "POST"])
@requires("maintenance.manage")
@multi_valued("monitors")
def edit(window_id: int):
    """Edit a window."""
    window = db.get_or_404(MaintenanceWindow, window_id)
    form = _form(window, formdata=None)
    from flask import request

    if request.method == "POST":
        form = _form(window)
        if form.validate_on_submit():
            save_window(window, form)
            flash(f"Maintenance window “{window.title}” saved.", "success")
            return redirect(url_for("maintenance.index"))
        return render_template("monitoring/maintenance/form.html", form=form, window=window), 422
    return render_template("monitoring/maintenance/form.html", form=form, window=window)


@bp.route("/<int:window_id>/delete", methods=["POST"])
@requires("maintenance.manage")
def delete(window_id: int):
    """Delete a window (its suppression stops at once)."""
    from crm.tickets.forms import ActionForm

    window = db.get_or_404(MaintenanceWindow, window_id)
    if not ActionForm().validate_on_submit():
        flash("The form expired; please try again.", "danger")
    else:
        db.session.delete(window)
        db.session.commit()
        flash(f"Maintenance window “{window.title}” deleted.", "success")
    return redirect(url_for("maintenance.index"))
