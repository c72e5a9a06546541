"""The monitors API: CRUD with validation problems, permissions, contacts, heartbeat pings,
export/import, pushed results and the OpenAPI document."""
from __future__ import annotations

import pytest

from crm.extensions import db
from crm.monitoring import services
from crm.monitoring.models import CheckResult, Contact, Flip, Incident, Monitor
from tests.api.conftest import assert_problem
from tests.monitoring.test_api_history import walk_pages

HTTP = {"name": "Shop", "type": "http", "url": "https://shop.example.com/health"}


def _monitor(**overrides):
    return services.create_monitor({**HTTP, **overrides})


# ---------------------------------------------------------------- create

def test_engineer_creates_a_monitor(api, engineer):
    resp = api.post("/monitors", engineer, json={**HTTP, "interval": 60, "tags": ["shop"],
                                                 "keyword": "OK"})
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert body["id"] and resp.headers["Location"] == f"/api/v1/monitors/{body['id']}"
    assert (body["name"], body["type"], body["interval"], body["timeout"], body["retries"]) == \
        ("Shop", "http", 60, 10, 1)
    assert body["url"] == HTTP["url"] and body["keyword"] == "OK" and body["tags"] == ["shop"]
    assert body["status"] == "pending" and body["ping_url"] is None and body["contacts"] == []
    assert body["contact_group_id"] is None and body["escalation_group_id"] is None
    stored = db.session.get(Monitor, body["id"])
    assert stored.created_by_id == engineer.id and stored.config["keyword"] == "OK"


def test_heartbeat_monitor_answers_with_its_ping_url(api, engineer, app):
    resp = api.post("/monitors", engineer, json={"name": "backup", "type": "heartbeat",
                                                 "interval": 3600, "grace_seconds": 300})
    assert resp.status_code == 201
    token = db.session.get(Monitor, resp.json["id"]).heartbeat_token
    assert resp.json["ping_url"].endswith(f"/api/v1/heartbeat/{token}")
    assert resp.json["ping_url"].startswith(app.config["SERVER_NAME_FOR_LINKS"].rstrip("/"))


@pytest.mark.parametrize("body,field", [
    ({**HTTP, "url": "ftp://shop.example.com"}, "url"),
    ({**HTTP, "interval": 10}, "interval"),
    ({**HTTP, "timeout": 400}, "timeout"),
    ({**HTTP, "expected_status": "abc"}, "expected_status"),
    ({"name": "x", "type": "smtp", "host": "mx.example.com", "port": "twenty-five"}, "port"),
    ({"name": "x", "type": "ftp", "host": "-bad-.example.com"}, "host"),
    ({"name": "x", "type": "tls", "host": "example.com", "days_before": -1}, "days_before"),
    ({"name": "x", "type": "dns", "host": "example.com", "resolver": "dns.google"}, "resolver"),
    ({"name": "x", "type": "heartbeat", "grace_seconds": "soon"}, "grace_seconds"),
    ({"name": "x", "type": "synthetic", "steps": [{"name": "s", "url": "https://a.example",
                                                    "assertions": [{"type": "response_time"}]}]},
     "steps.0.assertions.0.max_ms"),
    ({"name": "x", "type": "unknown"}, "type"),
    ({"type": "tcp", "host": "db.example.com", "port": 5432}, "name"),
])
def test_invalid_definitions_are_422_problems_naming_the_field(api, engineer, body, field):
    problem = assert_problem(api.post("/monitors", engineer, json=body), 422)
    assert field in problem["errors"], problem
    assert problem["detail"]
    assert db.session.query(Monitor).count() == 0


@pytest.mark.parametrize("kwargs,status", [
    ({"data": "name=x", "content_type": "application/x-www-form-urlencoded"}, 415),
    ({"data": "{", "content_type": "application/json"}, 400),
    ({"json": [HTTP]}, 400),
])
def test_malformed_bodies_are_problems(api, engineer, kwargs, status):
    assert_problem(api.post("/monitors", engineer, **kwargs), status)


# ---------------------------------------------------------------- permissions

def test_staff_read_every_monitor_and_engineers_managers_change_them(api, make_user):
    monitor = _monitor()
    customer, agent, engineer, manager = (make_user(r)
                                          for r in ("customer", "agent", "engineer", "manager"))
    assert_problem(api.get("/monitors"), 401)
    # a customer sees only their own monitors (none here): the operators' answer 404
    assert api.get("/monitors", customer).json["items"] == []
    assert_problem(api.get(f"/monitors/{monitor.id}", customer), 404)
    assert_problem(api.patch(f"/monitors/{monitor.id}", customer, json={"name": "x"}), 404)
    assert api.get("/monitors", agent).status_code == 200
    assert api.get(f"/monitors/{monitor.id}/contacts", agent).status_code == 200
    assert_problem(api.post("/monitors", agent, json=HTTP), 403)
    assert_problem(api.patch(f"/monitors/{monitor.id}", agent, json={"name": "x"}), 403)
    assert_problem(api.open("DELETE", f"/monitors/{monitor.id}", agent), 403)
    assert_problem(api.post(f"/monitors/{monitor.id}/contacts", agent,
                            json={"email": "a@example.com"}), 403)
    assert_problem(api.get("/monitors/export", agent), 403)
    assert_problem(api.post(f"/monitors/{monitor.id}/results", agent, json={"status": "up"}), 403)
    for user in (engineer, manager):
        resp = api.patch(f"/monitors/{monitor.id}", user, json={"name": f"by {user.role}"})
        assert resp.status_code == 200


def test_unknown_monitor_is_404(api, engineer):
    assert_problem(api.get("/monitors/999999", engineer), 404)
    assert_problem(api.patch("/monitors/999999", engineer, json={"name": "x"}), 404)
    assert_problem(api.open("DELETE", "/monitors/999999", engineer), 404)


# ---------------------------------------------------------------- read / list / update / delete

def test_get_hides_ftp_passwords(api, agent):
    monitor = services.create_monitor({"name": "files", "type": "ftp", "host": "ftp.example.com",
                                       "username": "probe", "password": "s3cret"})
    body = api.get(f"/monitors/{monitor.id}", agent).json
    assert body["username"] == "probe" and "password" not in body and body["password_set"] is True
    assert "s3cret" not in api.get("/monitors", agent).get_data(as_text=True)


def test_list_filters(api, agent):
    web = [_monitor(name=f"web {i}", tags=["web"]) for i in range(3)]
    db_mon = services.create_monitor({"name": "Database", "type": "tcp", "host": "db.example.com",
                                      "port": 5432, "tags": ["db", "web-ish"]})
    paused = _monitor(name="Old shop", paused=True)
    ids = lambda resp: [m["id"] for m in resp.json["items"]]  # noqa: E731
    assert ids(api.get("/monitors?type=tcp", agent)) == [db_mon.id]
    assert ids(api.get("/monitors?tag=web", agent)) == [m.id for m in web]
    assert ids(api.get("/monitors?tag=db", agent)) == [db_mon.id]
    assert ids(api.get("/monitors?status=paused", agent)) == [paused.id]
    assert ids(api.get("/monitors?q=DATA", agent)) == [db_mon.id]
    assert ids(api.get("/monitors?q=%25", agent)) == []
    for bad in ("type=gopher", "status=sad", "page=0", "per_page=101", "page=x", "limit=0",
                "limit=101"):
        assert_problem(api.get(f"/monitors?{bad}", agent), 422)


def test_list_pages_by_cursor_reaching_every_monitor_once_in_order(api, agent):
    monitors = [_monitor(name=f"web {i}", tags=["web"] if i % 3 else []) for i in range(7)]
    walked = walk_pages(api, agent, "/monitors", limit=2)
    assert [m["id"] for m in walked] == [m.id for m in monitors]
    first = api.get("/monitors?limit=2", agent).json
    assert first["limit"] == 2 and first["has_more"] is True and len(first["items"]) == 2
    # filters hold along the cursor
    tagged = walk_pages(api, agent, "/monitors", limit=1, tag="web")
    assert [m["id"] for m in tagged] == [m.id for i, m in enumerate(monitors) if i % 3]
    # the default page holds 25; the last page has no cursor
    assert api.get("/monitors", agent).json["next_cursor"] is None


def test_list_still_pages_by_number_for_one_release(api, agent):
    monitors = [_monitor(name=f"web {i}") for i in range(5)]
    first = api.get("/monitors?page=1&per_page=2", agent).json
    assert first["total"] == 5 and first["pages"] == 3 and first["prev"] is None
    assert [m["id"] for m in first["items"]] == [monitors[0].id, monitors[1].id]
    second = api.get(first["next"].removeprefix("/api/v1"), agent).json
    assert [m["id"] for m in second["items"]] == [monitors[2].id, monitors[3].id]
    assert second["page"] == 2 and second["prev"] and "per_page=2" in second["next"]
    assert api.get("/monitors?per_page=2&page=9", agent).json["items"] == []
    by_cursor = api.get("/monitors", agent, query_string={"limit": 2,
                                                          "cursor": first["next_cursor"]}).json
    assert by_cursor["items"] == second["items"]


def test_bad_monitor_cursors_are_422_problems_naming_the_cursor(api, agent):
    _monitor()
    for cursor in ("not-a-cursor", "aWQ6MA", "eyJ4IjoxfQ"):  # "id:0", '{"x":1}'
        resp = api.get("/monitors", agent, query_string={"cursor": cursor})
        assert list(assert_problem(resp, 422)["errors"]) == ["cursor"], cursor


def test_page_parameters_are_deprecated_in_the_document(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in ("/api/v1/monitors", "/api/v1/monitors/{monitor_id}/logs"):
        params = {p["name"]: p for p in paths[path]["get"]["parameters"]}
        assert params["page"]["deprecated"] is True and params["per_page"]["deprecated"] is True
        assert "deprecated" not in params["cursor"] and "deprecated" not in params["limit"]


def test_patch_changes_fields_and_validates(api, engineer):
    monitor = _monitor(interval=60)
    resp = api.patch(f"/monitors/{monitor.id}", engineer, json={"interval": 120, "paused": True,
                                                                "keyword": "Welcome"})
    assert resp.status_code == 200, resp.json
    assert (resp.json["interval"], resp.json["status"], resp.json["keyword"]) == \
        (120, "paused", "Welcome")
    problem = assert_problem(api.patch(f"/monitors/{monitor.id}", engineer,
                                       json={"timeout": 120}), 422)
    assert "timeout" in problem["errors"]
    problem = assert_problem(api.patch(f"/monitors/{monitor.id}", engineer,
                                       json={"host": "db"}), 422)
    assert "host" in problem["errors"]
    assert_problem(api.patch(f"/monitors/{monitor.id}", engineer, json={}), 422)
    assert db.session.get(Monitor, monitor.id).interval_seconds == 120


def test_delete_removes_monitor_and_history(api, engineer):
    monitor = _monitor()
    services.add_contact(monitor, email="ops@example.com")
    resp = api.open("DELETE", f"/monitors/{monitor.id}", engineer)
    assert resp.status_code == 204 and resp.data == b""
    assert db.session.get(Monitor, monitor.id) is None and db.session.query(Contact).count() == 0


# ---------------------------------------------------------------- contacts

def test_contacts_email_and_phone(api, engineer, agent):
    monitor = _monitor()
    resp = api.post(f"/monitors/{monitor.id}/contacts", engineer, json={"email": "ops@example.com"})
    assert resp.status_code == 201
    assert resp.json["email"] == "ops@example.com" and resp.json["phone"] is None
    resp = api.post(f"/monitors/{monitor.id}/contacts", engineer, json={"phone": "+44 7911 123456"})
    assert resp.status_code == 201 and resp.json["phone"] == "+447911123456"
    phone_id = resp.json["id"]
    listed = api.get(f"/monitors/{monitor.id}/contacts", agent).json["items"]
    assert [(c["email"], c["phone"]) for c in listed] == \
        [("ops@example.com", None), (None, "+447911123456")]
    assert api.get(f"/monitors/{monitor.id}", agent).json["contacts"][1]["phone"] == "+447911123456"
    assert_problem(api.post(f"/monitors/{monitor.id}/contacts", engineer,
                            json={"phone": "07911123456"}), 409)
    assert "phone" in assert_problem(api.post(f"/monitors/{monitor.id}/contacts", engineer,
                                              json={"phone": "123"}), 422)["errors"]
    assert "email" in assert_problem(api.post(f"/monitors/{monitor.id}/contacts", engineer,
                                              json={"email": "nobody"}), 422)["errors"]
    assert_problem(api.post(f"/monitors/{monitor.id}/contacts", engineer, json={}), 422)
    assert_problem(api.post(f"/monitors/{monitor.id}/contacts", engineer, json={"fax": "1"}), 422)
    removed = api.open("DELETE", f"/monitors/{monitor.id}/contacts/{phone_id}", engineer)
    assert removed.status_code == 204
    assert len(api.get(f"/monitors/{monitor.id}/contacts", agent).json["items"]) == 1
    assert_problem(api.open("DELETE", f"/monitors/{monitor.id}/contacts/{phone_id}", engineer), 404)


# ---------------------------------------------------------------- heartbeat pings

def test_heartbeat_ping_needs_no_login_and_records_an_up_result(api, client, engineer):
    created = api.post("/monitors", engineer,
                       json={"name": "cron", "type": "heartbeat", "interval": 600}).json
    path = created["ping_url"].split("/api/v1", 1)[1]
    resp = client.post("/api/v1" + path)
    assert resp.status_code == 200 and resp.json == {"ok": True}
    monitor = db.session.get(Monitor, created["id"])
    db.session.refresh(monitor)
    assert monitor.last_ping_at is not None and monitor.status == "up"
    assert client.get("/api/v1" + path).status_code == 200
    assert db.session.query(CheckResult).filter_by(monitor_id=monitor.id, status="up").count() == 2


def test_unknown_heartbeat_token_is_404_problem(client):
    assert_problem(client.post("/api/v1/heartbeat/no-such-token"), 404)
    assert_problem(client.get("/api/v1/heartbeat/" + "x" * 300), 404)


# ---------------------------------------------------------------- export / import

def test_export_import_round_trip(api, engineer, make_user):
    admin = make_user("admin")
    first = api.post("/monitors", engineer,
                     json={**HTTP, "tags": ["web"], "headers": {"X-Key": "k"}}).json
    api.post(f"/monitors/{first['id']}/contacts", engineer, json={"email": "ops@example.com"})
    api.post("/monitors", engineer, json={"name": "files", "type": "ftp", "host": "ftp.example.com",
                                          "username": "u", "password": "p"})
    api.post("/monitors", engineer, json={"name": "flow", "type": "synthetic", "steps": [
        {"name": "home", "url": "https://shop.example.com/",
         "assertions": [{"type": "status", "expected": "200"}]}]})
    exported = api.get("/monitors/export?include_secrets=true", admin)  # secrets only when asked
    assert exported.status_code == 200
    assert isinstance(exported.json, list) and len(exported.json) == 3
    assert exported.json[0]["contacts"] == [{"email": "ops@example.com"}]
    assert exported.json[1]["password"] == "p"
    # a second installation: wipe, import, export again -> the same document
    for monitor in db.session.query(Monitor).all():
        services.delete_monitor(monitor)
    resp = api.post("/monitors/import", engineer, json=exported.json)
    assert resp.status_code == 201, resp.json
    assert resp.json["count"] == 3 and len(resp.json["ids"]) == 3
    assert api.get("/monitors/export?include_secrets=true", admin).json == exported.json
    wrapped = api.post("/monitors/import", engineer, json={"monitors": exported.json[:1]})
    assert wrapped.status_code == 201 and wrapped.json["count"] == 1


def test_import_is_all_or_nothing(api, engineer):
    problem = assert_problem(api.post("/monitors/import", engineer, json=[
        HTTP, {**HTTP, "url": "nope"}, {"name": "x", "type": "tcp", "host": "db.example.com"}]),
        422)
    assert problem["errors"]["1.url"][0].startswith("Item 1:")
    assert problem["errors"]["2.port"][0].startswith("Item 2:")
    assert db.session.query(Monitor).count() == 0
    assert_problem(api.post("/monitors/import", engineer, json=[]), 422)
    assert_problem(api.post("/monitors/import", engineer, json={"items": []}), 422)
    assert_problem(api.post("/monitors/import", engineer, json="x"), 400)


# ---------------------------------------------------------------- pushed results

def test_pushed_results_go_through_the_pipeline(api, engineer):
    monitor = _monitor(retries=2)
    base = f"/monitors/{monitor.id}/results"
    resp = api.post(base, engineer, json={"status": "down", "error": "connection refused",
                                          "checked_at": "2000-01-01T00:00:00Z"})
    assert "checked_at" in assert_problem(resp, 422)["errors"]
    resp = api.post(base, engineer, json={"status": "down", "error": "refused"})
    assert resp.json["status"] == "pending"
    resp = api.post(base, engineer,
                    json={"status": "down", "error": "refused", "response_time_ms": None})
    assert resp.status_code == 201 and resp.json["status"] == "down"
    assert db.session.query(Incident).filter_by(monitor_id=monitor.id).count() == 1
    resp = api.post(base, engineer,
                    json={"status": "up", "response_time_ms": 42.5, "status_code": 200})
    assert resp.json["status"] == "up"
    flips = [(f.old_status, f.new_status) for f in db.session.query(Flip).order_by(Flip.id)]
    assert flips == [("pending", "down"), ("down", "up")]
    stored = db.session.get(Monitor, monitor.id)
    db.session.refresh(stored)
    assert stored.last_response_ms == 42.5 and stored.next_check_at > stored.last_checked_at
    for bad in ({"status": "sideways"}, {"status": "up", "checked_at": "yesterday"},
                {"status": "up", "checked_at": 12345}, {"status": "up", "response_time_ms": -1}):
        assert_problem(api.post(base, engineer, json=bad), 422)


# ---------------------------------------------------------------- the document

def test_openapi_documents_every_monitor_operation(client):
    doc = client.get("/api/v1/openapi.json").json
    paths = doc["paths"]
    expected = {
        "/api/v1/monitors": {"get", "post"},
        "/api/v1/monitors/{monitor_id}": {"get", "patch", "delete"},
        "/api/v1/monitors/{monitor_id}/contacts": {"get", "post"},
        "/api/v1/monitors/{monitor_id}/contacts/{contact_id}": {"delete"},
        "/api/v1/monitors/{monitor_id}/logs": {"get"},
        "/api/v1/monitors/{monitor_id}/uptime": {"get"},
        "/api/v1/monitors/{monitor_id}/results": {"post"},
        "/api/v1/monitors/export": {"get"},
        "/api/v1/monitors/import": {"post"},
        "/api/v1/heartbeat/{token}": {"get", "post"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) == methods, path
    create = paths["/api/v1/monitors"]["post"]
    ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.split("/")[-1]]
    assert schema["discriminator"]["propertyName"] == "type"
    assert set(schema["discriminator"]["mapping"]) == {"http", "tcp", "smtp", "ftp", "dns", "tls",
                                                       "heartbeat", "synthetic"}
    http = doc["components"]["schemas"]["HttpMonitorIn"]
    assert {"name", "type", "url"} <= set(http["required"])
    assert http["additionalProperties"] is False
    ping = paths["/api/v1/heartbeat/{token}"]["post"]
    assert ping["security"] == [] and ping["parameters"][0]["schema"]["type"] == "string"
    assert "monitor.write" in paths["/api/v1/monitors"]["post"]["description"]
