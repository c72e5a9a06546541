"""Forms of password reset (email link, SMS code) and phone verification."""
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Regexp

from crm.auth.services import MAX_PASSWORD, MIN_PASSWORD


class ResetRequestForm(FlaskForm):
    """The email address of the account whose password was forgotten."""

    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    submit = SubmitField("Send me a reset link")


class NewPasswordForm(FlaskForm):
    """A new password, typed twice."""

    password = PasswordField("New password", validators=[
        DataRequired(), Length(min=MIN_PASSWORD, max=MAX_PASSWORD,
                               message=f"Use {MIN_PASSWORD} to {MAX_PASSWORD} characters.")])
    confirm = PasswordField(
        "Confirm new password",
        validators=[DataRequired(), EqualTo("password", "Passwords do not match.")],
    )
    submit = SubmitField("Set new password")


class SmsResetRequestForm(FlaskForm):
    """The email address or the verified mobile number of the account."""

    identifier = StringField("Email or mobile number", validators=[DataRequired(), Length(max=254)])
    submit = SubmitField("Text me a code")


def _code_field(label: str) -> StringField:
    return StringField(
        label,
        validators=[
            DataRequired(),
            Regexp(r"^\s*[0-9]{4,8}\s*$", message="Enter the digits of the code."),
        ],
        render_kw={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": "8"},
    )


class CodeForm(FlaskForm):
    """A one-time code received by SMS."""

    code = _code_field("Code from the text message")
    submit = SubmitField("Continue")


class PhoneForm(FlaskForm):
    """A mobile number to verify (parsed to E.164 by the view)."""

    phone = StringField(
        "Mobile number",
        validators=[DataRequired(), Length(max=32)],
        render_kw={"inputmode": "tel", "autocomplete": "tel"},
    )
    submit = SubmitField("Text me a code")


class PhoneCodeForm(FlaskForm):
    """The code sent to the number being verified."""

    code = _code_field("Code from the text message")
    submit = SubmitField("Verify number")


class EmptyForm(FlaskForm):
    """A form with only the CSRF token (resend buttons)."""
