"""Accessibility and layout of the key pages, in real Chromium, on the demo data.

* axe-core (``axe-playwright-python``, which bundles it: nothing is fetched) finds no
  *serious* or *critical* violation on the key pages of each role: log-in, home, ticket list
  and ticket page, portal list and new ticket, monitors overview, admin users — also with a
  navigation menu open;
* the navigation works by keyboard (a menu opens with Enter, arrows move, Escape closes) and
  on a 390 px phone (the toggler opens the collapsed bar);
* a long word (no spaces: 120 characters in a name, 200 in a broadcast's subject) never makes a
  page or a table scroll sideways.

Screenshots of the navigation per role, desktop and 390 px, go to ``test-artifacts/browser/``.
"""
from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from sqlalchemy import select

from crm.auth.models import User
from crm.broadcasts.models import Broadcast
from crm.demo import DEMO_PASSWORD, seed_demo
from crm.extensions import db
from crm.monitoring.models import Monitor
from crm.tickets.models import Ticket

PHONE = {"width": 390, "height": 844}
SERIOUS = {"serious", "critical"}
LONG_WORD = "x" * 200


def log_in(page: Page, email: str, password: str = DEMO_PASSWORD) -> None:
    page.goto("/auth/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert").first).to_contain_text("Welcome")


@pytest.fixture
def demo(app):
    """The demo data; returns {role: email} plus ids of a customer's ticket and a monitor."""
    logins = seed_demo()
    customer = db.session.scalar(select(User).where(User.email == logins["customer"]))
    ticket = db.session.scalar(
        select(Ticket).where(Ticket.requester_id == customer.id).order_by(Ticket.id)
    )
    monitor = db.session.scalar(select(Monitor).order_by(Monitor.id))
    ids = {"ticket": ticket.id, "monitor": monitor.id}
    db.session.remove()  # no open transaction in this thread while the server works
    return {**logins, **ids}


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one line each."""
    results = Axe().run(page)
    out = []
    for v in results.response["violations"]:
        if v.get("impact") in SERIOUS:
            targets = [
                " ".join(n["target"]) if isinstance(n["target"], list) else str(n["target"])
                for n in v["nodes"][:3]
            ]
            out.append(f"{v['id']} ({v['impact']}): {v['help']} — {targets}")
    return out


KEY_PAGES = {
    "customer": ["/portal/", "/portal/tickets/new", "/portal/tickets/{ticket}"],
    "engineer": ["/dashboard", "/tickets/", "/tickets/{ticket}", "/monitors/"],
    "agent": ["/dashboard", "/tickets/", "/admin/customers"],
    "manager": ["/dashboard", "/admin/users", "/monitors/", "/monitors/{monitor}"],
    "admin": [
        "/dashboard",
        "/tickets/",
        "/tickets/{ticket}",
        "/admin/users",
        "/monitors/",
        "/admin/registrations",
    ],
}


def test_log_in_page_has_no_serious_violations(people, demo):
    person = people("visitor")
    person.page.goto("/auth/login")
    assert serious_violations(person.page) == []


@pytest.mark.parametrize("role", list(KEY_PAGES))
def test_key_pages_have_no_serious_violations(people, demo, snap, role):
    person = people(role)
    log_in(person.page, demo[role])
    found = {}
    for path in KEY_PAGES[role]:
        url = path.format(**demo)
        response = person.page.goto(url, wait_until="domcontentloaded")
        assert response.status == 200, url
        person.page.wait_for_load_state("networkidle", timeout=30_000)  # plotly.js is 4.8 MB
        problems = serious_violations(person.page)
        if problems:
            found[url] = problems
    # and with a menu open (the dropdown items must be reachable and labelled too)
    nav = person.page.get_by_role("navigation", name="Main navigation")
    nav.get_by_role("button").first.click()
    with_menu = serious_violations(person.page)
    if with_menu:
        found["(menu open)"] = with_menu
    assert found == {}, "\n".join(f"{u}: {p}" for u, ps in found.items() for p in ps)


NAV_MENUS = {
    "customer": [],
    "engineer": ["Helpdesk", "Monitoring"],
    "agent": ["Helpdesk", "Monitoring"],
    "manager": ["Helpdesk", "Customers", "Monitoring"],
    "admin": ["Helpdesk", "Customers", "Monitoring", "Admin"],
}


@pytest.mark.parametrize("role", list(NAV_MENUS))
def test_navigation_per_role_on_desktop_and_phone(people, demo, snap, role):
    person = people(role)
    page = person.page
    log_in(page, demo[role])
    nav = page.get_by_role("navigation", name="Main navigation")
    menus = NAV_MENUS[role]
    for label in menus:
        expect(nav.get_by_role("button", name=label, exact=True)).to_be_visible()
    if role == "customer":
        expect(nav.get_by_role("link", name="My tickets")).to_be_visible()
        expect(nav.get_by_role("link", name="New ticket")).to_be_visible()
        expect(nav.get_by_role("link", name="API docs")).to_be_hidden()  # in the account menu
    else:
        nav.get_by_role("button", name=menus[-1], exact=True).click()
        expect(nav.get_by_role("button", name=menus[-1], exact=True)).to_have_attribute(
            "aria-expanded", "true"
        )
    snap(page, f"nav-{role}-desktop")

    page.set_viewport_size(PHONE)
    page.goto("/dashboard")
    toggler = nav.get_by_role("button", name="Menu")
    expect(toggler).to_be_visible()
    expect(
        nav.get_by_role("button", name=re.compile("^" + re.escape(demo_name(role))))
    ).to_be_hidden()
    toggler.click()
    account = nav.get_by_role("button", name=re.compile("^" + re.escape(demo_name(role))))
    expect(account).to_be_visible()
    account.click()
    expect(nav.get_by_role("link", name="Your sessions")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    snap(page, f"nav-{role}-390px")
    assert person.errors == []


def demo_name(role: str) -> str:
    from crm.demo import USERS

    return next(name for r, name, _email, _status in USERS if r == role)


def test_menus_work_from_the_keyboard(people, demo):
    person = people("admin")
    page = person.page
    log_in(page, demo["admin"])
    nav = page.get_by_role("navigation", name="Main navigation")
    admin_menu = nav.get_by_role("button", name="Admin", exact=True)
    admin_menu.focus()
    page.keyboard.press("Enter")
    expect(admin_menu).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("ArrowDown")
    expect(nav.get_by_role("link", name="Users", exact=True)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(nav.get_by_role("link", name="Registrations", exact=True)).to_be_focused()
    page.keyboard.press("Escape")
    expect(admin_menu).to_have_attribute("aria-expanded", "false")
    expect(admin_menu).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")  # follows "Users"
    expect(page.get_by_role("heading", level=1)).to_contain_text("Users")


@pytest.mark.parametrize("width", [1280, PHONE["width"]])
def test_a_200_character_word_never_makes_a_page_scroll_sideways(people, demo, snap, width):
    admin = db.session.scalar(select(User).where(User.email == demo["admin"]))
    # names hold 120 characters, a broadcast's subject 200
    long_user = User(
        email=f"{'y' * 60}@example.com", name=LONG_WORD[:120], role="customer", status="active"
    )
    long_user.set_password(DEMO_PASSWORD)
    db.session.add(long_user)
    monitor = db.session.get(Monitor, demo["monitor"])
    monitor.name = "M" + LONG_WORD[:119]
    broadcast = Broadcast(
        subject=LONG_WORD, body=LONG_WORD, channels=["email"], segment="all", status="done", total=0
    )
    db.session.add(broadcast)
    db.session.commit()
    user_id, admin_email, broadcast_id = long_user.id, admin.email, broadcast.id
    db.session.remove()

    person = people("admin")
    page = person.page
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, admin_email)
    for path in (
        "/admin/users",
        f"/admin/users/{user_id}",
        "/admin/customers",
        "/monitors/",
        f"/monitors/{demo['monitor']}",
        "/broadcasts/",
        f"/broadcasts/{broadcast_id}",
    ):
        page.goto(path, wait_until="domcontentloaded")
        page.wait_for_load_state("networkidle", timeout=30_000)
        overflow = page.evaluate(
            """(word) => {
            const doc = document.documentElement;
            // every element whose own text holds the long word fits the window and wraps it
            const holders = [...document.querySelectorAll('main *, nav *')].filter(el =>
                [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.includes(word)));
            const wide = holders.filter(el => el.getBoundingClientRect().width > window.innerWidth
                                               || el.scrollWidth > el.clientWidth + 1)
                                .map(el => el.tagName + '.' + el.className);
            // on a desktop no table needs its sideways scroll bar either
            const tables = window.innerWidth < 768 ? []
                : [...document.querySelectorAll('.table-responsive')]
                .filter(el => el.scrollWidth > el.clientWidth + 1).map(el => 'table-responsive');
            return {page: doc.scrollWidth > window.innerWidth + 1, found: holders.length > 0,
                    wide: wide.concat(tables)};
        }""",
            LONG_WORD[:50],
        )
        assert overflow == {"page": False, "found": True, "wide": []}, (
            f"{path} at {width}px: {overflow}"
        )
    snap(page, f"long-word-monitor-{width}px")


def test_confirmation_pages_say_what_happens_and_are_accessible(people, demo, snap):
    person = people("admin")
    page = person.page
    log_in(page, demo["admin"])
    page.goto("/broadcasts/new")
    page.get_by_label("Subject").fill("Planned maintenance")
    page.get_by_label("Message").fill("The portal is offline on Sunday from 02:00 to 03:00 UTC.")
    page.get_by_role("button", name="Review recipients").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        re.compile(r"Send this broadcast to \d+ customers?\?")
    )
    expect(page.locator("#broadcast-recipients")).to_contain_text("Customers in the segment")
    snap(page, "broadcast-confirm")
    assert serious_violations(page) == []
    page.get_by_role("button", name=re.compile(r"^Send to \d+ customer")).click()
    expect(page.get_by_role("alert")).to_contain_text("is being sent")

    nav_to_registrations = page.get_by_role("navigation", name="Main navigation")
    nav_to_registrations.get_by_role("button", name="Admin", exact=True).click()
    nav_to_registrations.get_by_role("link", name="Registrations", exact=True).click()
    page.get_by_role("link", name=re.compile("^Reject Penny Pending")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Reject Penny Pending’s registration?"
    )
    assert serious_violations(page) == []
    page.get_by_role("button", name="Reject registration").click()  # without the tick: asks again
    expect(page.get_by_role("alert")).to_contain_text("Tick the box to confirm")
    snap(page, "registration-reject-confirm")
    page.get_by_label("Yes, reject Penny Pending").check()
    page.get_by_role("button", name="Reject registration").click()
    expect(page.get_by_role("alert")).to_contain_text("Penny Pending (engineer) rejected.")
    assert person.errors == []


def test_public_status_page_has_no_serious_violations(people, demo):
    person = people("visitor")
    person.page.goto("/status/demo")
    expect(person.page.get_by_role("heading", level=1)).to_be_visible()
    assert serious_violations(person.page) == []
