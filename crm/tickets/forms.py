"""Ticket forms shared by the portal and the staff console."""
import uuid

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import HiddenInput

from crm.errors import ServiceError
from crm.tickets.models import PRIORITIES, STATUS_LABELS
from crm.tickets.search import MAX_QUERY_LENGTH

PRIORITY_CHOICES = [(p, p.capitalize()) for p in PRIORITIES]
SORT_CHOICES = [("-updated", "Updated (newest first)"), ("updated", "Updated (oldest first)"),
                ("-created", "Created (newest first)"), ("created", "Created (oldest first)"),
                ("-priority", "Priority (urgent first)"), ("priority", "Priority (low first)"),
                ("status", "Status (open first)"), ("-status", "Status (closed first)"),
                ("relevance", "Best match (search words)")]


def show_refusal(exc: ServiceError, form: FlaskForm | None = None,
                 fields: tuple[str, ...] = (), default: str | None = None) -> str:
    """Handle a service's refusal in a console or portal view (the one place that does).

    A 403 (:class:`~crm.errors.NotAllowed`) is raised again, so the app's error handler
    answers "forbidden"; any other refusal goes on ``form``'s field it names when that field
    is one of ``fields`` (the visible ones), else on ``default`` (else on no field), and its
    message is returned for the page's flash.

    :param exc: the refusal from :mod:`crm.tickets.services`.
    :raises ServiceError: ``exc`` itself when its status is 403.
    :returns: ``exc.message``.
    """
    if exc.status == 403:
        raise exc
    name = exc.field if exc.field in fields else default
    if form is not None and name and hasattr(form, name):
        field = getattr(form, name)
        field.errors = [*field.errors, exc.message]
    return exc.message


class TicketForm(FlaskForm):
    """A customer's new ticket."""

    subject = StringField("Subject", validators=[DataRequired(), Length(max=200)])
    description = TextAreaField("Description", validators=[DataRequired(), Length(max=10_000)])
    priority = SelectField("Priority", choices=PRIORITY_CHOICES, default="normal")
    #: the closed ticket this one follows up (the portal's "open a follow-up" link)
    follow_up_of = IntegerField(widget=HiddenInput(),
                                validators=[Optional(), NumberRange(min=1, max=2**63 - 1)])
    #: a fresh key per rendered form: a double submit or a resubmitted POST creates one ticket
    idempotency_key = HiddenField(default=lambda: uuid.uuid4().hex)
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


class ReplyForm(FlaskForm):
    """Staff: a public reply (the requester sees it and is emailed)."""

    body = TextAreaField("Reply to the requester", validators=[DataRequired(), Length(max=10_000)])


class NoteForm(FlaskForm):
    """Staff: an internal note (only staff see it; nobody is emailed)."""

    body = TextAreaField("Internal note — only staff see this",
                         validators=[DataRequired(), Length(max=10_000)])


class StatusForm(FlaskForm):
    """Change the status."""

    status = SelectField("New status", choices=list(STATUS_LABELS.items()))
    submit = SubmitField("Change status")


class PriorityForm(FlaskForm):
    """Change the priority."""

    priority = SelectField("Priority", choices=PRIORITY_CHOICES)
    submit = SubmitField("Change priority")


def optional_id(value) -> int | None:
    """A select's value as a user id: ``""`` or None (the "Unassigned" choice) → None.

    :raises ValueError: for text that is not a whole number.
    """
    if value is None or value == "":
        return None
    return int(value)


class AssignForm(FlaskForm):
    """Reassign to an engineer (choices filled by the view; ``""`` is "Unassigned", offered
    only while the ticket has nobody, so the form sent back unchanged changes nothing)."""

    assignee_id = SelectField("Assignee", coerce=optional_id, choices=[])
    submit = SubmitField("Reassign")


class ActionForm(FlaskForm):
    """A bare CSRF-protected POST (accept, approve, reject, retry)."""

    next = HiddenField(validators=[Optional()])


class FilterForm(FlaskForm):
    """Staff ticket list filters (GET, no CSRF)."""

    class Meta:
        csrf = False

    q = StringField("Search", validators=[Optional(), Length(max=MAX_QUERY_LENGTH)])
    status = SelectField("Status", choices=[("", "Any status")] + list(STATUS_LABELS.items()),
                         validators=[Optional()])
    priority = SelectField("Priority", choices=[("", "Any priority")] + PRIORITY_CHOICES,
                           validators=[Optional()])
    assignee = SelectField("Assignee", choices=[], validators=[Optional()])
    requester = StringField("Requester", validators=[Optional(), Length(max=254)])
    created_after = StringField("Created from", validators=[Optional(), Length(max=10)])
    created_before = StringField("Created until", validators=[Optional(), Length(max=10)])
    sort = SelectField("Sort by", choices=SORT_CHOICES, default="-updated", validators=[Optional()])
