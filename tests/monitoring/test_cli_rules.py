"""``crm-monitor`` pieces the command tests leave out: the server client's usage errors, its
log-in again after a 401, cursor paging and problem messages, the agent's refused results,
``remove`` and flag-built ``add`` (against a real HTTP peer that plays the API), the check
file's id and table rules, and the table it prints.

No database is involved, so the tests run on one backend."""
from __future__ import annotations

import json

import httpx
import pytest

from crm.monitoring import cli_tool
from crm.monitoring.cli_tool import Server, ServerError, UsageError, describe_problem
from crm.monitoring.engine.checks.base import CheckOutcome
from tests.monitoring.peers import Route
from tests.monitoring.test_cli_tool import run_cli, write

pytestmark = pytest.mark.only_backend("sqlite")


def test_the_server_client_needs_an_address_and_credentials():
    for kwargs, words in [({"base_url": ""}, "give --server"),
                          ({"base_url": "ftp://crm.example", "token": "t"}, "http:// or https://"),
                          ({"base_url": "https://crm.example"}, "give --token"),
                          ({"base_url": "https://crm.example", "email": "a@example.com"},
                           "give --token")]:
        with pytest.raises(UsageError, match=words):
            Server(**kwargs)


class FakeApi:
    """Plays ``/api/v1`` on the HTTP peer: tokens expire after ``uses`` requests."""

    def __init__(self, peer, uses: int = 2):
        self.peer, self.uses, self.logins, self.left = peer, uses, 0, 0
        peer.routes["/api/v1/auth/token"] = self.token
        peer.routes["/api/v1/monitors"] = self.monitors

    def token(self, method, path, headers, body):
        self.logins += 1
        self.left = self.uses
        return Route(200, {"access_token": f"token-{self.logins}"})

    def monitors(self, method, path, headers, body):
        if headers.get("Authorization") != f"Bearer token-{self.logins}" or self.left <= 0:
            return Route(401, {"type": "about:blank", "title": "Unauthorized", "status": 401},
                         headers={"Content-Type": "application/problem+json"})
        self.left -= 1
        page = 2 if "cursor=page-2" in path else 1
        return Route(200, {"items": [{"id": page}], "next_cursor": None if page == 2 else "page-2"})


def test_the_client_logs_in_again_after_a_401_and_follows_cursors(http_peer):
    api = FakeApi(http_peer, uses=1)
    server = Server(http_peer.url("/").rstrip("/"), email="ops@example.com", password="pw")
    assert server.monitors(tag="prod") == [{"id": 1}, {"id": 2}]
    assert api.logins == 2  # first use, then again when the token expired on page 2
    pages = [r["path"] for r in http_peer.requests if r["path"].startswith("/api/v1/monitors")]
    assert pages[0].startswith("/api/v1/monitors?") and "tag=prod" in pages[0]
    assert "limit=100" in pages[0] and "cursor=page-2" in pages[-1]

    with_token = Server(http_peer.url("/").rstrip("/"), token="someone-elses")
    with pytest.raises(ServerError) as refused:  # a token alone: no second log-in
        with_token.monitors()
    assert refused.value.status == 401 and str(refused.value).startswith("401 Unauthorized")


def test_an_unreachable_server_is_a_server_error_without_status():
    with pytest.raises(ServerError, match="cannot reach http://127.0.0.1:9/api/v1") as failed:
        Server("http://127.0.0.1:9", token="t").request("GET", "/monitors")
    assert failed.value.status is None


def test_problem_documents_become_one_line_per_field_error():
    request = httpx.Request("POST", "https://crm.example/api/v1/monitors")
    problem = httpx.Response(422, request=request, json={
        "title": "Unprocessable Content", "detail": "2 problems",
        "errors": {"url": ["enter an http:// or https:// URL"], "interval": ["too short", "odd"]}})
    assert describe_problem(problem) == ("422 2 problems\n  url: enter an http:// or https:// URL"
                                         "\n  interval: too short\n  interval: odd")
    assert describe_problem(httpx.Response(502, request=request, text="<html>gateway</html>")) \
        == "502 Bad Gateway"
    assert describe_problem(httpx.Response(404, request=request, json=["not", "a", "problem"])) \
        == "404 Not Found"
    assert describe_problem(httpx.Response(409, request=request, json={"title": "Conflict"})) \
        == "409 Conflict"


def test_check_files_name_each_bad_check(tmp_path):
    text = "\n".join([
        "[[checks]]", 'name = "zero"', "id = 0", 'type = "tcp"', 'host = "db.example"', "port = 1",
        "[[checks]]", 'name = "text"', 'id = "7"', 'type = "tcp"', 'host = "db.example"',
        "port = 1",
        "[[checks]]", 'name = "flag"', "id = true", 'type = "tcp"', 'host = "db.example"',
        "port = 1",
        "[[checks]]", 'name = "fine"', "id = 7", 'type = "tcp"', 'host = "db.example"', "port = 1",
    ])
    with pytest.raises(UsageError) as refused:
        cli_tool.load_checks(write(tmp_path, text))
    refusal = "id: must be the server's monitor id (a positive whole number)"
    assert [line.strip() for line in str(refused.value).splitlines() if refusal in line] == [
        f"{label}: {refusal}" for label in ("checks[0] (zero)", "checks[1] (text)",
                                            "checks[2] (flag)")]
    assert "fine" not in str(refused.value)
    with pytest.raises(UsageError, match=r"checks\[0\]: must be a table"):
        cli_tool.load_checks(write(tmp_path, "checks = [1]"))
    with pytest.raises(UsageError, match="cannot read"):
        cli_tool.load_checks(str(tmp_path))  # a directory
    good = cli_tool.load_checks(write(tmp_path, "\n".join(text.splitlines()[-6:])))
    assert [(c.monitor_id, c.spec.name, c.target.type) for c in good] == [(7, "fine", "tcp")]


def test_the_printed_table():
    class Spec:
        def __init__(self, name, type_):
            self.name, self.type = name, type_

    checks = [cli_tool.Check(n, Spec(name, kind), None)
              for n, (name, kind) in enumerate([("cert", "tls"), ("dns", "dns"), ("api", "http"),
                                                ("db", "tcp")], 1)]
    outcomes = [CheckOutcome("up", response_time_ms=12.4, detail={"days_left": 40}),
                CheckOutcome("up", response_time_ms=3.0, detail={"addresses": ["10.0.0.8", "::1"]}),
                CheckOutcome("down", status_code=503, error="status 503"),
                CheckOutcome("up")]
    table = cli_tool.format_table(cli_tool.outcome_rows(checks, outcomes),
                                  ["NAME", "TYPE", "STATUS", "MS", "DETAIL"])
    assert table.splitlines() == [
        "NAME  TYPE  STATUS  MS  DETAIL",
        "----  ----  ------  --  ------------------------",
        "cert  tls   UP      12  days left: 40",
        "dns   dns   UP      3   addresses: 10.0.0.8, ::1",
        "api   http  DOWN    -   status 503",
        "db    tcp   UP      -   ok",
    ]
    assert cli_tool.format_table([], ["NAME", "ID"]) == "NAME  ID\n----  --"


def test_what_the_list_shows_as_each_monitors_target():
    assert [cli_tool._target_text(m) for m in [
        {"type": "http", "url": "https://api.example/health"},
        {"type": "synthetic", "steps": [{}, {}]},
        {"type": "heartbeat", "ping_url": "https://crm.example/ping/abc"},
        {"type": "tcp", "host": "db.example", "port": 5432},
        {"type": "dns", "host": "example.com"},
    ]] == ["https://api.example/health", "2 steps", "https://crm.example/ping/abc",
           "db.example:5432", "example.com"]


def _problem(status: int, detail: str) -> Route:
    return Route(status, {"title": "Refused", "status": status, "detail": detail},
                 headers={"Content-Type": "application/problem+json"})


def test_the_agent_reports_each_refused_result_and_exits_1(tmp_path, http_peer, tcp_peer):
    http_peer.routes["/api/v1/monitors/1/results"] = Route(201, {"id": 1})
    http_peer.routes["/api/v1/monitors/2/results"] = _problem(409, "monitor 2 is paused")
    config = write(tmp_path, f"""
[[checks]]
id = 1
name = "db"
type = "tcp"
host = "127.0.0.1"
port = {tcp_peer.port}

[[checks]]
id = 2
name = "closed"
type = "tcp"
host = "127.0.0.1"
port = 9
timeout = 2
""")
    code, output = run_cli("run", "--config", config, "--server", http_peer.url("/").rstrip("/"),
                           "--token", "t-1", "--once")
    assert code == 1
    assert "monitor 2 (closed): result refused: 409 monitor 2 is paused" in output
    pushed = {r["path"]: json.loads(r["body"]) for r in http_peer.requests}
    assert pushed["/api/v1/monitors/1/results"]["status"] == "up"
    assert pushed["/api/v1/monitors/2/results"]["status"] == "down"
    assert all(body["checked_at"] for body in pushed.values())
    assert all(r["headers"]["Authorization"] == "Bearer t-1" for r in http_peer.requests)


def test_remove_reports_each_failure_and_add_builds_the_body_from_flags(http_peer):
    server = ["--server", http_peer.url("/").rstrip("/"), "--token", "t-1"]
    http_peer.routes["/api/v1/monitors/3"] = Route(204, "")
    http_peer.routes["/api/v1/monitors/4"] = _problem(404, "No such monitor.")
    code, output = run_cli("remove", "3", "4", *server)
    assert code == 1
    assert output.splitlines() == ["removed monitor 3", "monitor 4: 404 No such monitor."]

    http_peer.routes["/api/v1/monitors"] = Route(201, {"id": 9, "name": "Shop"})
    code, output = run_cli("add", *server, "--name", "Shop", "--type", "http", "--url",
                           "https://shop.example/", "--timeout", "2.5", "--tag", "eu", "--tag",
                           "shop", "--email-contact", "ops@example.com", "--phone-contact",
                           "+447700900123")
    assert (code, output) == (0, "created monitor 9: Shop\n")
    assert json.loads(http_peer.requests[-1]["body"]) == {
        "name": "Shop", "type": "http", "url": "https://shop.example/", "timeout": 2.5,
        "tags": ["eu", "shop"],
        "contacts": [{"email": "ops@example.com"}, {"phone": "+447700900123"}]}
    assert run_cli("add", *server, "--name", "Shop")[0] == 2  # no --type, no --config


def test_whole_numbers_of_at_least_one(capsys):
    for bad, words in (("0", "must be at least 1"), ("x", "'x' is not a whole number")):
        with pytest.raises(SystemExit) as exited:
            run_cli("run", "--config", "c.toml", "--interval", bad, "--once")
        assert exited.value.code == 2 and words in capsys.readouterr().err
