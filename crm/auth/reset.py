"""Password reset by emailed link or by SMS code: the rules, and their console pages.

The rules (used by these pages and by :mod:`crm.api.password_reset`) follow the OWASP Forgot
Password Cheat Sheet:

* the same answer whether or not an account exists, after comparable work (no account
  enumeration): an unknown address still costs a token and a rendered email, an unknown
  email or phone number still gets a decoy SMS code (:mod:`crm.auth.otp`);
* the link holds a random single-use token, stored hashed, valid ``RESET_TOKEN_TTL_SECONDS``
  (:mod:`crm.auth.tokens`); the SMS code is valid ``OTP_TTL_SECONDS`` with
  ``OTP_MAX_ATTEMPTS`` guesses;
* after a reset: every console session and API refresh token of the user ends (domain event
  ``user.credentials_changed``), other reset links and codes die, the lockout counters are
  cleared and a "your password was changed" email goes out. Nobody is logged in by a reset.
"""
from __future__ import annotations

import secrets

from flask import current_app, flash, redirect, render_template, session, url_for

from crm import events
from crm.auth import bp, otp, tokens
from crm.auth.models import ACTIVE, PENDING, User, find_user_by_email, normalise_email
from crm.auth.policy import public
from crm.auth.reset_forms import (
    CodeForm,
    EmptyForm,
    NewPasswordForm,
    ResetRequestForm,
    SmsResetRequestForm,
)
from crm.auth.services import validate_password
from crm.clock import utcnow
from crm.errors import ServiceError
from crm.extensions import db

#: account statuses whose password may be reset (pending staff too; not rejected/disabled)
RESETTABLE = (ACTIVE, PENDING)
#: the Flask session key holding what the SMS reset was asked for (email or E.164 number)
SMS_SESSION_KEY = "reset_sms_identifier"


# ====================================================================== rules

class ResetLinkError(ServiceError):
    """A reset link that cannot be used: ``reason`` expired | used (HTTP 410) or invalid (422)."""

    MESSAGES = {
        tokens.EXPIRED: "This reset link has expired. Links work for a short time only: "
                        "ask for a new one.",
        tokens.USED: "This reset link was already used. Ask for a new one if you still need it.",
        tokens.INVALID: "This reset link is not valid. Check that you copied the whole link, "
                        "or ask for a new one.",
    }

    def __init__(self, reason: str):
        super().__init__(
            self.MESSAGES.get(reason, self.MESSAGES[tokens.INVALID]),
            field="token",
            status=410 if reason in (tokens.EXPIRED, tokens.USED) else 422,
        )
        self.reason = reason


class SmsCodeError(ServiceError):
    """A reset code that was not accepted; ``check`` says why (see :class:`crm.auth.otp.OtpCheck`).

    HTTP 422 for a wrong code with attempts left; 410 when the code is dead (expired, used,
    out of attempts, or none was asked for).
    """

    def __init__(self, check: otp.OtpCheck):
        alive = check.status == otp.WRONG and check.attempts_left > 0
        super().__init__(check.message, field="code", status=422 if alive else 410)
        self.check = check


def _ttl_minutes(seconds: int) -> int:
    return max(1, round(seconds / 60))


def _reset_link(raw: str) -> str:
    return f"{current_app.config['SERVER_NAME_FOR_LINKS'].rstrip('/')}/auth/reset/{raw}"


def request_email_reset(email: str) -> None:
    """Email a reset link to the account with ``email``, if there is one that may reset; commits.

    Says nothing about whether it exists: for an unknown address a token is still generated
    and the email still rendered, but nothing is stored or sent.
    """
    from crm.notifications.services import queue_templated, render_email

    ttl = current_app.config["RESET_TOKEN_TTL_SECONDS"]
    user = find_user_by_email(email or "")
    if user is not None and user.status in RESETTABLE:
        raw = tokens.issue(user, tokens.RESET_PASSWORD, ttl)
        queue_templated(
            "password_reset",
            [user.email],
            event="user.password_reset_requested",
            user={"name": user.name, "email": user.email},
            link=_reset_link(raw),
            ttl_minutes=_ttl_minutes(ttl),
        )
    else:
        raw = tokens.hash_token(secrets.token_urlsafe(32))
        render_email(
            "password_reset",
            user={"name": "", "email": normalise_email(email or "")},
            link=_reset_link(raw),
            ttl_minutes=_ttl_minutes(ttl),
        )
    db.session.commit()


def apply_new_password(user: User, password: str, reason: str = "password_reset") -> None:
    """Set ``user``'s password after a reset and do the after-effects; commits.

    Publishes ``user.credentials_changed`` ``{user_id, reason}`` (console sessions and API
    refresh tokens end), kills the user's other reset links and codes, clears the lockout
    counters and queues the ``password_changed`` email.

    :raises ServiceError: 422 for a password outside 8–128 characters, or a common, breached
        or easily guessed one (:mod:`crm.auth.passwords`), saying why.
    """
    from crm.notifications.services import queue_templated

    validate_password(password, (user.email, user.name))
    user.set_password(password)
    tokens.invalidate(user.id, tokens.RESET_PASSWORD)
    otp.kill_for_user(user.id, otp.RESET_PASSWORD)
    user.failed_logins = 0
    user.locked_until = None
    events.publish(db.session, "user.credentials_changed", user_id=user.id, reason=reason)
    queue_templated(
        "password_changed",
        [user.email],
        event="user.credentials_changed",
        user={"name": user.name, "email": user.email},
        when=utcnow().strftime("%d %b %Y %H:%M UTC"),
        link=f"{current_app.config['SERVER_NAME_FOR_LINKS'].rstrip('/')}/auth/reset",
    )
    db.session.commit()


def check_reset_link(raw: str) -> User:
    """The user a reset link is for, without using the link up (to show the form).

    :raises ResetLinkError: expired, used or invalid (or the account may not reset any more).
    """
    check = tokens.peek(raw, tokens.RESET_PASSWORD)
    if check.status != tokens.OK:
        raise ResetLinkError(check.status)
    if check.token.user.status not in RESETTABLE:
        raise ResetLinkError(tokens.INVALID)
    return check.token.user


def reset_with_token(raw: str, password: str) -> User:
    """Use a reset link: set the new password (see :func:`apply_new_password`); commits.

    Following the link proves the owner reads that mailbox, so an unverified email address
    becomes verified.

    :raises ServiceError: 422 for a bad password (checked first: a typo does not burn the link).
    :raises ResetLinkError: 410 expired/used, 422 invalid.
    """
    validate_password(password)
    check_reset_link(raw)
    check = tokens.consume(raw, tokens.RESET_PASSWORD)
    user = check.token.user
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    apply_new_password(user, password)
    return user


def parse_identifier(text: str) -> tuple[str, str]:
    """What an SMS reset was asked for: ``("email", address)`` or ``("phone", E.164)``.

    :raises ServiceError: 422 (field ``identifier``) for text that is neither.
    """
    from crm.notifications.sms import example_phone, normalise_phone

    text = (text or "").strip()
    if "@" in text:
        if len(text) > 254:
            raise ServiceError(
                "Enter your email address or your mobile number.", field="identifier", status=422
            )
        return "email", normalise_email(text)
    try:
        return "phone", normalise_phone(text)
    except ServiceError:
        raise ServiceError(
            f"Enter your email address or your mobile number, e.g. {example_phone()}.",
            field="identifier",
            status=422,
        ) from None


def _sms_subject(kind: str, value: str) -> str:
    return otp.subject_for(otp.RESET_PASSWORD, f"{kind}:{value}")


def _sms_account(kind: str, value: str) -> User | None:
    """The account an SMS code may go to: it may reset and has a verified phone."""
    if kind == "email":
        user = find_user_by_email(value)
    else:
        user = db.session.scalar(
            db.select(User)
            .where(User.phone == value, User.phone_verified_at.is_not(None))
            .order_by(User.phone_verified_at.desc())
            .limit(1)
        )
    if (
        user is None
        or user.status not in RESETTABLE
        or not user.phone
        or user.phone_verified_at is None
    ):
        return None
    return user


def request_sms_reset(identifier: str) -> otp.OtpCode:
    """Text a reset code to the verified phone of the account named by ``identifier`` (an
    email or a phone number); for no such account a decoy code is made instead; commits.

    :returns: the code row (real or decoy: its ``expires_at``/``resend_at`` drive the page).
    :raises ServiceError: 422 for an identifier that is neither an email nor a number.
    :raises crm.auth.otp.OtpCooldown: 429, the previous code is younger than the cool-down
        (real and decoy alike).
    """
    kind, value = parse_identifier(identifier)
    subject = _sms_subject(kind, value)
    user = _sms_account(kind, value)
    try:
        if user is not None:
            row = otp.send(otp.RESET_PASSWORD, subject, user, user.phone)
        else:
            row, _ = otp.issue(otp.RESET_PASSWORD, subject)
    except otp.OtpCooldown:
        db.session.rollback()
        raise
    db.session.commit()
    return row


def current_sms_code(identifier: str) -> otp.OtpCode | None:
    """The newest reset code asked for by ``identifier`` (for the code page), or None."""
    try:
        kind, value = parse_identifier(identifier)
    except ServiceError:
        return None
    return otp.latest(_sms_subject(kind, value))


def check_sms_code(identifier: str, code: str) -> User:
    """Check a reset code; commits (wrong guesses count).

    :returns: the account, when the code is right (the code is then used up).
    :raises SmsCodeError: wrong (422, attempts left) or dead (410).
    :raises ServiceError: 422 for a malformed identifier.
    """
    kind, value = parse_identifier(identifier)
    result = otp.check(_sms_subject(kind, value), code)
    if result.status == otp.OK and result.row.user.status not in RESETTABLE:
        result = otp.OtpCheck(otp.USED, result.row)
    db.session.commit()
    if result.status != otp.OK:
        raise SmsCodeError(result)
    return result.row.user


def reset_with_sms_code(identifier: str, code: str, password: str) -> User:
    """API door: check the code and set the new password in one step; commits.

    :raises ServiceError: 422 for a bad password (checked first: it costs no attempt).
    :raises SmsCodeError: see :func:`check_sms_code`.
    """
    validate_password(password)
    user = check_sms_code(identifier, code)
    apply_new_password(user, password)
    return user


# ====================================================================== console pages


def _invalid_link_page(exc: ResetLinkError):
    return render_template("auth/reset_invalid.html", error=exc), 410 if exc.status == 410 else 404


@bp.route("/reset", methods=["GET", "POST"])
@public
def reset_request():
    """Forgotten password: ask for a reset link by email. The answer never tells whether the
    address has an account."""
    form = ResetRequestForm()
    if form.validate_on_submit():
        request_email_reset(form.email.data)
        return render_template(
            "auth/reset_sent.html",
            email=normalise_email(form.email.data),
            ttl_minutes=_ttl_minutes(current_app.config["RESET_TOKEN_TTL_SECONDS"]),
        )
    status = 422 if form.is_submitted() else 200
    return render_template("auth/reset_request.html", form=form), status


@bp.route("/reset/<token>", methods=["GET", "POST"])
@public
def reset_with_link(token: str):
    """The emailed link (or the step after a right SMS code): choose a new password."""
    try:
        user = check_reset_link(token)
    except ResetLinkError as exc:
        return _invalid_link_page(exc)
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            reset_with_token(token, form.password.data)
        except ResetLinkError as exc:
            return _invalid_link_page(exc)
        except ServiceError as exc:
            form.password.errors.append(exc.message)
            return render_template("auth/reset_password.html", form=form, user=user), 422
        session.pop(SMS_SESSION_KEY, None)
        flash(
            "Your password was changed and you were logged out everywhere. "
            "Log in with your new password.",
            "success",
        )
        return redirect(url_for("auth.login"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/reset_password.html", form=form, user=user), status


@bp.route("/reset/sms", methods=["GET", "POST"])
@public
def reset_sms_request():
    """Forgotten password: ask for a code by SMS (email or verified mobile number)."""
    form = SmsResetRequestForm()
    if form.validate_on_submit():
        try:
            kind, value = parse_identifier(form.identifier.data)
            request_sms_reset(value)
        except otp.OtpCooldown:
            pass  # a code is still on its way: the code page shows it and when to ask again
        except ServiceError as exc:
            form.identifier.errors.append(exc.message)
            return render_template("auth/reset_sms_request.html", form=form), 422
        session[SMS_SESSION_KEY] = value
        return redirect(url_for("auth.reset_sms_code"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/reset_sms_request.html", form=form), status


def _code_page(form, status: int = 200):
    identifier = session.get(SMS_SESSION_KEY)
    row = current_sms_code(identifier)
    return render_template(
        "auth/reset_sms_code.html",
        form=form,
        row=row,
        now=utcnow(),
        resend_form=EmptyForm(),
        identifier=identifier,
    ), status


@bp.route("/reset/sms/code", methods=["GET", "POST"])
@public
def reset_sms_code():
    """Enter the SMS code (with its live countdown); a right code leads to the new-password form."""
    identifier = session.get(SMS_SESSION_KEY)
    if not identifier:
        flash("Start by telling us your email or mobile number.", "info")
        return redirect(url_for("auth.reset_sms_request"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            user = check_sms_code(identifier, form.code.data.strip())
        except ServiceError as exc:
            form.code.errors.append(exc.message)
            return _code_page(form, 422)
        raw = tokens.issue(
            user, tokens.RESET_PASSWORD, current_app.config["RESET_TOKEN_TTL_SECONDS"]
        )
        db.session.commit()
        return redirect(url_for("auth.reset_with_link", token=raw))
    return _code_page(form, 422 if form.is_submitted() else 200)


@bp.route("/reset/sms/resend", methods=["POST"])
@public
def reset_sms_resend():
    """Send a new code (refused during the cool-down, real and decoy alike)."""
    identifier = session.get(SMS_SESSION_KEY)
    if not identifier or not EmptyForm().validate_on_submit():
        return redirect(url_for("auth.reset_sms_request"))
    try:
        request_sms_reset(identifier)
    except otp.OtpCooldown as exc:
        flash(exc.message, "warning")
    except ServiceError:
        return redirect(url_for("auth.reset_sms_request"))
    else:
        flash("A new code is on its way.", "info")
    return redirect(url_for("auth.reset_sms_code"))
