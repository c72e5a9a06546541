"""Monitors: create, list, read, change, delete, export and import.

Definitions are validated by :mod:`crm.monitoring.services` (shared with the console and
``crm-monitor``), so the bodies are handed over as parsed JSON documents
(:func:`crm.api.openapi.request_document`); the services' refusals are problems through the
app's one handler. Staff read every monitor and engineers, managers and admins change them
(``monitor.use`` / ``monitor.write`` for staff who hold ``monitor.view`` / ``monitor.manage``);
a verified customer reads and changes only their own (self-service uptime: their plan, the
customer outbound policy; :func:`owner_for`). Export and import stay with ``monitor.manage``,
since definitions carry credentials such as FTP passwords and request headers.
"""
from __future__ import annotations

from sqlalchemy import select

from crm.api.common import answer, page_by_id
from crm.api.monitors.paging import numbered_page
from crm.api.monitors.schemas import (
    ExportQuery,
    ImportIn,
    ImportOut,
    MonitorCreate,
    MonitorExport,
    MonitorListQuery,
    MonitorOut,
    MonitorPage,
    MonitorPatch,
)
from crm.api.openapi import ApiProblem, api_operation, request_document, request_query
from crm.auth.policy import acting_user, has_permission, requires
from crm.extensions import db
from crm.monitoring import services
from crm.monitoring.access import get_monitor_or_404
from crm.monitoring.models import Monitor

TAG = "Monitors"


def owner_for(user):
    """The owner of the monitors ``user`` creates and the scope of their lists: the user
    themself for a customer (no staff permission), None for staff (every monitor)."""
    return None if has_permission(user, "monitor.view") else user


def monitor_answer(monitor_id: int, status: int = 200):
    """The monitor as stored now (services commit, which expires it) as a ``MonitorOut``
    answer; a 201 carries its ``Location``."""
    monitor = db.session.scalar(select(Monitor).where(Monitor.id == monitor_id)
                                .execution_options(populate_existing=True))
    headers = {"Location": f"/api/v1/monitors/{monitor_id}"} if status == 201 else {}
    return answer(MonitorOut, services.monitor_to_dict(monitor), status, **headers)


@api_operation("POST", "/monitors", body=MonitorCreate, response=MonitorOut, status=201,
               tag=TAG, summary="Create a monitor")
@requires("monitor.write", api=True)
def create_monitor():
    """Create a monitor of any type (``type`` selects the fields). It is checked at once, then
    every ``interval`` seconds. Heartbeat monitors answer with their ``ping_url``. A 422
    problem's ``errors`` names every bad field (``url``, ``steps.0.assertions.1.expected`` …).
    A customer's monitor is theirs: HTTP, TLS, TCP, DNS or heartbeat, within their plan (409
    past the number of monitors, 422 naming ``interval``), alerting only them."""
    user = acting_user()
    monitor = services.create_monitor(request_document(), by=user, owner=owner_for(user))
    return monitor_answer(monitor.id, 201)


@api_operation("GET", "/monitors", query=MonitorListQuery, response=MonitorPage, tag=TAG,
               summary="List monitors")
@requires("monitor.use", api=True)
def list_monitors():
    """Monitors by id, filtered by ``type``, ``status``, ``tag`` and ``q`` (text in the name),
    in keyset pages of ``limit``: pass ``next_cursor`` as ``cursor`` for the next. The page
    numbers of the previous release (``page``, ``per_page``) still work, deprecated."""
    query: MonitorListQuery = request_query()
    owner = owner_for(acting_user())
    stmt = services.list_monitors(services.MonitorFilters(
        text=query.q, status=query.status, type=query.type, tag=query.tag,
        owner_id=owner.id if owner is not None else None))
    if query.numbered():
        page = numbered_page(stmt.order_by(Monitor.id), query)
    else:
        rows, cursor = page_by_id(stmt, Monitor.id, query.size(), query.cursor,
                                  descending=False)
        page = {"items": rows, "limit": query.size(), "next_cursor": cursor,
                "has_more": cursor is not None}
    page["items"] = [services.monitor_to_dict(m) for m in page["items"]]
    return answer(MonitorPage, page)


@api_operation("GET", "/monitors/export", query=ExportQuery, response=MonitorExport, tag=TAG,
               summary="Export every monitor")
@requires("monitor.manage", api=True)
def export_monitors():
    """Every monitor's definition with its contacts, as a JSON array that ``POST
    /monitors/import`` accepts (no ids or runtime state). Groups travel by name: a monitor
    alerting a shared group has ``contact_group: {name, contacts}`` (and ``contacts: []``),
    one with its own group ``contact_group: null`` and its ``contacts``; likewise
    ``escalation_group``. Request secrets (FTP passwords, secret headers, URL and body
    secrets) are masked as ``********`` unless ``include_secrets=true``; an import refuses
    masked secrets. Needs ``monitor.manage``."""
    query: ExportQuery = request_query()
    return answer(MonitorExport, services.export_monitors(include_secrets=query.include_secrets))


@api_operation("POST", "/monitors/import", body=ImportIn, response=ImportOut, status=201,
               tag=TAG, summary="Import monitors")
@requires("monitor.manage", api=True)
def import_monitors():
    """Create many monitors, all or nothing: the export's JSON array, or ``{"monitors": [...]}``.
    A 422 problem's ``errors`` names each bad member by index (``3.url``: ``Item 3: …``).
    Heartbeat monitors get new ping URLs. ``contact_group`` / ``escalation_group`` (a name,
    or ``{name, contacts}``) use the existing group of that name (case-insensitively, left
    unchanged) or create it from ``{name, contacts}``; a bare unknown name is a 422.
    ``contact_group_id`` / ``escalation_group_id`` are accepted too."""
    data = request_document((dict, list))
    if isinstance(data, dict):
        if set(data) != {"monitors"}:
            raise ApiProblem(422, "Send a JSON array of monitors, or {\"monitors\": [...]}.",
                             {"monitors": ["Field required" if "monitors" not in data
                                           else "Only 'monitors' is allowed."]})
        data = data["monitors"]
    ids = [m.id for m in services.import_monitors(data, by=acting_user())]
    return answer(ImportOut, {"ids": ids, "count": len(ids)}, 201)


@api_operation("GET", "/monitors/{monitor_id}", response=MonitorOut, tag=TAG,
               summary="Get a monitor")
@requires("monitor.use", api=True)
def get_monitor(monitor_id: int):
    """One monitor with its current state."""
    return monitor_answer(get_monitor_or_404(monitor_id, acting_user()).id)


@api_operation("PATCH", "/monitors/{monitor_id}", body=MonitorPatch, response=MonitorOut,
               tag=TAG, summary="Change a monitor")
@requires("monitor.write", api=True)
def update_monitor(monitor_id: int):
    """Change any fields (``paused: true`` pauses, ``false`` resumes and checks at once). The
    result must be a valid definition; changing ``type`` drops the old type's fields."""
    monitor = get_monitor_or_404(monitor_id, acting_user())
    data = request_document()
    if not data:
        raise ApiProblem(422, "Send at least one member to change.",
                         {"body": ["Send at least one field."]})
    services.update_monitor(monitor, data, by=acting_user())
    return monitor_answer(monitor_id)


@api_operation("DELETE", "/monitors/{monitor_id}", status=204, tag=TAG,
               summary="Delete a monitor")
@requires("monitor.write", api=True)
def delete_monitor(monitor_id: int):
    """Delete the monitor with its history, incidents and own contact group."""
    services.delete_monitor(get_monitor_or_404(monitor_id, acting_user()), by=acting_user())
    return "", 204
