"""Running checks: many at once in one event loop.

:func:`run_batch` runs a list of monitors concurrently — at most ``MONITOR_CONCURRENCY`` at a
time (a semaphore), one pooled HTTP client for all — and every check is bounded by its own
timeout, so a hanging target never delays the others beyond that. :func:`run_now` runs one
monitor for the console's and API's "run now" (nothing is recorded).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Iterable

from flask import current_app, has_app_context

from crm.clock import utcnow
from crm.monitoring.checks import CHECKS, CheckContext, CheckOutcome, Target
from crm.monitoring.checks.base import down
from crm.monitoring.models import HEARTBEAT, SYNTHETIC

log = logging.getLogger(__name__)

#: Grace (seconds) added to a check's own timeout by the runner's safety net.
SAFETY_MARGIN_SECONDS = 1.0


def total_timeout(target: Target) -> float:
    """The longest a check of ``target`` may take (seconds): its timeout, or for a synthetic
    scenario the timeout per step times the steps."""
    if target.type == SYNTHETIC:
        return target.timeout * max(1, len(target.config.get("steps") or [])) + SAFETY_MARGIN_SECONDS
    return target.timeout + SAFETY_MARGIN_SECONDS


async def run_target(target: Target, ctx: CheckContext) -> CheckOutcome:
    """Run one check under the semaphore; never raises (an unexpected error is a down
    outcome). ``checked_at`` is set when the check actually starts."""
    async with ctx.semaphore:
        started = utcnow()
        if target.type == HEARTBEAT:
            outcome = down(HEARTBEAT, "heartbeat monitors have no active check")
        elif target.type not in CHECKS:
            outcome = down(target.protocol, f"unknown monitor type {target.type!r}")
        else:
            try:
                outcome = await asyncio.wait_for(CHECKS[target.type](target, ctx), total_timeout(target))
            except TimeoutError:
                outcome = down(target.protocol, f"timed out after {target.timeout:g} s")
            except Exception as exc:  # a bug or an unforeseen library error: report, never crash the batch
                log.exception("check of monitor %s failed", target.id)
                outcome = down(target.protocol, f"check error: {exc.__class__.__name__}: {exc}")
        outcome.checked_at = started
        if not outcome.protocol:
            outcome.protocol = target.protocol
        return outcome


async def run_targets(targets: list[Target], *, concurrency: int = 100,
                      ca_file: str | None = None) -> list[CheckOutcome]:
    """Run ``targets`` concurrently (see module doc); outcomes in the same order."""
    ctx = CheckContext(concurrency=concurrency, ca_file=ca_file)
    try:
        return list(await asyncio.gather(*(run_target(t, ctx) for t in targets)))
    finally:
        await ctx.aclose()


def _settings() -> tuple[int, str | None]:
    if has_app_context():
        return int(current_app.config.get("MONITOR_CONCURRENCY", 500)), current_app.config.get("MONITOR_CA_FILE")
    return 500, None


def run_blocking(coro):
    """Run ``coro`` to completion from synchronous code and return its result.

    ``asyncio.run`` refuses to start when this thread already runs an event loop (an ASGI
    wrapper, a greenlet-based client in the same thread); the coroutine then runs in a new loop
    on a short-lived thread instead, and this call still blocks until it is done.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def run_batch(monitors: Iterable) -> list[CheckOutcome]:
    """Run the checks of ``monitors`` (ORM monitors or :class:`Target` snapshots) concurrently
    in a new event loop; returns one outcome per monitor, in order. Records nothing.

    The batch takes about as long as its slowest check, bounded by that check's timeout.
    """
    targets = [m if isinstance(m, Target) else Target.from_monitor(m) for m in monitors]
    if not targets:
        return []
    concurrency, ca_file = _settings()
    return run_blocking(run_targets(targets, concurrency=concurrency, ca_file=ca_file))


def run_now(monitor) -> CheckOutcome:
    """Run one monitor's check synchronously and return its outcome (nothing recorded).

    A synthetic outcome carries ``steps`` (per-step results and assertions).
    """
    return run_batch([monitor])[0]
