"""Admin forms."""
from flask_wtf import FlaskForm
from wtforms import SelectField, SubmitField

from crm.auth.models import ROLES, USER_STATUSES


class UserForm(FlaskForm):
    """Change a user's role and status."""

    role = SelectField("Role", choices=[(r, r.capitalize()) for r in ROLES])
    status = SelectField("Status", choices=[(s, s.capitalize()) for s in USER_STATUSES])
    submit = SubmitField("Save")
