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
    page.goto("/reports/")
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
