"""The product's main flow, end to end in a real browser.

A customer registers, logs in and raises a ticket; an admin approves a pending engineer; the
engineer logs in, accepts, replies and resolves; the customer's open page shows the new
status and the reply without a reload. Controls are found by label and role; screenshots are
kept in ``test-artifacts/browser/``.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from crm.auth.models import User
from crm.extensions import db
from crm.notifications.models import Notification
from crm.tickets.models import Ticket
from tests.browser.conftest import nav_to

pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]

PASSWORD = "espresso-Ticket-2026"
LIVE = 10_000  # ms: the customer's page polls every 3 s, so 10 s covers three polls

ENGINEER = {"name": "Erin Fixwell", "email": "erin.fixwell@example.com"}
CUSTOMER = {"name": "Carla Buyer", "email": "carla.buyer@example.com"}
SUBJECT = "Espresso machine leaks water"
DESCRIPTION = "Since Monday the machine leaks under the drip tray.\nOrder ref: ORD-7781."
REPLY = "Thanks Carla, please tighten the boiler valve a quarter turn; a new gasket is on its way."


def nav(page: Page) -> Locator:
    """The main navigation bar."""
    return page.get_by_role("navigation", name="Main navigation")


def register(page: Page, name: str, email: str, role: str) -> None:
    """Fill in and send the registration form, as a person would."""
    page.goto("/auth/register")
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    page.get_by_label("Full name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm password").fill(PASSWORD)
    page.get_by_label("I am a").select_option(label=role)
    page.get_by_role("button", name="Create account").click()


def log_in(page: Page, email: str) -> None:
    """Fill in and send the log-in form."""
    page.goto("/auth/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def verification_path(email: str) -> str:
    """The path of the verification link emailed to ``email`` (read from its outbox row)."""
    rows = db.session.scalars(
        select(Notification).where(Notification.template == "verify_email")
    ).all()
    [body] = [n.body_text for n in rows if email in n.to]
    db.session.remove()
    return re.search(r"https?://[^/\s]+(/auth/verify/\S+)", body).group(1)


def test_customer_sees_engineer_resolve_ticket_live(people, snap, make_user):
    admin = make_user("admin", name="Ada Admin", password=PASSWORD)
    admin_email = admin.email
    db.session.remove()  # no open transaction or snapshot in this thread while the server works

    # --- an engineer registers; the account waits for approval and cannot log in yet
    engineer = people("engineer")
    register(engineer.page, ENGINEER["name"], ENGINEER["email"], "Engineer")
    expect(engineer.page.get_by_role("alert")).to_contain_text(
        "Your staff account is awaiting approval by an administrator"
    )
    expect(engineer.page.get_by_role("heading", name="Log in")).to_be_visible()
    snap(engineer.page, "engineer-registered-awaiting-approval")
    log_in(engineer.page, ENGINEER["email"])
    expect(
        engineer.page.get_by_text("Your registration is awaiting approval by an administrator.")
    ).to_be_visible()
    expect(engineer.page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    snap(engineer.page, "engineer-login-refused")
    engineer.page.goto(verification_path(ENGINEER["email"]))  # the link from the email
    expect(engineer.page.get_by_role("heading", name="Welcome to CR Tracker!")).to_be_visible()

    # --- a customer registers (logged in at once) and raises a ticket
    customer = people("customer")
    register(customer.page, CUSTOMER["name"], CUSTOMER["email"], "Customer")
    expect(customer.page.get_by_role("alert")).to_contain_text("Your account is ready")
    expect(nav(customer.page)).to_contain_text(CUSTOMER["name"])
    customer.page.goto(verification_path(CUSTOMER["email"]))  # tickets need a verified email
    expect(customer.page.get_by_role("heading", name="Welcome to CR Tracker!")).to_be_visible()
    nav(customer.page).get_by_role("link", name="New ticket").click()
    expect(customer.page.get_by_role("heading", name="Raise a ticket")).to_be_visible()
    customer.page.get_by_label("Subject").fill(SUBJECT)
    customer.page.get_by_label("Description").fill(DESCRIPTION)
    customer.page.get_by_label("Priority").select_option(label="High")
    snap(customer.page, "customer-new-ticket-form")
    customer.page.get_by_role("button", name="Submit ticket").click()

    heading = customer.page.get_by_role("heading", level=1)
    expect(heading).to_have_text(re.compile(rf"^#\d+ · {re.escape(SUBJECT)}$"))
    ticket_id = int(re.search(r"#(\d+)", heading.inner_text()).group(1))
    expect(customer.page).to_have_url(re.compile(rf"/portal/tickets/{ticket_id}$"))
    expect(customer.page.get_by_role("alert")).to_contain_text(f"Ticket #{ticket_id} created")
    status = customer.page.get_by_test_id("ticket-status")
    expect(status).to_have_text("Open")
    expect(customer.page.get_by_text("Waiting for an engineer")).to_be_visible()
    conversation = customer.page.get_by_role("list", name="Conversation")
    expect(conversation).to_contain_text("No replies yet.")
    snap(customer.page, "customer-ticket-open-waiting")

    # From here on the customer's page stays open and is never reloaded or navigated: mark
    # the window (gone after a reload) and the heading outside the live region (replaced by
    # a boosted navigation), and record every navigation of the main frame.
    navigations: list[str] = []
    customer.page.on(
        "framenavigated",
        lambda frame: frame == customer.page.main_frame and navigations.append(frame.url),
    )
    customer.page.evaluate("""() => {
        window.__marker = 1;
        document.querySelector('h1').dataset.marker = 'kept';
    }""")

    # --- the admin approves the engineer; the waiting ticket is handed to him
    admin_person = people("admin")
    log_in(admin_person.page, admin_email)
    expect(admin_person.page.get_by_role("alert")).to_contain_text("Welcome back, Ada Admin")
    nav_to(admin_person.page, "Admin", "Registrations")
    expect(admin_person.page.get_by_role("heading", name="Staff registrations")).to_be_visible()
    expect(admin_person.page.get_by_role("row", name=ENGINEER["email"])).to_be_visible()
    snap(admin_person.page, "admin-pending-registrations")
    admin_person.page.get_by_role("button", name=f"Approve {ENGINEER['name']}").click()
    expect(admin_person.page.get_by_role("alert")).to_contain_text(
        f"{ENGINEER['name']} (engineer) approved."
    )
    expect(admin_person.page.get_by_text("No pending registrations.")).to_be_visible()

    # the customer's page picks the assignment up by itself
    expect(customer.page.get_by_text("Waiting for an engineer")).to_have_count(0, timeout=LIVE)
    expect(customer.page.locator("#ticket-live")).to_contain_text(ENGINEER["name"], timeout=LIVE)

    # --- the engineer logs in, finds the ticket assigned to him, accepts, replies, resolves
    log_in(engineer.page, ENGINEER["email"])
    expect(engineer.page.get_by_role("heading", name=f"Hello, {ENGINEER['name']}")).to_be_visible()
    nav_to(engineer.page, "Helpdesk", "Tickets")
    views = engineer.page.get_by_role("list", name="Ticket views")
    expect(views.get_by_role("link", name="Assigned to me")).to_have_class(
        re.compile(r"\bactive\b")
    )
    row = engineer.page.get_by_role("row").filter(has_text=SUBJECT)
    expect(row).to_contain_text(CUSTOMER["name"])
    expect(row).to_contain_text("Open")
    snap(engineer.page, "engineer-assigned-to-me")
    row.get_by_role("link", name=SUBJECT).click()

    expect(engineer.page.get_by_role("heading", level=1)).to_have_text(f"#{ticket_id} · {SUBJECT}")
    engineer.page.get_by_role("button", name="Accept ticket").click()
    expect(engineer.page.get_by_role("alert")).to_contain_text(f"Ticket #{ticket_id} accepted.")
    expect(engineer.page.get_by_test_id("ticket-status")).to_have_text("In progress")
    expect(engineer.page.get_by_role("button", name="Accept ticket")).to_have_count(0)
    expect(status).to_have_text("In progress", timeout=LIVE)  # the customer's open page

    engineer.page.get_by_label("Reply to the requester", exact=True).fill(REPLY)
    engineer.page.get_by_role("button", name="Send reply", exact=True).click()
    expect(engineer.page.get_by_role("alert")).to_contain_text("Reply sent to the requester.")
    expect(engineer.page.get_by_role("list", name="Conversation")).to_contain_text(REPLY)

    engineer.page.get_by_label("New status", exact=True).select_option(label="Resolved")
    engineer.page.get_by_role("button", name="Change status").click()
    expect(engineer.page.get_by_role("alert")).to_contain_text(
        f"Ticket #{ticket_id} is now resolved."
    )
    expect(engineer.page.get_by_test_id("ticket-status")).to_have_text("Resolved")
    snap(engineer.page, "engineer-ticket-resolved")

    # --- the customer's page, open all along, shows the outcome without a reload
    expect(status).to_have_text("Resolved", timeout=LIVE)
    expect(conversation).to_contain_text(REPLY, timeout=LIVE)
    expect(conversation.get_by_role("listitem").filter(has_text=REPLY)).to_contain_text(
        ENGINEER["name"]
    )
    snap(customer.page, "customer-ticket-resolved-live")
    assert customer.page.evaluate("() => window.__marker") == 1, "the customer's page was reloaded"
    expect(customer.page.get_by_role("heading", level=1)).to_have_attribute("data-marker", "kept")
    assert navigations == [], f"the customer's page navigated: {navigations}"

    # --- the browser saw no script errors and no failed request except the refused log-in
    for person in (engineer, customer, admin_person):
        assert person.errors == [], f"{person.name}: JavaScript errors {person.errors}"
    assert engineer.bad_responses == [(403, "POST", "/auth/login")]
    assert customer.bad_responses == [] and admin_person.bad_responses == []

    # --- the database agrees, and the customer is told by email (outbox row)
    db.session.remove()
    ticket = db.session.get(Ticket, ticket_id)
    ids = dict(
        db.session.execute(
            select(User.email, User.id).where(
                User.email.in_([ENGINEER["email"], CUSTOMER["email"]])
            )
        ).all()
    )
    assert (ticket.status, ticket.assignee_id, ticket.requester_id) == (
        "resolved",
        ids[ENGINEER["email"]],
        ids[CUSTOMER["email"]],
    )
    accepted = db.session.scalars(
        select(Notification).where(
            Notification.template == "ticket_accepted", Notification.ticket_id == ticket_id
        )
    ).all()
    assert [n.to for n in accepted] == [[CUSTOMER["email"]]]
