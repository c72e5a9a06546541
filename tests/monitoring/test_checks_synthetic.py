"""Synthetic multi-step API checks: variables between steps, assertions, failing step named
(in the outcome and, through the engine, in the incident's cause)."""
from __future__ import annotations

import json

from sqlalchemy import select

from crm.extensions import db
from crm.monitoring.engine import jobs
from crm.monitoring.engine.checks.synthetic import substitute
from crm.monitoring.engine.runner import run_now
from crm.monitoring.models import CheckResult, Flip, Incident
from tests.monitoring.peers import Route


def _login(method, path, headers, body):
    data = json.loads(body or b"{}")
    if data.get("user") == "demo":
        return Route(200, {"data": {"token": "t0k3n"}}, headers={"X-Request-Id": "r-1"})
    return Route(401, {"error": "bad credentials"})


def _orders(method, path, headers, body):
    if headers.get("Authorization") != "Bearer t0k3n":
        return Route(403, {"error": "forbidden"})
    return Route(200, {"items": [{"id": 7, "status": "open"}]})


def _steps(url, expected_status="open"):
    return [
        {
            "name": "log in",
            "method": "POST",
            "url": url("/login"),
            "body": {"user": "demo"},
            "headers": {"Content-Type": "application/json"},
            "assertions": [
                {"type": "status", "expected": "200"},
                {"type": "header", "name": "X-Request-Id"},
                {"type": "json_path", "path": "data.token", "expected": "t0k3n"},
                {"type": "json_path", "path": "$.data.token"},
            ],
            "extract": {"token": "data.token", "rid": "header:X-Request-Id"},
        },
        {
            "name": "list orders",
            "method": "GET",
            "url": url("/orders?rid={{rid}}"),
            "headers": {"Authorization": "Bearer {{token}}"},
            "assertions": [
                {"type": "body_contains", "text": "items"},
                {"type": "json_path", "path": "items[0].status", "expected": expected_status},
                {"type": "response_time", "max_ms": 2000},
            ],
        },
    ]


def test_substitute_in_nested_values():
    assert substitute({"a": ["x {{v}}", "{{ missing }}"]}, {"v": 1}) == {
        "a": ["x 1", "{{ missing }}"]
    }


def test_scenario_passes_with_extracted_variables(http_peer, make_monitor):
    http_peer.routes["/login"] = _login
    http_peer.routes["/orders"] = _orders
    m = make_monitor("synthetic", steps=_steps(http_peer.url))
    outcome = run_now(m)
    assert outcome.status == "up", outcome.error
    assert [s["name"] for s in outcome.steps] == ["log in", "list orders"]
    assert all(s["ok"] for s in outcome.steps) and outcome.steps[1]["status_code"] == 200
    assert all(a["ok"] for s in outcome.steps for a in s["assertions"])
    assert http_peer.requests[-1]["path"] == "/orders?rid=r-1"
    assert http_peer.requests[-1]["headers"]["Authorization"] == "Bearer t0k3n"


def test_failing_assertion_names_step_and_assertion(http_peer, make_monitor):
    http_peer.routes["/login"] = _login
    http_peer.routes["/orders"] = _orders
    m = make_monitor("synthetic", steps=_steps(http_peer.url, expected_status="shipped"))
    outcome = run_now(m)
    assert outcome.status == "down"
    assert "step 'list orders'" in outcome.error and "items[0].status" in outcome.error
    failed = [a for a in outcome.steps[1]["assertions"] if not a["ok"]]
    assert failed[0]["detail"] == "got 'open'"


def test_engine_opens_an_incident_whose_cause_names_the_failing_step_and_assertion(
    http_peer, make_monitor
):
    http_peer.routes["/login"] = _login
    http_peer.routes["/orders"] = _orders
    m = make_monitor("synthetic", retries=1, steps=_steps(http_peer.url, expected_status="shipped"))

    assert jobs.run_checks([m.id]) == 1

    # no response value in the cause
    cause = "step 'list orders': assertion JSON items[0].status equals 'shipped' failed"
    [incident] = db.session.scalars(select(Incident).where(Incident.monitor_id == m.id)).all()
    assert incident.cause == cause and incident.closed_at is None and not incident.in_maintenance
    db.session.refresh(m)
    assert m.status == "down" and m.last_error == cause and m.last_status_code == 200
    [flip] = db.session.scalars(select(Flip).where(Flip.monitor_id == m.id)).all()
    assert (flip.old_status, flip.new_status, flip.reason) == ("pending", "down", cause)
    [result] = db.session.scalars(select(CheckResult).where(CheckResult.monitor_id == m.id)).all()
    assert result.status == "down" and result.error == cause
    # both steps ran against the peer: the login's token reached the failing step
    assert [r["path"] for r in http_peer.requests] == ["/login", "/orders?rid=r-1"]


def test_failing_first_step_stops_the_scenario(http_peer, make_monitor):
    http_peer.routes["/login"] = _login
    steps = _steps(http_peer.url)
    steps[0]["body"] = {"user": "intruder"}
    m = make_monitor("synthetic", steps=steps)
    outcome = run_now(m)
    assert (
        outcome.status == "down"
        and "step 'log in'" in outcome.error
        and "status in 200" in outcome.error
    )
    assert len(outcome.steps) == 1 and outcome.status_code == 401


def test_unreachable_step_is_reported(make_monitor):
    from tests.conftest import free_port

    m = make_monitor(
        "synthetic",
        timeout=0.5,
        steps=[{"name": "ping", "url": f"http://127.0.0.1:{free_port()}/"}],
    )
    outcome = run_now(m)
    assert outcome.status == "down" and "step 'ping': request failed" in outcome.error
