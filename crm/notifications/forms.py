"""Forms of the notification admin pages."""
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length


class EmailTemplateForm(FlaskForm):
    """An admin's edit of one email template (Jinja source of each part)."""

    subject = StringField("Subject", validators=[DataRequired(), Length(max=255)])
    body_text = TextAreaField("Plain-text body", validators=[DataRequired(), Length(max=50000)])
    body_html = TextAreaField("HTML body", validators=[DataRequired(), Length(max=100000)])
    save = SubmitField("Save template")
    send_test = SubmitField("Send a test to me")
    reset = SubmitField("Reset to built-in")
