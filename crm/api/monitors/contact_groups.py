"""Who is alerted: a monitor's contacts and the named contact groups many monitors share.

Rules and refusals are :mod:`crm.monitoring.services`' (422 for a bad recipient or name,
409 for a duplicate or a group in use, 404 for an unknown contact); they reach the client as
problems through the app's one handler. ``monitor.view`` reads, ``monitor.manage`` changes.
"""
from __future__ import annotations

from sqlalchemy import select

from crm.api.common import answer
from crm.api.monitors.schemas import (
    ContactGroupList,
    ContactGroupOut,
    ContactIn,
    ContactList,
    ContactOut,
)
from crm.api.openapi import ApiProblem, api_operation, request_body
from crm.auth.policy import acting_user, requires
from crm.extensions import db
from crm.monitoring import services
from crm.monitoring.access import get_group_or_404, get_monitor_or_404
from crm.monitoring.models import ContactGroup
from crm.monitoring.schemas import ContactGroupIn, ContactGroupPatch

TAG = "Monitors"
GROUP_TAG = "Contact groups"


# ---------------------------------------------------------------- a monitor's contacts

@api_operation("GET", "/monitors/{monitor_id}/contacts", response=ContactList, tag=TAG,
               summary="List a monitor's contacts")
@requires("monitor.view", api=True)
def list_contacts(monitor_id: int):
    """Who is alerted when the monitor goes down or recovers."""
    monitor = get_monitor_or_404(monitor_id, acting_user())
    return answer(ContactList, {"items": services.monitor_contacts(monitor)})


@api_operation("POST", "/monitors/{monitor_id}/contacts", body=ContactIn, response=ContactOut,
               status=201, errors=(409,), tag=TAG, summary="Add a contact to a monitor")
@requires("monitor.manage", api=True)
def add_contact(monitor_id: int):
    """Add an ``email`` address or a ``phone`` number (SMS; normalised to E.164, national
    numbers read in ``PHONE_DEFAULT_REGION``). 409 when already a contact."""
    monitor = get_monitor_or_404(monitor_id, acting_user())
    data: ContactIn = request_body()
    contact = services.add_contact(monitor, email=data.email, phone=data.phone)
    return answer(ContactOut, contact, 201)


@api_operation("DELETE", "/monitors/{monitor_id}/contacts/{contact_id}", status=204, tag=TAG,
               summary="Remove a contact from a monitor")
@requires("monitor.manage", api=True)
def remove_contact(monitor_id: int, contact_id: int):
    """Stop alerting this recipient about this monitor."""
    services.remove_contact(get_monitor_or_404(monitor_id, acting_user()), contact_id)
    return "", 204


# ---------------------------------------------------------------- named groups

def _group_answer(group_id: int, status: int = 200):
    """The group as stored now (services commit) as a ``ContactGroupOut`` answer; a 201
    carries its ``Location``."""
    group = db.session.scalar(select(ContactGroup).where(ContactGroup.id == group_id)
                              .execution_options(populate_existing=True))
    headers = {"Location": f"/api/v1/contact-groups/{group_id}"} if status == 201 else {}
    return answer(ContactGroupOut, services.contact_group_to_dict(group), status, **headers)


@api_operation("GET", "/contact-groups", response=ContactGroupList, tag=GROUP_TAG,
               summary="List contact groups")
@requires("monitor.view", api=True)
def list_contact_groups():
    """Every contact group by name, with its recipients and the monitors using it (monitors'
    own groups, named ``Monitor #<id>: …``, too)."""
    groups = services.list_contact_groups()
    usage = services.group_usage(groups)
    return answer(ContactGroupList,
                  {"items": [services.contact_group_to_dict(g, usage[g.id]) for g in groups]})


@api_operation("POST", "/contact-groups", body=ContactGroupIn, response=ContactGroupOut,
               status=201, errors=(409,), tag=GROUP_TAG, summary="Create a contact group")
@requires("monitor.manage", api=True)
def create_contact_group():
    """Create a named group that many monitors can alert (``contact_group_id``) or escalate
    to (``escalation_group_id``). ``phones`` are normalised to E.164 (national numbers read
    in ``PHONE_DEFAULT_REGION``); duplicates are dropped. A 422 names a bad recipient as
    ``emails.<i>`` / ``phones.<i>``; 409 when another group has the name (case-insensitively)."""
    data: ContactGroupIn = request_body()
    group = services.create_contact_group(data.name, data.emails, data.phones)
    return _group_answer(group.id, 201)


@api_operation("GET", "/contact-groups/{group_id}", response=ContactGroupOut, tag=GROUP_TAG,
               summary="Get a contact group")
@requires("monitor.view", api=True)
def get_contact_group(group_id: int):
    """One contact group with its recipients and the monitors using it."""
    return _group_answer(get_group_or_404(group_id, acting_user()).id)


@api_operation("PATCH", "/contact-groups/{group_id}", body=ContactGroupPatch,
               response=ContactGroupOut, errors=(409,), tag=GROUP_TAG,
               summary="Change a contact group")
@requires("monitor.manage", api=True)
def update_contact_group(group_id: int):
    """Rename the group (``name``) and/or replace its email recipients (``emails``) or SMS
    numbers (``phones``): the list given becomes the group's, recipients kept keep their
    ids. Send at least one member."""
    group = get_group_or_404(group_id, acting_user())
    data: ContactGroupPatch = request_body()
    if not data.model_fields_set:
        raise ApiProblem(422, "Send at least one member to change.",
                         {"body": ["Send at least one field."]})
    if "name" in data.model_fields_set and data.name is None:
        raise ApiProblem(422, "A group needs a name.", {"name": ["A group needs a name."]})
    services.update_contact_group(group, name=data.name, emails=data.emails, phones=data.phones)
    return _group_answer(group_id)


@api_operation("DELETE", "/contact-groups/{group_id}", status=204, errors=(409,),
               tag=GROUP_TAG, summary="Delete a contact group")
@requires("monitor.manage", api=True)
def delete_contact_group(group_id: int):
    """Delete the group and its recipients. 409 while a monitor alerts it or escalates to
    it (the detail names them): point those monitors at another group first."""
    services.delete_contact_group(get_group_or_404(group_id, acting_user()))
    return "", 204


@api_operation("POST", "/contact-groups/{group_id}/contacts", body=ContactIn,
               response=ContactOut, status=201, errors=(409,), tag=GROUP_TAG,
               summary="Add a contact to a group")
@requires("monitor.manage", api=True)
def add_group_contact(group_id: int):
    """Add an ``email`` address or a ``phone`` number (SMS; normalised to E.164) to the
    group, so to every monitor alerting it. 409 when already in the group."""
    group = get_group_or_404(group_id, acting_user())
    data: ContactIn = request_body()
    contact = services.add_group_contact(group, email=data.email, phone=data.phone)
    return answer(ContactOut, contact, 201)


@api_operation("DELETE", "/contact-groups/{group_id}/contacts/{contact_id}", status=204,
               tag=GROUP_TAG, summary="Remove a contact from a group")
@requires("monitor.manage", api=True)
def remove_group_contact(group_id: int, contact_id: int):
    """Stop alerting this recipient through this group."""
    services.remove_group_contact(get_group_or_404(group_id, acting_user()), contact_id)
    return "", 204
