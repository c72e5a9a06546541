"""An admin revokes another person's session in a real browser; that browser is logged out.

Context 1 (a customer, logged in with "remember me") and context 2 (an admin) are separate
browser profiles. The admin finds the customer's session on /sessions/all with the filters,
confirms the revocation, and the customer's next navigation lands on the log-in page.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from crm.extensions import db
from tests.browser.conftest import nav_to

pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]

PASSWORD = "espresso-Session-2026"


def log_in(page: Page, email: str, remember: bool = False) -> None:
    """Fill in and send the log-in form, as a person would."""
    page.goto("/auth/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    if remember:
        page.get_by_label("Remember me").check()
    page.get_by_role("button", name="Log in").click()


def test_admin_revokes_a_session_and_that_browser_is_logged_out(people, snap, make_user):
    customer_email = make_user("customer", name="Carla Buyer", email="carla.buyer@example.com",
                               password=PASSWORD).email
    admin_email = make_user("admin", name="Ada Admin", password=PASSWORD).email
    db.session.remove()  # no open transaction in this thread while the server works

    customer = people("customer")
    log_in(customer.page, customer_email, remember=True)
    expect(customer.page.get_by_role("alert")).to_contain_text("Welcome back, Carla Buyer")
    nav_to(customer.page, re.compile("^Carla Buyer"), "Your sessions")
    expect(customer.page.get_by_role("heading", name="Your sessions")).to_be_visible()
    expect(customer.page.get_by_text("this browser")).to_be_visible()

    admin = people("admin")
    log_in(admin.page, admin_email)
    nav_to(admin.page, "Admin", "All sessions")
    expect(admin.page.get_by_role("heading", name="All sessions")).to_be_visible()
    admin.page.get_by_label("User email").fill("carla")  # htmx refreshes the table as you type
    table = admin.page.locator("#sessions-table")
    expect(table.get_by_role("row")).to_have_count(2)  # header + Carla's session
    row = table.get_by_role("row", name=re.compile(re.escape(customer_email)))
    expect(row).to_contain_text("HeadlessChrome")
    expect(admin.page).to_have_url(re.compile(r"/sessions/all\?.*email=carla"))
    snap(admin.page, "admin-all-sessions-filtered")
    row.get_by_role("link", name=re.compile("^Revoke")).click()
    expect(admin.page.get_by_role("heading", name="Revoke this session?")).to_be_visible()
    snap(admin.page, "admin-revoke-confirmation")
    admin.page.get_by_role("button", name="Revoke session").click()
    expect(admin.page.get_by_role("alert")).to_contain_text(f"Session of {customer_email} revoked")
    expect(admin.page).to_have_url(re.compile(r"/sessions/all\?.*email=carla"))
    expect(table.get_by_role("row", name=re.compile(re.escape(customer_email)))).to_contain_text(
        "revoked"
    )

    # the customer's next navigation (remember-me cookie and all) lands on the log-in page
    customer.page.goto("/portal/")
    expect(customer.page).to_have_url(re.compile(r"/auth/login"))
    expect(customer.page.get_by_role("heading", name="Log in")).to_be_visible()
    snap(customer.page, "customer-logged-out-after-revocation")

    assert customer.errors == [] and admin.errors == []
    assert admin.bad_responses == []
