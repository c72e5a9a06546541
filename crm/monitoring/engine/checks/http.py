"""HTTP(S) check: one request with httpx, then the expectations of the monitor.

Config keys: ``url``, ``method`` (GET), ``headers`` (dict), ``body`` (text),
``expected_status`` (``"200-299,301"``; default 200-299), ``keyword`` (+ ``keyword_absent``:
down when the keyword *is* present), ``json_path`` + ``json_expected``, ``max_response_ms``,
``follow_redirects`` (default true), ``verify_tls`` (default true).
"""
from __future__ import annotations

import asyncio
import json
import time

import httpx

from crm.monitoring.engine.checks.base import (
    CheckContext,
    CheckOutcome,
    Target,
    describe_exception,
    down,
    json_equals,
    json_path_get,
    status_matches,
    up,
)
from crm.net import send as guarded_send


async def send(ctx: CheckContext, *, method: str, url: str, headers: dict | None, body,
               timeout: float, follow_redirects: bool = True, verify: bool = True
               ) -> tuple[httpx.Response, float]:
    """Send one request through the shared guarded client (:func:`crm.net.send`: every hop's
    address vetted, redirects followed hop by hop), bounded by ``timeout`` seconds in total.

    :returns: (response with its body read, elapsed milliseconds).
    :raises httpx.HTTPError | TimeoutError: no answer.
    :raises crm.net.AddressRefused: the destination (or a redirect's) is refused.
    """
    client = ctx.http_client(verify)
    content = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
    started = time.perf_counter()
    request = client.build_request(method.upper(), url, headers=headers or None, content=content,
                                   timeout=timeout)
    response = await asyncio.wait_for(
        guarded_send(client, ctx.guard, request, follow_redirects=follow_redirects), timeout)
    return response, (time.perf_counter() - started) * 1000.0


async def check(target: Target, ctx: CheckContext) -> CheckOutcome:
    """Run the HTTP check of ``target`` (see module doc for the config keys)."""
    cfg = target.config
    protocol = target.protocol
    try:
        response, elapsed = await send(
            ctx, method=cfg.get("method") or "GET", url=cfg["url"], headers=cfg.get("headers"),
            body=cfg.get("body") or None, timeout=target.timeout,
            follow_redirects=bool(cfg.get("follow_redirects", True)),
            verify=bool(cfg.get("verify_tls", True)))
    except (httpx.HTTPError, OSError, TimeoutError) as exc:
        return down(protocol, describe_exception(exc))
    code = response.status_code
    facts = {"response_time_ms": round(elapsed, 3), "status_code": code}
    expected = cfg.get("expected_status") or "200-299"
    if not status_matches(code, expected):
        return down(protocol, f"status {code} not in {expected}", **facts)
    keyword = cfg.get("keyword")
    if keyword:
        present = keyword in response.text
        if cfg.get("keyword_absent") and present:
            return down(protocol, f"keyword {keyword!r} present", **facts)
        if not cfg.get("keyword_absent") and not present:
            return down(protocol, f"keyword {keyword!r} not found", **facts)
    path = cfg.get("json_path")
    if path:
        # The reasons name the path, never the value found: results are read by every staff
        # role, and the response may be anything the target returns (see crm.net.redact).
        try:
            document = response.json()
        except ValueError:
            return down(protocol, f"JSON path {path}: the response is not JSON", **facts)
        try:
            value = json_path_get(document, path)
        except (KeyError, ValueError):
            return down(protocol, f"JSON path {path} not found in the response", **facts)
        if "json_expected" in cfg and cfg["json_expected"] is not None \
                and not json_equals(value, cfg["json_expected"]):
            return down(protocol, f"JSON path {path} did not match the expected value", **facts)
    limit = cfg.get("max_response_ms")
    if limit and elapsed > float(limit):
        return down(protocol, f"response time {elapsed:.0f} ms over {float(limit):.0f} ms", **facts)
    return up(protocol, **facts)
