"""TCP check: up when a connection to ``host``:``port`` is accepted within the timeout (the
address vetted by the context's guard first: a refused one is down without a connection)."""
from __future__ import annotations

import asyncio
import time

from crm.monitoring.engine.checks.base import (
    CheckContext,
    CheckOutcome,
    Target,
    describe_exception,
    down,
    up,
)


async def close(writer: asyncio.StreamWriter) -> None:
    """Close a stream without waiting long for the peer."""
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 1)
    except (OSError, TimeoutError):
        pass


async def check(target: Target, ctx: CheckContext) -> CheckOutcome:
    """Connect to ``config.host``:``config.port``."""
    cfg = target.config
    started = time.perf_counter()
    try:
        _reader, writer = await asyncio.wait_for(
            ctx.guard.open_connection(cfg["host"], int(cfg["port"])), target.timeout)
    except (OSError, TimeoutError) as exc:
        return down("tcp", describe_exception(exc))
    elapsed = (time.perf_counter() - started) * 1000.0
    await close(writer)
    return up("tcp", response_time_ms=round(elapsed, 3))
