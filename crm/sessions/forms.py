"""Forms of the session pages."""
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import Length, Optional


class SessionFilterForm(FlaskForm):
    """Filters of the admins' list of every session (GET, no CSRF; values are parsed and
    checked by :func:`crm.sessions.services.filters_from_args`)."""

    class Meta:
        csrf = False

    email = StringField("User email", validators=[Optional(), Length(max=254)])
    state = SelectField(
        "State",
        choices=[("", "Any state"), ("active", "Active"), ("ended", "Ended")],
        validators=[Optional()],
    )
    ip = StringField("IP address starts with", validators=[Optional(), Length(max=45)])
    created_from = StringField("Created from (UTC)", validators=[Optional(), Length(max=10)])
    created_to = StringField("Created to (UTC)", validators=[Optional(), Length(max=10)])
