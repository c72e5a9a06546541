"""The error tracker's JSON API: projects with DSNs, a project's issues, one issue (read,
resolve/ignore/assign) and its events; engineers read, managers and admins change."""
from __future__ import annotations

from crm.extensions import db
from crm.observability.errors import services
from crm.observability.errors.event import from_sentry
from crm.observability.errors.models import ErrorIssue
from tests.observability.conftest import event_payload


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _issue(project, message="order 1 not found", function="load_order") -> ErrorIssue:
    event, _ = services.record_event(project.id, from_sentry(event_payload(message,
                                                                           function=function)))
    return db.session.get(ErrorIssue, event.issue_id)


def test_projects_are_created_and_listed_with_their_dsn(client, make_user, token_for):
    headers = _auth(token_for(make_user("manager")))
    resp = client.post("/api/v1/projects", json={"name": "Billing"}, headers=headers)
    assert resp.status_code == 201
    created = resp.get_json()
    assert resp.headers["Location"] == f"/api/v1/projects/{created['id']}"
    assert created["dsn"].startswith("http://") and created["dsn"].endswith(
        f"@crm.test/{created['id']}")
    assert client.post("/api/v1/projects", json={"name": "Billing"},
                       headers=headers).status_code == 409
    assert client.post("/api/v1/projects", json={"name": "!bad"},
                       headers=headers).status_code == 422
    listed = client.get("/api/v1/projects", headers=headers).get_json()
    assert [p["name"] for p in listed["items"]] == ["Billing"]
    assert listed["items"][0]["dsn"] == created["dsn"] and listed["has_more"] is False


def test_issues_are_listed_newest_first_with_keyset_pages(client, project, make_user, token_for):
    first = _issue(project, function="a")
    second = _issue(project, function="b")
    headers = _auth(token_for(make_user("engineer")))
    page = client.get(f"/api/v1/projects/{project.id}/issues?limit=1", headers=headers).get_json()
    assert [i["id"] for i in page["items"]] == [second.id] and page["has_more"]
    item = page["items"][0]
    assert {k: item[k] for k in ("title", "exception_type", "status", "count")} == {
        "title": "LookupError: order 1 not found", "exception_type": "LookupError",
        "status": "unresolved", "count": 1}
    assert item["first_seen"] and item["last_seen"]
    rest = client.get(f"/api/v1/projects/{project.id}/issues?limit=1&cursor={page['next_cursor']}",
                      headers=headers).get_json()
    assert [i["id"] for i in rest["items"]] == [first.id] and not rest["has_more"]
    bad = client.get(f"/api/v1/projects/{project.id}/issues?cursor=nonsense", headers=headers)
    assert bad.status_code == 422 and "cursor" in bad.get_json()["errors"]
    assert client.get(f"/api/v1/projects/{project.id + 99}/issues",
                      headers=headers).status_code == 404


def test_managers_resolve_and_assign_engineers_only_read(client, project, make_user, token_for):
    issue = _issue(project)
    engineer, manager = make_user("engineer"), make_user("manager")
    eng, man = _auth(token_for(engineer)), _auth(token_for(manager))
    assert client.get(f"/api/v1/issues/{issue.id}", headers=eng).get_json()["count"] == 1
    assert client.patch(f"/api/v1/issues/{issue.id}", json={"status": "resolved"},
                        headers=eng).status_code == 403
    resp = client.patch(f"/api/v1/issues/{issue.id}",
                        json={"status": "resolved", "assignee_id": engineer.id}, headers=man)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["status"] == "resolved" and body["assignee"]["id"] == engineer.id
    unassigned = client.patch(f"/api/v1/issues/{issue.id}", json={"assignee_id": None},
                              headers=man).get_json()
    assert unassigned["assignee"] is None and unassigned["status"] == "resolved"
    customer = make_user("customer")
    refused = client.patch(f"/api/v1/issues/{issue.id}", json={"assignee_id": customer.id},
                           headers=man)
    assert refused.status_code == 422 and "assignee_id" in refused.get_json()["errors"]
    for body in ({}, {"status": "closed"}, {"status": None}):
        assert client.patch(f"/api/v1/issues/{issue.id}", json=body,
                            headers=man).status_code == 422, body


def test_an_issues_events_come_with_their_tracebacks(client, project, make_user, token_for):
    issue = _issue(project, "order 1 not found")
    _issue(project, "order 2 not found")
    headers = _auth(token_for(make_user("admin")))
    page = client.get(f"/api/v1/issues/{issue.id}/events?limit=1", headers=headers).get_json()
    assert page["has_more"] and page["items"][0]["message"] == "order 2 not found"
    assert "in load_order" in page["items"][0]["traceback"]
    rest = client.get(f"/api/v1/issues/{issue.id}/events?cursor={page['next_cursor']}",
                      headers=headers).get_json()
    assert [e["message"] for e in rest["items"]] == ["order 1 not found"]
