"""SMTP check (RFC 5321): the 220 greeting, ``EHLO`` → 250, optionally ``STARTTLS``
(RFC 3207) → 220, TLS handshake (verified) and ``EHLO`` again, then ``QUIT``.

Config keys: ``host``, ``port`` (25), ``starttls`` (false), ``verify_tls`` (true),
``helo_name`` (``cr-tracker.monitor``).
"""
from __future__ import annotations

import asyncio
import socket
import ssl
import time

from crm.monitoring.engine.checks.base import (
    CheckContext,
    CheckOutcome,
    Target,
    describe_exception,
    down,
    read_reply,
    up,
)
from crm.monitoring.engine.checks.tcp import close
from crm.net.redact import echo


async def _conversation(target: Target, ctx: CheckContext) -> CheckOutcome:
    cfg = target.config
    host, port = cfg["host"], int(cfg.get("port") or 25)
    helo = cfg.get("helo_name") or "cr-tracker.monitor"
    started = time.perf_counter()
    reader, writer = await ctx.guard.open_connection(host, port)
    try:
        code, text = await read_reply(reader)
        elapsed = round((time.perf_counter() - started) * 1000.0, 3)
        detail = {"banner": echo(text)}  # shown only in a manual run (monitor.manage)
        if code != 220:
            return down("smtp", f"greeting {code} (expected 220)", status_code=code,
                        response_time_ms=elapsed, detail=detail)
        writer.write(f"EHLO {helo}\r\n".encode())
        code, text = await read_reply(reader)
        if code != 250:
            return down("smtp", f"EHLO answered {code} (expected 250)", status_code=code,
                        response_time_ms=elapsed, detail=detail)
        if cfg.get("starttls"):
            if "STARTTLS" not in text.upper():
                return down("smtp", "STARTTLS not offered", status_code=code,
                            response_time_ms=elapsed, detail=detail)
            writer.write(b"STARTTLS\r\n")
            code, text = await read_reply(reader)
            if code != 220:
                return down("smtp", f"STARTTLS answered {code} (expected 220)", status_code=code,
                            response_time_ms=elapsed, detail=detail)
            try:
                await writer.start_tls(ctx.ssl_context(bool(cfg.get("verify_tls", True))),
                                       server_hostname=host)
            except (ssl.SSLError, OSError) as exc:
                return down("smtp", f"TLS handshake failed: {describe_exception(exc)}",
                            status_code=code, response_time_ms=elapsed, detail=detail)
            detail["tls"] = True
            writer.write(f"EHLO {helo}\r\n".encode())
            code, text = await read_reply(reader)
            if code != 250:
                return down("smtp", f"EHLO after STARTTLS answered {code}", status_code=code,
                            response_time_ms=elapsed, detail=detail)
        writer.write(b"QUIT\r\n")
        try:
            await asyncio.wait_for(read_reply(reader), 1)
        except (ConnectionError, OSError, TimeoutError):
            pass
        return up("smtp", status_code=220, response_time_ms=elapsed, detail=detail)
    finally:
        await close(writer)


async def check(target: Target, ctx: CheckContext) -> CheckOutcome:
    """Run the SMTP conversation of ``target`` within its timeout."""
    try:
        return await asyncio.wait_for(_conversation(target, ctx), target.timeout)
    except (OSError, ConnectionError, socket.gaierror, TimeoutError) as exc:
        return down("smtp", describe_exception(exc))
