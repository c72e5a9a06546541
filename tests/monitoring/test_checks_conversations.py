"""SMTP and FTP conversations that go wrong at each step, against a scripted line server on
127.0.0.1 (a real socket that answers each command as the case says), DNS answers without
the asked record type, and HTTP JSON rules that fail without quoting the body. The happy
paths and real servers are in ``test_checks_protocols.py`` and ``test_checks_http.py``.

No database is involved, so the tests run on one backend."""
from __future__ import annotations

import socketserver
import threading

import pytest

from crm.monitoring.engine import runner
from crm.monitoring.engine.checks.base import Target
from tests.monitoring.peers import Route

pytestmark = pytest.mark.only_backend("sqlite")


class ScriptedPeer:
    """A TCP server that sends ``greeting`` and then, for each line received, the reply of
    the first ``(command prefix, reply)`` of ``script`` that matches (``None``: close)."""

    def __init__(self):
        peer = self
        self.greeting, self.script, self.heard = "220 ready", [], []

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                self.wfile.write((peer.greeting + "\r\n").encode())
                for raw in self.rfile:
                    line = raw.decode().strip()
                    peer.heard.append(line)
                    reply = next((r for prefix, r in peer.script if line.startswith(prefix)),
                                 "500 unknown")
                    if reply is None:
                        return
                    self.wfile.write((reply + "\r\n").encode())

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def play(self, greeting: str, script: list[tuple[str, str | None]]) -> ScriptedPeer:
        self.greeting, self.script = greeting, script
        self.heard.clear()
        return self


@pytest.fixture(scope="module")
def scripted():
    peer = ScriptedPeer()
    yield peer
    peer.server.shutdown()
    peer.server.server_close()


def _run(type_: str, port: int, **config):
    target = Target(id=1, type=type_, config={"host": "127.0.0.1", "port": port, **config},
                    timeout=2.0, protocol=type_)
    return runner.run_batch([target])[0]


SMTP_OK = [("EHLO", "250-mx.example\r\n250 SIZE 10000"), ("QUIT", "221 bye")]

#: (greeting, script, config, status, error or None, status code)
SMTP_CASES = [
    ("554 no service here", [], {}, "down", "greeting 554 (expected 220)", 554),
    ("220 mx.example ESMTP", [("EHLO", "502 not implemented")], {}, "down",
     "EHLO answered 502 (expected 250)", 502),
    ("220 mx.example ESMTP", SMTP_OK, {"starttls": True}, "down", "STARTTLS not offered", 250),
    ("220 mx.example ESMTP", [("EHLO", "250-mx.example\r\n250 STARTTLS"),
                              ("STARTTLS", "454 TLS not available")], {"starttls": True}, "down",
     "STARTTLS answered 454 (expected 220)", 454),
    ("220 mx.example ESMTP", SMTP_OK, {}, "up", None, 220),
    ("220 mx.example ESMTP", [("EHLO", "250 mx.example"), ("QUIT", None)], {}, "up", None, 220),
]


def _play_all(scripted, type_: str, cases) -> list[str]:
    """Play each case; what went otherwise than the case says."""
    wrong = []
    for greeting, script, config, status, error, code in cases:
        outcome = _run(type_, scripted.play(greeting, script).port, **config)
        if (outcome.status, outcome.error, outcome.status_code) != (status, error, code):
            wrong.append(f"{greeting!r} {script}: {outcome}")
        elif status == "up" and config.get("username") and not outcome.detail.get("logged_in"):
            wrong.append(f"{greeting!r} {script}: not logged in")
    return wrong


def test_smtp_conversations(app, scripted):
    wrong = _play_all(scripted, "smtp", SMTP_CASES)
    assert not wrong, "\n".join(wrong)
    _run("smtp", scripted.play(*SMTP_CASES[-2][:2]).port, helo_name="probe.example")
    assert scripted.heard[0] == "EHLO probe.example" and scripted.heard[-1] == "QUIT"


FTP_CASES = [
    ("421 too many users", [], {}, "down", "greeting 421 (expected 220)", 421),
    ("220 ftp.example", [("USER", "331 password please"), ("PASS", "530 login incorrect")],
     {"username": "bot", "password": "nope"}, "down", "login failed: 530", 530),
    ("220 ftp.example", [("USER", "530 no anonymous")], {"username": "anonymous"}, "down",
     "login failed: 530", 530),
    ("220 ftp.example", [("USER", "230 welcome, no password needed"), ("QUIT", "221 bye")],
     {"username": "guest"}, "up", None, 230),
    ("220 ftp.example", [("QUIT", "221 bye")], {}, "up", None, 220),
]


def test_ftp_conversations(app, scripted):
    wrong = _play_all(scripted, "ftp", FTP_CASES)
    assert not wrong, "\n".join(wrong)
    _run("ftp", scripted.play(*FTP_CASES[1][:2]).port, username="bot", password="s3cret")
    assert scripted.heard[:2] == ["USER bot", "PASS s3cret"]


def test_a_peer_that_is_not_speaking_the_protocol_is_down(app, scripted):
    for type_ in ("smtp", "ftp"):
        outcome = _run(type_, scripted.play("SSH-2.0-OpenSSH_9.6", []).port)
        assert outcome.status == "down" and "malformed reply" in outcome.error
        assert "OpenSSH" not in outcome.error  # the peer's banner is not echoed in results


def test_dns_without_the_asked_record_type(app, dns_peer):
    resolver = f"127.0.0.1:{dns_peer.port}"
    outcome = runner.run_batch([Target(id=1, type="dns", timeout=2.0, protocol="dns", config={
        "host": "app.example.test", "resolver": resolver, "record_type": "AAAA"})])[0]
    assert (outcome.status, outcome.error) == ("down", "app.example.test: no AAAA record")


def test_http_json_rules_name_the_path_never_the_body(app, http_peer):
    http_peer.routes["/html"] = Route(200, "<html>secret-token-123</html>")
    http_peer.routes["/json"] = Route(200, {"data": {"token": "secret-token-123"}})
    targets = [Target(id=n, type="http", timeout=2.0, protocol="http", config={
        "url": http_peer.url(path), "json_path": json_path}) for n, (path, json_path) in
        enumerate([("/html", "$.data.token"), ("/json", "$.data.missing"),
                   ("/json", "$.data[0]"), ("/json", "$.data.token")])]
    outcomes = runner.run_batch(targets)
    assert [(o.status, o.error) for o in outcomes] == [
        ("down", "JSON path $.data.token: the response is not JSON"),
        ("down", "JSON path $.data.missing not found in the response"),
        ("down", "JSON path $.data[0] not found in the response"),
        ("up", None)]
    assert all(o.status_code == 200 for o in outcomes)
