"""Console routes of the ``auth`` blueprint: log-in (with lockout and the TOTP second step),
registration, email verification, profile, password change, two-factor set-up and policy."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from crm.auth import bp, lockout, services, totp, verification
from crm.auth.forms import (
    ChangePasswordForm,
    LoginForm,
    ProfileForm,
    RegisterForm,
    TotpCodeForm,
    TotpPolicyForm,
)
from crm.auth.models import STAFF_ROLES, User
from crm.auth.policy import public, requires
from crm.clock import utcnow
from crm.errors import ServiceError
from crm.extensions import db
from crm.security.redirects import internal_path
from crm.sessions.services import current_session, end_current_session, start_session

#: Flask-session keys: the half-logged-in state between password and TOTP code, the TOTP
#: secret being set up, and "show the verify-your-email pop-up on the next page".
PENDING_2FA, SETUP_SECRET, VERIFY_PROMPT = "pending_2fa", "totp_setup_secret", "verify_prompt"
#: seconds a password step stays valid while waiting for the TOTP code.
PENDING_2FA_SECONDS = 300
#: endpoints a staff member who must set TOTP up may still reach.
_TOTP_SETUP_ALLOWED = frozenset({"auth.totp_setup", "auth.logout", "auth.verify_email",
                                 "auth.resend_verification", "static"})



def _locked_page(template: str, exc: lockout.LockedOut, **ctx):
    """The form again with the lock message: 429 with ``Retry-After`` (seconds)."""
    return render_template(template, **ctx), 429, {"Retry-After": str(exc.retry_after)}


def _finish_login(user: User, *, remember: bool, method: str, next_url: str | None):
    """Start the session, then send the user on: to the TOTP set-up page when their role
    requires it, else to ``next_url`` or the dashboard; unverified users get the pop-up."""
    start_session(user, remember=remember, method=method)
    if not user.is_verified:
        session[VERIFY_PROMPT] = True
    flash(f"Welcome back, {user.name}.", "success")
    if totp.setup_pending(user):
        flash("Your role requires two-factor log-in: set it up to continue.", "warning")
        return redirect(url_for("auth.totp_setup"))
    return redirect(next_url or url_for("dashboard.home"))


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    """Log-in form; refuses pending/rejected staff with the reason, locks after repeated
    failures, and asks for a TOTP code when the account has two-factor log-in."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.home"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data)
        except lockout.LockedOut as exc:
            form.email.errors.append(exc.message)
            return _locked_page("auth/login.html", exc, form=form)
        except services.LoginRefused as exc:
            form.email.errors.append(exc.message)
            return render_template("auth/login.html", form=form), 403
        if user is None:
            form.password.errors.append("Wrong email or password.")
            return render_template("auth/login.html", form=form), 401
        next_url = internal_path(request.args.get("next"))
        if user.totp_enabled_at is not None:
            session[PENDING_2FA] = {"user_id": user.id, "remember": bool(form.remember.data),
                                    "next": next_url, "at": utcnow().timestamp()}
            return redirect(url_for("auth.totp_verify"))
        return _finish_login(
            user, remember=bool(form.remember.data), method="password", next_url=next_url
        )
    status = 422 if form.is_submitted() else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/register", methods=["GET", "POST"])
@public
def register():
    """Registration form; staff accounts are created pending. Everyone gets a verification
    email."""
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = services.register(
                form.email.data, form.password.data, form.name.data, form.role.data
            )
        except ServiceError as exc:
            getattr(form, exc.field or "email").errors.append(exc.message)
            return render_template("auth/register.html", form=form), 422
        if user.status == "active":
            start_session(user, method="register")
            flash(
                "Your account is ready. Welcome to CR Tracker! We sent a verification link to "
                f"{user.email}: open it to raise tickets.",
                "success",
            )
            return redirect(url_for("dashboard.home"))
        flash(
            "Thanks! Your staff account is awaiting approval by an administrator; "
            "we will email you when it is approved. Meanwhile, open the verification link "
            f"we sent to {user.email}.",
            "info",
        )
        return redirect(url_for("auth.login"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/register.html", form=form), status


@bp.route("/logout", methods=["POST"])
@requires("authenticated")
@login_required
def logout():
    """End the session (POST, CSRF-protected)."""
    end_current_session()
    session.pop(VERIFY_PROMPT, None)
    flash("You have been logged out.", "info")
    return redirect(url_for("auth.login"))


# ---------------------------------------------------------------- email verification

_OUTCOMES = {
    verification.VERIFIED: (
        200,
        "Welcome to CR Tracker!",
        "Your email address is verified. You can now use all our services.",
    ),
    verification.ALREADY: (200, "Already verified", "Your email is already verified."),
    verification.EXPIRED: (
        410,
        "Link expired",
        "This verification link has expired. We can send you a new one.",
    ),
    verification.SUPERSEDED: (
        410,
        "Link replaced",
        "This verification link was replaced by a newer one. Use the latest "
        "email, or ask for a new link.",
    ),
    verification.INVALID: (
        404,
        "Link not valid",
        "This verification link is not valid. Check that you copied the whole "
        "link, or log in and ask for a new one.",
    ),
}


@bp.route("/verify/<token>")
@public
def verify_email(token: str):
    """The link from the verification email: Welcome page on success; already verified,
    expired (with a button for a new link), replaced or invalid otherwise."""
    outcome = verification.verify_link(token[:200])
    state = outcome.status
    if state == verification.INVALID and current_user.is_authenticated and current_user.is_verified:
        state = verification.ALREADY
    if state in (verification.VERIFIED, verification.ALREADY):
        session.pop(VERIFY_PROMPT, None)
    status, title, message = _OUTCOMES[state]
    offer_resend = state in (verification.EXPIRED, verification.SUPERSEDED)
    return render_template(
        "auth/verify_result.html",
        state=state,
        title=title,
        message=message,
        token=token if offer_resend else None,
    ), status


@bp.route("/verify/resend", methods=["POST"])
@public
def resend_verification():
    """Send a new verification link: to the logged-in user, or to the owner of the expired
    link posted as ``token``. At most one per ``VERIFY_RESEND_COOLDOWN_SECONDS``."""
    user = (
        current_user
        if current_user.is_authenticated
        else verification.user_of_link(request.form.get("token", "")[:200])
    )
    if user is None:
        flash("Log in to ask for a new verification link.", "warning")
        return redirect(url_for("auth.login"))
    session.pop(VERIFY_PROMPT, None)
    try:
        verification.resend(user)
    except verification.ResendTooSoon as exc:
        return (
            render_template(
                "auth/verify_result.html",
                state="cooldown",
                title="Please wait",
                message=exc.message,
                token=None,
            ),
            429,
            {"Retry-After": str(exc.retry_after)},
        )
    except ServiceError as exc:
        return render_template(
            "auth/verify_result.html",
            state=verification.ALREADY,
            title="Already verified",
            message=exc.message,
            token=None,
        ), exc.status
    return render_template(
        "auth/verify_result.html",
        state="sent",
        title="Check your inbox",
        message=f"We sent a new verification link to {user.email}. Open it within "
        f"{current_app.config['VERIFY_TOKEN_TTL_SECONDS'] // 60} minutes.",
        token=None,
    )


# ---------------------------------------------------------------- profile and password


@bp.route("/profile", methods=["GET", "POST"])
@requires("authenticated")
def profile():
    """Name and email (a new email must be verified again); links to the phone, password
    and two-factor pages."""
    me = current_user._get_current_object()
    form = ProfileForm(obj=me)
    if form.validate_on_submit():
        try:
            changed = services.update_profile(
                me, form.name.data, form.email.data, form.current_password.data
            )
        except ServiceError as exc:
            getattr(form, exc.field or "email").errors.append(exc.message)
            return render_template("auth/profile.html", form=form, user=me), 422
        if changed:
            flash(
                f"Profile saved. We sent a verification link to {me.email}: open it to verify your "
                "new address.",
                "success",
            )
        else:
            flash("Profile saved.", "success")
        return redirect(url_for("auth.profile"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/profile.html", form=form, user=me), status


@bp.route("/password", methods=["GET", "POST"])
@requires("authenticated")
def change_password():
    """Change the password (asks for the current one); other sessions are logged out."""
    me = current_user._get_current_object()
    form = ChangePasswordForm()
    if form.validate_on_submit():
        row = current_session()
        try:
            services.change_password(
                me,
                form.current_password.data,
                form.password.data,
                keep_session_id=row.id if row is not None else None,
            )
        except ServiceError as exc:
            getattr(form, exc.field or "password").errors.append(exc.message)
            return render_template("auth/password.html", form=form), 422
        flash("Password changed. Your other sessions were logged out.", "success")
        return redirect(url_for("auth.profile"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/password.html", form=form), status


# ---------------------------------------------------------------- two-factor (TOTP)


@bp.route("/2fa", methods=["GET", "POST"])
@requires("authenticated")
def totp_setup():
    """Set up TOTP (show the secret and otpauth URI, confirm a code), or show that it is on."""
    me = current_user._get_current_object()
    form = TotpCodeForm()
    if me.totp_enabled_at is not None:
        return render_template(
            "auth/totp_setup.html", form=form, enabled=True, required=totp.is_required(me)
        )
    secret = session.get(SETUP_SECRET) or totp.new_secret()
    session[SETUP_SECRET] = secret
    if form.validate_on_submit():
        try:
            totp.enable(me, secret, form.code.data)
        except ServiceError as exc:
            form.code.errors.append(exc.message)
        else:
            session.pop(SETUP_SECRET, None)
            flash(
                "Two-factor log-in is on. You will be asked for a code at every log-in.", "success"
            )
            return redirect(url_for("auth.profile"))
    status = 422 if form.is_submitted() else 200
    return render_template(
        "auth/totp_setup.html",
        form=form,
        enabled=False,
        secret=secret,
        uri=totp.provisioning_uri(me, secret),
        required=totp.is_required(me),
    ), status


@bp.route("/2fa/disable", methods=["POST"])
@requires("authenticated")
def totp_disable():
    """Turn TOTP off with a current code (refused when the role requires it)."""
    me = current_user._get_current_object()
    form = TotpCodeForm()
    if me.totp_enabled_at is None:
        return redirect(url_for("auth.totp_setup"))
    if form.validate_on_submit():
        try:
            totp.disable(me, form.code.data)
        except ServiceError as exc:
            form.code.errors.append(exc.message)
            return render_template(
                "auth/totp_setup.html", form=form, enabled=True, required=totp.is_required(me)
            ), exc.status
        flash("Two-factor log-in is off.", "info")
        return redirect(url_for("auth.profile"))
    return render_template(
        "auth/totp_setup.html", form=form, enabled=True, required=totp.is_required(me)
    ), 422


@bp.route("/2fa/verify", methods=["GET", "POST"])
@public
def totp_verify():
    """Second log-in step: the TOTP code. The password step is kept in the Flask session
    (not logged in) for :data:`PENDING_2FA_SECONDS`; wrong codes count towards lockout."""
    pending = session.get(PENDING_2FA)
    user = db.session.get(User, pending.get("user_id")) if isinstance(pending, dict) else None
    if (
        user is None
        or not user.is_active
        or user.totp_enabled_at is None
        or utcnow().timestamp() - float(pending.get("at", 0)) > PENDING_2FA_SECONDS
    ):
        session.pop(PENDING_2FA, None)
        flash("Log in with your email and password first.", "warning")
        return redirect(url_for("auth.login"))
    form = TotpCodeForm()
    if form.validate_on_submit():
        try:
            lockout.check(user.email, user)
        except lockout.LockedOut as exc:
            session.pop(PENDING_2FA, None)
            form.code.errors.append(exc.message)
            return _locked_page("auth/totp_verify.html", exc, form=form)
        if totp.verify(user, form.code.data):
            session.pop(PENDING_2FA, None)
            lockout.record_success(user)
            return _finish_login(
                user,
                remember=bool(pending.get("remember")),
                method="totp",
                next_url=internal_path(pending.get("next")),
            )
        seconds = lockout.record_failure(user.email, user)
        if seconds:
            session.pop(PENDING_2FA, None)
            exc = lockout.LockedOut(seconds)
            form.code.errors.append(exc.message)
            return _locked_page("auth/totp_verify.html", exc, form=form)
        form.code.errors.append("That code is not right.")
        return render_template("auth/totp_verify.html", form=form), 422
    status = 422 if form.is_submitted() else 200
    return render_template("auth/totp_verify.html", form=form), status


@bp.route("/2fa/policy", methods=["GET", "POST"])
@requires("security.manage")
def totp_policy():
    """Admin page: which staff roles must use two-factor log-in."""
    form = TotpPolicyForm()
    if request.method == "GET":
        form.roles.data = totp.required_roles()
    if form.validate_on_submit():
        try:
            totp.set_required_roles(form.roles.data or [], by=current_user._get_current_object())
        except ServiceError as exc:
            form.roles.errors.append(exc.message)
            return render_template("auth/totp_policy.html", form=form), 422
        flash("Two-factor policy saved.", "success")
        return redirect(url_for("auth.totp_policy"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/totp_policy.html", form=form), status


@bp.before_app_request
def _require_totp_setup():
    """A staff member whose role requires TOTP and who has not set it up may reach only the
    set-up page (and log-out) in the console."""
    if (
        request.endpoint in _TOTP_SETUP_ALLOWED
        or request.endpoint is None
        or request.path.startswith("/api/")
    ):
        return None
    user = current_user
    if (
        user.is_authenticated
        and user.role in STAFF_ROLES
        and user.totp_enabled_at is None
        and totp.is_required(user)
    ):
        return redirect(url_for("auth.totp_setup"))
    return None
