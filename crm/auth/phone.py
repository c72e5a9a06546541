"""Mobile number verification: the rules and the console page ``/auth/phone``.

A number is typed in any common form, parsed to E.164
(:func:`crm.notifications.sms.normalise_phone`), stored on the user *unverified* and a code
is texted to it (:mod:`crm.auth.otp`, purpose ``verify_phone``). The right code sets
``User.phone_verified_at``. Changing the number un-verifies the account's phone until the
new number is confirmed. Only a verified number may receive password-reset codes; when two
accounts verify the same number, the newest proof of possession wins and the older account's
number is un-verified.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user

from crm.auth import bp, otp
from crm.auth.models import User
from crm.auth.policy import requires
from crm.auth.reset import SmsCodeError
from crm.auth.reset_forms import EmptyForm, PhoneCodeForm, PhoneForm
from crm.clock import utcnow
from crm.errors import ServiceError
from crm.extensions import db
from crm.notifications.sms import example_phone, normalise_phone


@bp.app_template_global("phone_example")
def phone_example(national: bool = False) -> str:
    """Template helper: an example mobile number of ``PHONE_DEFAULT_REGION`` that the phone
    forms accept (see :func:`crm.notifications.sms.example_phone`)."""
    return example_phone(national=national)


def _subject(user: User) -> str:
    return otp.subject_for(otp.VERIFY_PHONE, user.id)


def start_verification(user: User, raw_phone: str) -> otp.OtpCode:
    """Store ``raw_phone`` (as E.164) on ``user`` and text it a code; commits.

    A number different from the stored one replaces it, unverified.

    :returns: the code row.
    :raises ServiceError: 422 (field ``phone``) for an invalid number; 409 when this number
        is already verified on this account.
    :raises crm.auth.otp.OtpCooldown: 429, a code was sent less than the cool-down ago.
    """
    number = normalise_phone(raw_phone)
    if number == user.phone and user.phone_verified_at is not None:
        raise ServiceError("This number is already verified.", field="phone", status=409)
    try:
        row = otp.send(otp.VERIFY_PHONE, _subject(user), user, number)
    except otp.OtpCooldown:
        db.session.rollback()
        raise
    if number != user.phone:
        user.phone = number
        user.phone_verified_at = None
    db.session.commit()
    return row


def resend_code(user: User) -> otp.OtpCode:
    """Text a new code to the number being verified; commits.

    :raises ServiceError: 409 when no number is waiting for verification.
    :raises crm.auth.otp.OtpCooldown: 429 during the cool-down.
    """
    if not user.phone or user.phone_verified_at is not None:
        raise ServiceError(
            "There is no number waiting for verification.", field="phone", status=409
        )
    try:
        row = otp.send(otp.VERIFY_PHONE, _subject(user), user, user.phone)
    except otp.OtpCooldown:
        db.session.rollback()
        raise
    db.session.commit()
    return row


def confirm(user: User, code: str) -> None:
    """Check the code texted to ``user.phone``; when right, the number is verified (and
    un-verified on any other account); commits (wrong guesses count).

    :raises SmsCodeError: 422 wrong code with attempts left, 410 dead code.
    """
    result = otp.check(_subject(user), code)
    if result.status == otp.OK and result.row.phone != user.phone:
        result = otp.OtpCheck(otp.USED, result.row)  # a code for a number since replaced
    if result.status == otp.OK:
        now = utcnow()
        db.session.execute(
            db.update(User)
            .where(
                User.phone == user.phone, User.id != user.id, User.phone_verified_at.is_not(None)
            )
            .values(phone_verified_at=None)
            .execution_options(synchronize_session=False)
        )
        user.phone_verified_at = now
    db.session.commit()
    if result.status != otp.OK:
        raise SmsCodeError(result)


def pending_code(user: User) -> otp.OtpCode | None:
    """The live code sent to the number being verified, or None (nothing pending)."""
    if not user.phone or user.phone_verified_at is not None:
        return None
    row = otp.latest(_subject(user))
    if row is None or row.used_at is not None or row.phone != user.phone:
        return None
    return row


def _page(form=None, code_form=None, status: int = 200):
    user = current_user._get_current_object()
    return render_template(
        "auth/phone.html",
        form=form or PhoneForm(formdata=None),
        code_form=code_form or PhoneCodeForm(formdata=None),
        resend_form=EmptyForm(),
        row=pending_code(user),
        now=utcnow(),
        user=user,
    ), status


@bp.route("/phone", methods=["GET", "POST"])
@requires("authenticated")
def phone():
    """Your mobile number: add or change it and get a code to verify it."""
    form = PhoneForm()
    if form.validate_on_submit():
        try:
            start_verification(current_user._get_current_object(), form.phone.data)
        except otp.OtpCooldown as exc:
            form.phone.errors.append(exc.message)
            return _page(form, status=429)
        except ServiceError as exc:
            form.phone.errors.append(exc.message)
            return _page(form, status=exc.status)
        flash("We texted you a code. Enter it below to verify your number.", "info")
        return redirect(url_for("auth.phone"))
    return _page(form, status=422 if form.is_submitted() else 200)


@bp.route("/phone/confirm", methods=["POST"])
@requires("authenticated")
def phone_confirm():
    """Enter the code texted to the number being verified."""
    code_form = PhoneCodeForm()
    if code_form.validate_on_submit():
        try:
            confirm(current_user._get_current_object(), code_form.code.data.strip())
        except ServiceError as exc:
            code_form.code.errors.append(exc.message)
            return _page(code_form=code_form, status=exc.status)
        flash("Your mobile number is verified. You can now reset your password by SMS.", "success")
        return redirect(url_for("auth.phone"))
    return _page(code_form=code_form, status=422)


@bp.route("/phone/resend", methods=["POST"])
@requires("authenticated")
def phone_resend():
    """Text a new code to the number being verified (after the cool-down)."""
    if EmptyForm().validate_on_submit():
        try:
            resend_code(current_user._get_current_object())
        except ServiceError as exc:
            flash(exc.message, "warning")
        else:
            flash("A new code is on its way.", "info")
    return redirect(url_for("auth.phone"))
