"""Password reset in a real browser: by emailed link (read from the SMTP sink) and by SMS code
(read from the SMS outbox) with the code's live countdown visibly counting down."""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from crm import clock
from crm.extensions import db
from crm.notifications.models import SmsMessage

pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]

PASSWORD = "espresso-Ticket-2026"
NEW_PASSWORD = "flat-White-Reset-2026"
PHONE = "+447400123456"


def log_in(page: Page, email: str, password: str) -> None:
    page.goto("/auth/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()


def choose_new_password(page: Page) -> None:
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_role("alert")).to_contain_text("Your password was changed")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_reset_by_emailed_link(people, snap, make_user, run_jobs, smtp_server):
    user = make_user("customer", name="Rosa Reset", email="rosa@example.com", password=PASSWORD)
    email = user.email
    db.session.remove()

    rosa = people("rosa")
    rosa.page.goto("/auth/login")
    rosa.page.get_by_role("link", name="Forgot your password?").click()
    expect(rosa.page.get_by_role("heading", name="Reset your password")).to_be_visible()
    rosa.page.get_by_label("Email").fill(email)
    rosa.page.get_by_role("button", name="Send me a reset link").click()
    expect(rosa.page.get_by_role("heading", name="Check your email")).to_be_visible()
    snap(rosa.page, "reset-email-sent")

    run_jobs()
    [mail] = smtp_server.wait_for(lambda msgs: [m for m in msgs if email in m["_rcpt"]])
    link = re.search(
        r"https?://[^/\s]+(/auth/reset/\S+)", mail.get_body(("plain",)).get_content()
    ).group(1)
    rosa.page.goto(link)
    snap(rosa.page, "reset-email-new-password")
    choose_new_password(rosa.page)

    log_in(rosa.page, email, NEW_PASSWORD)
    expect(rosa.page.get_by_role("navigation", name="Main navigation")).to_contain_text(
        "Rosa Reset"
    )
    # the link was single-use
    rosa.page.goto(link)
    expect(rosa.page.get_by_role("heading", name="This link was already used")).to_be_visible()
    expect(rosa.page.get_by_role("link", name="Ask for a new reset link")).to_be_visible()
    assert rosa.errors == []


def test_reset_by_sms_code_with_a_live_countdown(people, snap, make_user, run_jobs):
    user = make_user("engineer", name="Sid Sms", email="sid@example.com", password=PASSWORD)
    user.phone, user.phone_verified_at = PHONE, clock.utcnow()
    db.session.commit()
    email = user.email
    db.session.remove()

    sid = people("sid")
    sid.page.goto("/auth/reset")
    sid.page.get_by_role("link", name="Get a code by text message").click()
    sid.page.get_by_label("Email or mobile number").fill("07400 123456")
    sid.page.get_by_role("button", name="Text me a code").click()
    expect(sid.page.get_by_role("heading", name="Enter your code")).to_be_visible()

    timer = sid.page.get_by_role("timer")
    expect(timer).to_have_text(re.compile(r"^[45]:\d\d$"))
    resend = sid.page.get_by_role("button", name=re.compile("Send a new code"))
    expect(resend).to_be_disabled()

    def seconds_left() -> int:
        minutes, seconds = timer.inner_text().split(":")
        return int(minutes) * 60 + int(seconds)

    first = seconds_left()
    time.sleep(2.2)
    second = seconds_left()
    assert 4 * 60 < second < first <= 5 * 60, (first, second)
    expect(resend).to_contain_text(re.compile(r"in \d+ s"))
    snap(sid.page, "reset-sms-countdown")

    run_jobs()
    db.session.remove()
    body = db.session.scalars(select(SmsMessage.body).where(SmsMessage.to == PHONE)).one()
    code = re.match(r"(\d{6}) ", body).group(1)
    db.session.remove()
    sid.page.get_by_label("Code from the text message").fill(code)
    sid.page.get_by_role("button", name="Continue").click()
    choose_new_password(sid.page)

    log_in(sid.page, email, NEW_PASSWORD)
    expect(sid.page.get_by_role("navigation", name="Main navigation")).to_contain_text("Sid Sms")
    assert sid.errors == []
