"""Running checks: many at once in one event loop.

:func:`run_batch` runs a list of monitors concurrently — at most ``MONITOR_CONCURRENCY`` at a
time (a semaphore), one pooled HTTP client for all — and every check is bounded by its own
timeout, so a hanging target never delays the others beyond that. :func:`run_session` is the
engine's form of it: results are recorded as they arrive and newly due monitors start while
slow checks are still in flight (see its docstring). :func:`run_now` runs one
monitor for the console's and API's "run now" (nothing is recorded).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import math
from collections.abc import Callable, Iterable

from flask import current_app, has_app_context

from crm.clock import utcnow
from crm.monitoring.engine.checks import CHECKS, CheckContext, CheckOutcome, Target
from crm.monitoring.engine.checks.base import down
from crm.monitoring.models import HEARTBEAT, SYNTHETIC
from crm.net import Guard, customer_policy, staff_policy

log = logging.getLogger(__name__)

#: Grace (seconds) added to a check's own timeout by the runner's safety net.
SAFETY_MARGIN_SECONDS = 1.0


def total_timeout(target: Target) -> float:
    """The longest a check of ``target`` may take (seconds): its timeout, or for a synthetic
    scenario the timeout per step times the steps."""
    if target.type == SYNTHETIC:
        return (
            target.timeout * max(1, len(target.config.get("steps") or [])) + SAFETY_MARGIN_SECONDS
        )
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
                outcome = await asyncio.wait_for(
                    CHECKS[target.type](target, ctx.for_target(target)), total_timeout(target)
                )
            except TimeoutError:
                outcome = down(target.protocol, f"timed out after {target.timeout:g} s")
            except (
                Exception
            ) as exc:  # a bug or an unforeseen library error: report, never crash the batch
                # the message may quote what the peer sent: it goes to the server log only
                log.exception("check of monitor %s failed", target.id)
                outcome = down(target.protocol, f"check error: {exc.__class__.__name__}")
        outcome.checked_at = started
        if not outcome.protocol:
            outcome.protocol = target.protocol
        return outcome


def outbound_guard() -> Guard:
    """The guard every check connects through: the staff policy of the current app
    (``MONITOR_BLOCK_PRIVATE_FOR_STAFF``, ``MONITOR_ALLOWED_NETWORKS``; see
    :mod:`crm.net.policy`), or the default staff policy outside an app (``crm-monitor check``
    on an operator's machine)."""
    return Guard(staff_policy(current_app.config) if has_app_context() else None)


def customer_guard() -> Guard:
    """The guard customers' monitors connect through: the customer policy of the current app
    (private networks and the app's own names refused, ``MONITOR_ALLOWED_NETWORKS`` open; see
    :func:`crm.net.customer_policy`), or the unconfigured customer policy outside an app."""
    return Guard(customer_policy(current_app.config if has_app_context() else {}))


async def run_targets(
    targets: list[Target],
    *,
    concurrency: int = 100,
    ca_file: str | None = None,
    guard: Guard | None = None,
) -> list[CheckOutcome]:
    """Run ``targets`` concurrently (see module doc); outcomes in the same order.

    :param guard: the outbound guard (:func:`outbound_guard` when None).
    """
    ctx = CheckContext(
        concurrency=concurrency,
        ca_file=ca_file,
        guard=guard or outbound_guard(),
        customer_guard=customer_guard(),
    )
    try:
        return list(await asyncio.gather(*(run_target(t, ctx) for t in targets)))
    finally:
        await ctx.aclose()


async def run_session(
    targets: list[Target],
    *,
    record: Callable[[list[tuple[int, CheckOutcome]]], int],
    claim_more: Callable[[float], list[Target]] | None = None,
    budget_seconds: float = 20.0,
    poll_seconds: float = 0.5,
    should_yield: Callable[[], bool] | None = None,
    concurrency: int = 100,
    ca_file: str | None = None,
    guard: Guard | None = None,
) -> int:
    """Run ``targets`` and keep the engine busy while slow checks are in flight.

    Outcomes are handed to ``record`` every ``poll_seconds`` as they complete (not when the
    slowest check ends). While any check is still running, ``claim_more(window)`` is asked for
    monitors that have come due meanwhile and they start at once in the same event loop, so a
    slow or hanging target never holds back the monitors due after it:

    * for ``budget_seconds`` after the start, and until ``should_yield()`` says other work
      waits for this worker, any due monitor is claimed (``window`` is ``math.inf``);
    * after that the session drains: only monitors whose whole check fits before the latest
      expected finish of what is in flight are claimed (``window`` = seconds left), so the
      session ends within the longest in-flight timeout and the worker goes back to its queue.

    :param record: called with (monitor id, outcome) pairs; returns how many were recorded.
    :param claim_more: called with the largest acceptable check duration (seconds); returns
        the targets it claimed (each counted as due now). ``None``: run only ``targets``.
    :param should_yield: asked every poll while claiming freely; True ends that phase.
    :param guard: the outbound guard (:func:`outbound_guard` when None).
    :returns: the number of results recorded.
    """
    ctx = CheckContext(
        concurrency=concurrency,
        ca_file=ca_file,
        guard=guard or outbound_guard(),
        customer_guard=customer_guard(),
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    inflight: dict[asyncio.Task, Target] = {}
    latest_finish = started

    def start(target: Target) -> None:
        nonlocal latest_finish
        inflight[asyncio.create_task(run_target(target, ctx))] = target
        latest_finish = max(latest_finish, loop.time() + total_timeout(target))

    recorded, draining = 0, False
    try:
        for target in targets:
            start(target)
        while inflight:
            done, _ = await asyncio.wait(set(inflight), timeout=poll_seconds)
            batch = [(inflight.pop(task).id, task.result()) for task in done]
            if batch:
                recorded += record(batch)
            if not inflight or claim_more is None:
                continue
            now = loop.time()
            if not draining and (
                now - started >= budget_seconds or (should_yield and should_yield())
            ):
                draining = True
            window = latest_finish - now if draining else math.inf
            if window > 0:
                for target in claim_more(window):
                    start(target)
    finally:
        for task in inflight:
            task.cancel()
        await ctx.aclose()
    return recorded


def engine_settings() -> tuple[int, str | None]:
    """(MONITOR_CONCURRENCY, MONITOR_CA_FILE) of the current app, or (500, None) outside one."""
    if has_app_context():
        return int(current_app.config.get("MONITOR_CONCURRENCY", 500)), current_app.config.get(
            "MONITOR_CA_FILE"
        )
    return 500, None


def run_blocking(coro):
    """Run ``coro`` to completion from synchronous code and return its result.

    ``asyncio.run`` refuses to start when this thread already runs an event loop (an ASGI
    wrapper, a greenlet-based client in the same thread); the coroutine then runs in a new loop
    on a short-lived thread instead (with a copy of this thread's context variables, so Flask's
    app context and its database session are used from there), and this call blocks until done.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    context = contextvars.copy_context()  # the app context (and its database session) go along
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(context.run, asyncio.run, coro).result()


def run_batch(monitors: Iterable) -> list[CheckOutcome]:
    """Run the checks of ``monitors`` (ORM monitors or :class:`Target` snapshots) concurrently
    in a new event loop; returns one outcome per monitor, in order. Records nothing.

    The batch takes about as long as its slowest check, bounded by that check's timeout.
    """
    targets = [m if isinstance(m, Target) else Target.from_monitor(m) for m in monitors]
    if not targets:
        return []
    concurrency, ca_file = engine_settings()
    return run_blocking(run_targets(targets, concurrency=concurrency, ca_file=ca_file))


def run_now(monitor) -> CheckOutcome:
    """Run one monitor's check synchronously and return its outcome (nothing recorded).

    A synthetic outcome carries ``steps`` (per-step results and assertions).
    """
    return run_batch([monitor])[0]
