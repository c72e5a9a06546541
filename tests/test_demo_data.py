"""The demo data (``make run``, ``flask seed-demo``) shows every headline feature at once:
a log-in per role, tickets, monitors of the app's own /healthz, a closed port and a
heartbeat with days of history (results and rollups), incidents, a contact group, a public
status page and a maintenance window — and the pages showing them render."""
from __future__ import annotations

from sqlalchemy import func, select

from crm.auth.models import ROLES
from crm.demo import DEMO_PASSWORD, HISTORY_DAYS, STATUS_PAGE_SLUG, seed_demo
from crm.extensions import db
from crm.monitoring.models import (
    DAY,
    HOUR,
    CheckResult,
    Incident,
    MaintenanceWindow,
    Monitor,
    Rollup,
    StatusPage,
)
from crm.tickets.models import Ticket


def test_demo_data_has_every_headline_feature(app, client):
    logins = seed_demo()
    assert logins is not None
    assert {role for role in logins if "pending" not in role} == set(ROLES)
    assert "engineer (pending)" in logins
    assert db.session.scalar(select(func.count(Ticket.id))) > 20

    monitors = {m.type: m for m in db.session.scalars(select(Monitor))}
    assert set(monitors) == {"http", "tcp", "heartbeat"}
    health, port, heartbeat = monitors["http"], monitors["tcp"], monitors["heartbeat"]
    assert health.config["url"] == app.config["SERVER_NAME_FOR_LINKS"].rstrip("/") + "/healthz"
    assert (health.status, port.status, heartbeat.status) == ("up", "down", "up")
    assert heartbeat.last_ping_at is not None and heartbeat.heartbeat_token

    for monitor in (health, port, heartbeat):
        days = db.session.scalar(select(func.count(Rollup.bucket_start)).where(
            Rollup.monitor_id == monitor.id, Rollup.period == DAY))
        hours = db.session.scalar(select(func.count(Rollup.bucket_start)).where(
            Rollup.monitor_id == monitor.id, Rollup.period == HOUR))
        assert days >= HISTORY_DAYS and hours >= 24 * HISTORY_DAYS - 1, (monitor.name, days, hours)
        # the rollups add up to the raw results they were built from
        results = db.session.scalar(
            select(func.count(CheckResult.id)).where(CheckResult.monitor_id == monitor.id)
        )
        rolled = db.session.scalar(
            select(func.sum(Rollup.count_up + Rollup.count_down)).where(
                Rollup.monitor_id == monitor.id, Rollup.period == DAY
            )
        )
        assert rolled == results > 0

    closed = db.session.scalars(select(Incident).where(Incident.monitor_id == health.id)).all()
    assert len(closed) == 1 and closed[0].closed_at is not None and closed[0].duration_seconds > 0
    open_ = db.session.scalars(select(Incident).where(Incident.monitor_id == port.id)).all()
    assert len(open_) == 1 and open_[0].closed_at is None and "refused" in open_[0].cause
    assert all(
        m.contact_group is not None and m.contact_group.contacts for m in (health, port, heartbeat)
    )

    page = db.session.scalar(select(StatusPage).where(StatusPage.slug == STATUS_PAGE_SLUG))
    assert {m.id for m in page.monitors} == {health.id, port.id, heartbeat.id}
    assert (
        db.session.scalar(
            select(func.count(MaintenanceWindow.id)).where(MaintenanceWindow.announced)
        )
        == 1
    )

    # the pages showing all of it render
    public = client.get(f"/status/{STATUS_PAGE_SLUG}").get_data(as_text=True)
    assert all(m.name in public for m in (health, port, heartbeat)) and "Database upgrade" in public
    assert (
        client.post(
            "/auth/login", data={"email": logins["admin"], "password": DEMO_PASSWORD}
        ).status_code
        == 302
    )
    for path in (
        "/dashboard",
        "/tickets/",
        "/monitors/",
        f"/monitors/{health.id}",
        f"/monitors/{port.id}",
        "/monitors/dashboard",
        "/monitors/status-pages",
        "/maintenance/",
        "/admin/registrations",
    ):
        resp = client.get(path)
        assert resp.status_code == 200, path
    overview = client.get("/monitors/").get_data(as_text=True)
    assert "CR Tracker health" in overview and "Legacy FTP gateway" in overview
    client.post("/auth/logout")
    assert (
        client.post(
            "/auth/login", data={"email": logins["customer"], "password": DEMO_PASSWORD}
        ).status_code
        == 302
    )
    assert client.get("/portal/").status_code == 200


def test_demo_data_is_not_loaded_twice(app):
    assert seed_demo() is not None
    assert seed_demo() is None
    assert db.session.scalar(select(func.count(Monitor.id))) == 3


def test_make_run_prints_the_log_in_url_and_checks_its_own_port(app, capsys, monkeypatch):
    from workers import devstack

    monkeypatch.setitem(app.config, "CRM_DEMO_DATA", True)
    monkeypatch.setitem(app.config, "SERVER_NAME_FOR_LINKS", app.config["SERVER_NAME_FOR_LINKS"])
    logins = devstack.load_demo_data(app, "http://127.0.0.1:5123")
    out = capsys.readouterr().out
    assert "log in at http://127.0.0.1:5123/auth/login with password demo-pass-123" in out
    assert all(email in out for email in logins.values())
    health = db.session.scalar(select(Monitor).where(Monitor.type == "http"))
    assert health.config["url"] == "http://127.0.0.1:5123/healthz"
