"""Uptime monitoring in a real browser: an admin creates an HTTP monitor through the form,
finds it in the overview and opens its page, whose chart says there is no data yet (charts
drawn by plotly.js: tests/browser/test_monitoring_pages.py)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from crm.extensions import db
from tests.browser.conftest import nav_to

pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]

PASSWORD = "uptime-Watch-2026"


def test_admin_creates_http_monitor_and_sees_its_chart(people, snap, make_user):
    admin = make_user("admin", name="Ada Admin", password=PASSWORD)
    email = admin.email
    db.session.remove()

    person = people("admin")
    page = person.page
    page.goto("/auth/login")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    nav_to(page, "Monitoring", "Monitors")
    expect(page.get_by_role("heading", name="Monitors")).to_be_visible()
    page.get_by_role("link", name="Create your first monitor").click()

    expect(page.get_by_role("heading", name="New monitor")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("Company website")
    page.get_by_label("Type", exact=True).select_option("http")
    # the other types' field groups are hidden by monitoring_form.js
    expect(page.get_by_label("Grace period (seconds)", exact=True)).to_be_hidden()
    page.get_by_label("URL", exact=True).fill("http://127.0.0.1:9/health")
    page.get_by_label("Keyword", exact=True).fill("ok")
    page.get_by_label("Check every (seconds)", exact=True).fill("60")
    page.get_by_label("Tags", exact=True).fill("web, production")
    page.get_by_label("Type", exact=True).select_option("heartbeat")
    expect(page.get_by_label("Grace period (seconds)", exact=True)).to_be_visible()
    expect(page.get_by_label("Keyword", exact=True)).to_be_hidden()
    page.get_by_label("Type", exact=True).select_option("http")
    snap(page, "monitor-form-http")
    page.get_by_role("button", name="Save monitor").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Company website")
    expect(page.get_by_role("alert")).to_contain_text("Monitor Company website created")
    expect(page.get_by_test_id("monitor-status")).to_have_text("Pending")
    # no check yet: the chart's place says so (charts with data: test_monitoring_pages.py)
    expect(page.get_by_test_id("chart-empty")).to_contain_text("No checks in this period yet")
    expect(page.locator("#response-chart.js-plotly-plot")).to_have_count(0)
    snap(page, "monitor-page-chart")

    nav_to(page, "Monitoring", "Monitors")
    row = page.get_by_role("row").filter(has_text="Company website")
    expect(row).to_contain_text("HTTP(S)")
    expect(row).to_contain_text("production")
    snap(page, "monitors-overview")

    assert person.errors == [], f"JavaScript errors: {person.errors}"
    assert person.bad_responses == [], person.bad_responses
