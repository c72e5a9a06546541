"""Public status pages (blueprint ``status_pages``): ``/status/<slug>``, no log-in.

Each page shows its monitors' current state, a 90-day strip of daily uptime bars (from
daily rollups) and announced maintenance windows, current and upcoming. The staff edit
pages under ``/monitors/status-pages`` (see :mod:`crm.monitoring.pages.monitors`) call
:func:`save_status_page` and :func:`delete_status_page`.
"""
from __future__ import annotations

import re
from datetime import timedelta

from flask import Blueprint, abort, render_template
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crm.auth.policy import public
from crm.clock import utcnow
from crm.errors import ServiceError
from crm.extensions import db
from crm.monitoring.models import MaintenanceWindow, Monitor, StatusPage
from crm.monitoring.pages import dashboards

bp = Blueprint("status_pages", __name__, url_prefix="/status")

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")
#: How far ahead upcoming maintenance is announced.
UPCOMING = timedelta(days=30)


def save_status_page(page: StatusPage | None, *, slug: str, title: str, description: str,
                     monitor_ids: list[int]) -> StatusPage:
    """Create (``page`` None) or change a status page and commit.

    :param slug: the page's address ``/status/<slug>``: 2–64 lower-case letters, digits and
        hyphens, unique.
    :param monitor_ids: the monitors shown (unknown ids are refused).
    :raises ServiceError: 422 with ``field`` ``slug``, ``title`` or ``monitors``.
    """
    slug = (slug or "").strip().lower()
    if not SLUG.match(slug):
        raise ServiceError(
            "Use 2-64 lower-case letters, digits and hyphens.", field="slug", status=422
        )
    if not (title or "").strip():
        raise ServiceError("Give the page a title.", field="title", status=422)
    taken = db.session.scalar(select(StatusPage.id).where(StatusPage.slug == slug))
    if taken is not None and (page is None or taken != page.id):
        raise ServiceError(
            f"/status/{slug} is already used by another page.", field="slug", status=422
        )
    monitors = list(db.session.scalars(select(Monitor).where(Monitor.id.in_(monitor_ids or []))))
    if len(monitors) != len(set(monitor_ids or [])):
        raise ServiceError("Choose monitors from the list.", field="monitors", status=422)
    if page is None:
        page = StatusPage()
        db.session.add(page)
    page.slug, page.title, page.description = slug, title.strip(), description or ""
    page.monitors = monitors
    db.session.commit()
    return page


def delete_status_page(page: StatusPage) -> None:
    """Delete a status page and commit; its monitors stay (``/status/<slug>`` becomes a 404)."""
    db.session.delete(page)
    db.session.commit()


def announced_maintenance(monitor_ids: set[int], now) -> tuple[list, list]:
    """Announced maintenance windows that concern ``monitor_ids`` (or all monitors).

    :returns: (current: [(window, start, end)], upcoming within 30 days: [(window, start,
        end)] sorted by start); recurring windows expanded with the engine's rules.
    """
    from crm.monitoring.maintenance import next_occurrence, occurrence_at

    windows = db.session.scalars(
        select(MaintenanceWindow)
        .where(MaintenanceWindow.announced.is_(True), MaintenanceWindow.starts_at <= now + UPCOMING)
        .options(selectinload(MaintenanceWindow.monitors))
        .order_by(MaintenanceWindow.starts_at)
    )
    current, upcoming = [], []
    for window in windows:
        if not window.all_monitors and not ({m.id for m in window.monitors} & monitor_ids):
            continue
        active = occurrence_at(window, now)
        if active is not None:
            current.append((window, *active))
            continue
        nxt = next_occurrence(window, now)
        if nxt is not None and nxt[0] <= now + UPCOMING:
            upcoming.append((window, *nxt))
    upcoming.sort(key=lambda item: item[1])
    return current, upcoming


@bp.route("/<slug>")
@public
def show(slug: str):
    """The public status page: current state, 90 days of daily uptime, maintenance."""
    page = db.session.scalar(
        select(StatusPage)
        .where(StatusPage.slug == slug[:64])
        .options(selectinload(StatusPage.monitors))
    )
    if page is None:
        abort(404)
    now = utcnow()
    monitors = list(page.monitors)
    ids = [m.id for m in monitors]
    bars = dashboards.daily_bars(ids, now.date(), 90)
    current, upcoming = announced_maintenance(set(ids), now)
    in_maintenance = {m.id for w, _s, _e in current for m in w.monitors} | (
        set(ids) if any(w.all_monitors for w, _s, _e in current) else set()
    )
    states = {m.id: _public_state(m, m.id in in_maintenance) for m in monitors}
    overall = _overall(states.values())
    return render_template(
        "monitoring/status/page.html",
        page=page,
        monitors=monitors,
        bars=bars,
        uptime={mid: dashboards.period_uptime(b) for mid, b in bars.items()},
        states=states,
        overall=overall,
        current=current,
        upcoming=upcoming,
        now=now,
    )


#: Public wording of a monitor's state: (css class, label).
STATES = {
    "up": ("ok", "Operational"),
    "down": ("outage", "Outage"),
    "maintenance": ("maintenance", "Under maintenance"),
    "paused": ("nodata", "Not monitored"),
    "pending": ("nodata", "Checking"),
}


def _public_state(monitor: Monitor, in_maintenance: bool) -> tuple[str, str]:
    if in_maintenance and monitor.status != "down":
        return STATES["maintenance"]
    return STATES.get(monitor.status, STATES["pending"])


def _overall(states) -> tuple[str, str]:
    classes = [c for c, _ in states]
    if "outage" in classes:
        return "outage", "Some systems are down"
    if "maintenance" in classes:
        return "maintenance", "Maintenance in progress"
    if classes and all(c == "ok" for c in classes):
        return "ok", "All systems operational"
    return "nodata", "Status being checked"
