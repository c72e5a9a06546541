"""The one lookup and access helper per monitoring resource, used by the console and the API.

Both raise :class:`werkzeug.exceptions.NotFound`; the app's error handler answers it with the
console's error page or, under ``/api/``, an RFC 9457 problem.
"""
from __future__ import annotations

from flask import abort

from crm.auth.policy import has_permission
from crm.extensions import db
from crm.monitoring.models import ContactGroup, Incident, Monitor


def owns(user, obj) -> bool:
    """Whether ``obj`` (a monitor, contact group or status page) belongs to ``user`` (its
    ``owner_id``, set for customers' own objects)."""
    user_id = getattr(user, "id", None)
    return user_id is not None and getattr(obj, "owner_id", None) == user_id


def can_view(user, monitor: Monitor) -> bool:
    """Whether ``user`` may know about ``monitor``: every staff member sees every monitor
    (permission ``monitor.view`` in :data:`crm.auth.policy.POLICY`), a customer only their own."""
    return has_permission(user, "monitor.view") or owns(user, monitor)


def get_monitor_or_404(monitor_id: int, user) -> Monitor:
    """Return monitor ``monitor_id`` if ``user`` may see it.

    :raises werkzeug.exceptions.NotFound: missing, or not the user's to know about (404, so
        ids cannot be probed).
    """
    monitor = db.session.get(Monitor, monitor_id)
    if monitor is None or not can_view(user, monitor):
        abort(404, "No such monitor.")
    return monitor


def get_group_or_404(group_id: int, user) -> ContactGroup:
    """Return contact group ``group_id`` if ``user`` may see it (staff see every group, a
    customer their own).

    :raises werkzeug.exceptions.NotFound: missing, or not the user's to know about.
    """
    group = db.session.get(ContactGroup, group_id)
    if group is None or not (has_permission(user, "monitor.view") or owns(user, group)):
        abort(404, "No such contact group.")
    return group


def get_incident_or_404(incident_id: int, user) -> Incident:
    """Return incident ``incident_id`` if ``user`` may see its monitor (:func:`can_view`).

    :raises werkzeug.exceptions.NotFound: missing, or not the user's to know about.
    """
    incident = db.session.get(Incident, incident_id)
    monitor = db.session.get(Monitor, incident.monitor_id) if incident is not None else None
    if monitor is None or not can_view(user, monitor):
        abort(404, "No such incident.")
    return incident
