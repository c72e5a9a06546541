"""Console pages: log-in rules, registration, portal, staff ticket pages, admin pages."""
import pytest

from crm.auth.models import User
from crm.extensions import db
from crm.notifications.models import CaughtMail, Notification
from crm.tickets import services
from crm.tickets.models import Ticket
from tests.conftest import PASSWORD


def text_of(resp) -> str:
    return resp.get_data(as_text=True)


# ---------------------------------------------------------------- accounts

def test_customer_registration_is_active_and_logged_in(client):
    resp = client.post(
        "/auth/register",
        data={
            "name": "Cara",
            "email": "Cara@Example.com",
            "password": PASSWORD,
            "confirm": PASSWORD,
            "role": "customer",
        },
    )
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/dashboard")
    user = User.query.filter_by(email="cara@example.com").one()
    assert (user.role, user.status) == ("customer", "active")
    assert client.get("/portal/").status_code == 200


@pytest.mark.parametrize(
    "status,message",
    [
        ("pending", "awaiting approval"),
        ("rejected", "registration was rejected"),
        ("disabled", "disabled"),
    ],
)
def test_staff_login_refused_until_approved(client, make_user, status, message):
    user = make_user("engineer", status=status)
    resp = client.post("/auth/login", data={"email": user.email, "password": PASSWORD})
    assert resp.status_code == 403
    assert message in text_of(resp)
    assert client.get("/tickets/").status_code == 302  # still anonymous


def test_staff_registration_is_pending_and_admins_are_emailed(client, make_user):
    admin = make_user("admin")
    resp = client.post(
        "/auth/register",
        data={
            "name": "Eve",
            "email": "eve@example.com",
            "password": PASSWORD,
            "confirm": PASSWORD,
            "role": "engineer",
        },
        follow_redirects=True,
    )
    assert "awaiting approval" in text_of(resp)
    assert User.query.filter_by(email="eve@example.com").one().status == "pending"
    note = Notification.query.filter_by(template="staff_registered").one()
    assert note.to == [admin.email]


def test_register_form_rerenders_with_field_messages(client, make_user):
    make_user("customer", email="taken@example.com")
    resp = client.post(
        "/auth/register",
        data={
            "name": "",
            "email": "taken@example.com",
            "password": "short",
            "confirm": "other",
            "role": "customer",
        },
    )
    assert resp.status_code == 422
    body = text_of(resp)
    assert "This field is required." in body and "Passwords do not match." in body
    resp = client.post(
        "/auth/register",
        data={
            "name": "X",
            "email": "taken@example.com",
            "password": PASSWORD,
            "confirm": PASSWORD,
            "role": "customer",
        },
    )
    assert resp.status_code == 422 and "already exists" in text_of(resp)


def test_nobody_registers_as_admin(client):
    resp = client.post(
        "/auth/register",
        data={
            "name": "Mallory",
            "email": "m@example.com",
            "password": PASSWORD,
            "confirm": PASSWORD,
            "role": "admin",
        },
    )
    assert resp.status_code == 422
    assert User.query.filter_by(email="m@example.com").first() is None


def test_wrong_password_and_open_redirect(client, make_user):
    user = make_user("customer")
    resp = client.post("/auth/login", data={"email": user.email, "password": "wrong-password"})
    assert resp.status_code == 401 and "Wrong email or password." in text_of(resp)
    resp = client.post(
        "/auth/login?next=https://evil.example.com/",
        data={"email": user.email, "password": PASSWORD},
    )
    assert resp.status_code == 302 and "evil" not in resp.headers["Location"]


def test_logout_requires_post(client, make_user, login):
    login(make_user("customer"))
    assert client.get("/auth/logout").status_code == 405
    assert client.post("/auth/logout").status_code == 302
    assert client.get("/portal/").status_code == 302


def test_navigation_shows_each_role_only_its_entries(client, make_user, login):
    login(make_user("customer"))
    body = text_of(client.get("/portal/"))
    assert "My tickets" in body and "Registrations" not in body and "Outbox" not in body
    client.post("/auth/logout")
    login(make_user("admin"))
    body = text_of(client.get("/dashboard"))
    assert all(
        label in body
        for label in ("Tickets", "Customers", "Registrations", "Users", "Outbox", "Mailbox")
    )
    assert "My tickets" not in body


# ---------------------------------------------------------------- portal


def test_portal_raise_follow_reply_and_edit(client, make_user, login):
    engineer = make_user("engineer")
    customer = make_user("customer")
    login(customer)
    assert "not raised any tickets" in text_of(client.get("/portal/"))
    resp = client.post(
        "/portal/tickets/new",
        data={"subject": "Where is my order?", "description": "Order 7", "priority": "urgent"},
        follow_redirects=True,
    )
    body = text_of(resp)
    assert "created" in body and "Where is my order?" in body and engineer.name in body
    t = Ticket.query.one()
    # The live fragment alone for htmx polling.
    frag = client.get(f"/portal/tickets/{t.id}", headers={"HX-Request": "true"})
    assert text_of(frag).lstrip().startswith('<section id="ticket-live"')
    assert (
        client.post(f"/portal/tickets/{t.id}/comments", data={"body": "Any news?"}).status_code
        == 302
    )
    resp = client.post(
        f"/portal/tickets/{t.id}/edit",
        data={"subject": "Where is order 7?", "description": "Order 7"},
    )
    assert resp.status_code == 302 and db.session.get(Ticket, t.id).subject == "Where is order 7?"
    assert "Any news?" in text_of(client.get(f"/portal/tickets/{t.id}"))


def test_portal_new_ticket_form_errors(client, make_user, login):
    login(make_user("customer"))
    resp = client.post(
        "/portal/tickets/new",
        data={"subject": "", "description": "x" * 10_001, "priority": "galactic"},
    )
    assert resp.status_code == 422
    body = text_of(resp)
    assert "This field is required." in body and "Not a valid choice" in body
    assert Ticket.query.count() == 0


def test_customer_gets_404_for_other_customers_ticket(client, make_user, login):
    make_user("engineer")
    other = services.create_ticket(make_user("customer"), "Private", "Mine only")
    login(make_user("customer"))
    assert client.get(f"/portal/tickets/{other.id}").status_code == 404
    assert (
        client.post(f"/portal/tickets/{other.id}/comments", data={"body": "hi"}).status_code == 404
    )


def test_internal_notes_do_not_reach_the_portal(client, make_user, login):
    engineer, customer = make_user("engineer"), make_user("customer")
    t = services.create_ticket(customer, "Noisy fan", "It rattles")
    services.add_comment(t, engineer, "SECRET-INTERNAL", public=False)
    login(customer)
    assert "SECRET-INTERNAL" not in text_of(client.get(f"/portal/tickets/{t.id}"))


def test_user_text_is_escaped(client, make_user, login):
    make_user("engineer")
    customer = make_user("customer")
    login(customer)
    payload = '<script>alert("x")</script>'
    client.post(
        "/portal/tickets/new", data={"subject": payload, "description": payload, "priority": "low"}
    )
    body = text_of(client.get(f"/portal/tickets/{Ticket.query.one().id}"))
    assert payload not in body and "&lt;script&gt;" in body


# ---------------------------------------------------------------- staff console


def test_engineer_accepts_replies_and_resolves_through_the_console(client, make_user, login):
    engineer, customer = make_user("engineer"), make_user("customer")
    t = services.create_ticket(customer, "Kettle leaks", "Water everywhere")
    login(engineer)
    assert "Kettle leaks" in text_of(client.get("/tickets/"))  # default view: assigned to me
    assert client.post(f"/tickets/{t.id}/accept").status_code == 302
    assert (
        client.post(f"/tickets/{t.id}/comments", data={"body": "Sending a new one"}).status_code
        == 302
    )
    assert (
        client.post(
            f"/tickets/{t.id}/comments", data={"body": "Check stock", "internal": "y"}
        ).status_code
        == 302
    )
    assert client.post(f"/tickets/{t.id}/status", data={"status": "resolved"}).status_code == 302
    page = text_of(client.get(f"/tickets/{t.id}"))
    assert "Resolved" in page and "Internal note" in page and "History" in page
    assert db.session.get(Ticket, t.id).status == "resolved"
    events = {n.template for n in Notification.query.all()}
    assert {"ticket_accepted", "ticket_reply", "ticket_status"} <= events


def test_invalid_transition_in_console_shows_message(client, make_user, login):
    engineer, customer = make_user("engineer"), make_user("customer")
    t = services.create_ticket(customer, "Kettle leaks", "Water everywhere")
    login(engineer)
    resp = client.post(f"/tickets/{t.id}/status", data={"status": "pending"})
    assert resp.status_code == 422 and "cannot become pending" in text_of(resp)
    resp = client.post(f"/tickets/{t.id}/status", data={"status": "nonsense"})
    assert resp.status_code == 422


def test_staff_list_filters_search_and_htmx_fragment(client, make_user, login):
    engineer = make_user("engineer")
    customer = make_user("customer")
    a = services.create_ticket(customer, "Refund missing", "Order 1", "urgent")
    b = services.create_ticket(customer, "Login loop", "Cannot log in", "low")
    services.accept(b, engineer)
    login(make_user("admin"))
    body = text_of(client.get("/tickets/?view=all&status=in_progress"))
    assert "Login loop" in body and "Refund missing" not in body
    frag = text_of(client.get("/tickets/?view=all&q=refund", headers={"HX-Request": "true"}))
    assert frag.lstrip().startswith('<div id="ticket-table">') and "Login loop" not in frag
    assert "<mark>Refund</mark> missing" in frag  # the matched word highlighted
    body = text_of(
        client.get(
            f"/tickets/?view=all&priority=urgent&requester={customer.id}&assignee={engineer.id}"
        )
    )
    assert "Refund missing" in body and "Login loop" not in body
    resp = client.get("/tickets/?view=all&created_after=yesterday")
    assert resp.status_code == 422 and "YYYY-MM-DD" in text_of(resp)
    assert a.id


def test_manager_reassigns_from_the_ticket_page(client, make_user, login):
    e1, e2 = make_user("engineer"), make_user("engineer")
    t = services.create_ticket(make_user("customer"), "Reassign me", "please")
    target = e2 if t.assignee_id == e1.id else e1
    login(make_user("manager"))
    assert (
        client.post(f"/tickets/{t.id}/assign", data={"assignee_id": target.id}).status_code == 302
    )
    assert db.session.get(Ticket, t.id).assignee_id == target.id


# ---------------------------------------------------------------- admin


def test_admin_approves_and_rejects_registrations(client, make_user, login):
    pending1 = make_user("engineer", status="pending", name="Pat Pending")
    pending2 = make_user("agent", status="pending", name="Rex Reject")
    login(make_user("admin"))
    page = text_of(client.get("/admin/registrations"))
    assert "Pat Pending" in page and "Rex Reject" in page
    assert client.post(f"/admin/registrations/{pending1.id}/approve").status_code == 302
    assert (
        client.post(
            f"/admin/registrations/{pending2.id}/reject", data={"confirm": "yes"}
        ).status_code
        == 302
    )
    assert (db.session.get(User, pending1.id).status, db.session.get(User, pending2.id).status) == (
        "active",
        "rejected",
    )
    resp = client.post(f"/admin/registrations/{pending1.id}/approve", follow_redirects=True)
    assert "not pending" in text_of(resp)
    assert {n.template for n in Notification.query.all()} >= {"registration_decided"}


def test_admin_changes_role_and_status_and_cannot_demote_self(client, make_user, login):
    admin = make_user("admin")
    user = make_user("customer")
    login(admin)
    assert (
        client.post(
            f"/admin/users/{user.id}", data={"role": "agent", "status": "active"}
        ).status_code
        == 302
    )
    assert db.session.get(User, user.id).role == "agent"
    resp = client.post(f"/admin/users/{admin.id}", data={"role": "customer", "status": "active"})
    assert resp.status_code == 422 and "cannot demote" in text_of(resp)
    body = text_of(client.get("/admin/users?role=agent"))
    assert user.email in body


def test_admin_lists_customers_with_ticket_counts(client, make_user, login):
    make_user("engineer")
    c = make_user("customer", name="Counted Customer")
    services.create_ticket(c, "One", "1")
    services.create_ticket(c, "Two", "2")
    login(make_user("admin"))
    body = text_of(client.get("/admin/customers?q=counted"))
    assert "Counted Customer" in body and ">2</a>" in body


def test_outbox_lists_and_retries_failed_notifications(client, make_user, login):
    from crm.notifications.services import queue_email

    n = queue_email(["x@example.com"], "Hello", "Body")
    n.status, n.last_error, n.attempts = "failed", "SMTPServerDisconnected: gone", 6
    db.session.commit()
    login(make_user("admin"))
    body = text_of(client.get("/admin/outbox?status=failed"))
    assert "SMTPServerDisconnected" in body and "Retry" in body
    assert client.post(f"/admin/outbox/{n.id}/retry").status_code == 302
    assert db.session.get(Notification, n.id).status == "pending"


def test_mailbox_shows_caught_mail(client, make_user, login):
    raw = ("From: a@example.com\nTo: b@example.com\nSubject: Caught one\nMessage-ID: <1@x>\n"
           "\nHello there\n")
    db.session.add(
        CaughtMail(
            mail_from="a@example.com",
            rcpt_to=["b@example.com"],
            subject="Caught one",
            message_id="<1@x>",
            raw=raw,
        )
    )
    db.session.commit()
    login(make_user("admin"))
    assert "Caught one" in text_of(client.get("/admin/mailbox"))
    mail_id = CaughtMail.query.one().id
    assert "Hello there" in text_of(client.get(f"/admin/mailbox/{mail_id}"))


def test_live_poll_answers_204_when_ticket_unchanged(client, make_user, login):
    make_user("engineer")
    customer = make_user("customer")
    t = services.create_ticket(customer, "Poll me", "please")
    login(customer)
    since = t.updated_at.isoformat()
    hx = {"HX-Request": "true"}
    assert (
        client.get(f"/portal/tickets/{t.id}", query_string={"since": since}, headers=hx).status_code
        == 204
    )
    services.add_comment(t, customer, "changed")
    resp = client.get(f"/portal/tickets/{t.id}", query_string={"since": since}, headers=hx)
    assert resp.status_code == 200 and "changed" in text_of(resp)
