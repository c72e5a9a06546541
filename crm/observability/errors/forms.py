"""Forms of the error tracker's console pages."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from crm.observability.errors.models import ISSUE_STATUSES

STATUS_CHOICES = [(s, s.capitalize()) for s in ISSUE_STATUSES]


class IssueFilterForm(FlaskForm):
    """The issue list's filters (GET, no CSRF token)."""

    class Meta:
        csrf = False

    project = SelectField("Project", choices=[("", "All projects")], validators=[Optional()])
    status = SelectField("Status", choices=[("", "Any status"), *STATUS_CHOICES],
                         validators=[Optional()])
    q = StringField("Title contains", validators=[Optional(), Length(max=100)])


class IssueStatusForm(FlaskForm):
    """Resolve, ignore or reopen an issue."""

    status = SelectField("Status", choices=STATUS_CHOICES)


class IssueAssignForm(FlaskForm):
    """Assign an issue to a staff member (empty: nobody)."""

    assignee_id = SelectField("Assignee", choices=[("", "Unassigned")], validators=[Optional()])


class IssueTicketForm(FlaskForm):
    """Turn the issue into a ticket (one button)."""


class ProjectForm(FlaskForm):
    """A new project reporting errors."""

    name = StringField("Project name", validators=[DataRequired(), Length(max=120)])
