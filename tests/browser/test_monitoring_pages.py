"""Monitoring pages in a real browser: a refused form can be reloaded (its page's own address
is in the address bar, not the POST-only one), and the overview, a monitor's page and the
dashboard draw readable charts, heartbeat bars and long names (screenshots in
``test-artifacts/browser/``)."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from crm.clock import utcnow
from crm.extensions import db
from crm.monitoring.models import Contact, ContactGroup

pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]

PASSWORD = "uptime-Watch-2026"


def _log_in(people, make_user, role: str = "admin"):
    user = make_user(role, name="Ada Admin", password=PASSWORD)
    email = user.email
    db.session.remove()
    person = people(role)
    page = person.page
    page.goto("/auth/login")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/auth/login"))
    return person


def test_a_refused_report_request_can_be_reloaded(people, snap, make_user):
    db.session.add(ContactGroup(name="Operations", contacts=[Contact(email="ops@example.com")]))
    db.session.commit()
    db.session.remove()
    person = _log_in(people, make_user)
    page = person.page
    page.goto("/reports/", wait_until="domcontentloaded")
    future = (utcnow() + timedelta(days=3)).date().isoformat()
    page.get_by_label("Any day in the period (UTC)").fill(future)
    page.get_by_role("button", name="Generate now").click()
    expect(page.get_by_text("Choose a day that is not in the future.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/reports/$"))
    snap(page, "reports-refused-request")

    page.reload()
    expect(page.get_by_role("heading", name="Health reports")).to_be_visible()
    assert person.bad_responses == [(422, "POST", "/reports/generate")], person.bad_responses
    assert person.errors == [], person.errors


LONG_NAME = ("Customer portal — checkout and payment confirmation endpoint behind the EU load "
             "balancer, region west")
LONG_URL = "https://shop.example.com/" + "very-long-path-segment/" * 10 + "?token=" + "x" * 90


def _history() -> tuple[int, int, int]:
    """Monitors with a day of hourly rollups and recent results (one with a long name and
    URL), and one without any check; returns their ids (shop, portal, new)."""
    from crm.monitoring.models import HOUR, CheckResult, Monitor, Rollup

    now = utcnow()
    hour = now.replace(minute=0, second=0, microsecond=0)
    shop = Monitor(name="Shop", type="http", config={"url": "https://shop.example.com/health"},
                   status="up", last_checked_at=now - timedelta(minutes=1), last_response_ms=84.0)
    portal = Monitor(name=LONG_NAME, type="http", config={"url": LONG_URL}, status="down",
                     last_checked_at=now - timedelta(minutes=1))
    new = Monitor(
        name="Brand new monitor", type="tcp", config={"host": "db.example.com", "port": 5432}
    )
    db.session.add_all([shop, portal, new])
    db.session.flush()
    for h in range(1, 24):
        for monitor, up, down, codes in (
            (shop, 58, 2, {"200": 58, "503": 2}),
            (portal, 50, 10, {"200": 45, "302": 5}),
        ):
            db.session.add(
                Rollup(
                    monitor_id=monitor.id,
                    period=HOUR,
                    bucket_start=hour - timedelta(hours=h),
                    count_up=up,
                    count_down=down,
                    errors=down // 2,
                    sum_ms=60 * (80.0 + h),
                    histogram=[0, 0, 60] + [0] * 20,
                    status_codes=codes,
                    protocol="https",
                )
            )
    # daily rollups for the dashboard's 30 days
    from crm.monitoring.models import DAY

    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    for d in range(1, 20):
        for monitor, up, down in ((shop, 1400, 40 if d % 3 else 0), (portal, 1300, 140)):
            db.session.add(
                Rollup(
                    monitor_id=monitor.id,
                    period=DAY,
                    bucket_start=day - timedelta(days=d),
                    count_up=up,
                    count_down=down,
                    errors=down // 4,
                    sum_ms=0.0,
                    histogram=[],
                    status_codes={"200": up, "500": down - down // 4},
                    protocol="https",
                )
            )
    for i in range(40):
        at = now - timedelta(minutes=i + 1)
        db.session.add(
            CheckResult(
                monitor_id=shop.id,
                checked_at=at,
                status="down" if i in (5, 6) else "up",
                response_time_ms=None if i in (5, 6) else 80.0 + i % 7,
                status_code=None if i in (5, 6) else 200,
                protocol="https",
                error="timed out" if i in (5, 6) else None,
            )
        )
        db.session.add(
            CheckResult(
                monitor_id=portal.id,
                checked_at=at,
                status="down" if i < 3 else "up",
                response_time_ms=120.0,
                status_code=503 if i < 3 else 200,
                protocol="https",
            )
        )
    db.session.commit()
    ids = shop.id, portal.id, new.id
    db.session.remove()
    return ids


def _no_horizontal_overflow(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        "the page scrolls sideways"
    )


def _inside(inner: dict, outer: dict) -> bool:
    """True when the box ``inner`` lies within ``outer`` (1 px of rounding allowed)."""
    return (
        inner["x"] >= outer["x"] - 1
        and inner["y"] >= outer["y"] - 1
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 1
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + 1
    )


def _boxes_overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_overview_monitor_page_and_dashboard_read_well(people, snap, make_user):
    shop_id, portal_id, new_id = _history()
    person = _log_in(people, make_user)
    page = person.page

    # overview: heartbeat bars, long names and URLs wrap inside the table
    page.goto("/monitors/", wait_until="domcontentloaded")
    row = page.get_by_role("row").filter(has_text="Customer portal")
    bar = row.get_by_test_id("heartbeat-bar")
    expect(bar.locator(".beat")).to_have_count(30)
    expect(bar.locator(".beat-down")).to_have_count(3)
    assert "Down" in bar.locator(".beat").last.get_attribute("title")
    expect(row.get_by_role("link", name=LONG_NAME)).to_be_visible()
    _no_horizontal_overflow(page)
    cell = row.locator(".monitor-name-cell")
    assert cell.evaluate("el => el.scrollWidth <= el.clientWidth + 1"), (
        "the name overflows its cell"
    )
    snap(page, "monitors-overview-heartbeats")

    # a monitor without checks: the chart's place says so
    page.goto(f"/monitors/{new_id}", wait_until="domcontentloaded")
    expect(page.get_by_test_id("chart-empty")).to_contain_text("No checks in this period yet")
    expect(page.locator("#response-chart.js-plotly-plot")).to_have_count(0)

    # the long-named monitor's page: wrapped title, readable ticks, heartbeat bar
    page.goto(f"/monitors/{portal_id}", wait_until="domcontentloaded")
    expect(page.get_by_role("heading", level=1)).to_have_text(LONG_NAME)
    chart = page.locator("#response-chart")
    expect(chart.locator("svg.main-svg").first).to_be_attached(timeout=20_000)
    ticks = chart.locator("g.xtick text").all_text_contents()
    assert ticks and not [t for t in ticks if re.search(r"\d:\d\d:\d\d|\.\d{3}", t)], ticks
    assert all(re.search(r"\d\d:\d\d", t) for t in ticks), ticks
    legend, plot = (
        chart.locator("g.legend").bounding_box(),
        chart.locator(".nsewdrag").first.bounding_box(),
    )
    assert _inside(legend, chart.bounding_box()) and not _boxes_overlap(legend, plot)
    _no_horizontal_overflow(page)
    snap(page, "monitor-page-chart-heartbeats")

    # the dashboard: legends beside their own chart, overlapping neither plot nor ticks
    page.goto("/monitors/dashboard?range=30d", wait_until="domcontentloaded")
    for chart_id in ("chart-by-monitor", "chart-by-code-bucket"):  # one protocol: no legend
        chart = page.locator(f"#{chart_id}")
        expect(chart.locator("g.legend")).to_be_attached(timeout=20_000)
        legend = chart.locator("g.legend").bounding_box()
        plot = chart.locator(".nsewdrag").first.bounding_box()
        frame = chart.bounding_box()
        assert not _boxes_overlap(legend, plot), chart_id
        assert legend["x"] >= plot["x"] + plot["width"] - 1, chart_id  # right of the plot
        assert _inside(legend, frame), chart_id  # beside its own chart, not under it
    uptime = page.locator("#chart-uptime-monitor")
    expect(uptime.locator("g.ytick text").first).to_be_attached()
    labels = " ".join(uptime.locator("g.ytick text").all_text_contents())
    assert "region west" in labels and "Customer portal" in labels  # wrapped onto lines, in full
    _no_horizontal_overflow(page)
    snap(page, "monitor-dashboard")

    # on a phone the legend goes above the plot: still inside its chart, covering nothing
    page.set_viewport_size({"width": 400, "height": 800})
    page.reload(wait_until="domcontentloaded")
    chart = page.locator("#chart-by-monitor")
    expect(chart.locator("g.legend")).to_be_attached(timeout=20_000)
    legend, plot = (
        chart.locator("g.legend").bounding_box(),
        chart.locator(".nsewdrag").first.bounding_box(),
    )
    assert _inside(legend, chart.bounding_box()) and not _boxes_overlap(legend, plot)
    assert legend["y"] + legend["height"] <= plot["y"] + 1  # above the plot
    assert plot["width"] > 200
    _no_horizontal_overflow(page)
    snap(page, "monitor-dashboard-phone")

    assert person.errors == [], person.errors
    assert person.bad_responses == [], person.bad_responses


def test_a_refresh_does_not_close_the_results_panel(people, make_user):
    from crm.monitoring.models import CheckResult, Monitor

    shop_id, _portal, _new = _history()
    person = _log_in(people, make_user)
    page = person.page
    page.goto(f"/monitors/{shop_id}", wait_until="domcontentloaded")
    # (plotly.js is 4.8 MB: let the chart finish drawing before clicking)
    expect(page.locator("#response-chart svg.main-svg").first).to_be_attached(timeout=20_000)
    panel = page.locator("details#recent-results")
    page.get_by_text("Recent results", exact=True).click()
    expect(panel).to_have_attribute("open", "")
    expect(panel.get_by_text("The last 40 checks, newest first.")).to_be_visible()

    now = utcnow()
    db.session.add(
        CheckResult(
            monitor_id=shop_id, checked_at=now, status="down", error="refused", protocol="https"
        )
    )
    monitor = db.session.get(Monitor, shop_id)
    monitor.last_checked_at, monitor.status = now, "down"
    db.session.commit()
    db.session.remove()

    # the page polls every 10 s: the new check reaches the table and the bar, the panel stays open
    expect(panel.get_by_text("The last 41 checks, newest first.")).to_be_visible(timeout=25_000)
    expect(page.get_by_test_id("monitor-status")).to_have_text("Down")
    expect(page.get_by_test_id("heartbeat-bar").locator(".beat").last).to_have_class(
        re.compile("beat-down")
    )
    expect(panel).to_have_attribute("open", "")
    assert person.errors == [], person.errors
