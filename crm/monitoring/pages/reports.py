"""Health reports in the console (blueprint ``reports`` at ``/reports``): the list, "Generate
now" with a self-polling progress bar, the PDF download, the HTML preview, and which report
periods each contact group receives."""
from __future__ import annotations

from datetime import UTC, datetime, time

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, SelectField, SubmitField
from wtforms.validators import DataRequired, Optional, ValidationError

from crm.auth.policy import requires
from crm.clock import utcnow
from crm.extensions import db
from crm.htmx import is_htmx_partial, rerender_at
from crm.monitoring import reports
from crm.monitoring.models import REPORT_PERIODS, ContactGroup, HealthReport
from crm.pagination import id_keyset_page

bp = Blueprint("reports", __name__, url_prefix="/reports")

#: The HTML preview is an admin-edited template rendered as a document of its own: no
#: scripts, no fetches, only its own inline styles and inline images; framed only by the
#: console's report page. (flask-talisman reads ``talisman_view_options`` from the view.)
PREVIEW_HEADERS = {
    "content_security_policy": {"default-src": "'none'", "style-src": "'unsafe-inline'",
                                "img-src": "data:", "frame-ancestors": "'self'", "sandbox": ""},
    "frame_options": "SAMEORIGIN",
}


class GenerateForm(FlaskForm):
    """"Generate now": a group, a period, and optionally a day inside the wanted period."""

    group = SelectField("Recipient group", coerce=int, validators=[DataRequired("Choose a group.")])
    period = SelectField("Period", choices=[(p, p.capitalize()) for p in REPORT_PERIODS],
                         validators=[DataRequired()])
    day = DateField("Any day in the period (UTC)", validators=[Optional()])
    submit = SubmitField("Generate now")

    def validate_day(self, field):
        if field.data and field.data > utcnow().date():
            raise ValidationError("Choose a day that is not in the future.")


def _generate_form(formdata=None) -> GenerateForm:
    kwargs = {} if formdata is not False else {"formdata": None}
    form = GenerateForm(**kwargs)
    form.group.choices = [
        (g.id, g.name) for g in db.session.scalars(select(ContactGroup).order_by(ContactGroup.name))
    ]
    return form


def _index_page(form: GenerateForm, status: int = 200):
    rows, next_before = id_keyset_page(select(HealthReport), HealthReport)
    return render_template(
        "monitoring/reports/index.html", reports=rows, next_before=next_before, form=form
    ), status


@bp.route("/")
@requires("report.view")
def index():
    """Generated reports, newest first, and the "Generate now" form."""
    return _index_page(_generate_form(False))


@bp.route("/generate", methods=["POST"])
@requires("report.manage")
def generate():
    """Request a report now (idempotent per group, period and period start) and show its
    progress; a refused request re-renders the list page at its own address (``/reports/``)."""
    form = _generate_form()
    if not form.validate_on_submit():
        return rerender_at(url_for("reports.index"), *_index_page(form, 422))
    group = db.session.get(ContactGroup, form.group.data)
    start = datetime.combine(form.day.data, time(0), tzinfo=UTC) if form.day.data else None
    if start is not None and reports.period_bounds(form.period.data, start.date())[1] > utcnow():
        # one report per group and period: a report of a period still running would stand
        # in for the complete one the scheduler emails after the period ends
        form.day.errors = [
            *form.day.errors,
            "That period has not ended yet: choose a day in a finished period.",
        ]
        return rerender_at(url_for("reports.index"), *_index_page(form, 422))
    report = reports.request_report(group, form.period.data, by=current_user, period_start=start)
    flash(f"Report #{report.id} requested.", "success")
    return redirect(url_for("reports.show", report_id=report.id))


@bp.route("/<int:report_id>")
@requires("report.view")
def show(report_id: int):
    """One report: its progress bar (polls until done), downloads and the preview."""
    report = db.get_or_404(HealthReport, report_id)
    if is_htmx_partial():
        return render_template("monitoring/reports/_progress.html", report=report)
    return render_template("monitoring/reports/show.html", report=report)


@bp.route("/<int:report_id>.pdf")
@requires("report.view")
def pdf(report_id: int):
    """The report's PDF as a download (``Content-Disposition: attachment``); 404 until done."""
    report = db.get_or_404(HealthReport, report_id)
    if not report.pdf:
        abort(404, "This report has no PDF yet.")
    return Response(
        report.pdf,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{reports.pdf_filename(report)}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@bp.route("/<int:report_id>.html")
@requires("report.view")
def preview(report_id: int):
    """The report's HTML (the email's HTML part) as a sandboxed document; 404 until done."""
    report = db.get_or_404(HealthReport, report_id)
    if not report.html:
        abort(404, "This report has no HTML yet.")
    return Response(
        report.html, mimetype="text/html", headers={"X-Content-Type-Options": "nosniff"}
    )


preview.talisman_view_options = PREVIEW_HEADERS


@bp.route("/subscriptions", methods=["GET", "POST"])
@requires("report.manage")
def subscriptions():
    """Which reports each contact group receives (one checkbox per group and period, field
    ``periods-<group id>-<period>``: single-valued, as every parameter must be)."""
    from crm.tickets.forms import ActionForm

    groups = list(db.session.scalars(select(ContactGroup).order_by(ContactGroup.name)))
    form = ActionForm()
    errors = []
    if request.method == "POST":
        wanted = {}
        for group in groups:
            prefix = f"periods-{group.id}-"
            ticked = {k[len(prefix) :] for k in request.form if k.startswith(prefix)}
            unknown = sorted(ticked - set(REPORT_PERIODS))
            if unknown:
                errors.append(
                    f"{group.name}: unknown period {unknown[0][:20]!r}; "
                    "choose daily, weekly or monthly."
                )
            wanted[group.id] = [p for p in REPORT_PERIODS if p in ticked]
        if not form.validate_on_submit():
            errors.append("The form expired; please try again.")
        if not errors:
            for group in groups:
                group.report_periods = wanted[group.id]
            db.session.commit()
            flash("Report subscriptions saved.", "success")
            return redirect(url_for("reports.subscriptions"))
    return render_template(
        "monitoring/reports/subscriptions.html",
        groups=groups,
        periods=REPORT_PERIODS,
        form=form,
        errors=errors,
    ), 422 if errors else 200
