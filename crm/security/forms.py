"""The security settings form."""
from flask_wtf import FlaskForm
from wtforms import SubmitField, TextAreaField
from wtforms.validators import Length

#: longest developer-console message, in characters.
DEVCONSOLE_MAX_CHARS = 1000


class DevConsoleForm(FlaskForm):
    """The message printed under the self-XSS warning in the browser's developer console."""

    message = TextAreaField(
        "Developer-console message",
        validators=[Length(max=DEVCONSOLE_MAX_CHARS)],
        render_kw={"rows": 4},
    )
    submit = SubmitField("Save message")
