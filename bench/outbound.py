"""What the outbound guard (crm/net) costs a check (a benchmark, not a test).

    python bench/outbound.py [--checks 1000] [--concurrency 20] [--rounds 5]

A tiny keep-alive HTTP/1.1 server (asyncio, in its own process) answers ``ok``; the bench
runs ``--checks`` checks against it, ``--concurrency`` at a time, in one event loop, guarded
and unguarded, alternating, ``--rounds`` times, and prints the median per-check time:

* ``vet_host``: the policy decision alone for an IP literal and for a name (no I/O);
* ``resolve+vet``: :meth:`crm.net.Guard.addresses` for ``localhost`` (getaddrinfo in a thread);
* HTTP, pooled connections (the engine's normal case): the check's ``send`` through the
  guarded client (:func:`crm.net.send`: URL vetted per request, connections vetted when
  opened) vs. a plain ``httpx.AsyncClient.request`` with the same limits;
* HTTP, a new connection per check (keep-alive off): every check resolves and vets;
* TCP connect: :meth:`crm.net.Guard.open_connection` vs. ``asyncio.open_connection``;

each for the host as ``127.0.0.1`` and as ``localhost``. Same machine, same run: compare the
columns, not absolute numbers across machines.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import httpx  # noqa: E402

from crm.monitoring.engine.checks.base import CheckContext  # noqa: E402
from crm.monitoring.engine.checks.http import send as guarded_check_send  # noqa: E402
from crm.net import Guard, Policy, vet_host  # noqa: E402
from crm.net.guard import guarded_client  # noqa: E402

#: Seconds a request may take: generous, the bench measures cost, not a deadline (a loaded
#: machine stretches every request alike).
TIMEOUT = 120
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


def _serve(port_out) -> None:
    async def handle(reader, writer):
        # no Nagle delay on the answers (else keep-alive requests wait on delayed ACKs)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head:
                    break
                writer.write(RESPONSE)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        port_out.put(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


async def _many(make_one, checks: int, concurrency: int) -> float:
    """Seconds to run ``checks`` coroutines from ``make_one()``, ``concurrency`` at once."""
    gate = asyncio.Semaphore(concurrency)

    async def one():
        async with gate:
            await make_one()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(checks)))
    return time.perf_counter() - started


async def _http_round(url: str, checks: int, concurrency: int, keepalive: bool,
                      guarded_first: bool) -> tuple[float, float]:
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency if keepalive else 0
    )
    ctx = CheckContext(concurrency=concurrency, guard=Guard(Policy()))
    # one client each, with the same limits (the engine shards clients of 10 connections)
    ctx._shards = 1
    ctx._clients[(True, 0)] = guarded_client(ctx.guard, verify=ctx.ssl_context(True), limits=limits)
    plain = httpx.AsyncClient(limits=limits, trust_env=False, verify=ctx.ssl_context(True))

    async def guarded():
        response, _ = await guarded_check_send(
            ctx, method="GET", url=url, headers=None, body=None, timeout=TIMEOUT
        )
        assert response.status_code == 200

    async def unguarded():
        response = await plain.request("GET", url, follow_redirects=True, timeout=TIMEOUT)
        assert response.status_code == 200

    try:
        await _many(guarded, 50, concurrency)  # warm up both
        await _many(unguarded, 50, concurrency)
        return await _pair(guarded, unguarded, checks, concurrency, guarded_first)
    finally:
        await ctx.aclose()
        await plain.aclose()


async def _tcp_round(
    host: str, port: int, checks: int, concurrency: int, guarded_first: bool
) -> tuple[float, float]:
    guard = Guard(Policy())

    async def guarded():
        _r, writer = await guard.open_connection(host, port)
        writer.close()

    async def unguarded():
        _r, writer = await asyncio.open_connection(host, port)
        writer.close()

    return await _pair(guarded, unguarded, checks, concurrency, guarded_first)


async def _pair(
    guarded, unguarded, checks: int, concurrency: int, guarded_first: bool
) -> tuple[float, float]:
    """(guarded seconds, unguarded seconds), run in the order asked (rounds alternate it)."""
    if guarded_first:
        g = await _many(guarded, checks, concurrency)
        return g, await _many(unguarded, checks, concurrency)
    u = await _many(unguarded, checks, concurrency)
    return await _many(guarded, checks, concurrency), u


def _micro(fn, n: int = 20000) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1e6


async def _resolve_us(n: int = 500) -> float:
    guard = Guard(Policy())
    started = time.perf_counter()
    for _ in range(n):
        await guard.addresses("localhost", 80)
    return (time.perf_counter() - started) / n * 1e6


def main(argv=None) -> None:
    """Run the bench and print a table (microseconds per check, median of the rounds)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    ports = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(ports,), daemon=True)
    server.start()
    port = ports.get(timeout=10)
    print(
        f"target 127.0.0.1:{port}; {args.checks} checks x {args.rounds} rounds, "
        f"concurrency {args.concurrency}; "
        f"localhost -> {socket.gethostbyname('localhost')}"
    )
    policy = Policy()
    print(f"vet_host(127.0.0.1)          {_micro(lambda: vet_host(policy, '127.0.0.1')):8.2f} us")
    shop_us = _micro(lambda: vet_host(policy, "shop.example.com"))
    print(f"vet_host(shop.example.com)   {shop_us:8.2f} us")
    print(f"resolve+vet localhost        {asyncio.run(_resolve_us()):8.2f} us")
    print(f"{'case':42} {'guarded':>10} {'unguarded':>10} {'overhead':>10}  (us per check)")
    cases = []
    for host in ("127.0.0.1", "localhost"):
        url = f"http://{host}:{port}/"
        cases += [
            (
                f"HTTP pooled, {host}",
                lambda first, u=url: _http_round(u, args.checks, args.concurrency, True, first),
            ),
            (
                f"HTTP new connection each, {host}",
                lambda first, u=url: _http_round(u, args.checks, args.concurrency, False, first),
            ),
            (
                f"TCP connect, {host}",
                lambda first, h=host: _tcp_round(h, port, args.checks, args.concurrency, first),
            ),
        ]
    for name, run in cases:
        guarded, unguarded = [], []
        for number in range(args.rounds):
            g, u = asyncio.run(run(number % 2 == 0))
            guarded.append(g / args.checks * 1e6)
            unguarded.append(u / args.checks * 1e6)
        g, u = statistics.median(guarded), statistics.median(unguarded)
        print(f"{name:42} {g:10.1f} {u:10.1f} {g - u:+10.1f}  ({(g / u - 1) * 100:+.0f} %)")
    server.terminate()


if __name__ == "__main__":
    main()
