"""TCP, SMTP, FTP, DNS and TLS-certificate checks against real local servers."""
from __future__ import annotations

import time

from crm.monitoring.engine.runner import run_batch, run_now
from tests.conftest import free_port


def test_tcp_up_and_refused_down(tcp_peer, make_monitor):
    up = make_monitor("tcp", host="127.0.0.1", port=tcp_peer.port)
    closed = make_monitor("tcp", host="127.0.0.1", port=free_port())
    out_up, out_closed = run_batch([up, closed])
    assert out_up.status == "up" and out_up.protocol == "tcp" and out_up.response_time_ms >= 0
    assert out_closed.status == "down" and not out_closed.answered


def test_smtp_banner_ehlo_and_starttls(smtp_peer, make_monitor, trust_test_ca):
    plain = make_monitor("smtp", host="127.0.0.1", port=smtp_peer.port)
    tls = make_monitor("smtp", host="127.0.0.1", port=smtp_peer.port, starttls=True)
    out_plain, out_tls = run_batch([plain, tls])
    assert out_plain.status == "up", out_plain.error
    assert out_plain.status_code == 220 and "Python SMTP" in out_plain.detail["banner"]
    assert out_tls.status == "up", out_tls.error
    assert out_tls.detail.get("tls") is True


def test_smtp_starttls_with_untrusted_certificate_is_down(smtp_peer, make_monitor):
    m = make_monitor("smtp", host="127.0.0.1", port=smtp_peer.port, starttls=True)
    outcome = run_now(m)
    assert outcome.status == "down" and "TLS handshake failed" in outcome.error


def test_smtp_silent_server_times_out(silent_peer, make_monitor):
    m = make_monitor("smtp", host="127.0.0.1", port=silent_peer.port, timeout=0.5)
    started = time.monotonic()
    outcome = run_now(m)
    assert outcome.status == "down" and outcome.error == "timed out"
    assert time.monotonic() - started < 1.5


def test_ftp_banner_and_login(ftp_peer, make_monitor):
    anonymous = make_monitor("ftp", host="127.0.0.1", port=ftp_peer.port)
    login = make_monitor(
        "ftp", host="127.0.0.1", port=ftp_peer.port, username="user", password="secret"
    )
    wrong = make_monitor(
        "ftp", host="127.0.0.1", port=ftp_peer.port, username="user", password="nope"
    )
    a, b, c = run_batch([anonymous, login, wrong])
    assert a.status == "up" and "CR test FTP ready" in a.detail["banner"]
    assert b.status == "up" and b.detail["logged_in"] is True and b.status_code == 230
    assert c.status == "down" and "login failed: 530" in c.error


def test_ftp_closed_port_is_down(make_monitor):
    m = make_monitor("ftp", host="127.0.0.1", port=free_port())
    assert run_now(m).status == "down"


def test_dns_resolves_against_chosen_resolver(dns_peer, make_monitor):
    resolver = f"127.0.0.1:{dns_peer.port}"
    ok = make_monitor(
        "dns", host="app.example.test", resolver=resolver, expected_address="10.0.0.7"
    )
    any_answer = make_monitor(
        "dns", host="multi.example.test", resolver="127.0.0.1", resolver_port=dns_peer.port
    )
    wrong = make_monitor(
        "dns", host="app.example.test", resolver=resolver, expected_address="10.9.9.9"
    )
    missing = make_monitor("dns", host="nope.example.test", resolver=resolver)
    a, b, c, d = run_batch([ok, any_answer, wrong, missing])
    assert a.status == "up" and a.detail["addresses"] == ["10.0.0.7"]
    assert b.status == "up" and sorted(b.detail["addresses"]) == ["10.0.0.8", "10.0.0.9"]
    assert c.status == "down" and "expected 10.9.9.9" in c.error
    assert d.status == "down" and "NXDOMAIN" in d.error


def test_dns_unreachable_resolver_times_out(make_monitor):
    m = make_monitor(
        "dns", host="app.example.test", resolver=f"127.0.0.1:{free_port()}", timeout=0.5
    )
    started = time.monotonic()
    outcome = run_now(m)
    assert outcome.status == "down" and time.monotonic() - started < 1.5


def test_tls_certificate_days_left(https_peer, expiring_tls_peer, make_monitor, trust_test_ca):
    valid = make_monitor("tls", host="127.0.0.1", port=https_peer.port, days_before=14)
    expiring = make_monitor("tls", host="127.0.0.1", port=expiring_tls_peer.port, days_before=14)
    out_valid, out_expiring = run_batch([valid, expiring])
    assert out_valid.status == "up", out_valid.error
    assert 360 <= out_valid.detail["days_left"] <= 365
    assert out_expiring.status == "down"
    assert out_expiring.detail["days_left"] in (2, 3)
    assert "expires in" in out_expiring.error


def test_tls_untrusted_certificate_is_down_unless_verification_off(https_peer, make_monitor):
    m = make_monitor("tls", host="127.0.0.1", port=https_peer.port)
    assert "not valid" in run_now(m).error
    m.config = {**m.config, "verify_tls": False}
    assert run_now(m).status == "up"
