"""Monitoring objects for the authorisation matrix and bad-input tests
(``tests/helpers_matrix.py`` ARG_VALUES ``monitor_id``, ``contact_id``, ``group_id``,
``incident_id``): created on first use
and kept in ``world.extra``. Rows are inserted directly (no services), like ``build_world``."""
from __future__ import annotations

from crm.clock import utcnow
from crm.extensions import db


def monitor(world):
    """An HTTP monitor (paused, so nothing checks it) with one email contact in its own group."""
    from crm.monitoring.models import Contact, ContactGroup, Monitor

    if "monitor" not in world.extra:
        group = ContactGroup(name=f"Matrix monitor group {world.ticket.id}", report_periods=[])
        db.session.add(group)
        db.session.flush()
        row = Monitor(name="Matrix monitor", type="http", paused=True, status="paused",
                      config={"url": "http://127.0.0.1:9/health", "method": "GET", "headers": {},
                              "body": None, "expected_status": "200-299", "keyword": None,
                              "keyword_absent": False, "json_path": None, "json_expected": None,
                              "max_response_ms": None, "follow_redirects": True},
                      interval_seconds=300, timeout_seconds=10, retries=1, tags=["matrix"],
                      contact_group_id=group.id, next_check_at=utcnow())
        contact = Contact(group_id=group.id, email="matrix-contact@example.com")
        db.session.add_all([row, contact])
        db.session.commit()
        world.extra["monitor"], world.extra["monitor_contact"] = row, contact
    return world.extra["monitor"]


def contact(world):
    """The contact of :func:`monitor`."""
    monitor(world)
    return world.extra["monitor_contact"]


def contact_group(world):
    """A named, shared contact group (one email, one phone) that no monitor uses yet."""
    from crm.monitoring.models import Contact, ContactGroup

    if "contact_group" not in world.extra:
        group = ContactGroup(name=f"Matrix shared group {world.ticket.id}", report_periods=[])
        db.session.add(group)
        db.session.flush()
        db.session.add_all([Contact(group_id=group.id, email="matrix-group@example.com"),
                            Contact(group_id=group.id, phone="+447911123555")])
        db.session.commit()
        world.extra["contact_group"] = group
    return world.extra["contact_group"]


def incident(world):
    """A closed incident of :func:`monitor`."""
    from crm.monitoring.models import Incident

    if "incident" not in world.extra:
        row = Incident(monitor_id=monitor(world).id, opened_at=utcnow(), closed_at=utcnow(),
                       duration_seconds=0, cause="Matrix outage")
        db.session.add(row)
        db.session.commit()
        world.extra["incident"] = row
    return world.extra["incident"]
