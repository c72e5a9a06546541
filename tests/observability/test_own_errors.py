"""CR Tracker's own unhandled errors are recorded in the built-in ``cr-tracker`` project:
web requests (UTC time, client IP through trusted proxies only, method, path, user, user
agent, type, message, traceback, release; secrets scrubbed) and failed RQ jobs."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from flask import request
from sqlalchemy import select

import crm
from crm.auth.policy import public
from crm.extensions import db
from crm.observability.errors.models import BUILT_IN_PROJECT, ErrorEvent, ErrorIssue, ErrorProject
from tests.conftest import PASSWORD, _app_with


def _app_with_a_failing_route(app_config: dict, hops: int):
    """A second app on the test database, behind ``hops`` trusted proxies, with a route that
    fails (routes cannot be added to the session's app once it has served requests)."""
    failing = _app_with({**app_config, "PROXY_FIX_HOPS": hops})

    @failing.route("/test-failure", methods=["POST"])
    @public
    def fail_on_purpose():
        raise RuntimeError(f"no stock for item {request.form['item']}")

    return failing


@pytest.mark.parametrize("hops,expected_ip", [(0, "127.0.0.1"), (1, "203.0.113.9")])
def test_an_unhandled_request_error_is_recorded_with_its_context(app_config, make_user,
                                                                  hops, expected_ip):
    user = make_user("agent")
    failing = _app_with_a_failing_route(app_config, hops)
    client = failing.test_client()
    assert client.post("/auth/login", data={"email": user.email, "password": PASSWORD}
                       ).status_code == 302
    resp = client.post("/test-failure?token=abc123&page=2",
                       data={"item": "81", "password": "hunter2"},
                       headers={"X-Forwarded-For": "203.0.113.9", "User-Agent": "Tester/1.0",
                                "Authorization": "Bearer top-secret"})
    assert resp.status_code == 500

    event = db.session.scalar(select(ErrorEvent))
    project = db.session.get(ErrorProject, event.project_id)
    assert project.name == BUILT_IN_PROJECT and project.built_in
    assert event.client_ip == expected_ip
    assert (event.method, event.path) == ("POST", "/test-failure")
    assert (event.user_id, event.user_label) == (user.id, user.email)
    assert event.user_agent == "Tester/1.0" and event.release == crm.__version__
    assert event.exception_type == "RuntimeError" and event.message == "no stock for item 81"
    assert "in fail_on_purpose" in event.traceback and "RuntimeError: no stock" in event.traceback
    assert event.received_at.tzinfo is not None and event.received_at.utcoffset().seconds == 0
    stored = json.dumps(event.data)
    for secret in ("hunter2", "top-secret", "abc123"):
        assert secret not in stored
    headers = event.data["request"]["headers"]
    assert headers["Authorization"] == "[Filtered]" and headers["Cookie"] == "[Filtered]"
    assert event.data["request"]["data"] == {"item": "81", "password": "[Filtered]"}


def test_the_same_failure_twice_is_one_issue(app_config, make_user):
    failing = _app_with_a_failing_route(app_config, 0)
    client = failing.test_client()
    for item in ("1", "2"):
        assert client.post("/test-failure", data={"item": item}).status_code == 500
    issues = list(db.session.scalars(select(ErrorIssue)))
    assert len(issues) == 1 and issues[0].event_count == 2
    assert issues[0].title == "RuntimeError: no stock for item 1"


def test_an_error_after_the_view_is_recorded_too(app_config):
    failing = _app_with_a_failing_route(app_config, 0)

    @failing.after_request
    def fail_after(response):
        if request.path == "/healthz":
            raise LookupError("after-request hook failed")
        return response

    assert failing.test_client().get("/healthz").status_code == 500
    event = db.session.scalar(select(ErrorEvent))
    assert event.exception_type == "LookupError" and event.path == "/healthz"
    assert "in fail_after" in event.traceback


def test_errors_are_also_forwarded_to_an_external_dsn(app_config, live_server, project):
    from crm.observability.errors import capture

    upstream = f"http://{project.public_key}@{live_server.split('//')[1]}/{project.id}"
    failing = _app_with_a_failing_route({**app_config, "ERROR_FORWARD_DSN": upstream}, 0)
    assert failing.test_client().post("/test-failure", data={"item": "5"}).status_code == 500
    client = capture._forward_clients.pop(upstream)
    client.flush(timeout=20)
    client.close(timeout=5)
    db.session.expire_all()
    forwarded = db.session.scalar(select(ErrorEvent).where(ErrorEvent.project_id == project.id))
    assert forwarded.exception_type == "RuntimeError"
    assert forwarded.message == "no stock for item 5" and forwarded.release == crm.__version__
    assert forwarded.data["tags"] == {"method": "POST", "path": "/test-failure"}
    own = db.session.scalar(select(ErrorEvent).where(ErrorEvent.project_id != project.id))
    assert own.message == "no stock for item 5"  # recorded here as well


def test_a_failure_to_record_is_logged_and_the_error_page_still_answers(app_config, tmp_path,
                                                                         caplog):
    empty = "sqlite:///" + str(tmp_path / "no-tables.sqlite3")  # the tracker cannot write here
    failing = _app_with_a_failing_route({**app_config, "SQLALCHEMY_DATABASE_URI": empty}, 0)
    resp = failing.test_client().post("/test-failure", data={"item": "3"})
    assert resp.status_code == 500 and "text/html" in resp.content_type
    assert "could not record the unhandled error" in caplog.text
    assert db.session.scalar(select(ErrorEvent)) is None


def test_a_failed_worker_job_is_recorded(app, worker_env):
    from crm.queue import enqueue
    enqueue("operator.truediv", 1, 0)
    done = subprocess.run([sys.executable, "-m", "workers.worker", "--burst", "--queues",
                           "default"], env=worker_env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    db.session.expire_all()
    event = db.session.scalar(select(ErrorEvent))
    assert event is not None, done.stderr[-2000:]
    assert event.exception_type == "ZeroDivisionError"
    assert (event.method, event.path) == ("JOB", "operator.truediv")
    assert event.data["job"]["func"] == "operator.truediv"
    assert "ZeroDivisionError" in event.traceback and event.release == crm.__version__
