"""Fixtures of the monitoring tests: real peers on 127.0.0.1 (see :mod:`tests.monitoring.peers`),
a test CA (trustme) trusted by the checks, and a monitor factory."""
from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta

import pytest
import trustme

from crm.extensions import db
from crm.monitoring.models import Contact, ContactGroup, Monitor
from tests.api.conftest import Api
from tests.monitoring.peers import DNSPeer, FTPPeer, HTTPPeer, SilentPeer, SMTPPeer, TCPPeer


@pytest.fixture(scope="session")
def test_ca():
    """A trustme CA for the TLS peers."""
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(test_ca, tmp_path_factory) -> str:
    """The test CA's certificate as a PEM file."""
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    test_ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def trust_test_ca(app, ca_file):
    """Make the checks trust the test CA (``MONITOR_CA_FILE``) for this test."""
    old = app.config.get("MONITOR_CA_FILE")
    app.config["MONITOR_CA_FILE"] = ca_file
    yield ca_file
    app.config["MONITOR_CA_FILE"] = old


def _server_context(test_ca, not_after: datetime | None) -> ssl.SSLContext:
    cert = test_ca.issue_cert("127.0.0.1", "localhost", not_after=not_after)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    return ctx


@pytest.fixture(scope="session")
def http_peer():
    """A plain HTTP peer (routes reset after each test)."""
    peer = HTTPPeer().start()
    yield peer
    peer.stop()


@pytest.fixture(autouse=True)
def _reset_http_peer(request):
    yield
    if "http_peer" in request.fixturenames:
        request.getfixturevalue("http_peer").reset()


@pytest.fixture(scope="session")
def https_peer(test_ca):
    """An HTTPS peer whose certificate (test CA) is valid for a year."""
    peer = HTTPPeer(tls=_server_context(test_ca, datetime.now(UTC) + timedelta(days=365))).start()
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def expiring_tls_peer(test_ca):
    """An HTTPS peer whose certificate (test CA) expires in 3 days."""
    peer = HTTPPeer(tls=_server_context(test_ca, datetime.now(UTC) + timedelta(days=3))).start()
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def tcp_peer():
    """A TCP listener that accepts connections."""
    peer = TCPPeer().start()
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def silent_peer():
    """A TCP listener that accepts and never answers (hanging SMTP/FTP server)."""
    peer = SilentPeer().start()
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def smtp_peer(test_ca):
    """An aiosmtpd server offering STARTTLS with a test-CA certificate."""
    ctx = _server_context(test_ca, datetime.now(UTC) + timedelta(days=365))
    peer = SMTPPeer(tls_context=ctx).start()
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def ftp_peer(tmp_path_factory):
    """A pyftpdlib server with user ``user`` / ``secret``."""
    peer = FTPPeer(str(tmp_path_factory.mktemp("ftp"))).start()
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def dns_peer():
    """A dnslib DNS server: ``app.example.test`` → 10.0.0.7, ``multi.example.test`` → two."""
    peer = DNSPeer({"app.example.test": ["10.0.0.7"],
                    "multi.example.test": ["10.0.0.8", "10.0.0.9"]}).start()
    yield peer
    peer.stop()


@pytest.fixture
def make_monitor(app):
    """Factory: ``make_monitor(type, name=None, interval=60, timeout=2, retries=1,
    **config_and_columns)``.

    Keys that are :class:`Monitor` columns (``paused``, ``next_check_at``, ``contact_group``,
    ``remind_every_minutes`` …) set the column; the rest goes to ``config``. Committed.
    """
    columns = set(Monitor.__table__.columns.keys()) | {"contact_group", "escalation_group"}
    counter = {"n": 0}

    def make(
        type_: str,
        name: str | None = None,
        interval: int = 60,
        timeout: float = 2.0,
        retries: int = 1,
        **fields,
    ) -> Monitor:
        counter["n"] += 1
        column_values = {k: fields.pop(k) for k in list(fields) if k in columns}
        monitor = Monitor(
            name=name or f"{type_} monitor {counter['n']}",
            type=type_,
            config=fields,
            interval_seconds=interval,
            timeout_seconds=timeout,
            retries=retries,
            **column_values,
        )
        db.session.add(monitor)
        db.session.commit()
        return monitor

    return make


@pytest.fixture
def make_group(app):
    """Factory: ``make_group(name, emails=(), phones=())`` → a committed :class:`ContactGroup`."""

    def make(name: str, emails=(), phones=()) -> ContactGroup:
        group = ContactGroup(name=name)
        group.contacts = [Contact(email=e) for e in emails] + [Contact(phone=p) for p in phones]
        db.session.add(group)
        db.session.commit()
        return group

    return make


@pytest.fixture
def api(client, token_for) -> Api:
    """Calls ``/api/v1`` as a user (tests/api/conftest.py's helper)."""
    return Api(client, token_for)


@pytest.fixture
def engineer(make_user):
    """An active engineer (not logged in; test modules that need a console log-in override it)."""
    return make_user("engineer")


@pytest.fixture
def agent(make_user):
    """An active agent."""
    return make_user("agent")
