"""Cross-site scripting: user text in every field reachable today comes back escaped in the
console's HTML (a User-Agent header and admin-entered text included), as plain data in the
API's JSON, escaped in HTML email, and email templates edited by admins render in Jinja's
sandbox."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import g
from sqlalchemy import select

from crm.auth.models import User
from crm.extensions import db
from crm.security import DEVCONSOLE_SETTING
from crm.sessions.models import UserSession
from crm.settings import get_setting
from crm.tickets.models import Ticket
from tests.conftest import PASSWORD

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
JS_URL = "javascript:alert(document.cookie)"
PAYLOAD = f"{SCRIPT} {IMG} {JS_URL}"
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"
ESCAPED_IMG = "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"


def assert_escaped(html: str, expect_payload: bool = True) -> None:
    """No live payload in ``html``; with ``expect_payload`` the escaped text is there."""
    assert SCRIPT not in html
    assert "<img src=x" not in html
    assert not re.search(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", html, re.I)
    if expect_payload:
        assert ESCAPED_SCRIPT in html and ESCAPED_IMG in html


def login_as(client, user):
    """Switch the one test client to ``user`` (the test's app context is shared by its
    requests, so Flask-Login's cached user is dropped too)."""
    client.post("/auth/logout")
    g.pop("_login_user", None)
    resp = client.post("/auth/login", data={"email": user.email, "password": PASSWORD})
    assert resp.status_code == 302


def _page(client, path):
    resp = client.get(path, follow_redirects=True)
    assert resp.status_code == 200, (path, resp.status_code)
    return resp.get_data(as_text=True)


def test_ticket_and_comment_text_is_escaped_everywhere(app, client, make_user, login):
    customer = make_user("customer", name=f"Eve {PAYLOAD}"[:120])
    agent = make_user("agent")
    admin = make_user("admin")
    login(customer)
    resp = client.post(
        "/portal/tickets/new",
        data={"subject": PAYLOAD, "description": PAYLOAD, "priority": "normal"},
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    ticket = db.session.scalar(select(Ticket))
    assert ticket.subject == PAYLOAD  # stored as typed: escaping is the output's job
    resp = client.post(
        f"/portal/tickets/{ticket.id}/comments", data={"body": f"customer says {PAYLOAD}"}
    )
    assert resp.status_code in (200, 302)
    for path in ("/portal/", f"/portal/tickets/{ticket.id}", "/dashboard"):
        assert_escaped(_page(client, path), expect_payload=path != "/dashboard")
    assert "customer says &lt;script&gt;" in _page(client, f"/portal/tickets/{ticket.id}")

    staff = client
    login_as(staff, agent)
    resp = staff.post(f"/tickets/{ticket.id}/comments", data={"body": f"agent says {PAYLOAD}"})
    assert resp.status_code in (200, 302)
    for path in ("/tickets/", f"/tickets/{ticket.id}", "/admin/customers", "/dashboard"):
        assert_escaped(_page(staff, path), expect_payload=path != "/dashboard")
    assert "agent says &lt;script&gt;" in _page(staff, f"/tickets/{ticket.id}")

    boss = client
    login_as(boss, admin)
    for path in ("/admin/users", f"/admin/users/{customer.id}", "/admin/outbox"):
        assert_escaped(_page(boss, path), expect_payload=path != "/admin/outbox")


def test_the_api_returns_text_as_json_data_never_as_html(client, make_user, token_for):
    customer = make_user("customer")
    headers = {"Authorization": f"Bearer {token_for(customer)}"}
    resp = client.post(
        "/api/v1/tickets", json={"subject": PAYLOAD, "description": PAYLOAD}, headers=headers
    )
    assert resp.status_code == 201
    ticket_id = resp.json["id"]
    resp = client.post(
        f"/api/v1/tickets/{ticket_id}/comments", json={"body": PAYLOAD}, headers=headers
    )
    assert resp.status_code == 201
    for path in (
        f"/api/v1/tickets/{ticket_id}",
        f"/api/v1/tickets/{ticket_id}/comments",
        "/api/v1/tickets",
    ):
        resp = client.get(path, headers=headers)
        assert resp.status_code == 200
        assert (
            resp.mimetype == "application/json"
        )  # never text/html, so a browser will not render it
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert PAYLOAD in str(resp.json)  # the data itself is returned unchanged


def test_registration_names_are_escaped(client, make_user):
    resp = client.post(
        "/auth/register",
        data={
            "name": PAYLOAD,
            "email": "xss-reg@example.com",
            "password": PASSWORD,
            "confirm": PASSWORD,
            "role": "customer",
        },
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    assert_escaped(_page(client, "/dashboard"))
    api = client.post(
        "/api/v1/auth/register",
        json={
            "name": PAYLOAD,
            "email": "xss-api@example.com",
            "password": PASSWORD,
            "role": "engineer",
        },
    )
    assert api.status_code == 201
    assert db.session.get(User, api.json["id"]).name == PAYLOAD
    login_as(client, make_user("admin"))
    assert_escaped(_page(client, "/admin/registrations"))


def test_a_re_rendered_form_escapes_what_was_typed(client):
    resp = client.post(
        "/auth/register",
        data={
            "name": PAYLOAD,
            "email": IMG,
            "password": "short",
            "confirm": "other",
            "role": "customer",
        },
    )
    assert resp.status_code == 422
    assert_escaped(resp.get_data(as_text=True))


def test_profile_name_changes_are_escaped(client, make_user, login):
    user = make_user("customer")
    login(user)
    resp = client.post("/auth/profile", data={"name": PAYLOAD, "email": user.email})
    assert resp.status_code in (200, 302)
    assert_escaped(_page(client, "/auth/profile"))


def test_html_email_escapes_user_text_also_with_an_admin_edited_template(
    client, make_user, run_jobs, smtp_server
):
    admin = make_user("admin")
    boss = client
    login_as(boss, admin)
    resp = boss.post(
        "/admin/email-templates/ticket_created",
        data={
            "subject": "New: {{ ticket.subject }}",
            "body_text": "{{ ticket.description }}",
            "body_html": "<p>Subject: {{ ticket.subject }}</p><div>{{ ticket.description }}</div>",
            "save": "Save",
        },
    )
    assert resp.status_code == 302
    customer = make_user("customer", email="xss-mail@example.com")
    login_as(client, customer)
    resp = client.post(
        "/portal/tickets/new",
        data={"subject": "Hello", "description": PAYLOAD, "priority": "normal"},
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)
    run_jobs()
    mails = smtp_server.wait_for(
        lambda msgs: [m for m in msgs if "xss-mail@example.com" in m["_rcpt"]]
    )
    html = mails[0].get_body(("html",)).get_content()
    assert_escaped(html)
    # the plain-text part is not HTML: it carries the text as typed
    assert PAYLOAD in mails[0].get_body(("plain",)).get_content()


def test_email_templates_render_in_a_sandbox(client, make_user, login):
    boss = client
    login(make_user("admin"))
    resp = boss.post(
        "/admin/email-templates/ticket_created",
        data={
            "subject": "x",
            "body_text": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
            "body_html": "<p>x</p>",
            "save": "Save",
        },
    )
    assert resp.status_code == 422
    assert "does not render" in resp.get_data(as_text=True)


def test_a_user_agent_header_is_escaped_on_the_session_pages(app, client, make_user):
    """The User-Agent is whatever the client sends; it is shown (summary, tooltip and raw
    text) on the user's own sessions, the admins' list and the revoke confirmation."""
    customer = make_user("customer")
    evil = app.test_client()
    resp = evil.post(
        "/auth/login",
        data={"email": customer.email, "password": PASSWORD},
        headers={"User-Agent": PAYLOAD},
    )
    assert resp.status_code == 302
    row = db.session.scalar(select(UserSession).where(UserSession.user_id == customer.id))
    assert row.user_agent == PAYLOAD  # stored as sent
    g.pop("_login_user", None)
    own = evil.get("/sessions/", headers={"User-Agent": PAYLOAD})
    assert own.status_code == 200
    assert_escaped(own.get_data(as_text=True))

    login_as(client, make_user("admin"))
    for path in ("/sessions/all", f"/sessions/all/{row.id}/revoke"):
        assert_escaped(_page(client, path))
    htmx = client.get("/sessions/all", headers={"HX-Request": "true"})  # the table fragment alone
    assert htmx.status_code == 200
    assert_escaped(htmx.get_data(as_text=True))


def test_the_dev_console_message_is_escaped_when_the_admin_page_shows_it_again(
    client, make_user, login
):
    login(make_user("admin"))
    resp = client.post("/admin/security", data={"message": f"We are hiring {PAYLOAD}"})
    assert resp.status_code == 302
    assert get_setting(DEVCONSOLE_SETTING) == f"We are hiring {PAYLOAD}"
    assert_escaped(_page(client, "/admin/security"))  # the saved message, back in the textarea
    resp = client.post("/admin/security", data={"message": f"{PAYLOAD} " + "x" * 1000})
    assert resp.status_code == 422  # too long: the form comes back with what was typed
    assert_escaped(resp.get_data(as_text=True))
    assert client.get("/security/devconsole.json").json == {"message": f"We are hiring {PAYLOAD}"}


def test_a_name_entered_on_the_admin_create_user_form_is_escaped(client, make_user, login):
    login(make_user("admin"))
    name = PAYLOAD[:120]
    assert name == PAYLOAD  # the whole payload fits the 120-character name
    resp = client.post(
        "/admin/users/new",
        data={
            "name": name,
            "email": "xss-new@example.com",
            "role": "customer",
            "status": "active",
            "password": PASSWORD,
            "confirm": "not-the-same",
        },
    )
    assert resp.status_code == 422
    assert_escaped(resp.get_data(as_text=True))

    resp = client.post(
        "/admin/users/new",
        data={
            "name": name,
            "email": "xss-new@example.com",
            "role": "customer",
            "status": "active",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    created = db.session.scalar(select(User).where(User.email == "xss-new@example.com"))
    assert created.name == PAYLOAD
    assert urlsplit(resp.headers["Location"]).path == f"/admin/users/{created.id}"
    assert_escaped(_page(client, resp.headers["Location"]))  # the "created" flash and the edit form
    assert_escaped(_page(client, "/admin/users"))
