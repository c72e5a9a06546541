"""The check engine's helpers and the runner's own outcomes, without the database: expected
status ranges, the JSONPath subset and JSON comparisons the HTTP and synthetic checks use,
SMTP/FTP reply parsing, resolver addresses, failure wording, and what the runner answers for
a monitor it cannot check (heartbeat, unknown type, a hang, a crash) or when it is called
from inside a running event loop. Real sockets on 127.0.0.1 only; one backend."""
from __future__ import annotations

import asyncio
import socket
import threading

import httpx
import pytest

from crm.monitoring.engine import runner
from crm.monitoring.engine.checks import base
from crm.monitoring.engine.checks.base import (
    CheckContext,
    Target,
    describe_exception,
    json_equals,
    json_path_get,
    parse_status_ranges,
    read_reply,
    split_host_port,
)
from crm.net.policy import AddressRefused

pytestmark = pytest.mark.only_backend("sqlite")


def test_status_ranges():
    assert parse_status_ranges(" 200-204, 301 ,") == [(200, 204), (301, 301)]
    assert parse_status_ranges(None) == [(200, 299)]
    assert parse_status_ranges("", default="204") == [(204, 204)]
    for bad in ("299-200", "2xx", ",,"):
        with pytest.raises(ValueError):
            parse_status_ranges(bad)
    assert base.status_matches(301, "200-204,301") and not base.status_matches(302, "301")


DOC = {"data": {"items": [{"id": 7, "ok": True}, {"id": 8}], "odd.key": "x"}, "n": 3}


def test_json_paths_read_members_indexes_and_quoted_keys():
    assert json_path_get(DOC, "$.data.items[0].id") == 7
    assert json_path_get(DOC, "data.items[-1].id") == 8
    assert json_path_get(DOC, "$.data['odd.key']") == "x"
    assert json_path_get(DOC, '$.data["odd.key"]') == "x"
    assert json_path_get(DOC, "$") == DOC
    for missing, words in [("$.data.items[2]", "no item [2]"), ("$.n.x", "no key 'x'"),
                           ("$.data.items.id", "no key 'id'"), ("$.nope", "no key 'nope'")]:
        with pytest.raises(KeyError, match=words.replace("[", r"\[").replace("]", r"\]")):
            json_path_get(DOC, missing)
    with pytest.raises(ValueError, match="bad JSON path"):
        json_path_get(DOC, "$.data..items")


def test_json_values_match_as_json_or_as_text():
    assert json_equals(3, "3") and json_equals(True, "true") and json_equals("ok", "ok")
    assert json_equals(3.5, "3.5") and json_equals([1, 2], "[1, 2]")
    assert json_equals(None, "null") and json_equals(7, 7)
    assert not json_equals({"a": 1}, "{'a': 1}")  # not JSON, and objects never match as text
    assert not json_equals(3, "4") and not json_equals("3", 3)


def _reply(data: bytes):
    async def read():
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await read_reply(reader)
    return asyncio.run(read())


def test_smtp_and_ftp_replies():
    assert _reply(b"220 mail.example ESMTP\r\n") == (220, "220 mail.example ESMTP")
    assert _reply(b"250-mail.example\r\n250-STARTTLS\r\n250 SIZE 1000\r\n") == (
        250, "250-mail.example\n250-STARTTLS\n250 SIZE 1000")
    assert _reply(b"230\r\n") == (230, "230")
    with pytest.raises(ConnectionError, match="closed by the server"):
        _reply(b"250-more to come\r\n")
    with pytest.raises(ConnectionError, match="malformed reply"):
        _reply(b"SSH-2.0-OpenSSH_9.6\r\n")


def test_resolver_addresses():
    assert split_host_port("9.9.9.9", 53) == ("9.9.9.9", 53)
    assert split_host_port(" 9.9.9.9:5353 ", 53) == ("9.9.9.9", 5353)
    assert split_host_port("[2620:fe::fe]:5353", 53) == ("2620:fe::fe", 5353)
    assert split_host_port("[2620:fe::fe]", 53) == ("2620:fe::fe", 53)
    assert split_host_port("2620:fe::fe", 53) == ("2620:fe::fe", 53)


def test_failures_are_worded_without_echoing_the_peer():
    request = httpx.Request("GET", "http://127.0.0.1/")
    assert describe_exception(httpx.RemoteProtocolError("Illegal status line: b'SSH-2.0'",
                                                         request=request)) == \
        "the server did not answer with valid HTTP (RemoteProtocolError)"
    assert describe_exception(httpx.DecodingError("bad gzip", request=request)) == \
        "the response could not be decoded (DecodingError)"
    assert describe_exception(httpx.ReadTimeout("slow", request=request)) == "timed out"
    assert describe_exception(TimeoutError()) == "timed out"
    assert describe_exception(ConnectionRefusedError(111, "Connection refused")) == \
        "ConnectionRefusedError: [Errno 111] Connection refused"
    assert describe_exception(OSError()) == "OSError"
    refused = AddressRefused("intranet.example", "10.0.0.1", "private")
    assert describe_exception(refused) == str(refused)
    assert str(refused).startswith("address refused: 10.0.0.1 (private")


# ---------------------------------------------------------------- the runner's own outcomes

def _target(type_: str, timeout: float = 1.0, **config) -> Target:
    return Target(id=1, type=type_, config=config, timeout=timeout,
                  protocol=type_, name=f"{type_} target")


def test_monitors_the_runner_cannot_check_are_down_with_a_reason(app):
    heartbeat, unknown = runner.run_batch([_target("heartbeat"), _target("gopher")])
    assert (heartbeat.status, heartbeat.error) == (
        "down", "heartbeat monitors have no active check")
    assert (unknown.status, unknown.error) == ("down", "unknown monitor type 'gopher'")
    assert heartbeat.checked_at is not None and unknown.protocol == "gopher"
    assert runner.run_batch([]) == []


def test_a_hanging_peer_times_out_and_a_crashing_check_is_contained(app, silent_peer):
    hung = runner.run_batch([_target("smtp", timeout=0.3, host="127.0.0.1",
                                     port=silent_peer.port)])[0]
    assert hung.status == "down" and "timed out" in hung.error
    crashed = runner.run_batch([_target("tcp", host="127.0.0.1", port="not-a-port")])[0]
    assert (crashed.status, crashed.error) == ("down", "check error: ValueError")  # no details


def test_the_total_timeout_covers_every_synthetic_step():
    steps = [{"name": str(n)} for n in range(3)]
    assert runner.total_timeout(_target("synthetic", timeout=2, steps=steps)) == \
        2 * 3 + runner.SAFETY_MARGIN_SECONDS
    assert runner.total_timeout(_target("synthetic", timeout=2)) == 2 + runner.SAFETY_MARGIN_SECONDS
    assert runner.total_timeout(_target("tcp", timeout=5)) == 5 + runner.SAFETY_MARGIN_SECONDS


def test_run_blocking_works_inside_a_running_event_loop(app):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    threading.Thread(target=lambda: listener.accept()[0].close(), daemon=True).start()

    async def caller():  # an ASGI-style caller already in a loop
        return runner.run_batch([_target("tcp", host="127.0.0.1", port=port)])

    try:
        (outcome,) = asyncio.run(caller())
    finally:
        listener.close()
    assert outcome.status == "up"


def test_engine_settings_come_from_the_app(app):
    app.config["MONITOR_CONCURRENCY"], saved = 7, app.config.get("MONITOR_CONCURRENCY")
    try:
        assert runner.engine_settings()[0] == 7
    finally:
        app.config["MONITOR_CONCURRENCY"] = saved if saved is not None else 500


def test_a_check_context_spreads_http_clients_and_caches_tls_contexts():
    async def use():
        ctx = CheckContext(concurrency=25)
        clients = [ctx.http_client() for _ in range(4)]
        insecure = ctx.ssl_context(verify=False)
        try:
            return clients, insecure, ctx.ssl_context(verify=False), ctx.ssl_context()
        finally:
            await ctx.aclose()
    clients, insecure, again, verifying = asyncio.run(use())
    assert len({id(c) for c in clients}) == 3 and clients[3] is clients[0]  # 25 / 10 → 3 pools
    assert insecure is again and not insecure.check_hostname
    assert verifying.check_hostname
