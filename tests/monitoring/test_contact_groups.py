"""Named, shareable contact groups: the API (CRUD, recipients, validation, delete-in-use,
roles), monitors alerting a group and escalating to a second one (real SMTP, controllable
clock), export/import by group name, and the console pages and monitor form."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm import clock
from crm.extensions import db
from crm.monitoring import services
from crm.monitoring.engine import jobs
from crm.monitoring.models import Contact, ContactGroup, Incident, Monitor
from crm.notifications.models import SmsMessage
from tests.api.conftest import assert_problem
from tests.helpers_matrix import visible_text
from tests.monitoring.peers import Route

HTTP = {"name": "Shop", "type": "http", "url": "https://shop.example.com/health"}





def _group(api, user, **body):
    resp = api.post("/contact-groups", user, json=body)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.json


def _targets(group_id: int) -> list[tuple[str | None, str | None]]:
    return [(c.email, c.phone) for c in db.session.scalars(
        select(Contact).where(Contact.group_id == group_id).order_by(Contact.id))]


# ---------------------------------------------------------------- the API: groups

def test_create_group_with_emails_and_phones_normalised_to_e164(api, engineer, agent):
    resp = api.post("/contact-groups", engineer, json={
        "name": "On-call", "emails": ["ops@example.com", "OPS@example.com", "lead@example.com"],
        "phones": ["07911 123456", "+44 7911 123457"]})
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert resp.headers["Location"] == f"/api/v1/contact-groups/{body['id']}"
    assert (
        body["name"] == "On-call"
        and body["monitor_ids"] == []
        and body["escalation_monitor_ids"] == []
    )
    assert [(c["email"], c["phone"]) for c in body["contacts"]] == [
        ("ops@example.com", None),
        ("lead@example.com", None),
        (None, "+447911123456"),
        (None, "+447911123457"),
    ]
    assert _targets(body["id"]) == [(c["email"], c["phone"]) for c in body["contacts"]]

    listed = api.get("/contact-groups", agent)
    assert listed.status_code == 200 and [g["name"] for g in listed.json["items"]] == ["On-call"]
    assert api.get(f"/contact-groups/{body['id']}", agent).json["contacts"] == body["contacts"]


@pytest.mark.parametrize(
    "body,status,field",
    [
        ({"name": "   "}, 422, "name"),
        ({"name": ""}, 422, "name"),
        ({"name": "x" * 121}, 422, "name"),
        ({"name": "Monitor #12: Shop"}, 422, "name"),
        ({"name": "Ops", "emails": ["ops@example.com", "not-an-email"]}, 422, "emails.1"),
        ({"name": "Ops", "phones": ["123"]}, 422, "phones.0"),
        ({"name": "Ops", "phones": [447700900123]}, 422, "phones.0"),
        ({"name": "Ops", "fax": ["1"]}, 422, "fax"),
        ({"emails": ["ops@example.com"]}, 422, "name"),
    ],
)
def test_invalid_groups_are_422_problems_naming_the_field(api, engineer, body, status, field):
    problem = assert_problem(api.post("/contact-groups", engineer, json=body), status)
    assert field in problem["errors"], problem
    assert db.session.scalar(select(func.count(ContactGroup.id))) == 0


def test_group_names_are_unique_case_insensitively(api, engineer):
    _group(api, engineer, name="Ops")
    problem = assert_problem(api.post("/contact-groups", engineer, json={"name": " ops "}), 409)
    assert "already exists" in problem["detail"]
    other = _group(api, engineer, name="Bosses")
    assert_problem(api.patch(f"/contact-groups/{other['id']}", engineer, json={"name": "OPS"}), 409)
    assert db.session.scalar(select(func.count(ContactGroup.id))) == 2


def test_patch_renames_and_replaces_recipients_keeping_ids(api, engineer):
    group = _group(
        api,
        engineer,
        name="Ops",
        emails=["a@example.com", "b@example.com"],
        phones=["+447911123456"],
    )
    kept = next(c["id"] for c in group["contacts"] if c["email"] == "b@example.com")
    resp = api.patch(
        f"/contact-groups/{group['id']}",
        engineer,
        json={"name": "Operations", "emails": ["b@example.com", "c@example.com"]},
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["name"] == "Operations"
    assert [(c["email"], c["phone"]) for c in resp.json["contacts"]] == [
        ("b@example.com", None),
        (None, "+447911123456"),
        ("c@example.com", None),
    ]
    assert next(c["id"] for c in resp.json["contacts"] if c["email"] == "b@example.com") == kept
    assert db.session.get(ContactGroup, group["id"]).name == "Operations"
    # every value is checked before anything changes
    problem = assert_problem(
        api.patch(
            f"/contact-groups/{group['id']}", engineer, json={"name": "Renamed", "phones": ["nope"]}
        ),
        422,
    )
    assert "phones.0" in problem["errors"]
    db.session.expire_all()
    assert db.session.get(ContactGroup, group["id"]).name == "Operations"
    assert_problem(api.patch(f"/contact-groups/{group['id']}", engineer, json={}), 422)
    assert_problem(api.patch(f"/contact-groups/{group['id']}", engineer, json={"name": None}), 422)


def test_contacts_inside_a_group(api, engineer, agent):
    group = _group(api, engineer, name="Ops")
    base = f"/contact-groups/{group['id']}/contacts"
    resp = api.post(base, engineer, json={"email": "ops@example.com"})
    assert (
        resp.status_code == 201
        and resp.json["email"] == "ops@example.com"
        and resp.json["phone"] is None
    )
    resp = api.post(base, engineer, json={"phone": "+44 7911 123456"})
    assert resp.status_code == 201 and resp.json["phone"] == "+447911123456"
    phone_id = resp.json["id"]
    assert_problem(api.post(base, engineer, json={"phone": "07911123456"}), 409)
    assert_problem(api.post(base, engineer, json={"email": "OPS@example.com"}), 409)
    assert "phone" in assert_problem(api.post(base, engineer, json={"phone": "123"}), 422)["errors"]
    assert (
        "email" in assert_problem(api.post(base, engineer, json={"email": "nobody"}), 422)["errors"]
    )
    assert_problem(api.post(base, engineer, json={}), 422)
    assert_problem(
        api.post(base, engineer, json={"email": "a@example.com", "phone": "+447911123457"}), 422
    )
    assert _targets(group["id"]) == [("ops@example.com", None), (None, "+447911123456")]

    other = _group(api, engineer, name="Other", emails=["x@example.com"])
    assert_problem(
        api.open("DELETE", f"/contact-groups/{other['id']}/contacts/{phone_id}", engineer), 404
    )
    assert api.open("DELETE", f"{base}/{phone_id}", engineer).status_code == 204
    assert_problem(api.open("DELETE", f"{base}/{phone_id}", engineer), 404)
    assert _targets(group["id"]) == [("ops@example.com", None)]
    assert [
        c["email"] for c in api.get(f"/contact-groups/{group['id']}", agent).json["contacts"]
    ] == ["ops@example.com"]


def test_roles_customer_and_anonymous_refused_agent_reads_only(api, make_user, engineer):
    group = _group(api, engineer, name="Ops", emails=["ops@example.com"])
    contact_id = group["contacts"][0]["id"]
    customer, agent, manager = (make_user(r) for r in ("customer", "agent", "manager"))
    path = f"/contact-groups/{group['id']}"
    assert_problem(api.get("/contact-groups"), 401)
    for user in (customer,):
        assert_problem(api.get("/contact-groups", user), 403)
        assert_problem(api.get(path, user), 403)
        assert_problem(api.post("/contact-groups", user, json={"name": "Mine"}), 403)
    assert api.get(path, agent).status_code == 200
    assert_problem(api.post("/contact-groups", agent, json={"name": "Agents"}), 403)
    assert_problem(api.patch(path, agent, json={"name": "x"}), 403)
    assert_problem(api.open("DELETE", path, agent), 403)
    assert_problem(api.post(f"{path}/contacts", agent, json={"email": "a@example.com"}), 403)
    assert_problem(api.open("DELETE", f"{path}/contacts/{contact_id}", customer), 403)
    assert _targets(group["id"]) == [("ops@example.com", None)]
    assert api.patch(path, manager, json={"name": "Ops (managed)"}).status_code == 200
    assert_problem(api.get("/contact-groups/999999", engineer), 404)
    assert_problem(api.patch("/contact-groups/999999", engineer, json={"name": "x"}), 404)
    assert_problem(api.open("DELETE", "/contact-groups/999999", engineer), 404)
    assert_problem(
        api.post("/contact-groups/999999/contacts", engineer, json={"email": "a@example.com"}), 404
    )


def test_delete_is_refused_while_a_monitor_uses_the_group(api, engineer):
    ops = _group(api, engineer, name="Ops", emails=["ops@example.com"])
    bosses = _group(api, engineer, name="Bosses", emails=["boss@example.com"])
    monitor = api.post(
        "/monitors",
        engineer,
        json={
            **HTTP,
            "contact_group_id": ops["id"],
            "escalation_group_id": bosses["id"],
            "escalate_after_minutes": 30,
        },
    ).json
    for group in (ops, bosses):
        problem = assert_problem(
            api.open("DELETE", f"/contact-groups/{group['id']}", engineer), 409
        )
        assert "Shop" in problem["detail"]
    assert db.session.scalar(select(func.count(ContactGroup.id))) == 2
    assert (
        api.patch(
            f"/monitors/{monitor['id']}", engineer, json={"escalation_group_id": None}
        ).status_code
        == 200
    )
    assert api.open("DELETE", f"/contact-groups/{bosses['id']}", engineer).status_code == 204
    assert db.session.get(ContactGroup, bosses["id"]) is None
    assert (
        db.session.scalar(select(func.count(Contact.id)).where(Contact.group_id == bosses["id"]))
        == 0
    )
    assert_problem(api.open("DELETE", f"/contact-groups/{ops['id']}", engineer), 409)


# ---------------------------------------------------------------- monitors and groups


def test_monitor_alerts_a_shared_group_and_escalates_to_another(api, engineer, agent):
    ops = _group(api, engineer, name="Ops", emails=["ops@example.com"])
    bosses = _group(api, engineer, name="Bosses", emails=["boss@example.com"])
    body = {
        **HTTP,
        "contact_group_id": ops["id"],
        "escalation_group_id": bosses["id"],
        "escalate_after_minutes": 15,
        "remind_every_minutes": 10,
    }
    first = api.post("/monitors", engineer, json=body)
    assert first.status_code == 201, first.json
    second = api.post("/monitors", engineer, json={**body, "name": "Shop API"}).json
    m = first.json
    assert (
        m["contact_group_id"],
        m["escalation_group_id"],
        m["escalate_after_minutes"],
        m["remind_every_minutes"],
    ) == (ops["id"], bosses["id"], 15, 10)
    assert m["contacts"] == [
        {"id": ops["contacts"][0]["id"], "email": "ops@example.com", "phone": None}
    ]
    stored = db.session.get(Monitor, m["id"])
    assert (stored.contact_group_id, stored.escalation_group_id) == (ops["id"], bosses["id"])
    assert api.get(f"/contact-groups/{ops['id']}", agent).json["monitor_ids"] == [
        m["id"],
        second["id"],
    ]
    assert api.get(f"/contact-groups/{bosses['id']}", agent).json["escalation_monitor_ids"] == [
        m["id"],
        second["id"],
    ]
    # the monitor's contacts resource reads (and writes) the shared group
    assert [
        c["email"] for c in api.get(f"/monitors/{second['id']}/contacts", agent).json["items"]
    ] == ["ops@example.com"]


@pytest.mark.parametrize(
    "extra,field",
    [
        ({"contact_group_id": 999999}, "contact_group_id"),
        ({"escalation_group_id": 999999, "escalate_after_minutes": 5}, "escalation_group_id"),
        ({"contact_group_id": 0}, "contact_group_id"),
        ({"contact_group_id": "ops"}, "contact_group_id"),
        ({"escalation_group_id": "{ops}"}, "escalate_after_minutes"),
        (
            {
                "contact_group_id": "{ops}",
                "escalation_group_id": "{ops}",
                "escalate_after_minutes": 5,
            },
            "escalation_group_id",
        ),
        ({"contact_group_id": "{ops}", "contacts": [{"email": "a@example.com"}]}, "contacts"),
    ],
)
def test_invalid_group_references_are_422_naming_the_field(api, engineer, extra, field):
    ops = _group(api, engineer, name="Ops")
    extra = {k: ops["id"] if v == "{ops}" else v for k, v in extra.items()}
    problem = assert_problem(api.post("/monitors", engineer, json={**HTTP, **extra}), 422)
    assert field in problem["errors"], problem
    assert db.session.scalar(select(func.count(Monitor.id))) == 0
    monitor = services.create_monitor(HTTP)
    patch = {"contacts": extra["contacts"]} if field == "contacts" else extra
    problem = assert_problem(api.patch(f"/monitors/{monitor.id}", engineer, json=patch), 422)
    assert field in problem["errors"], problem
    db.session.expire_all()
    assert db.session.get(Monitor, monitor.id).contact_group_id is None


def test_monitor_without_a_group_keeps_its_own_group(api, engineer):
    monitor = api.post("/monitors", engineer, json=HTTP).json
    assert monitor["contact_group_id"] is None
    resp = api.post(
        f"/monitors/{monitor['id']}/contacts", engineer, json={"email": "ops@example.com"}
    )
    assert resp.status_code == 201
    own = db.session.get(Monitor, monitor["id"]).contact_group
    assert own.name == f"Monitor #{monitor['id']}: Shop"
    assert api.get(f"/monitors/{monitor['id']}", engineer).json["contact_group_id"] == own.id

    shared = _group(api, engineer, name="Ops", emails=["team@example.com"])
    moved = api.patch(
        f"/monitors/{monitor['id']}", engineer, json={"contact_group_id": shared["id"]}
    ).json
    assert moved["contact_group_id"] == shared["id"] and [
        c["email"] for c in moved["contacts"]
    ] == ["team@example.com"]
    # null goes back to its own group, which was kept with its contacts
    back = api.patch(f"/monitors/{monitor['id']}", engineer, json={"contact_group_id": None}).json
    assert back["contact_group_id"] == own.id and [c["email"] for c in back["contacts"]] == [
        "ops@example.com"
    ]
    # unrelated changes leave the group alone
    assert (
        api.patch(f"/monitors/{monitor['id']}", engineer, json={"interval": 120}).json[
            "contact_group_id"
        ]
        == own.id
    )
    # deleting the monitor deletes its own group even while it alerts a shared one; shared
    # groups stay
    api.patch(f"/monitors/{monitor['id']}", engineer, json={"contact_group_id": shared["id"]})
    assert api.open("DELETE", f"/monitors/{monitor['id']}", engineer).status_code == 204
    assert [g.name for g in services.list_contact_groups()] == ["Ops"]


def test_escalation_email_reaches_the_escalation_group_after_n_minutes(
    api, engineer, http_peer, run_jobs, smtp_server
):
    ops = _group(api, engineer, name="Ops", emails=["ops@example.com"])
    bosses = _group(
        api, engineer, name="Bosses", emails=["boss@example.com"], phones=["+447911123999"]
    )
    http_peer.routes["/shop"] = Route(503, "down")
    created = api.post(
        "/monitors",
        engineer,
        json={
            "name": "Shop",
            "type": "http",
            "url": http_peer.url("/shop"),
            "interval": 60,
            "timeout": 2,
            "contact_group_id": ops["id"],
            "escalation_group_id": bosses["id"],
            "escalate_after_minutes": 20,
        },
    )
    assert created.status_code == 201, created.json
    monitor_id = created.json["id"]
    jobs.run_checks([monitor_id])
    run_jobs()
    down = smtp_server.wait_for(
        lambda msgs: [m for m in msgs if m["Subject"].startswith("[DOWN]")]
    )[0]
    assert "ops@example.com" in down["_rcpt"] and "boss@example.com" not in down["_rcpt"]

    clock.set_offset(timedelta(minutes=19))
    assert jobs.incident_followups() == {"reminders": 0, "escalations": 0}
    clock.set_offset(timedelta(minutes=21))
    assert jobs.incident_followups() == {"reminders": 0, "escalations": 1}
    assert jobs.incident_followups() == {"reminders": 0, "escalations": 0}  # once
    run_jobs()
    escalated = smtp_server.wait_for(
        lambda msgs: [m for m in msgs if m["Subject"].startswith("[ESCALATED]")]
    )
    assert len(escalated) == 1 and "boss@example.com" in escalated[0]["_rcpt"]
    assert "ops@example.com" not in escalated[0]["_rcpt"] and "Shop" in escalated[0]["Subject"]
    assert [s.to for s in db.session.scalars(select(SmsMessage))] == ["+447911123999"]
    assert db.session.scalar(select(Incident.escalated_at)) is not None

    http_peer.routes["/shop"] = Route(200, "ok")
    jobs.run_checks([monitor_id])
    run_jobs()
    ups = smtp_server.wait_for(
        lambda msgs: (
            len([m for m in msgs if m["Subject"].startswith("[UP]")]) == 2
            and [m for m in msgs if m["Subject"].startswith("[UP]")]
        )
    )
    assert sorted(m["_rcpt"] for m in ups) == ["boss@example.com", "ops@example.com"]


# ---------------------------------------------------------------- export / import


def test_export_carries_groups_by_name_and_import_recreates_them(api, engineer, make_user):
    admin = make_user("admin")
    ops = _group(api, engineer, name="Ops", emails=["ops@example.com"], phones=["+447911123456"])
    bosses = _group(api, engineer, name="Bosses", emails=["boss@example.com"])
    api.post(
        "/monitors",
        engineer,
        json={
            **HTTP,
            "contact_group_id": ops["id"],
            "escalation_group_id": bosses["id"],
            "escalate_after_minutes": 15,
        },
    )
    own = api.post(
        "/monitors",
        engineer,
        json={**HTTP, "name": "Own", "contacts": [{"email": "me@example.com"}]},
    ).json
    exported = api.get("/monitors/export", admin).json
    assert exported[0]["contacts"] == [] and "contact_group_id" not in exported[0]
    assert exported[0]["contact_group"] == {
        "name": "Ops",
        "contacts": [{"email": "ops@example.com"}, {"phone": "+447911123456"}],
    }
    assert exported[0]["escalation_group"] == {
        "name": "Bosses",
        "contacts": [{"email": "boss@example.com"}],
    }
    assert exported[1]["contacts"] == [{"email": "me@example.com"}]
    assert exported[1]["contact_group"] is None and exported[1]["escalation_group"] is None
    assert own["contact_group_id"] is not None

    # a second installation: no monitors, no groups -> the import creates the groups once
    for monitor in db.session.query(Monitor).all():
        services.delete_monitor(monitor)
    for group in services.list_contact_groups():
        services.delete_contact_group(group)
    resp = api.post(
        "/monitors/import", engineer, json=exported + [{**exported[0], "name": "Shop 2"}]
    )
    assert resp.status_code == 201, resp.json
    groups = {g.name: g for g in services.list_contact_groups()}
    assert sorted(groups) == ["Bosses", f"Monitor #{resp.json['ids'][1]}: Own", "Ops"]
    assert _targets(groups["Ops"].id) == [("ops@example.com", None), (None, "+447911123456")]
    first, _, third = (db.session.get(Monitor, i) for i in resp.json["ids"])
    assert first.contact_group_id == third.contact_group_id == groups["Ops"].id
    assert first.escalation_group_id == groups["Bosses"].id
    assert api.get("/monitors/export", admin).json[:2] == exported

    # existing groups are matched by name (case-insensitively) and left as they are
    resp = api.post(
        "/monitors/import",
        engineer,
        json=[
            {
                **HTTP,
                "name": "By name",
                "contact_group": "ops",
                "escalation_group": {"name": "BOSSES", "contacts": [{"email": "new@example.com"}]},
                "escalate_after_minutes": 5,
            }
        ],
    )
    assert resp.status_code == 201, resp.json
    imported = db.session.get(Monitor, resp.json["ids"][0])
    assert (imported.contact_group_id, imported.escalation_group_id) == (
        groups["Ops"].id,
        groups["Bosses"].id,
    )
    assert _targets(groups["Bosses"].id) == [("boss@example.com", None)]


def test_import_group_problems_are_422_all_or_nothing(api, engineer):
    ops = _group(api, engineer, name="Ops")
    problem = assert_problem(
        api.post(
            "/monitors/import",
            engineer,
            json=[
                {
                    **HTTP,
                    "contact_group": {"name": "New team", "contacts": [{"email": "a@example.com"}]},
                },
                {**HTTP, "contact_group": "No such team"},
                {**HTTP, "contact_group": "Ops", "contact_group_id": ops["id"]},
                {**HTTP, "escalation_group": "Ops"},
                {**HTTP, "contact_group": 7},
            ],
        ),
        422,
    )
    assert set(problem["errors"]) >= {
        "1.contact_group",
        "2.contact_group",
        "3.escalate_after_minutes",
        "4.contact_group",
    }, problem
    assert problem["errors"]["1.contact_group"][0].startswith("Item 1:")
    assert db.session.scalar(select(func.count(Monitor.id))) == 0
    assert [g.name for g in services.list_contact_groups()] == ["Ops"]  # "New team" rolled back


def test_openapi_documents_the_contact_group_operations(client):
    doc = client.get("/api/v1/openapi.json").json
    paths = doc["paths"]
    assert set(paths["/api/v1/contact-groups"]) == {"get", "post"}
    assert set(paths["/api/v1/contact-groups/{group_id}"]) == {"get", "patch", "delete"}
    assert set(paths["/api/v1/contact-groups/{group_id}/contacts"]) == {"post"}
    assert set(paths["/api/v1/contact-groups/{group_id}/contacts/{contact_id}"]) == {"delete"}
    assert "409" in paths["/api/v1/contact-groups/{group_id}"]["delete"]["responses"]
    assert "monitor.manage" in paths["/api/v1/contact-groups"]["post"]["description"]
    assert "monitor.view" in paths["/api/v1/contact-groups"]["get"]["description"]
    http = doc["components"]["schemas"]["HttpMonitorIn"]["properties"]
    assert {"contact_group_id", "escalation_group_id", "escalate_after_minutes"} <= set(http)


# ---------------------------------------------------------------- the console


@pytest.fixture
def staff(make_user, login):
    user = make_user("engineer")
    login(user)
    return user


FORM = {
    "name": "Shop",
    "type": "http",
    "url": "http://127.0.0.1:9/health",
    "interval": "60",
    "timeout": "5",
    "retries": "1",
    "expected_status": "200-299",
    "method": "GET",
    "follow_redirects": "y",
    "days_before": "14",
    "grace_seconds": "60",
    "record_type": "A",
    "steps-0-method": "GET",
}


def test_console_lists_groups_with_empty_state_and_is_linked_from_the_overview(client, staff):
    overview = client.get("/monitors/").get_data(as_text=True)
    assert 'href="/monitors/contact-groups"' in overview
    resp = client.get("/monitors/contact-groups")
    assert resp.status_code == 200
    assert "No contact groups yet" in visible_text(resp)
    assert '<label class="form-label" for="name">Group name</label>' in resp.get_data(as_text=True)


def test_console_creates_renames_and_deletes_a_group(client, staff):
    resp = client.post(
        "/monitors/contact-groups/new", data={"name": "On-call"}, follow_redirects=True
    )
    assert resp.status_code == 200 and "Contact group On-call created" in visible_text(resp)
    group = db.session.scalar(select(ContactGroup))
    assert group.name == "On-call"
    assert "On-call" in visible_text(client.get("/monitors/contact-groups"))

    for name, message in (
        ("", "This field is required"),
        ("on-call", "already exists"),
        ("Monitor #3: x", "kept for monitors"),
    ):
        bad = client.post("/monitors/contact-groups/new", data={"name": name})
        assert bad.status_code == 422 and message in visible_text(bad), (
            name,
            visible_text(bad)[:300],
        )
        assert 'aria-invalid="true"' in bad.get_data(as_text=True)
    assert db.session.scalar(select(func.count(ContactGroup.id))) == 1

    renamed = client.post(
        f"/monitors/contact-groups/{group.id}/rename",
        data={"group-name": "Night shift"},
        follow_redirects=True,
    )
    assert renamed.status_code == 200 and "renamed to Night shift" in visible_text(renamed)
    bad = client.post(f"/monitors/contact-groups/{group.id}/rename", data={"group-name": " "})
    assert bad.status_code == 422 and "This field is required" in visible_text(bad)
    db.session.expire_all()
    assert db.session.get(ContactGroup, group.id).name == "Night shift"

    gone = client.post(f"/monitors/contact-groups/{group.id}/delete", follow_redirects=True)
    assert gone.status_code == 200 and "Contact group Night shift deleted" in visible_text(gone)
    assert db.session.get(ContactGroup, group.id) is None
    assert client.get(f"/monitors/contact-groups/{group.id}").status_code == 404


def test_console_adds_and_removes_recipients(client, staff):
    group = services.create_contact_group("Ops")
    page = f"/monitors/contact-groups/{group.id}"
    assert "Nobody is in this group yet" in visible_text(client.get(page))
    assert (
        client.post(
            f"{page}/contacts", data={"kind": "email", "value": "ops@example.com"}
        ).status_code
        == 302
    )
    assert (
        client.post(f"{page}/contacts", data={"kind": "phone", "value": "07911 123456"}).status_code
        == 302
    )
    bad = client.post(f"{page}/contacts", data={"kind": "phone", "value": "123"})
    assert bad.status_code == 422 and "valid phone number" in visible_text(bad)
    dup = client.post(f"{page}/contacts", data={"kind": "email", "value": "OPS@example.com"})
    assert dup.status_code == 422 and "already in Ops" in visible_text(dup)
    empty = client.post(f"{page}/contacts", data={"kind": "email", "value": ""})
    assert empty.status_code == 422
    text = visible_text(client.get(page))
    assert "ops@example.com" in text and "+447911123456" in text
    html = client.get(page).get_data(as_text=True)
    assert (
        '<label class="form-label" for="kind">' in html
        and '<label class="form-label" for="value">' in html
    )
    assert '<label class="form-label" for="group-name">' in html
    contact = db.session.scalar(select(Contact).where(Contact.email == "ops@example.com"))
    removed = client.post(f"{page}/contacts/{contact.id}/delete", follow_redirects=True)
    assert removed.status_code == 200 and "Contact removed" in visible_text(removed)
    assert _targets(group.id) == [(None, "+447911123456")]
    assert client.post(f"{page}/contacts/{contact.id}/delete").status_code == 404


def test_console_refuses_to_delete_a_group_in_use(client, staff):
    group = services.create_contact_group("Ops", emails=["ops@example.com"])
    services.create_monitor({**HTTP, "contact_group_id": group.id})
    resp = client.post(f"/monitors/contact-groups/{group.id}/delete")
    assert resp.status_code == 409
    assert "in use by Shop" in visible_text(resp)
    assert db.session.get(ContactGroup, group.id) is not None
    listed = visible_text(client.get("/monitors/contact-groups"))
    assert "Ops" in listed and "Shop" in listed


def test_agent_sees_groups_read_only_and_customer_is_refused(client, make_user, login):
    group = services.create_contact_group("Ops", emails=["ops@example.com"])
    login(make_user("agent"))
    listed = client.get("/monitors/contact-groups")
    assert listed.status_code == 200 and "New contact group" not in visible_text(listed)
    page = client.get(f"/monitors/contact-groups/{group.id}")
    assert (
        page.status_code == 200
        and "ops@example.com" in visible_text(page)
        and "Rename" not in visible_text(page)
    )
    assert client.post("/monitors/contact-groups/new", data={"name": "x"}).status_code == 403
    assert client.post(f"/monitors/contact-groups/{group.id}/delete").status_code == 403
    client.post("/auth/logout")
    login(make_user("customer"))
    assert client.get("/monitors/contact-groups").status_code == 403
    assert client.get(f"/monitors/contact-groups/{group.id}").status_code == 403


def test_monitor_form_chooses_contact_and_escalation_groups(client, staff):
    ops = services.create_contact_group("Ops", emails=["ops@example.com"])
    bosses = services.create_contact_group("Bosses", emails=["boss@example.com"])
    form = client.get("/monitors/new").get_data(as_text=True)
    for field_id, label in (
        ("contact_group_id", "Contact group"),
        ("escalation_group_id", "Escalation group"),
        ("escalate_after_minutes", "Escalate after (minutes) down"),
    ):
        assert re.search(rf'<label class="form-label" for="{field_id}">{re.escape(label)}', form), (
            field_id
        )
    assert f'<option value="{ops.id}">Ops (1 recipient)</option>' in form
    assert "Its own contacts" in form and "No escalation" in form

    resp = client.post(
        "/monitors/new",
        data={
            **FORM,
            "contact_group_id": str(ops.id),
            "escalation_group_id": str(bosses.id),
            "escalate_after_minutes": "30",
        },
    )
    assert resp.status_code == 302, visible_text(resp)[:500]
    monitor = db.session.scalar(select(Monitor))
    assert (
        monitor.contact_group_id,
        monitor.escalation_group_id,
        monitor.escalate_after_minutes,
    ) == (ops.id, bosses.id, 30)
    page = visible_text(client.get(f"/monitors/{monitor.id}"))
    assert "Ops" in page and "Bosses after 30 min" in page

    edit = client.get(f"/monitors/{monitor.id}/edit").get_data(as_text=True)
    assert (
        f'<option selected value="{ops.id}">' in edit
        or f'<option value="{ops.id}" selected>' in edit
    )


@pytest.mark.parametrize(
    "extra,field_id,message",
    [
        ({"contact_group_id": "999999"}, "contact_group_id", "No contact group has id 999999"),
        ({"contact_group_id": "abc"}, "contact_group_id", "Invalid Choice"),
        (
            {"escalation_group_id": "{ops}"},
            "escalate_after_minutes",
            "Escalate_after_minutes is needed",
        ),
    ],
)
def test_monitor_form_reports_bad_group_choices_on_the_field(
    client, staff, extra, field_id, message
):
    ops = services.create_contact_group("Ops")
    data = {**FORM, **{k: str(ops.id) if v == "{ops}" else v for k, v in extra.items()}}
    resp = client.post("/monitors/new", data=data)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    errors = re.search(rf'id="{field_id}-errors">(.*?)</div>', html, re.S)
    assert errors and message.lower() in errors.group(1).lower(), html[:200]
    assert db.session.scalar(select(func.count(Monitor.id))) == 0


def test_editing_a_monitor_with_its_own_contacts_keeps_them(client, staff):
    monitor = services.create_monitor({**HTTP, "contacts": [{"email": "me@example.com"}]})
    own_id = monitor.contact_group_id
    edit = client.get(f"/monitors/{monitor.id}/edit").get_data(as_text=True)
    assert f'<option value="{own_id}"' not in edit  # the own group is the "its own contacts" choice
    assert re.search(r'<option (selected )?value=""( selected)?>Its own contacts', edit)
    resp = client.post(
        f"/monitors/{monitor.id}/edit", data={**FORM, "name": "Shop v2", "contact_group_id": ""}
    )
    assert resp.status_code == 302, visible_text(resp)[:500]
    db.session.expire_all()
    stored = db.session.get(Monitor, monitor.id)
    assert stored.name == "Shop v2" and stored.contact_group_id == own_id
    assert [c.email for c in services.monitor_contacts(stored)] == ["me@example.com"]
