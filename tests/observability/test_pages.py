"""Console pages of the error tracker: the issue list (filters, empty state), an issue's page
(chart, tracebacks, resolve/assign), one-click tickets for engineers, projects with DSNs."""
from __future__ import annotations

import html
import json
import re

from sqlalchemy import select

from crm.extensions import db
from crm.observability.errors import services
from crm.observability.errors.event import from_sentry
from crm.observability.errors.models import ErrorIssue, ErrorProject
from crm.tickets.models import Ticket
from tests.observability.conftest import event_payload


def _issue(project, message="order 1 not found", function="load_order") -> ErrorIssue:
    event, _ = services.record_event(project.id, from_sentry(event_payload(
        message, function=function, request={"url": "https://shop.example.com/orders/1",
                                              "method": "GET"})))
    return db.session.get(ErrorIssue, event.issue_id)


def test_the_issue_list_has_an_empty_state_and_filters(client, login, make_user, project):
    login(make_user("engineer"))
    page = client.get("/errors/").get_data(as_text=True)
    assert "No errors recorded yet." in page
    assert '<label class="form-label small" for="status">Status</label>' in page
    _issue(project, "order 1 not found", "load_order")
    resolved = _issue(project, "price missing", "parse_price")
    resolved.status = "resolved"
    db.session.commit()
    page = client.get("/errors/").get_data(as_text=True)
    assert "LookupError: order 1 not found" in page and "LookupError: price missing" in page
    only = client.get("/errors/?status=resolved").get_data(as_text=True)
    assert "price missing" in only and "order 1 not found" not in only
    none = client.get(f"/errors/?project={project.id}&q=nothing-like-this").get_data(as_text=True)
    assert "No issue matches these filters." in none
    fragment = client.get("/errors/?q=price", headers={"HX-Request": "true"})
    assert fragment.get_data(as_text=True).lstrip().startswith('<div id="issue-rows">')


def test_the_issue_page_shows_chart_and_tracebacks_and_managers_resolve_and_assign(
        client, login, make_user, project):
    engineer, manager = make_user("engineer"), make_user("manager")
    issue = _issue(project)
    _issue(project, "order 2 not found")
    login(manager)
    page = client.get(f"/errors/issues/{issue.id}").get_data(as_text=True)
    figure = json.loads(html.unescape(re.search(r'data-figure="([^"]+)"', page).group(1)))
    assert sum(figure["data"][0]["y"]) == 2
    assert "in load_order" in page and "GET https://shop.example.com/orders/1" in page
    assert client.post(f"/errors/issues/{issue.id}/status", data={"status": "resolved"}
                       ).status_code == 302
    assert client.post(f"/errors/issues/{issue.id}/assign",
                       data={"assignee_id": str(engineer.id)}).status_code == 302
    db.session.expire_all()
    stored = db.session.get(ErrorIssue, issue.id)
    assert stored.status == "resolved" and stored.assignee_id == engineer.id
    assert stored.resolved_at is not None


def test_an_engineer_turns_an_issue_into_a_ticket_in_one_click(client, login, make_user,
                                                                project):
    engineer = make_user("engineer")
    issue = _issue(project)
    login(engineer)
    page = client.get(f"/errors/issues/{issue.id}").get_data(as_text=True)
    assert "Turn into a ticket" in page and "Save status" not in page
    assert client.post(f"/errors/issues/{issue.id}/status",
                       data={"status": "resolved"}).status_code == 403
    resp = client.post(f"/errors/issues/{issue.id}/ticket")
    assert resp.status_code == 302
    ticket = db.session.scalar(select(Ticket))
    assert resp.headers["Location"].endswith(f"/tickets/{ticket.id}")
    assert ticket.subject == "Error: LookupError: order 1 not found"
    assert "in load_order" in ticket.description and ticket.requester_id == engineer.id
    again = client.post(f"/errors/issues/{issue.id}/ticket")
    assert again.headers["Location"].endswith(f"/tickets/{ticket.id}")
    db.session.expire_all()
    assert db.session.get(ErrorIssue, issue.id).ticket_id == ticket.id
    assert len(list(db.session.scalars(select(Ticket)))) == 1


def test_projects_page_creates_a_project_and_shows_its_dsn(client, login, make_user):
    login(make_user("admin"))
    page = client.get("/errors/projects").get_data(as_text=True)
    assert "No project yet." in page and 'for="name">Project name</label>' in page
    resp = client.post("/errors/projects", data={"name": "Storefront"})
    assert resp.status_code == 302
    project = db.session.scalar(select(ErrorProject).where(ErrorProject.name == "Storefront"))
    page = client.get("/errors/projects").get_data(as_text=True)
    assert f"http://{project.public_key}@crm.test/{project.id}" in page
    assert client.post("/errors/projects", data={"name": "Storefront"}).status_code == 422
    assert client.post("/errors/projects", data={"name": ""}).status_code == 422


def test_bad_status_and_assignee_values_are_refused_with_a_message(client, login, make_user,
                                                                   project):
    issue = _issue(project)
    customer = make_user("customer")
    login(make_user("admin"))
    cases = [("status", {"status": "closed"}, "Choose resolved, ignored or unresolved."),
             ("status", {}, "Choose resolved, ignored or unresolved."),
             ("assign", {"assignee_id": "x1"}, "Choose a staff member."),
             ("assign", {"assignee_id": "99999999999999"}, "Choose a staff member."),
             ("assign", {"assignee_id": "2147483647"}, "Choose an active staff member."),
             ("assign", {"assignee_id": str(customer.id)}, "Choose an active staff member.")]
    for action, data, message in cases:
        resp = client.post(f"/errors/issues/{issue.id}/{action}", data=data)
        assert resp.status_code == 422, (action, data)
        assert message in resp.get_data(as_text=True), (action, data)
    db.session.expire_all()
    stored = db.session.get(ErrorIssue, issue.id)
    assert stored.status == "unresolved" and stored.assignee_id is None
