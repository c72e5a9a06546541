"""Error tracker objects for the authorisation matrix, the bad-input and round-trip tests
(``tests/helpers_matrix.py`` ARG_VALUES ``project_id``, ``issue_id``): created on first use
through the tracker's own service and kept in ``world.extra``."""
from __future__ import annotations

from crm.extensions import db


def project(world):
    """A customer application's project (not the built-in one)."""
    from crm.observability.errors.models import ErrorProject

    if "error_project" not in world.extra:
        row = ErrorProject(name=f"Matrix app {world.ticket.id}")
        db.session.add(row)
        db.session.commit()
        world.extra["error_project"] = row
    return world.extra["error_project"]


def issue(world):
    """An issue of :func:`project` with one event (traceback, request, user)."""
    from crm.observability.errors import services
    from crm.observability.errors.event import from_sentry
    from crm.observability.errors.models import ErrorIssue

    if "error_issue" not in world.extra:
        payload = {"level": "error", "release": "matrix@1.0",
                   "exception": {"values": [{"type": "KeyError", "value": "'customer'",
                                             "stacktrace": {"frames": [
                                                 {"filename": "app/views.py", "function": "show",
                                                  "module": "app.views", "lineno": 12,
                                                  "in_app": True,
                                                  "context_line": "return row['customer']"}]}}]},
                   "request": {"url": "https://shop.example.com/orders/7", "method": "GET"}}
        event, _ = services.record_event(project(world).id, from_sentry(payload))
        world.extra["error_issue"] = db.session.get(ErrorIssue, event.issue_id)
    return world.extra["error_issue"]
