"""Objects of helper H's routes for the authorisation matrix and bad-input tests
(``tests/helpers_matrix.py`` ARG_VALUES): created on first use and kept in ``world.extra``."""
from __future__ import annotations

from datetime import timedelta

from crm.clock import utcnow
from crm.extensions import db


def _cached(world, key, build):
    if key not in world.extra:
        world.extra[key] = build()
        db.session.commit()
    return world.extra[key]


def health_report(world):
    """A finished health report (with HTML and a tiny PDF) of a contact group."""
    from crm.monitoring.models import ContactGroup, HealthReport

    def build():
        group = ContactGroup(name=f"Matrix group {world.ticket.id}", report_periods=["daily"])
        db.session.add(group)
        db.session.flush()
        start = utcnow().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
        report = HealthReport(group_id=group.id, period="daily", period_start=start,
                              period_end=start + timedelta(days=1), status="done", progress=100,
                              stage="Done", html="<p>report</p>", pdf=b"%PDF-1.4\n%%EOF\n")
        db.session.add(report)
        db.session.flush()
        return report
    return _cached(world, "health_report", build)


def maintenance_window(world):
    """A one-off maintenance window tomorrow, for all monitors."""
    from crm.monitoring.models import MaintenanceWindow

    def build():
        start = utcnow() + timedelta(days=1)
        window = MaintenanceWindow(
            title="Matrix window",
            starts_at=start,
            ends_at=start + timedelta(hours=1),
            all_monitors=True,
            announced=True,
        )
        db.session.add(window)
        db.session.flush()
        return window

    return _cached(world, "maintenance_window", build)


def broadcast(world):
    """A finished broadcast."""
    from crm.broadcasts.models import Broadcast

    def build():
        row = Broadcast(
            subject="Matrix broadcast",
            body="Down for maintenance",
            channels=["email"],
            segment="all",
            status="done",
            total=0,
        )
        db.session.add(row)
        db.session.flush()
        return row

    return _cached(world, "broadcast", build)


def unsubscribe_token(world) -> str:
    """A valid unsubscribe token for the world's customer."""
    from crm.broadcasts.services import unsubscribe_token as make

    return make(world.user("customer").email)
