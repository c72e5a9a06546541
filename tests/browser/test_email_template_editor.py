"""Admin → Email templates in a real browser: the preview follows what the admin types
(htmx, with CSRF on), the HTML part shows in a sandboxed iframe, an error in the subject shows
in the preview and, on save, under the subject field."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from crm.extensions import db
from crm.notifications.models import EmailTemplate
from tests.browser.conftest import nav_to
from tests.browser.test_accessibility import serious_violations

pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]

PASSWORD = "template-Editor-2026"


def test_the_preview_follows_typing_and_a_subject_error_shows_under_the_subject(
    people, snap, make_user
):
    email = make_user("admin", name="Ada Admin", password=PASSWORD).email
    db.session.remove()
    page = people("admin").page
    page.goto("/auth/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    nav_to(page, "Admin", "Email templates")
    page.get_by_role("link", name="ticket_reply").click()

    preview = page.get_by_role("region", name="Email preview")
    expect(preview).to_contain_text(
        "New reply on ticket #1042: Printer on floor 3 prints blank pages"
    )
    subject = page.get_by_label("Subject")
    subject.fill("")
    subject.press_sequentially("Reply from {{ comment.author.name }}", delay=5)
    expect(preview).to_contain_text("Reply from Grace Hopper")
    frame = page.frame_locator("#email-preview iframe")
    expect(frame.locator("body")).to_contain_text("Could you send a photo of a blank page?")
    assert page.locator("#email-preview iframe").get_attribute("sandbox") == ""
    snap(page, "email-template-live-preview")
    assert serious_violations(page) == []

    subject.press_sequentially(" {{ ticket.assignee.password_hash }}", delay=5)
    expect(preview.get_by_role("alert")).to_contain_text("password_hash")
    page.get_by_role("button", name="Save template").click()
    expect(page.locator("#subject-errors")).to_contain_text("password_hash")
    expect(page.get_by_label("Subject")).to_have_attribute("aria-invalid", "true")
    assert serious_violations(page) == []
    db.session.remove()
    assert db.session.scalar(db.select(EmailTemplate)) is None
