"""Console pages of sessions: a user's own sessions (revoke one, log out all others) and,
for admins, every user's sessions with filters and revocation."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from crm.auth.policy import requires
from crm.errors import ServiceError
from crm.extensions import db
from crm.htmx import render_page_or_fragment
from crm.pagination import id_keyset_page
from crm.sessions import bp
from crm.sessions.forms import SessionFilterForm
from crm.sessions.models import UserSession
from crm.sessions.services import (
    current_session,
    describe_user_agent,
    filters_from_args,
    revoke_all_for_user,
    revoke_session,
    sessions_query,
)
from crm.tickets.forms import ActionForm


@bp.app_template_filter("ua_summary")
def ua_summary_filter(user_agent: str | None) -> str:
    """Template filter: readable browser/OS summary of a User-Agent string."""
    return describe_user_agent(user_agent)


@bp.route("/")
@requires("authenticated")
def mine():
    """The current user's sessions (active first, newest first), with revoke buttons."""
    rows = db.session.scalars(
        select(UserSession)
        .where(UserSession.user_id == current_user.id)
        .order_by(UserSession.ended_at.is_not(None), UserSession.created_at.desc())
        .limit(100)
    ).all()
    current = current_session()
    others = sum(1 for s in rows if s.is_active and not (current and s.id == current.id))
    return render_template(
        "sessions/mine.html",
        rows=rows,
        current=current,
        others=others,
        form=ActionForm(formdata=None),
    )


@bp.route("/<int:session_id>/revoke", methods=["POST"])
@requires("authenticated")
def revoke(session_id: int):
    """End one of the user's own sessions; that browser is logged out on its next request."""
    row = db.get_or_404(UserSession, session_id)
    if row.user_id != current_user.id:
        abort(404)
    if not ActionForm().validate_on_submit():
        flash("The form expired; please try again.", "danger")
    elif revoke_session(row, current_user._get_current_object()):
        flash("Session revoked.", "success")
    else:
        flash("That session had already ended.", "info")
    return redirect(url_for("sessions.mine"))


@bp.route("/revoke-others", methods=["POST"])
@requires("authenticated")
def revoke_others():
    """ "Log out all other sessions": end every active session of the user except this one."""
    if not ActionForm().validate_on_submit():
        flash("The form expired; please try again.", "danger")
        return redirect(url_for("sessions.mine"))
    current = current_session()
    me = current_user._get_current_object()
    n = revoke_all_for_user(me.id, "revoked", me, except_id=current.id if current else None)
    db.session.commit()
    flash(
        f"Logged out {n} other session{'s' if n != 1 else ''}."
        if n
        else "No other session was active.",
        "success" if n else "info",
    )
    return redirect(url_for("sessions.mine"))


@bp.route("/all")
@requires("session.manage")
def all_sessions():
    """Every user's sessions, newest first (keyset pages of 25), filtered by user email,
    state, IP address and creation date (UTC); htmx swaps the table as filters change."""
    form = SessionFilterForm(request.args)
    rows, next_before, status = [], None, 200
    try:
        filters = filters_from_args(request.args)
    except ServiceError as exc:
        getattr(form, exc.field).errors = [exc.message]
        status = 422
    else:
        rows, next_before = id_keyset_page(sessions_query(filters), UserSession)
    html = render_page_or_fragment(
        "sessions/all.html",
        "sessions/_all_table.html",
        rows=rows,
        next_before=next_before,
        form=form,
        current=current_session(),
    )
    return html, status


@bp.route("/all/<int:session_id>/revoke", methods=["GET", "POST"])
@requires("session.manage")
def admin_revoke(session_id: int):
    """Revoke anyone's session: GET asks for confirmation, POST ends it (that browser is
    logged out on its next request, remember-me cookie included)."""
    row = db.get_or_404(UserSession, session_id)
    form = ActionForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            flash("The form expired; please try again.", "danger")
            return redirect(url_for("sessions.admin_revoke", session_id=row.id))
        if revoke_session(row, current_user._get_current_object()):
            flash(f"Session of {row.user.email} revoked: that browser is logged out.", "success")
        else:
            flash("That session had already ended.", "info")
        return redirect(
            form.next.data
            if (form.next.data or "").startswith("/sessions/all")
            else url_for("sessions.all_sessions")
        )
    back = request.args.get("next") or ""
    if not back.startswith("/sessions/all"):
        back = url_for("sessions.all_sessions")
    return render_template(
        "sessions/revoke.html",
        row=row,
        form=ActionForm(formdata=None, next=back),
        back=back,
        current=current_session(),
    )
