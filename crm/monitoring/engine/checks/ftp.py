"""FTP check (RFC 959): the 220 greeting and, when ``username`` is set, ``USER``/``PASS``
→ 230, then ``QUIT``. Raw asyncio streams, so the timeout cancels it cleanly.

Config keys: ``host``, ``port`` (21), ``username``, ``password``.
"""
from __future__ import annotations

import asyncio
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
    started = time.perf_counter()
    reader, writer = await ctx.guard.open_connection(cfg["host"], int(cfg.get("port") or 21))
    try:
        code, text = await read_reply(reader)
        elapsed = round((time.perf_counter() - started) * 1000.0, 3)
        detail = {"banner": echo(text)}  # shown only in a manual run (monitor.manage)
        if code != 220:
            return down("ftp", f"greeting {code} (expected 220)", status_code=code,
                        response_time_ms=elapsed, detail=detail)
        if cfg.get("username"):
            writer.write(f"USER {cfg['username']}\r\n".encode())
            code, text = await read_reply(reader)
            if code == 331:
                writer.write(f"PASS {cfg.get('password') or ''}\r\n".encode())
                code, text = await read_reply(reader)
            if code != 230:
                return down("ftp", f"login failed: {code}", status_code=code,
                            response_time_ms=elapsed, detail=detail)
            detail["logged_in"] = True
        writer.write(b"QUIT\r\n")
        try:
            await asyncio.wait_for(read_reply(reader), 1)
        except (ConnectionError, OSError, TimeoutError):
            pass
        return up("ftp", status_code=code, response_time_ms=elapsed, detail=detail)
    finally:
        await close(writer)


async def check(target: Target, ctx: CheckContext) -> CheckOutcome:
    """Run the FTP conversation of ``target`` within its timeout."""
    try:
        return await asyncio.wait_for(_conversation(target, ctx), target.timeout)
    except (OSError, ConnectionError, TimeoutError) as exc:
        return down("ftp", describe_exception(exc))
