"""HTTP(S) checks against a real local HTTP server (and an HTTPS one with a test CA)."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from crm.monitoring.engine.checks.base import json_path_get, parse_status_ranges
from crm.monitoring.engine.runner import run_batch, run_now
from tests.monitoring.peers import Route


def test_status_ranges_parse_codes_and_ranges():
    assert parse_status_ranges("200-299, 301") == [(200, 299), (301, 301)]
    with pytest.raises(ValueError):
        parse_status_ranges("300-200")


def test_json_path_reads_dotted_and_indexed_paths():
    doc = {"data": {"items": [{"status": "ok"}, {"status": "bad"}]}, "a.b": 1}
    assert json_path_get(doc, "data.items[0].status") == "ok"
    assert json_path_get(doc, "$.data.items[-1].status") == "bad"
    assert json_path_get(doc, '["a.b"]') == 1
    with pytest.raises(KeyError):
        json_path_get(doc, "data.items[5].status")


def test_http_up_with_expected_status_and_keyword(http_peer, make_monitor):
    http_peer.routes["/ok"] = Route(200, "hello world")
    m = make_monitor("http", url=http_peer.url("/ok"), keyword="world")
    outcome = run_now(m)
    assert outcome.status == "up", outcome.error
    assert outcome.status_code == 200 and outcome.protocol == "http"
    assert outcome.response_time_ms is not None and outcome.response_time_ms > 0


def test_http_down_on_unexpected_status_then_up_when_range_allows_it(http_peer, make_monitor):
    http_peer.routes["/gone"] = Route(503, "maintenance")
    m = make_monitor("http", url=http_peer.url("/gone"))
    outcome = run_now(m)
    assert outcome.status == "down" and outcome.status_code == 503
    assert "503" in outcome.error and outcome.answered
    m.config = {**m.config, "expected_status": "200-299,503"}
    assert run_now(m).status == "up"


def test_http_keyword_absent_and_missing(http_peer, make_monitor):
    http_peer.routes["/page"] = Route(200, "an ERROR happened")
    absent = make_monitor("http", url=http_peer.url("/page"), keyword="ERROR", keyword_absent=True)
    missing = make_monitor("http", url=http_peer.url("/page"), keyword="welcome")
    out_absent, out_missing = run_batch([absent, missing])
    assert out_absent.status == "down" and "present" in out_absent.error
    assert out_missing.status == "down" and "not found" in out_missing.error


def test_http_method_headers_body_are_sent(http_peer, make_monitor):
    http_peer.routes["/api"] = Route(201, {"ok": True})
    m = make_monitor("http", url=http_peer.url("/api"), method="POST", headers={"X-Token": "abc"},
                     body='{"ping": 1}', expected_status="201")
    assert run_now(m).status == "up"
    request = http_peer.requests[-1]
    assert request["method"] == "POST" and request["headers"]["X-Token"] == "abc"
    assert request["body"] == '{"ping": 1}'


def test_http_json_path_equals(http_peer, make_monitor):
    http_peer.routes["/health"] = Route(200, {"data": {"items": [{"status": "degraded"}]}})
    ok = make_monitor("http", url=http_peer.url("/health"), json_path="data.items[0].status",
                      json_expected="degraded")
    bad = make_monitor("http", url=http_peer.url("/health"), json_path="data.items[0].status",
                       json_expected="ok")
    out_ok, out_bad = run_batch([ok, bad])
    assert out_ok.status == "up"
    # the reason names the path, never the value the target returned (every staff role reads it)
    assert out_bad.status == "down" and "data.items[0].status" in out_bad.error
    assert "degraded" not in out_bad.error


def test_http_max_response_time(http_peer, make_monitor):
    http_peer.routes["/slow"] = Route(200, "ok", delay=0.3)
    m = make_monitor("http", url=http_peer.url("/slow"), max_response_ms=100)
    outcome = run_now(m)
    assert outcome.status == "down" and "response time" in outcome.error


def test_http_redirects_followed_or_not(http_peer, make_monitor):
    http_peer.routes["/old"] = Route(301, "", headers={"Location": "/new"})
    http_peer.routes["/new"] = Route(200, "new place")
    follow = make_monitor("http", url=http_peer.url("/old"), keyword="new place")
    no_follow = make_monitor("http", url=http_peer.url("/old"), follow_redirects=False)
    no_follow_ok = make_monitor("http", url=http_peer.url("/old"), follow_redirects=False,
                                expected_status="301")
    a, b, c = run_batch([follow, no_follow, no_follow_ok])
    assert a.status == "up" and a.status_code == 200
    assert b.status == "down" and b.status_code == 301
    assert c.status == "up"


def test_http_refused_is_down_without_answer(make_monitor):
    from tests.conftest import free_port
    m = make_monitor("http", url=f"http://127.0.0.1:{free_port()}/")
    outcome = run_now(m)
    assert outcome.status == "down" and not outcome.answered and outcome.status_code is None


def test_hanging_endpoint_does_not_delay_fast_ones(http_peer, make_monitor):
    # No tuned wall-clock bound (flaky on a loaded machine): the hanging peer holds its
    # requests until the test releases them, and the assertions are ones a serial runner
    # cannot meet whatever the load: all checks start before the first hanging one can have
    # timed out, and the batch ends before the *sum* of the hanging checks' timeouts.
    timeout = 1.5
    release = threading.Event()

    def hang(method, path, headers, body):
        release.wait(30)
        return Route(200, "late")

    http_peer.routes["/hang"] = hang
    http_peer.routes["/fast"] = Route(200, "fast")
    hanging = [make_monitor("http", url=http_peer.url("/hang"), timeout=timeout) for _ in range(3)]
    fast = [make_monitor("http", url=http_peer.url("/fast"), timeout=30) for _ in range(5)]
    try:
        started = time.monotonic()
        outcomes = run_batch(hanging + fast)
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert [o.status for o in outcomes] == ["down"] * 3 + ["up"] * 5, [o.error for o in outcomes]
    assert all(o.error == "timed out" for o in outcomes[:3])
    first_timeout = min(o.checked_at for o in outcomes[:3]) + timedelta(seconds=timeout)
    assert max(o.checked_at for o in outcomes[3:]) < first_timeout  # not queued behind them
    # concurrent: about one timeout, never the sum of three
    assert elapsed < len(hanging) * timeout, elapsed


def test_https_with_trusted_ca_is_up_and_untrusted_is_down(https_peer, make_monitor, app, ca_file):
    https_peer.routes["/"] = Route(200, "secure")
    m = make_monitor("http", url=https_peer.url("/"))
    assert m.protocol == "https"
    untrusted = run_now(m)
    assert untrusted.status == "down" and "CERTIFICATE_VERIFY_FAILED" in untrusted.error.upper()
    app.config["MONITOR_CA_FILE"] = ca_file
    try:
        trusted = run_now(m)
    finally:
        app.config["MONITOR_CA_FILE"] = None
    assert trusted.status == "up", trusted.error
    m.config = {**m.config, "verify_tls": False}
    assert run_now(m).status == "up"
