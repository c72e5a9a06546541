"""Incidents: the outages of monitors, newest first. Staff see every incident; a customer
sees those of their own monitors (another customer's is a 404). Needs ``monitor.use``.
"""
from __future__ import annotations

from crm.api.common import answer, page_by_id
from crm.api.monitors.monitors import owner_for
from crm.api.monitors.schemas import IncidentOut, IncidentPage, IncidentQuery
from crm.api.openapi import api_operation, request_query
from crm.auth.policy import acting_user, requires
from crm.monitoring import services
from crm.monitoring.access import get_incident_or_404
from crm.monitoring.models import Incident

TAG = "Incidents"


def _incident_dict(incident: Incident) -> dict:
    return {**{name: getattr(incident, name) for name in IncidentOut.model_fields
               if name != "monitor_name"}, "monitor_name": incident.monitor.name}


@api_operation("GET", "/incidents", query=IncidentQuery, response=IncidentPage, tag=TAG,
               summary="List incidents")
@requires("monitor.use", api=True)
def list_incidents():
    """Incidents newest first, optionally only ``open`` or ``closed`` ones or one monitor's,
    in keyset pages of ``limit`` (pass ``next_cursor`` as ``cursor``)."""
    query: IncidentQuery = request_query()
    owner = owner_for(acting_user())
    stmt = services.list_incidents(owner_id=owner.id if owner is not None else None,
                                   state=query.state, monitor_id=query.monitor_id)
    rows, cursor = page_by_id(stmt, Incident.id, query.limit, query.cursor)
    return answer(IncidentPage, {"items": [_incident_dict(i) for i in rows],
                                 "limit": query.limit, "next_cursor": cursor,
                                 "has_more": cursor is not None})


@api_operation("GET", "/incidents/{incident_id}", response=IncidentOut, tag=TAG,
               summary="Get an incident")
@requires("monitor.use", api=True)
def get_incident(incident_id: int):
    """One incident with its monitor's name."""
    return answer(IncidentOut, _incident_dict(get_incident_or_404(incident_id, acting_user())))
