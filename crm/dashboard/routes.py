"""Dashboard and ``/healthz``."""
from flask import jsonify, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import func, select, text

from crm.auth.models import ENGINEER, PENDING, STAFF_ROLES, User
from crm.auth.policy import public, requires
from crm.dashboard import bp
from crm.extensions import db
from crm.queue import redis_conn
from crm.tickets.models import ACTIVE_STATUSES, Ticket


@bp.route("/")
@public
def index():
    """Send visitors to log-in and users to their dashboard."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.home"))
    return redirect(url_for("auth.login"))


@bp.route("/dashboard")
@requires("authenticated")
def home():
    """Role-specific overview: counts per status for the tickets the user cares about."""
    if current_user.role == "customer":
        return redirect(url_for("portal.index"))
    stmt = select(Ticket.status, func.count(Ticket.id)).group_by(Ticket.status)
    if current_user.role == ENGINEER:
        stmt = stmt.where(Ticket.assignee_id == current_user.id)
    counts = dict(db.session.execute(stmt).all())
    unassigned = db.session.scalar(select(func.count(Ticket.id)).where(
        Ticket.assignee_id.is_(None), Ticket.status.in_(ACTIVE_STATUSES)))
    pending_staff = 0
    if current_user.role == "admin":
        pending_staff = db.session.scalar(select(func.count(User.id)).where(
            User.status == PENDING, User.role.in_(STAFF_ROLES)))
    return render_template("dashboard/home.html", counts=counts, unassigned=unassigned,
                           pending_staff=pending_staff)


@bp.route("/healthz")
@public
def healthz():
    """200 with ``{"status": "ok", "database": "ok", "redis": "ok"|"not configured"}``;
    503 when the database or a configured Redis does not answer."""
    state = {"database": "ok", "redis": "not configured"}
    healthy = True
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means unhealthy
        state["database"] = f"error: {type(exc).__name__}"
        healthy = False
    conn = redis_conn()
    if conn is not None:
        try:
            conn.ping()
            state["redis"] = "ok"
        except Exception as exc:
            state["redis"] = f"error: {type(exc).__name__}"
            healthy = False
    state["status"] = "ok" if healthy else "degraded"
    return jsonify(state), 200 if healthy else 503
