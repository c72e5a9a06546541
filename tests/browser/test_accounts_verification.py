"""Email verification in a real browser: a customer registers, the verification email
arrives at the real SMTP server, its link opens the Welcome page and a second click says the
address is already verified; an unverified user logging in sees the "verify your email"
pop-up and can ask for a new link from it."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from crm.extensions import db

pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]

PASSWORD = "verify-Me-2026"
NAME, EMAIL = "Vera Verify", "vera.verify@example.com"


def deliver(run_jobs) -> None:
    """Send the queued emails with a real worker (outside any open transaction)."""
    db.session.remove()
    run_jobs()
    db.session.remove()


def log_in(page: Page, email: str) -> None:
    page.goto("/auth/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_registration_link_from_the_email_verifies_once(people, snap, run_jobs, smtp_server):
    vera = people("vera")
    page = vera.page
    page.goto("/auth/register")
    page.get_by_label("Full name").fill(NAME)
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm password").fill(PASSWORD)
    page.get_by_label("I am a").select_option(label="Customer")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("alert")).to_contain_text(f"We sent a verification link to {EMAIL}")

    # before verifying, raising a ticket is refused with a way out
    page.goto("/portal/tickets/new")
    expect(page.get_by_role("heading", name="403 · Verify your email address")).to_be_visible()
    expect(page.get_by_text("Verify your email address to use this.")).to_be_visible()
    expect(page.get_by_role("button", name="Resend the verification email")).to_be_visible()

    deliver(run_jobs)
    [mail] = smtp_server.wait_for(lambda msgs: [m for m in msgs if EMAIL in m["_rcpt"]])
    assert mail["Subject"] == "Verify your email address for CR Tracker"
    html = mail.get_body(("html",)).get_content()
    path = re.search(r'href="https?://[^/"]+(/auth/verify/[^"]+)"', html).group(1)

    page.goto(path)
    expect(page.get_by_role("heading", name="Welcome to CR Tracker!")).to_be_visible()
    expect(page.get_by_text("Your email address is verified.")).to_be_visible()
    snap(page, "verification-welcome")

    page.goto(path)
    expect(page.get_by_text("Your email is already verified.")).to_be_visible()
    expect(page.get_by_role("heading", name="Welcome to CR Tracker!")).to_have_count(0)
    snap(page, "verification-second-click")

    page.goto("/portal/tickets/new")
    expect(page.get_by_role("heading", name="Raise a ticket")).to_be_visible()
    deliver(run_jobs)
    smtp_server.wait_for(
        lambda msgs: [m for m in msgs if m["Subject"] == "Your email address is verified"]
    )

    assert vera.errors == []
    assert vera.bad_responses == [(403, "GET", "/portal/tickets/new")]


def test_unverified_login_shows_the_popup_that_resends_the_link(
    people, snap, make_user, run_jobs, smtp_server
):
    user = make_user(
        "customer", name="Una Verified", email="una@example.com", password=PASSWORD, verified=False
    )
    email = user.email
    db.session.remove()
    una = people("una")
    log_in(una.page, email)
    dialog = una.page.get_by_role("dialog", name="Please verify your email address")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(email)
    snap(una.page, "unverified-login-popup")
    dialog.get_by_role("button", name="Resend the verification email").click()
    expect(una.page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    expect(una.page.get_by_text(f"We sent a new verification link to {email}")).to_be_visible()

    deliver(run_jobs)
    smtp_server.wait_for(
        lambda msgs: [
            m
            for m in msgs
            if email in m["_rcpt"] and m["Subject"] == "Verify your email address for CR Tracker"
        ]
    )

    # "Later" closes it; it comes back at the next log-in, not on every page
    una.page.goto("/dashboard")
    expect(una.page.get_by_role("dialog")).to_have_count(0)
    una.page.get_by_role("button", name="Una Verified").click()  # the account menu
    una.page.get_by_role("button", name="Log out").click()
    log_in(una.page, email)
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Later").click()
    expect(dialog).to_be_hidden()
    assert una.errors == [] and una.bad_responses == []
