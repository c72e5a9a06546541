"""Admin → Email templates: every template saves unchanged through the form as rendered,
edits are checked against the template's declared variables and samples, a live preview
and a test send, and templates only ever see plain values (never ORM objects)."""
from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

import pytest
from jinja2 import meta
from sqlalchemy import select

from crm.extensions import db
from crm.notifications import services, variables
from crm.notifications.models import EmailTemplate, Notification
from crm.tickets import services as tickets


class _Form(HTMLParser):
    """The controls one ``<form action=…>`` submits, as a browser builds them: hidden/text
    inputs and textareas (minus the newline after ``<textarea>``, line breaks as CRLF)."""

    def __init__(self, action: str):
        super().__init__(convert_charrefs=True)
        self.action, self.inside, self.fields, self._area = action, False, {}, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("action") == self.action
        elif (
            self.inside
            and tag == "input"
            and a.get("type", "text") in ("hidden", "text")
            and a.get("name")
        ):
            self.fields[a["name"]] = a.get("value") or ""
        elif self.inside and tag == "textarea":
            self._area = a["name"]
            self.fields[self._area] = ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "textarea" and self._area:
            text = self.fields[self._area]
            text = (
                text[2:] if text.startswith("\r\n") else text[1:] if text.startswith("\n") else text
            )
            self.fields[self._area] = text.replace("\r\n", "\n").replace("\n", "\r\n")
            self._area = None

    def handle_data(self, data):
        if self._area:
            self.fields[self._area] += data


def form_fields(page: str, action: str) -> dict:
    parser = _Form(action)
    parser.feed(page)
    assert parser.fields, f"no form with action {action}"
    return parser.fields


def template_names(client) -> list[str]:
    page = client.get("/admin/email-templates").get_data(as_text=True)
    return re.findall(r'href="/admin/email-templates/([a-z_]+)"', page)


@pytest.fixture
def admin(make_user, login):
    user = make_user("admin")
    login(user)
    return user


def test_every_template_saves_unchanged_through_the_form_as_rendered(admin, client):
    names = template_names(client)
    assert {
        "direct",
        "ticket_reply",
        "monitor_down",
        "monitor_up",
        "staff_registered",
        "ticket_moved",
        "health_report",
        "maintenance_broadcast",
    } <= set(names)
    built_in = {
        name: services.render_email(name, **variables.sample_context(name)) for name in names
    }
    refused = {}
    for name in names:
        url = f"/admin/email-templates/{name}"
        page = client.get(url)
        assert page.status_code == 200, name
        data = form_fields(page.get_data(as_text=True), url)
        assert {"subject", "body_text", "body_html"} <= set(data), name
        resp = client.post(url, data={**data, "save": "Save template"})
        if resp.status_code != 302:
            refused[name] = (
                resp.status_code,
                re.findall(r"invalid-feedback[^>]*>([^<]+)", resp.get_data(as_text=True)),
            )
    assert refused == {}
    # Unchanged is the built-in version: no copy is stored (a stored copy would stop later
    # changes to the shipped files from reaching the template), and the mail is the same.
    assert db.session.scalars(select(EmailTemplate)).all() == []
    for name in names:
        assert services.render_email(name, **variables.sample_context(name)) == built_in[name], name


def test_an_edited_template_saved_unchanged_renders_in_the_sandbox_as_the_file_did(app):
    """The file version stored as an edit (as a changed one is) renders through the sandbox,
    layout and all, into the same mail as the file: the sandbox resolves the layout."""
    base_url = app.config["SERVER_NAME_FOR_LINKS"].rstrip("/")
    for name in variables.TEMPLATE_VARIABLES:
        built_in = services.render_email(name, **variables.sample_context(name, base_url))
        subject, text, html = services.template_source(name)
        db.session.add(
            EmailTemplate(name=name, subject=subject.strip(), body_text=text, body_html=html)
        )
        db.session.commit()
        assert (
            services.render_email(name, **variables.sample_context(name, base_url)) == built_in
        ), name
        check = services.validate_template(name, subject, text, html)
        assert check.ok and check.preview == built_in, (name, check.errors)


def test_each_file_template_uses_only_its_declared_variables():
    """The declaration (crm/notifications/variables.py) and the files stay in step."""
    from flask import current_app

    env = current_app.jinja_env
    names = {
        t[len("email/") : -len(".subject.txt")]
        for t in env.list_templates()
        if t.startswith("email/") and t.endswith(".subject.txt")
    }
    assert names == set(variables.TEMPLATE_VARIABLES)
    for name in names:
        used = set()
        for part in ("subject.txt", "txt", "html"):
            source = env.loader.get_source(env, f"email/{name}.{part}")[0]
            used |= meta.find_undeclared_variables(env.parse(source))
        assert used <= set(variables.declared(name)) | {"base_url"}, name


def test_a_template_reading_a_password_hash_is_refused_at_save(admin, client):
    resp = client.post(
        "/admin/email-templates/ticket_created",
        data={
            "subject": "Ticket #{{ ticket.id }}",
            "body_text": "{{ ticket.assignee.password_hash }}",
            "body_html": "<p>x</p>",
            "save": "Save template",
        },
    )
    assert resp.status_code == 422
    page = unescape(resp.get_data(as_text=True))
    assert "password_hash" in page and 'id="body_text-errors"' in page
    assert db.session.scalar(select(EmailTemplate)) is None


def test_templates_get_plain_values_so_an_edit_cannot_mail_a_password_hash(
    make_user, run_jobs, smtp_server
):
    """Even an edit stored without the editor's checks finds no ORM object to read from."""
    db.session.add(
        EmailTemplate(
            name="ticket_created",
            subject="Ticket #{{ ticket.id }}",
            body_text="[{{ ticket.assignee.password_hash }}][{{ user.password_hash }}]"
                      "[{{ ticket.requester.__class__ }}]"
            "[{{ ticket.assignee.name }}]",
            body_html="<p>{{ ticket.assignee.password_hash }}</p>",
        )
    )
    db.session.commit()
    engineer = make_user("engineer", name="Grace Engineer")
    customer = make_user("customer")
    ticket = tickets.create_ticket(customer, "Broken mug", "Handle fell off")
    run_jobs()
    [msg] = smtp_server.by_rcpt(customer.email)
    text = msg.get_body(("plain",)).get_content()
    assert (
        engineer.password_hash not in msg.as_string()
        and customer.password_hash not in msg.as_string()
    )
    assert text.strip() == "[][][][Grace Engineer]"
    assert msg["Subject"] == f"Ticket #{ticket.id}"


def test_render_email_refuses_names_a_template_does_not_declare():
    with pytest.raises(TypeError, match="does not declare"):
        services.render_email("direct", subject="Hi", body="x", user={"name": "Ada"})


@pytest.mark.parametrize(
    "part, source, expect",
    [
        ("body_text", "{{ ticket.subject[::0] }}", "slice step cannot be zero"),
        ("body_text", "{{ ticket.id / 0 }}", "ZeroDivisionError"),
        ("body_text", "{{ ticket.subject + 1 }}", "TypeError"),
        ("body_text", "{{ ''.__class__.__mro__ }}", "not allowed"),
        ("body_html", "{{ ticket.requester.password_hash }}", "has no attribute"),
        ("body_html", "{{ range(10 ** 7)|list|length }}", "OverflowError"),
        ("body_html", "{% if %}", "does not render"),
        ("body_text", "{{ comment.body }}", "unknown variable comment"),
        ("subject", "Ticket {{ ticket.nope }}", "has no attribute"),
    ],
)
def test_an_edit_that_does_not_render_is_refused_with_a_message_under_its_field(
    admin, client, part, source, expect
):
    data = {
        "subject": "Ticket #{{ ticket.id }}",
        "body_text": "x",
        "body_html": "<p>x</p>",
        "save": "Save template",
    }
    data[part] = source
    resp = client.post("/admin/email-templates/ticket_created", data=data)
    assert resp.status_code == 422
    page = unescape(resp.get_data(as_text=True))
    [errors] = re.findall(rf'id="{part}-errors">(.*?)</div>', page, re.S)
    assert expect in errors
    assert db.session.scalar(select(EmailTemplate)) is None


def test_the_preview_renders_the_edit_with_the_sample_as_the_admin_types(admin, client):
    page = client.get("/admin/email-templates/ticket_reply").get_data(as_text=True)
    assert 'hx-post="/admin/email-templates/ticket_reply/preview"' in page
    assert 'hx-trigger="keyup changed delay:400ms"' in page
    sample = variables.declared("ticket_reply")["comment"].sample["body"]
    assert sample in unescape(page)  # the first preview comes with the page

    resp = client.post(
        "/admin/email-templates/ticket_reply/preview",
        data={
            "subject": "Re: {{ ticket.subject }}",
            "body_text": "Said: {{ comment.body }}",
            "body_html": '{% extends "email/_layout.html" %}{% block body %}'
            "<p>{{ comment.author.name }} "
            "&amp; <b>{{ comment.body }}</b></p>{% endblock %}",
        },
        headers={"HX-Request": "true"},
    )
    assert resp.status_code == 200
    fragment = resp.get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="email-preview"')
    [srcdoc] = re.findall(r'<iframe[^>]* sandbox srcdoc="([^"]*)"', fragment)
    html = unescape(srcdoc)
    assert (
        "<b>Could you send a photo of a blank page?</b>" in html and "CR Tracker" in html
    )  # the layout
    assert "Said: Could you send a photo of a blank page?" in unescape(fragment)
    assert "Re: Printer on floor 3 prints blank pages" in unescape(fragment)

    resp = client.post(
        "/admin/email-templates/ticket_reply/preview",
        data={"subject": "{{ ticket.assignee.password_hash }}", "body_text": "x", "body_html": "x"},
    )
    assert resp.status_code == 200
    assert "password_hash" in unescape(
        resp.get_data(as_text=True)
    ) and "<iframe" not in resp.get_data(as_text=True)


def test_send_a_test_to_me_goes_through_the_outbox_to_the_admin(
    admin, client, run_jobs, smtp_server
):
    url = "/admin/email-templates/verify_email"
    data = form_fields(client.get(url).get_data(as_text=True), url)
    resp = client.post(
        url, data={**data, "subject": "Check {{ user.email }}", "send_test": "Send a test to me"}
    )
    assert resp.status_code == 200
    assert db.session.scalar(select(EmailTemplate)) is None  # a test is not a save
    [note] = db.session.scalars(select(Notification)).all()
    assert (note.to, note.event, note.template, note.created_by_id) == (
        [admin.email],
        "template.test",
        "verify_email",
        admin.id,
    )
    assert run_jobs() == 1
    [msg] = smtp_server.by_rcpt(admin.email)
    assert msg["Subject"] == "[Test] Check ada@example.com"
    assert "/auth/verify/SAMPLE-TOKEN" in msg.get_body(("plain",)).get_content()


def test_saving_the_built_in_text_over_an_edit_removes_the_edit(admin, client):
    url = "/admin/email-templates/ticket_status"
    assert (
        client.post(
            url,
            data={"subject": "Now {{ after }}", "body_text": "x", "body_html": "y", "save": "Save"},
        ).status_code
        == 302
    )
    assert db.session.scalar(select(EmailTemplate)) is not None
    subject, text, html = services.template_source("ticket_status")
    resp = client.post(
        url,
        data={
            "subject": subject,
            "body_text": text.replace("\n", "\r\n"),
            "body_html": html,
            "save": "Save",
        },
    )
    assert resp.status_code == 302
    assert db.session.scalar(select(EmailTemplate)) is None


def test_reset_still_restores_the_file_version(admin, client):
    url = "/admin/email-templates/ticket_moved"
    assert (
        client.post(
            url,
            data={
                "subject": "Moved {{ ticket.id }}",
                "body_text": "x",
                "body_html": "y",
                "save": "Save",
            },
        ).status_code
        == 302
    )
    assert db.session.scalar(select(EmailTemplate)).subject == "Moved {{ ticket.id }}"
    assert (
        client.post(
            url, data={"subject": "x", "body_text": "x", "body_html": "x", "reset": "Reset"}
        ).status_code
        == 302
    )
    assert db.session.scalar(select(EmailTemplate)) is None
