"""Console routes of the ``auth`` blueprint."""
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from crm.auth import bp, services
from crm.auth.forms import LoginForm, RegisterForm
from crm.auth.policy import public, requires
from crm.errors import ServiceError


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    """Log-in form; refuses pending/rejected staff with the reason."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.home"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data)
        except services.LoginRefused as exc:
            form.email.errors.append(exc.message)
            return render_template("auth/login.html", form=form), 403
        if user is None:
            form.password.errors.append("Wrong email or password.")
            return render_template("auth/login.html", form=form), 401
        login_user(user, remember=form.remember.data)
        flash(f"Welcome back, {user.name}.", "success")
        return redirect(_safe_next(request.args.get("next")) or url_for("dashboard.home"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/register", methods=["GET", "POST"])
@public
def register():
    """Registration form; staff accounts are created pending."""
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = services.register(form.email.data, form.password.data, form.name.data, form.role.data)
        except ServiceError as exc:
            getattr(form, exc.field or "email").errors.append(exc.message)
            return render_template("auth/register.html", form=form), 422
        if user.status == "active":
            login_user(user)
            flash("Your account is ready. Welcome to CR Tracker!", "success")
            return redirect(url_for("dashboard.home"))
        flash("Thanks! Your staff account is awaiting approval by an administrator; "
              "we will email you when it is approved.", "info")
        return redirect(url_for("auth.login"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/register.html", form=form), status


@bp.route("/logout", methods=["POST"])
@requires("authenticated")
@login_required
def logout():
    """End the session (POST, CSRF-protected)."""
    logout_user()
    flash("You have been logged out.", "info")
    return redirect(url_for("auth.login"))
