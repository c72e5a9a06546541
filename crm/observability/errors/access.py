"""The one lookup helper for error issues, used by the console and the API."""
from __future__ import annotations

from flask import abort
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crm.extensions import db
from crm.observability.errors.models import ErrorIssue, ErrorProject


def get_issue_or_404(issue_id: int) -> ErrorIssue:
    """The issue with its project and assignee loaded.

    Who may see issues at all is the route's permission (``error.view``); every issue is
    visible to those who hold it.

    :raises werkzeug.exceptions.NotFound: no such issue (404).
    """
    issue = db.session.scalar(select(ErrorIssue).where(ErrorIssue.id == issue_id)
                              .options(selectinload(ErrorIssue.project),
                                       selectinload(ErrorIssue.assignee)))
    if issue is None:
        abort(404)
    return issue


def get_project_or_404(project_id: int) -> ErrorProject:
    """The project. :raises werkzeug.exceptions.NotFound: no such project (404)."""
    project = db.session.get(ErrorProject, project_id)
    if project is None:
        abort(404)
    return project
