"""The ticket console and portal in a real browser: what a real user hits.

* a 200-character subject without spaces keeps Status, Priority and Assignee on screen (1280
  and 390 px wide), and the ticket page's heading inside the page;
* on a phone the list is cards and the filters start folded;
* an empty portal reply re-renders at the ticket's address, so reloading shows the page (no
  405);
* the internal note looks different before it is sent; "Send and resolve" does both;
* searching "#<id>" and pressing Enter opens the ticket.

Controls are found by label and role; screenshots go to ``test-artifacts/browser/``.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from crm.extensions import db
from crm.tickets import services
from crm.tickets.models import Comment, Ticket
from tests.browser.test_accessibility import serious_violations

pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]

PASSWORD = "espresso-Ticket-2026"
LONG_SUBJECT = "Unbreakable" + "x" * 189  # 200 characters, no space
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def log_in(page: Page, email: str) -> None:
    page.goto("/auth/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Welcome back")


def right_edge(locator) -> float:
    box = locator.bounding_box()
    assert box is not None, "element not rendered"
    return box["x"] + box["width"]


def cell(row, column: str):
    """The cell of ``row`` under the column headed ``column`` (found by the header's text)."""
    index = row.evaluate(
        """(tr, name) => Array.from(tr.closest('table').querySelectorAll('thead th'))
                             .findIndex(th => th.textContent.trim().startsWith(name))""",
        column,
    )
    assert index >= 0, f"no {column} column"
    return row.locator("td").nth(index)


def assert_within_viewport(page: Page, locator, what: str) -> None:
    width = page.viewport_size["width"]
    edge = right_edge(locator)
    assert edge <= width, f"{what} ends at {edge:.0f} px, beyond the {width} px viewport"


@pytest.fixture
def world(make_user):
    engineer = make_user("engineer", name="Erin Fixwell", password=PASSWORD)
    customer = make_user(
        "customer", name="Carla Buyer", email="carla.buyer@example.com", password=PASSWORD
    )
    agent = make_user("agent", name="Andy Agent", password=PASSWORD)
    long = services.create_ticket(
        customer, LONG_SUBJECT, "A description with " + "y" * 300, "urgent"
    )
    plain = services.create_ticket(customer, "Kettle leaks", "Water everywhere", "normal")
    ids = {
        "long": long.id,
        "plain": plain.id,
        "engineer": engineer.email,
        "customer": customer.email,
        "agent": agent.email,
    }
    db.session.remove()  # no open transaction in this thread while the server works
    return ids


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_long_subject_keeps_columns_and_heading_on_screen(people, snap, world, viewport):
    agent = people("agent")
    agent.page.set_viewport_size(viewport)
    log_in(agent.page, world["agent"])
    agent.page.goto("/tickets/?view=all")
    row = agent.page.get_by_role("row").filter(has_text="Unbreakable")
    expect(row).to_be_visible()
    for column in ("Status", "Priority", "Assignee"):
        assert_within_viewport(agent.page, cell(row, column), column)
    assert agent.page.evaluate("() => document.documentElement.scrollWidth") <= viewport["width"]
    assert serious_violations(agent.page) == []
    filters = agent.page.locator("details.ticket-filters")
    if viewport is PHONE:
        # cards: each ticket a block, the filters folded behind their summary
        assert row.evaluate("el => getComputedStyle(el).display") == "block"
        expect(filters).not_to_have_attribute("open", re.compile(".*"))
        expect(agent.page.get_by_label("Search")).to_be_hidden()
        snap(agent.page, "staff-list-phone-filters-folded")
        agent.page.get_by_text("Filters and sort").click()
        expect(agent.page.get_by_label("Search")).to_be_visible()
    else:
        expect(agent.page.get_by_label("Search")).to_be_visible()
        expect(agent.page.get_by_label("Search")).to_have_attribute("maxlength", "200")
    snap(agent.page, f"staff-list-long-subject-{viewport['width']}")

    agent.page.goto(f"/tickets/{world['long']}")
    assert_within_viewport(agent.page, agent.page.get_by_role("heading", level=1), "ticket heading")
    assert agent.page.evaluate("() => document.documentElement.scrollWidth") <= viewport["width"]
    snap(agent.page, f"staff-ticket-long-subject-{viewport['width']}")

    customer = people("customer")
    customer.page.set_viewport_size(viewport)
    log_in(customer.page, world["customer"])
    customer.page.goto("/portal/")
    prow = customer.page.get_by_role("row").filter(has_text="Unbreakable")
    for column in ("Status", "Assigned to"):
        assert_within_viewport(customer.page, cell(prow, column), f"portal {column}")
    customer.page.goto(f"/portal/tickets/{world['long']}")
    assert_within_viewport(
        customer.page, customer.page.get_by_role("heading", level=1), "portal heading"
    )
    snap(customer.page, f"portal-ticket-long-subject-{viewport['width']}")
    assert agent.errors == [] and customer.errors == []


def test_reload_after_an_empty_portal_reply_shows_the_ticket(people, snap, world):
    customer = people("customer")
    log_in(customer.page, world["customer"])
    customer.page.goto(f"/portal/tickets/{world['plain']}")
    customer.page.get_by_role("button", name="Send reply").click()
    expect(customer.page.get_by_text("This field is required.")).to_be_visible()
    expect(customer.page).to_have_url(re.compile(rf"/portal/tickets/{world['plain']}$"))
    snap(customer.page, "portal-empty-reply-refused")
    response = customer.page.reload()
    assert response.status == 200
    expect(customer.page.get_by_role("heading", level=1)).to_contain_text("Kettle leaks")
    assert [r for r in customer.bad_responses if r[0] != 422] == []


def test_internal_note_is_amber_and_send_and_resolve_resolves(people, snap, world):
    engineer = people("engineer")
    log_in(engineer.page, world["engineer"])
    engineer.page.goto(f"/tickets/{world['plain']}")
    engineer.page.get_by_role("button", name="Accept ticket").click()
    expect(engineer.page.get_by_test_id("ticket-status")).to_have_text("In progress")

    engineer.page.get_by_role("tab", name="Internal note").click()
    note = engineer.page.get_by_label("Internal note — only staff see this")
    expect(note).to_be_visible()
    background = note.evaluate("el => getComputedStyle(el).backgroundColor")
    reply_bg = engineer.page.evaluate(
        "() => getComputedStyle(document.getElementById('reply-body')).backgroundColor"
    )
    assert background != reply_bg and background == "rgb(255, 251, 235)"
    note.fill("Valve stock is low")
    assert serious_violations(engineer.page) == []  # the amber tab keeps AA contrast
    snap(engineer.page, "staff-internal-note-before-sending")
    engineer.page.get_by_role("button", name="Add internal note").click()
    expect(engineer.page.get_by_role("alert")).to_contain_text("Internal note added.")

    engineer.page.get_by_label("Reply to the requester", exact=True).fill("New valve fitted")
    engineer.page.get_by_role("button", name="Send and resolve").click()
    expect(engineer.page.get_by_role("alert")).to_contain_text("resolved")
    expect(engineer.page.get_by_test_id("ticket-status")).to_have_text("Resolved")
    snap(engineer.page, "staff-send-and-resolve")
    db.session.remove()
    ticket = db.session.get(Ticket, world["plain"])
    comments = db.session.query(Comment).filter_by(ticket_id=ticket.id).order_by(Comment.id).all()
    assert ticket.status == "resolved"
    assert [(c.body, c.public) for c in comments] == [
        ("Valve stock is low", False),
        ("New valve fitted", True),
    ]
    assert engineer.errors == []


def test_requester_filter_suggests_customers_by_name(people, world):
    agent = people("agent")
    log_in(agent.page, world["agent"])
    agent.page.goto("/tickets/?view=all")
    requester = agent.page.get_by_label("Requester")
    requester.press_sequentially("Carla", delay=50)
    option = agent.page.locator('#requester-options option[value="carla.buyer@example.com"]')
    expect(option).to_have_count(1)
    expect(option).to_have_text("Carla Buyer")
    requester.fill("carla.buyer@example.com")
    requester.press("Enter")
    expect(agent.page.get_by_test_id("ticket-count")).to_have_text("2 tickets")
    expect(agent.page).to_have_url(re.compile(r"requester=carla\.buyer%40example\.com"))


def test_searching_a_ticket_number_and_pressing_enter_opens_it(people, world):
    agent = people("agent")
    log_in(agent.page, world["agent"])
    agent.page.goto("/tickets/?view=all&status=closed")
    search = agent.page.get_by_label("Search")
    search.fill(f"#{world['plain']}")
    expect(agent.page.get_by_role("link", name=f"Open ticket #{world['plain']}")).to_be_visible()
    search.press("Enter")
    expect(agent.page).to_have_url(re.compile(rf"/tickets/{world['plain']}$"))
    expect(agent.page.get_by_role("heading", level=1)).to_contain_text("Kettle leaks")
