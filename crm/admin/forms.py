"""Admin forms."""
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, Email, EqualTo, InputRequired, Length, NumberRange

from crm.auth.models import ROLES, USER_STATUSES
from crm.auth.services import MAX_PASSWORD, MIN_PASSWORD

STATUS_CHOICES = [(s, s.capitalize()) for s in USER_STATUSES]


def role_choices(roles=ROLES) -> list[tuple[str, str]]:
    """(value, label) pairs for a role select; the view narrows them to what the actor may
    assign (:func:`crm.admin.services.assignable_roles`)."""
    return [(r, r.capitalize()) for r in roles]


class UserForm(FlaskForm):
    """Edit a user's name, email, role and status.

    A field left out of the submitted form keeps the account's current value (WTForms keeps
    the object's data), so a form posting only role and status changes only those.
    """

    name = StringField("Full name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    role = SelectField("Role", choices=role_choices())
    status = SelectField("Status", choices=STATUS_CHOICES)
    submit = SubmitField("Save")


class MonitorPlanForm(FlaskForm):
    """A customer's self-service monitoring plan (:mod:`crm.monitoring.plans`); the bounds
    are the service's, repeated here so the browser can say them before submitting."""

    max_monitors = IntegerField("Monitors allowed", validators=[
        InputRequired(), NumberRange(0, 10_000)])
    min_interval_seconds = IntegerField("Shortest check interval (seconds)", validators=[
        InputRequired(), NumberRange(10, 86_400)])
    sms_included = BooleanField("SMS alerts included")
    submit = SubmitField("Save plan")


class CreateUserForm(FlaskForm):
    """A new account created by a manager or admin, with its initial password."""

    name = StringField("Full name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    role = SelectField("Role", choices=role_choices(), default="customer")
    status = SelectField("Status", choices=STATUS_CHOICES, default="active")
    password = PasswordField("Initial password", validators=[
        DataRequired(), Length(min=MIN_PASSWORD, max=MAX_PASSWORD)])
    confirm = PasswordField("Confirm password", validators=[
        DataRequired(), EqualTo("password", message="The passwords do not match.")])
    submit = SubmitField("Create user")
