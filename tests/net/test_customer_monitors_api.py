"""Customers' own monitors through ``/api/v1/monitors``: created as theirs within their plan,
listed and read only by them (404 for other customers), under the customer outbound policy at
save (a 422 naming the address), alerting only the customer; staff see every monitor with its
owner."""
from __future__ import annotations

import pytest

from tests.api.conftest import assert_problem


@pytest.fixture
def customer(make_user):
    return make_user("customer")


def _http(url="https://shop.example.org/", **extra):
    return {"name": "My shop", "type": "http", "url": url, "interval": 60, **extra}


def test_a_customer_creates_lists_and_reads_only_their_own(api, customer, make_user, engineer):
    created = api.post("/monitors", as_=customer, json=_http())
    assert created.status_code == 201, created.json
    mine = created.json
    assert mine["owner_id"] == customer.id
    staff = api.post("/monitors", as_=engineer, json=_http(name="Ops site")).json
    assert staff["owner_id"] is None
    listed = api.get("/monitors", as_=customer).json["items"]
    assert [m["id"] for m in listed] == [mine["id"]]
    assert api.get(f"/monitors/{mine['id']}/logs", as_=customer).status_code == 200
    other = make_user("customer")
    for path in (f"/monitors/{mine['id']}", f"/monitors/{mine['id']}/logs",
                 f"/monitors/{mine['id']}/uptime", f"/monitors/{staff['id']}"):
        assert_problem(api.get(path, as_=other), 404)
    assert_problem(api.open("PATCH", f"/monitors/{mine['id']}", as_=other,
                            json={"paused": True}), 404)
    everyone = {m["id"]: m["owner_id"] for m in api.get("/monitors", as_=engineer).json["items"]}
    assert everyone == {mine["id"]: customer.id, staff["id"]: None}


def test_the_plan_limits_a_customers_monitors_with_the_limit_in_the_message(api, customer):
    refused = api.post("/monitors", as_=customer, json=_http(interval=30))
    body = assert_problem(refused, 422)
    assert "every 60 s" in body["detail"] and "interval" in body["errors"]
    for n in range(10):
        assert api.post("/monitors", as_=customer, json=_http(name=f"Site {n}")).status_code \
            == 201
    eleventh = assert_problem(api.post("/monitors", as_=customer, json=_http()), 409)
    assert "allows 10 monitors" in eleventh["detail"]


def test_private_addresses_are_refused_at_save_naming_the_address(app, api, customer,
                                                                  monkeypatch):
    body = assert_problem(api.post("/monitors", as_=customer,
                                   json=_http(url="http://127.0.0.1:8080/")), 422)
    assert "127.0.0.1" in body["detail"] and "url" in body["errors"]
    assert_problem(api.post("/monitors", as_=customer, json={
        "name": "db", "type": "tcp", "host": "10.1.2.3", "port": 5432}), 422)
    monkeypatch.setitem(app.config, "MONITOR_ALLOWED_NETWORKS", "127.0.0.0/8")
    assert api.post("/monitors", as_=customer,
                    json=_http(url="http://127.0.0.1:8080/")).status_code == 201
    assert api.post("/monitors", as_=customer,
                    json=_http(url="https://no-such-host.invalid/")).status_code == 201


def test_customers_own_only_site_checks_and_alert_only_themselves(api, customer):
    synthetic = api.post("/monitors", as_=customer, json={
        "name": "flow", "type": "smtp", "host": "mail.example.org", "port": 25})
    assert "type" in assert_problem(synthetic, 422)["errors"]
    stranger = api.post("/monitors", as_=customer,
                        json=_http(contacts=[{"email": "someone@example.net"}]))
    assert "contacts.0.email" in assert_problem(stranger, 422)["errors"]
    mine = api.post("/monitors", as_=customer, json=_http(contacts=[{"email": customer.email}]))
    assert mine.status_code == 201 and mine.json["contacts"][0]["email"] == customer.email


def test_unverified_customers_and_agents_cannot_create(api, make_user, agent):
    unverified = make_user("customer", verified=False)
    assert_problem(api.post("/monitors", as_=unverified, json=_http()), 403)
    assert_problem(api.post("/monitors", as_=agent, json=_http()), 403)
    assert api.get("/monitors", as_=agent).status_code == 200


def _incident(monitor, opened_minutes_ago=10, closed=False):
    from datetime import timedelta

    from crm.clock import utcnow
    from crm.extensions import db
    from crm.monitoring.models import Incident
    opened = utcnow() - timedelta(minutes=opened_minutes_ago)
    incident = Incident(monitor_id=monitor.id, opened_at=opened, cause="HTTP 503",
                        closed_at=utcnow() if closed else None,
                        duration_seconds=60 * opened_minutes_ago if closed else None)
    db.session.add(incident)
    db.session.commit()
    return incident


def test_incidents_are_scoped_like_their_monitors(api, customer, make_user, engineer,
                                                  make_monitor):
    mine = make_monitor("http", url="https://shop.example.org/", owner_id=customer.id)
    theirs = make_monitor("http", url="https://other.example.org/",
                          owner_id=make_user("customer").id)
    ops = make_monitor("http", url="https://status.example.org/")
    open_mine, closed_mine = _incident(mine), _incident(mine, 60, closed=True)
    other, ops_incident = _incident(theirs), _incident(ops)
    listed = api.get("/incidents", as_=customer).json["items"]
    assert [i["id"] for i in listed] == [closed_mine.id, open_mine.id]  # newest first
    assert [i["id"] for i in api.get("/incidents?state=open", as_=customer).json["items"]] \
        == [open_mine.id]
    one = api.get(f"/incidents/{open_mine.id}", as_=customer).json
    assert one["monitor_name"] == mine.name and one["cause"] == "HTTP 503"
    for incident in (other, ops_incident):
        assert_problem(api.get(f"/incidents/{incident.id}", as_=customer), 404)
    every = {i["id"] for i in api.get("/incidents?limit=100", as_=engineer).json["items"]}
    assert every == {open_mine.id, closed_mine.id, other.id, ops_incident.id}
    assert_problem(api.get("/incidents?state=ajar", as_=engineer), 422)
    assert_problem(api.get("/incidents"), 401)
