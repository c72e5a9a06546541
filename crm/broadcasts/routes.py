"""Broadcast console pages (``broadcast.send``) and the public unsubscribe page."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from crm.auth.policy import public, requires
from crm.broadcasts import bp, services
from crm.broadcasts.forms import BroadcastForm
from crm.broadcasts.models import Broadcast
from crm.clock import utcnow
from crm.errors import ServiceError
from crm.extensions import csrf, db
from crm.htmx import is_htmx_partial
from crm.monitoring.models import MaintenanceWindow
from crm.pagination import id_keyset_page
from crm.security.params import multi_valued


@bp.route("/")
@requires("broadcast.send")
def index():
    """Broadcasts, newest first."""
    rows, next_before = id_keyset_page(select(Broadcast), Broadcast)
    return render_template("broadcasts/index.html", broadcasts=rows, next_before=next_before)


def _window_choices() -> list[tuple[int, str]]:
    """Windows not over yet (a recurring one until its last occurrence), soonest first."""
    now = utcnow()
    rows = db.session.scalars(
        select(MaintenanceWindow).order_by(MaintenanceWindow.starts_at).limit(500)
    )
    return [(0, "— none —")] + [
        (w.id, f"{w.title} ({w.starts_at:%Y-%m-%d %H:%M} – {w.ends_at:%Y-%m-%d %H:%M} UTC)")
        for w in rows
        if w.ends_at > now
        or (w.recurrence and (w.recurrence_until is None or w.recurrence_until > now))
    ]


@bp.route("/new", methods=["GET", "POST"])
@requires("broadcast.send")
@multi_valued("channels")
def new():
    """Compose a broadcast (``?window=<id>`` pre-fills it from a window), then confirm it.

    A valid POST shows the confirm page: who it reaches (customers, emails, texts, counted
    as the send job will) with the text as it goes out. Only a POST carrying
    ``confirm=yes`` (that page's button) sends; ``edit`` returns to the form as typed.
    """
    form = BroadcastForm()
    form.window.choices = _window_choices()
    if request.method == "GET":
        window_id = request.args.get("window", "")
        window = (
            db.session.get(MaintenanceWindow, int(window_id))
            if window_id.isdigit() and len(window_id) < 10
            else None
        )
        if window is not None:
            form.window.data = window.id
            form.subject.data = f"Planned maintenance: {window.title}"
            form.body.data = (window.description or "") or (
                f"We will carry out planned maintenance from {window.starts_at:%Y-%m-%d %H:%M} "
                f"to {window.ends_at:%Y-%m-%d %H:%M} UTC. "
                "Services may be unavailable during this time."
            )
        form.channels.data = form.channels.data or ["email"]
        return render_template("broadcasts/new.html", form=form, audience=None)
    if form.validate_on_submit():
        window = db.session.get(MaintenanceWindow, form.window.data) if form.window.data else None
        try:
            if request.form.get("edit"):  # "Change" on the confirm page: back to the form
                return render_template("broadcasts/new.html", form=form, audience=None)
            if request.form.get("confirm") != "yes":
                counts = services.recipient_counts(
                    form.segment.data, form.segment_days.data, form.channels.data
                )
                return render_template(
                    "broadcasts/confirm.html", form=form, window=window, counts=counts
                )
            broadcast = services.create_broadcast(
                subject=form.subject.data,
                body=form.body.data,
                channels=form.channels.data,
                segment=form.segment.data,
                segment_days=form.segment_days.data,
                window=window,
                by=current_user,
            )
        except ServiceError as exc:
            getattr(form, exc.field, form.subject).errors.append(exc.message)
        else:
            flash(f"Broadcast #{broadcast.id} is being sent.", "success")
            return redirect(url_for("broadcasts.show", broadcast_id=broadcast.id))
    return render_template("broadcasts/new.html", form=form, audience=None), 422


@bp.route("/<int:broadcast_id>")
@requires("broadcast.send")
def show(broadcast_id: int):
    """One broadcast with its progress (the fragment polls until done)."""
    broadcast = db.get_or_404(Broadcast, broadcast_id)
    if is_htmx_partial():
        return render_template("broadcasts/_progress.html", broadcast=broadcast)
    return render_template("broadcasts/show.html", broadcast=broadcast)


@bp.route("/unsubscribe/<unsubscribe_token>", methods=["GET", "POST"])
@public
@csrf.exempt
def unsubscribe(unsubscribe_token: str):
    """Unsubscribe from announcement emails.

    GET shows a confirmation page with one button (link scanners that follow links must not
    unsubscribe anyone); POST records the opt-out — from that button, or straight from a
    mail client per RFC 8058 (``List-Unsubscribe-Post: List-Unsubscribe=One-Click``), which
    is why this POST carries no CSRF token: the signed token is the proof.
    """
    email = services.email_from_token(unsubscribe_token)
    if email is None:
        abort(404, "This unsubscribe link is not valid. Copy the whole link from the email.")
    if request.method == "POST":
        one_click = request.form.get("List-Unsubscribe") == "One-Click"
        services.opt_out(email, source="one-click" if one_click else "link")
        return render_template("broadcasts/unsubscribed.html", email=email)
    return render_template(
        "broadcasts/unsubscribe.html",
        email=email,
        token=unsubscribe_token,
        already=services.is_opted_out(email),
    )
