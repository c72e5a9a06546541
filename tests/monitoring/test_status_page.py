"""Public status pages: no log-in, current state, 90 daily uptime bars from day rollups,
announced maintenance (current and upcoming); the staff editor under /monitors/status-pages."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from crm import clock
from crm.extensions import db
from crm.monitoring.models import DAY, MaintenanceWindow, Monitor, Rollup, StatusPage
from tests.helpers_matrix import visible_text

NOW = datetime(2026, 5, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def page(app):
    clock.set_offset(NOW - datetime.now(UTC))
    shop = Monitor(
        name="Web shop", type="http", config={"url": "https://shop.example/"}, status="up"
    )
    mail = Monitor(
        name="Mail", type="smtp", config={"host": "mail.example", "port": 25}, status="down"
    )
    hidden = Monitor(
        name="Internal billing", type="tcp", config={"host": "b", "port": 1}, status="down"
    )
    db.session.add_all([shop, mail, hidden])
    db.session.flush()
    today = datetime(2026, 5, 20, tzinfo=UTC)
    db.session.add_all(
        [
            Rollup(
                monitor_id=shop.id,
                period=DAY,
                bucket_start=today - timedelta(days=1),
                count_up=100,
                count_down=0,
            ),
            Rollup(
                monitor_id=shop.id,
                period=DAY,
                bucket_start=today - timedelta(days=2),
                count_up=90,
                count_down=10,
            ),
            Rollup(
                monitor_id=shop.id,
                period=DAY,
                bucket_start=today - timedelta(days=120),
                count_up=0,
                count_down=50,
            ),
        ]
    )
    status_page = StatusPage(slug="acme", title="ACME status", description="Our public services")
    status_page.monitors = [shop, mail]
    db.session.add(status_page)
    db.session.add_all(
        [
            MaintenanceWindow(
                title="Database upgrade",
                description="Short read-only period",
                starts_at=NOW - timedelta(minutes=30),
                ends_at=NOW + timedelta(minutes=30),
                announced=True,
                monitors=[shop],
            ),
            MaintenanceWindow(
                title="Mail server move",
                starts_at=NOW + timedelta(days=3),
                ends_at=NOW + timedelta(days=3, hours=2),
                announced=True,
                monitors=[mail],
            ),
            MaintenanceWindow(
                title="Secret internal work",
                starts_at=NOW - timedelta(minutes=5),
                ends_at=NOW + timedelta(hours=1),
                announced=False,
                all_monitors=True,
            ),
            MaintenanceWindow(
                title="Billing window",
                starts_at=NOW + timedelta(days=1),
                ends_at=NOW + timedelta(days=1, hours=1),
                announced=True,
                monitors=[hidden],
            ),
        ]
    )
    db.session.commit()
    return status_page


def test_status_page_is_public_with_90_bars_per_monitor(client, page):
    resp = client.get("/status/acme")  # nobody logged in
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    text = visible_text(resp)
    assert "ACME status" in text and "Our public services" in text
    assert "Web shop" in text and "Mail" in text and "Internal billing" not in text
    assert html.count('class="bar ') == 180  # 90 days × 2 monitors
    assert 'title="2026-05-19: 100.00 % uptime (100 checks)"' in html
    assert 'title="2026-05-18: 90.00 % uptime (100 checks)"' in html
    assert 'title="2026-05-17: no data"' in html
    assert "2026-01-20" not in html  # 120 days ago: outside the strip
    assert (
        'class="bar ok" title="2026-05-19' in html
        and 'class="bar outage" title="2026-05-18' in html
    )
    assert "95.00 % uptime" in text  # 190 of 200 checks over 90 days
    assert 'aria-label="Daily uptime of Web shop over the last 90 days: 95.00 %"' in html
    assert "Some systems are down" in text and "Outage" in text
    assert "<script" not in html and "Log out" not in text


def test_status_page_announces_current_and_upcoming_maintenance_only(client, page):
    text = visible_text(client.get("/status/acme"))
    assert "Maintenance in progress" in text and "Database upgrade" in text
    assert "Short read-only period" in text and "Under maintenance" in text
    assert "Scheduled maintenance" in text and "Mail server move" in text
    assert "2026-05-23 09:00 UTC" in text
    assert "Secret internal work" not in text  # not announced
    assert "Billing window" not in text  # concerns no monitor of this page


def test_unknown_status_page_is_404(client, page):
    assert client.get("/status/nope").status_code == 404


def test_staff_create_edit_and_delete_status_pages(client, make_user, login, page):
    login(make_user("engineer"))
    shop = db.session.scalar(select(Monitor).where(Monitor.name == "Web shop"))
    assert client.get("/monitors/status-pages").status_code == 200
    assert client.get("/monitors/status-pages/new").status_code == 200
    taken = client.post(
        "/monitors/status-pages/new", data={"title": "Other", "slug": "acme", "monitors": [shop.id]}
    )
    assert taken.status_code == 422 and "already used" in visible_text(taken)
    bad = client.post("/monitors/status-pages/new", data={"title": "Other", "slug": "Not A Slug!"})
    assert bad.status_code == 422 and "lower-case" in visible_text(bad)
    resp = client.post(
        "/monitors/status-pages/new",
        data={"title": "Shop only", "slug": "shop", "monitors": [shop.id]},
    )
    assert resp.status_code == 302
    created = db.session.scalar(select(StatusPage).where(StatusPage.slug == "shop"))
    assert [m.name for m in created.monitors] == ["Web shop"]
    edit = client.post(
        f"/monitors/status-pages/{created.id}/edit",
        data={"title": "Shop and mail", "slug": "shop", "monitors": [m.id for m in page.monitors]},
    )
    assert edit.status_code == 302, visible_text(edit)[:400]
    db.session.expire_all()
    assert sorted(m.name for m in db.session.get(StatusPage, created.id).monitors) == [
        "Mail",
        "Web shop",
    ]
    assert "Shop and mail" in visible_text(client.get("/status/shop"))
    assert client.post(f"/monitors/status-pages/{created.id}/delete").status_code == 302
    assert client.get("/status/shop").status_code == 404


def test_agents_cannot_edit_status_pages(client, make_user, login, page):
    login(make_user("agent"))
    assert client.get("/monitors/status-pages").status_code == 403
    assert (
        client.post("/monitors/status-pages/new", data={"title": "x", "slug": "xx"}).status_code
        == 403
    )
