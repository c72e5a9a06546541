"""Server-side request forgery through monitors: the outbound policy (crm/net/policy.py), the
guarded client (crm/net/guard.py) at save time and at every connection, redirects, DNS
rebinding against a real dnslib server, and results that never echo what a target answered.

Peers are real servers on 127.0.0.1 (and 127.0.0.2, the "public" address of the rebinding
test); nothing here connects outside the machine: refused addresses are refused before any
connection, which is what the tests prove.
"""
from __future__ import annotations

import socket
import threading
import time
from http.server import ThreadingHTTPServer

import pytest
from sqlalchemy import select

from crm.config import Config, ConfigError
from crm.extensions import db
from crm.monitoring.engine import jobs
from crm.monitoring.engine.checks import Target
from crm.monitoring.engine.runner import run_blocking, run_now, run_targets
from crm.monitoring.models import CheckResult, Flip, Incident, Monitor
from crm.net import AddressRefused, DnsResolver, Guard, Policy, customer_policy, vet_host
from crm.net.policy import normalise_host, staff_policy
from tests.api.conftest import assert_problem
from tests.monitoring.peers import Route, _HTTPHandler, _HTTPServer

STAFF = Policy()
STRICT = Policy(block_private=True)
#: The console form's other fields (as tests/monitoring/test_console.py posts them).
CONSOLE_BASE = {
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


# ---------------------------------------------------------------- the policy


@pytest.mark.parametrize(
    "address,reason",
    [
        ("169.254.169.254", "cloud metadata"),
        ("169.254.170.2", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "broadcast or reserved"),
        ("240.0.0.1", "broadcast or reserved"),
    ],
)
def test_every_always_blocked_range_is_refused_for_staff(address, reason):
    with pytest.raises(AddressRefused) as refused:
        vet_host(STAFF, address)
    assert refused.value.reason == reason
    assert str(refused.value).startswith(f"address refused: {normalise_host(address)} ({reason}")


@pytest.mark.parametrize(
    "host,address",
    [
        ("2130706433", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("LOCALHOST", "127.0.0.1"),
        ("api.localhost", "127.0.0.1"),
    ],
)
def test_numeric_and_local_forms_of_loopback_are_normalised_before_vetting(host, address):
    assert vet_host(STAFF, host) is not None  # staff may reach loopback by default
    with pytest.raises(AddressRefused) as refused:
        vet_host(STRICT, host)
    assert refused.value.reason == "loopback" and refused.value.address == address


@pytest.mark.parametrize(
    "host",
    [
        "2852039166",
        "0xa9fea9fe",
        "0251.0376.0251.0376",
        "0xa9.0xfe.0xa9.0xfe",
        "169.254.43518",
        "::ffff:169.254.169.254",
        "::ffff:a9fe:a9fe",
        "64:ff9b::a9fe:a9fe",
        "2002:a9fe:a9fe::1",
        "metadata.google.internal",
    ],
)
def test_numeric_and_embedded_forms_of_the_metadata_address_are_refused(host):
    with pytest.raises(AddressRefused) as refused:
        vet_host(
            Policy(allowed=staff_policy({"MONITOR_ALLOWED_NETWORKS": "0.0.0.0/0,::/0"}).allowed),
            host,
        )
    assert refused.value.reason == "cloud metadata"


def test_a_numeric_looking_host_that_is_no_address_is_refused():
    for host in ("08.1.1.1", "4294967296", "0x100000000", "1.2.3.0x100"):
        with pytest.raises(AddressRefused):
            vet_host(STAFF, host)


@pytest.mark.parametrize(
    "address,reason",
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
    ],
)
def test_staff_reach_private_networks_unless_blocked(address, reason):
    assert str(vet_host(staff_policy({}), address)) == address
    with pytest.raises(AddressRefused) as refused:
        vet_host(staff_policy({"MONITOR_BLOCK_PRIVATE_FOR_STAFF": True}), address)
    assert refused.value.reason == reason
    assert str(vet_host(STAFF, "93.184.216.34")) == "93.184.216.34"  # public stays reachable


def test_the_allow_list_overrides_every_block_except_metadata():
    policy = staff_policy(
        {
            "MONITOR_BLOCK_PRIVATE_FOR_STAFF": True,
            "MONITOR_ALLOWED_NETWORKS": "10.20.0.0/16, 169.254.0.0/16, 224.0.0.0/4",
        }
    )
    assert str(vet_host(policy, "10.20.3.4")) == "10.20.3.4"
    assert str(vet_host(policy, "169.254.10.5")) == "169.254.10.5"
    with pytest.raises(AddressRefused, match="private"):
        vet_host(policy, "10.21.0.1")
    for metadata in ("169.254.169.254", "169.254.170.2"):
        with pytest.raises(AddressRefused, match="cloud metadata"):
            vet_host(policy, metadata)


def test_the_customer_policy_also_refuses_private_networks_and_the_apps_own_names():
    policy = customer_policy({"PUBLIC_URL": "https://crm.example.com"})
    for host in (
        "127.0.0.1",
        "10.0.0.5",
        "172.20.0.1",
        "192.168.0.1",
        "100.64.1.1",
        "fc00::1",
        "::1",
    ):
        with pytest.raises(AddressRefused):
            vet_host(policy, host)
    with pytest.raises(AddressRefused, match="own host name"):
        vet_host(policy, "CRM.example.com.")
    assert vet_host(policy, "shop.example.org") == "shop.example.org"


def test_allowed_networks_open_chosen_networks_to_customers_but_never_metadata():
    policy = customer_policy(
        {"PUBLIC_URL": "https://crm.example.com", "MONITOR_ALLOWED_NETWORKS": "10.0.0.0/8"}
    )
    assert str(vet_host(policy, "10.0.0.5")) == "10.0.0.5"
    for host in ("127.0.0.1", "192.168.0.1", "169.254.169.254"):
        with pytest.raises(AddressRefused):
            vet_host(policy, host)


def test_allowed_networks_setting_is_parsed_strictly(monkeypatch, tmp_path):
    monkeypatch.setenv("MONITOR_ALLOWED_NETWORKS", "10.0.0.0/8, fd00::/8")
    assert Config.load(str(tmp_path))["MONITOR_ALLOWED_NETWORKS"] == ("10.0.0.0/8", "fd00::/8")
    monkeypatch.setenv("MONITOR_ALLOWED_NETWORKS", "10.0.0.0/8, intranet")
    with pytest.raises(ConfigError, match="MONITOR_ALLOWED_NETWORKS.*intranet"):
        Config.load(str(tmp_path))
    monkeypatch.setenv("MONITOR_BLOCK_PRIVATE_FOR_STAFF", "maybe")
    monkeypatch.delenv("MONITOR_ALLOWED_NETWORKS")
    with pytest.raises(ConfigError, match="MONITOR_BLOCK_PRIVATE_FOR_STAFF"):
        Config.load(str(tmp_path))


# ---------------------------------------------------------------- refused at save


@pytest.mark.parametrize(
    "body,field,address",
    [
        (
            {"type": "http", "url": "http://169.254.169.254/latest/meta-data/"},
            "url",
            "169.254.169.254",
        ),
        ({"type": "http", "url": "http://2852039166/latest/"}, "url", "169.254.169.254"),
        ({"type": "http", "url": "http://[fd00:ec2::254]/"}, "url", "fd00:ec2::254"),
        ({"type": "tcp", "host": "169.254.169.254", "port": 80}, "host", "169.254.169.254"),
        ({"type": "smtp", "host": "0.0.0.0", "port": 25}, "host", "0.0.0.0"),
        ({"type": "ftp", "host": "fe80::1"}, "host", "fe80::1"),
        ({"type": "tls", "host": "metadata.google.internal"}, "host", "metadata.google.internal"),
        (
            {"type": "dns", "host": "example.com", "resolver": "169.254.169.254:53"},
            "resolver",
            "169.254.169.254",
        ),
        (
            {
                "type": "synthetic",
                "steps": [{"name": "meta", "url": "http://169.254.169.254/latest/"}],
            },
            "steps.0.url",
            "169.254.169.254",
        ),
    ],
)
def test_engineer_cannot_create_monitors_to_blocked_addresses(api, engineer, body, field, address):
    problem = assert_problem(api.post("/monitors", engineer, json={"name": "probe", **body}), 422)
    assert any(address in m and "address refused" in m for m in problem["errors"][field]), problem
    assert db.session.query(Monitor).count() == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1]:8000/api/v1/auth/me",
        "http://2130706433/",
        "http://localhost:5000/",
        "http://10.0.0.5/",
    ],
)
def test_loopback_and_private_monitors_are_refused_at_save_when_blocked_for_staff(
    api, engineer, app, monkeypatch, url
):
    body = {"name": "internal", "type": "http", "url": url}
    monkeypatch.setitem(app.config, "MONITOR_BLOCK_PRIVATE_FOR_STAFF", True)
    problem = assert_problem(api.post("/monitors", engineer, json=body), 422)
    assert "address refused" in problem["errors"]["url"][0]
    monkeypatch.setitem(
        app.config, "MONITOR_ALLOWED_NETWORKS", ("127.0.0.0/8", "::1/128", "10.0.0.0/8")
    )
    assert api.post("/monitors", engineer, json=body).status_code == 201


def test_changing_or_importing_a_monitor_to_a_blocked_address_is_refused(api, engineer):
    created = api.post(
        "/monitors",
        engineer,
        json={"name": "shop", "type": "http", "url": "https://shop.example.com/"},
    ).json
    problem = assert_problem(
        api.patch(f"/monitors/{created['id']}", engineer, json={"url": "http://169.254.169.254/"}),
        422,
    )
    assert "169.254.169.254" in problem["errors"]["url"][0]
    assert db.session.get(Monitor, created["id"]).config["url"] == "https://shop.example.com/"
    problem = assert_problem(
        api.post(
            "/monitors/import",
            engineer,
            json=[{"name": "meta", "type": "tcp", "host": "0xa9fea9fe", "port": 80}],
        ),
        422,
    )
    assert "169.254.169.254" in problem["errors"]["0.host"][0]


def test_console_form_names_the_refused_address(client, make_user, login):
    login(make_user("engineer"))
    resp = client.post(
        "/monitors/new",
        data={
            **CONSOLE_BASE,
            "name": "meta",
            "type": "http",
            "url": "http://169.254.169.254/latest/meta-data/",
        },
    )
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    errors = html.split('id="url-errors">', 1)[1].split("</div>", 1)[0]
    assert "address refused: 169.254.169.254 (cloud metadata)" in errors.lower()
    assert db.session.query(Monitor).count() == 0


# ---------------------------------------------------------------- refused at every connection


@pytest.mark.parametrize(
    "kind,config",
    [
        ("http", {"url": "http://169.254.169.254/latest/meta-data/"}),
        ("tcp", {"host": "169.254.169.254", "port": 80}),
        ("smtp", {"host": "169.254.169.254", "port": 25}),
        ("ftp", {"host": "169.254.169.254", "port": 21}),
        ("tls", {"host": "169.254.169.254", "port": 443}),
        ("dns", {"host": "example.com", "resolver": "169.254.169.254"}),
        ("synthetic", {"steps": [{"name": "meta", "url": "http://169.254.169.254/latest/"}]}),
    ],
)
def test_a_stored_monitor_to_the_metadata_address_is_down_without_connecting(
    make_monitor, kind, config
):
    outcome = run_now(make_monitor(kind, timeout=5, **config))  # stored past the service's check
    assert outcome.status == "down"
    assert "address refused: 169.254.169.254 (cloud metadata)" in outcome.error
    assert outcome.response_time_ms is None  # refused before any connection, not timed out


def test_blocking_private_networks_stops_checks_before_they_connect(
    app, monkeypatch, make_monitor, http_peer, tcp_peer
):
    http_peer.routes["/api/v1/auth/me"] = Route(200, {"email": "engineer@example.com"})
    web = make_monitor("http", url=http_peer.url("/api/v1/auth/me"))
    port = make_monitor("tcp", host="2130706433", port=tcp_peer.port)
    accepted = tcp_peer.accepted
    monkeypatch.setitem(app.config, "MONITOR_BLOCK_PRIVATE_FOR_STAFF", True)
    for monitor in (web, port):
        outcome = run_now(monitor)
        assert outcome.status == "down" and "address refused: 127.0.0.1 (loopback" in outcome.error
    assert http_peer.requests == []
    monkeypatch.setitem(app.config, "MONITOR_BLOCK_PRIVATE_FOR_STAFF", False)
    assert run_now(port).status == "up"
    for _ in range(200):  # the peer counts in its own thread: wait for the one allowed connection
        if tcp_peer.accepted > accepted:
            break
        time.sleep(0.01)
    assert tcp_peer.accepted == accepted + 1  # ... and it is the only one


def test_a_redirect_to_a_blocked_address_is_refused(http_peer, make_monitor):
    # Linux connects 0.0.0.0 to the local host: followed blindly, this redirect would reach
    # the peer's /secret; the guard refuses the hop before asking for it.
    http_peer.routes["/go"] = Route(
        302, "", headers={"Location": f"http://0.0.0.0:{http_peer.port}/secret"}
    )
    http_peer.routes["/secret"] = Route(200, "the secret")
    http_peer.routes["/meta"] = Route(
        301, "", headers={"Location": "http://169.254.169.254/latest/"}
    )
    followed = make_monitor("http", url=http_peer.url("/go"))
    outcome = run_now(followed)
    assert (
        outcome.status == "down"
        and outcome.error == "redirect refused: address refused (unspecified)"
    )
    assert [r["path"] for r in http_peer.requests] == ["/go"]
    outcome = run_now(make_monitor("http", url=http_peer.url("/meta")))
    assert outcome.error == "redirect refused: address refused (cloud metadata)"
    step = make_monitor("synthetic", steps=[{"name": "hop", "url": http_peer.url("/go")}])
    assert "redirect refused" in run_now(step).error
    assert "/secret" not in [r["path"] for r in http_peer.requests]
    # a redirect to an allowed address is still followed, hop by hop
    http_peer.routes["/ok"] = Route(302, "", headers={"Location": "/secret"})
    assert run_now(make_monitor("http", url=http_peer.url("/ok"), keyword="secret")).status == "up"


# ------------------------------------------------------- DNS: resolved once, vetted, connected


class RebindingDNS:
    """A dnslib server whose answers change: ``answers[name]`` is a list of address lists,
    the n-th A query for the name gets the n-th list (the last one from then on)."""

    def __init__(self, answers: dict[str, list[list[str]]]):
        from dnslib import QTYPE, RCODE, RR, A
        from dnslib.server import BaseResolver, DNSLogger, DNSServer

        self.answers = answers
        self.queries: dict[str, int] = {}
        peer = self

        class _Resolver(BaseResolver):
            def resolve(self, request, handler):
                reply = request.reply()
                name = str(request.q.qname).rstrip(".")
                if name not in peer.answers:
                    reply.header.rcode = RCODE.NXDOMAIN
                    return reply
                if request.q.qtype == QTYPE.A:
                    n = peer.queries.get(name, 0)
                    peer.queries[name] = n + 1
                    for address in peer.answers[name][min(n, len(peer.answers[name]) - 1)]:
                        reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=0))
                return reply

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = DNSServer(
            _Resolver(),
            port=self.port,
            address="127.0.0.1",
            logger=DNSLogger(
                log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False
            ),
        )
        self.server.start_thread()

    def resolver(self) -> DnsResolver:
        """A resolver asking this server."""
        return DnsResolver(["127.0.0.1"], port=self.port, lifetime=2)

    def stop(self) -> None:
        self.server.stop()


class _PeerOn(_HTTPServer):
    """The HTTP peer's server bound to another loopback address (127.0.0.2)."""

    def __init__(self, host: str):
        ThreadingHTTPServer.__init__(self, (host, 0), _HTTPHandler)
        self.routes, self.requests, self.tls = {}, [], None


@pytest.fixture
def public_peer():
    """An HTTP peer on 127.0.0.2, standing in for a public server (allow-listed below)."""
    server = _PeerOn("127.0.0.2")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _check(target_config: dict, guard: Guard, kind: str = "http"):
    target = Target(id=None, type=kind, config=target_config, timeout=3, protocol=kind)
    return run_blocking(run_targets([target], guard=guard))[0]


def test_dns_rebinding_cannot_swap_the_vetted_address(public_peer, http_peer):
    """The name answers the "public" 127.0.0.2 first, then 127.0.0.1 (refused): the guard
    resolves once, vets, and connects to the address it vetted."""
    public_peer.routes["/"] = Route(200, "public page")
    http_peer.routes["/"] = Route(200, "internal page")
    dns = RebindingDNS({"rebind.example.com": [["127.0.0.2"], ["127.0.0.1"]]})
    try:
        guard = Guard(
            Policy(
                block_private=True,
                allowed=staff_policy({"MONITOR_ALLOWED_NETWORKS": "127.0.0.2/32"}).allowed,
            ),
            dns.resolver(),
        )
        port = public_peer.server_address[1]
        outcome = _check(
            {"url": f"http://rebind.example.com:{port}/", "keyword": "public page"}, guard
        )
        assert outcome.status == "up", outcome.error
        assert public_peer.requests[0]["headers"]["Host"] == f"rebind.example.com:{port}"
        assert dns.queries["rebind.example.com"] == 1
        # the next resolution answers 127.0.0.1: refused before connecting
        outcome = _check({"url": f"http://rebind.example.com:{http_peer.port}/"}, guard)
        assert (
            outcome.status == "down"
            and "address refused: 127.0.0.1 (loopback; from rebind.example.com)" in outcome.error
        )
        assert http_peer.requests == []
    finally:
        dns.stop()


def test_a_name_resolving_to_the_metadata_address_at_connect_time_is_never_connected(tcp_peer):
    dns = RebindingDNS(
        {
            "shop.example.com": [["169.254.169.254"]],
            "mixed.example.com": [["127.0.0.1", "169.254.169.254"]],
        }
    )
    try:
        guard = Guard(STAFF, dns.resolver())
        accepted = tcp_peer.accepted
        for name in ("shop.example.com", "mixed.example.com"):
            outcome = _check({"host": name, "port": tcp_peer.port}, guard, "tcp")
            assert outcome.status == "down"
            assert (
                outcome.error == f"address refused: 169.254.169.254 (cloud metadata; from {name})"
            )
        assert tcp_peer.accepted == accepted  # "mixed" was not tried on its allowed address either
        outcome = _check({"url": "http://shop.example.com/latest/"}, guard)
        assert outcome.error.startswith("address refused: 169.254.169.254 (cloud metadata")
    finally:
        dns.stop()


# ---------------------------------------------------------------- no read-back


def test_a_json_path_check_never_echoes_the_response_into_results(
    app, make_monitor, http_peer, agent, api, client, make_user, login
):
    """The audit's read-back: a monitor against the app's own /api/v1/auth/me with a token and
    a JSON-path assertion used to store "JSON path $.email is 'engineer@…'" for every staff
    role to read."""
    secret = "engineer-7f3a@example.com"
    http_peer.routes["/api/v1/auth/me"] = Route(
        200, {"email": secret, "token": "tok-123"}, headers={"X-Secret": secret}
    )
    monitor = make_monitor(
        "http",
        url=http_peer.url("/api/v1/auth/me"),
        headers={"Authorization": "Bearer x"},
        json_path="$.email",
        json_expected="nobody@example.com",
    )
    assert jobs.run_checks([monitor.id]) == 1
    db.session.expire_all()
    stored = db.session.get(Monitor, monitor.id)
    assert stored.status == "down"
    assert stored.last_error == "JSON path $.email did not match the expected value"
    texts = [
        stored.last_error,
        *db.session.scalars(select(CheckResult.error)),
        *db.session.scalars(select(Flip.reason)),
        *db.session.scalars(select(Incident.cause)),
    ]
    assert texts and not any(secret in (t or "") for t in texts)
    for path in (f"/monitors/{monitor.id}", f"/monitors/{monitor.id}/logs", "/monitors"):
        body = api.get(path, agent).get_data(as_text=True)
        assert "did not match" in body and secret not in body
    login(make_user("agent"))
    page = client.get(f"/monitors/{monitor.id}").get_data(as_text=True)
    assert "did not match the expected value" in page and secret not in page


class BannerPeer:
    """A TCP server that greets every connection with a fixed line (a non-HTTP service)."""

    def __init__(self, banner: bytes):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.banner = banner
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                conn.sendall(self.banner)
                conn.recv(1024)
            except OSError:
                pass
            finally:
                conn.close()


def test_banners_of_other_services_are_not_echoed_into_errors(make_monitor):
    peer = BannerPeer(b"SSH-2.0-OpenSSH_9.6 internal-db-7 key=hunter2\r\n")
    try:
        monitors = [
            make_monitor("http", url=f"http://127.0.0.1:{peer.port}/"),
            make_monitor("smtp", host="127.0.0.1", port=peer.port),
            make_monitor("ftp", host="127.0.0.1", port=peer.port),
        ]
        for monitor in monitors:
            outcome = run_now(monitor)
            assert outcome.status == "down" and outcome.error
            assert "hunter2" not in outcome.error and "OpenSSH" not in outcome.error, outcome.error
    finally:
        peer.sock.close()


def test_dns_results_do_not_list_the_answers_of_the_resolver(make_monitor, dns_peer):
    monitor = make_monitor(
        "dns",
        host="multi.example.test",
        resolver=f"127.0.0.1:{dns_peer.port}",
        expected_address="10.9.9.9",
    )
    outcome = run_now(monitor)
    assert outcome.error == "multi.example.test did not resolve to the expected 10.9.9.9"
    assert outcome.detail["addresses"] == ["10.0.0.8", "10.0.0.9"]  # a manual run still shows them


def test_manual_run_shows_echoes_cut_to_64_characters_and_secrets_masked(http_peer, make_monitor):
    long_value = "x" * 200
    http_peer.routes["/login"] = Route(
        200,
        {"access_token": "tok-abcdef", "name": long_value},
        headers={"Set-Cookie": "sid=s3cr3t"},
    )
    monitor = make_monitor(
        "synthetic",
        steps=[
            {
                "name": "login",
                "url": http_peer.url("/login"),
                "assertions": [
                    {"type": "json_path", "path": "$.access_token", "expected": "other"},
                    {"type": "json_path", "path": "$.name", "expected": "short"},
                    {"type": "header", "name": "Set-Cookie", "expected": "nope"},
                ],
            }
        ],
    )
    outcome = run_now(monitor)  # the run-now page is for monitor.manage only
    status, token, name, cookie = [a["detail"] for a in outcome.steps[0]["assertions"]]
    assert (status, token, cookie) == ("got 200", "got ********", "got ********")
    assert "tok-abcdef" not in str(outcome.steps) and "s3cr3t" not in str(outcome.steps)
    assert len(name.removeprefix("got ")) == 64 and name.endswith("…")
    assert outcome.error == "step 'login': assertion JSON $.access_token equals 'other' failed"
