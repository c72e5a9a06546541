"""Ticket forms shared by the portal and the staff console."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from crm.tickets.models import PRIORITIES, STATUS_LABELS

PRIORITY_CHOICES = [(p, p.capitalize()) for p in PRIORITIES]


class TicketForm(FlaskForm):
    """A customer's new ticket."""

    subject = StringField("Subject", validators=[DataRequired(), Length(max=200)])
    description = TextAreaField("Description", validators=[DataRequired(), Length(max=10_000)])
    priority = SelectField("Priority", choices=PRIORITY_CHOICES, default="normal")
    submit = SubmitField("Submit ticket")


class EditTicketForm(FlaskForm):
    """The requester edits an open ticket."""

    subject = StringField("Subject", validators=[DataRequired(), Length(max=200)])
    description = TextAreaField("Description", validators=[DataRequired(), Length(max=10_000)])
    submit = SubmitField("Save changes")


class CommentForm(FlaskForm):
    """A reply; staff may tick "internal note"."""

    body = TextAreaField("Reply", validators=[DataRequired(), Length(max=10_000)])
    internal = BooleanField("Internal note (staff only)")
    submit = SubmitField("Send")


class StatusForm(FlaskForm):
    """Change the status."""

    status = SelectField("New status", choices=list(STATUS_LABELS.items()))
    submit = SubmitField("Change status")


class PriorityForm(FlaskForm):
    """Change the priority."""

    priority = SelectField("Priority", choices=PRIORITY_CHOICES)
    submit = SubmitField("Change priority")


class AssignForm(FlaskForm):
    """Reassign to an engineer (choices filled by the view)."""

    assignee_id = SelectField("Assignee", coerce=int, choices=[])
    submit = SubmitField("Reassign")


class ActionForm(FlaskForm):
    """A bare CSRF-protected POST (accept, approve, reject, retry)."""

    next = HiddenField(validators=[Optional()])


class FilterForm(FlaskForm):
    """Staff ticket list filters (GET, no CSRF)."""

    class Meta:
        csrf = False

    q = StringField("Search", validators=[Optional(), Length(max=200)])
    status = SelectField("Status", choices=[("", "Any status")] + list(STATUS_LABELS.items()),
                         validators=[Optional()])
    priority = SelectField("Priority", choices=[("", "Any priority")] + PRIORITY_CHOICES,
                           validators=[Optional()])
    assignee = SelectField("Assignee", choices=[], validators=[Optional()])
    requester = StringField("Requester id", validators=[Optional(), Length(max=12)])
    created_after = StringField("Created from", validators=[Optional(), Length(max=10)])
    created_before = StringField("Created until", validators=[Optional(), Length(max=10)])
