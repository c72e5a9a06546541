"""Log-in and registration forms."""
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    widgets,
)
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, Regexp

ROLE_CHOICES = [("customer", "Customer"), ("engineer", "Engineer"), ("agent", "Support agent"),
                ("manager", "Manager")]


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice shown as a list of labelled checkboxes."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class LoginForm(FlaskForm):
    """Email + password."""

    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=128)])
    remember = BooleanField("Remember me")
    submit = SubmitField("Log in")


class RegisterForm(FlaskForm):
    """A new account; staff roles wait for approval."""

    name = StringField("Full name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=8, max=128)])
    confirm = PasswordField(
        "Confirm password",
        validators=[DataRequired(), EqualTo("password", "Passwords do not match.")],
    )
    role = SelectField("I am a", choices=ROLE_CHOICES, default="customer")
    submit = SubmitField("Create account")


class ProfileForm(FlaskForm):
    """Name and email; a new email needs the current password."""

    name = StringField("Full name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    current_password = PasswordField(
        "Current password (only to change your email)", validators=[Optional(), Length(max=128)]
    )
    submit = SubmitField("Save profile")


class ChangePasswordForm(FlaskForm):
    """Current password, then the new one twice."""

    current_password = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=128)]
    )
    password = PasswordField("New password", validators=[DataRequired(), Length(min=8, max=128)])
    confirm = PasswordField(
        "Confirm new password",
        validators=[DataRequired(), EqualTo("password", "Passwords do not match.")],
    )
    submit = SubmitField("Change password")


class TotpCodeForm(FlaskForm):
    """A 6-digit code from the authenticator app."""

    code = StringField(
        "Authentication code",
        validators=[
            DataRequired(),
            Length(min=6, max=7),
            Regexp(r"^\d{3} ?\d{3}$", message="Enter the 6 digits."),
        ],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )
    submit = SubmitField("Verify")


class TotpPolicyForm(FlaskForm):
    """Staff roles that must use two-factor log-in."""

    roles = MultiCheckboxField(
        "Require two-factor log-in for",
        choices=[
            ("engineer", "Engineers"),
            ("agent", "Support agents"),
            ("manager", "Managers"),
            ("admin", "Admins"),
        ],
    )
    submit = SubmitField("Save policy")
