"""Uptime-monitoring benchmark (a benchmark, not a test: pytest never collects it).

    python bench/monitors.py [--db sqlite|postgresql] [--monitors 10000] [--minutes 3]
        [--tick 1] [--baseline-sample 300] [--history-monitors 100] [--requests 40]
        [--redis redis://127.0.0.1:6379/14] [--owners 0] [--skip-engine] [--skip-history]

(a) Engine throughput. A local HTTP target server (asyncio, in its own process) answers
    ``/ok/<n>`` at once, ``/slow/<n>`` after 2 s (1 % of monitors) and ``/fail/<n>`` with 500
    (1 %); 0.5 % of monitors point at a closed port (connection refused). ``--monitors`` HTTP
    monitors at a 60 s interval, first due times spread over the first minute, are checked
    by ONE RQ worker (``rq.SimpleWorker`` in a subprocess: jobs run in the worker process,
    so its CPU and memory are the engine's) while the bench enqueues the engine's
    ``crm.monitoring.engine.jobs.tick`` every ``--tick`` seconds, as the ``monitoring.tick``
    periodic job does. After ``--minutes``: checks per second (rows in ``check_results``),
    scheduling lag p50/p99 (:func:`crm.monitoring.engine.scheduler.lag_stats`), the worker's CPU %
    and RSS (psutil, sampled every second), the queue backlog, and the baseline: a plain
    sequential loop (httpx, one new connection per request, like a check) over
    ``--baseline-sample`` of the same URLs, extrapolated to checks/s → ratio.
    Target: lag p99 ≤ 2 s with one worker. ``--owners N``: N customers own the monitors
    (round-robin), so every check runs under the customer outbound policy (vetting against
    private networks and the app's own names; 127.0.0.0/8 opened for the target).
(b) History at scale. ``--history-monitors`` monitors with one year of 1-minute results
    as rollups (hour + day rows, the values :mod:`crm.monitoring.engine.rollups` produces from those
    results: each hour is one of 400 hour profiles computed from 60 synthetic results with
    the engine's own histogram buckets; a day is the sum of its 24 hours), a few incidents
    and flips per monitor, and the last 24 h as raw results. The app runs in the werkzeug
    server (threaded, own process); the bench logs in through the form and times, with real
    HTTP requests: the overview ``/monitors/``, the dashboard ``/monitors/dashboard`` over 365
    days (by week and by month) and the API ``/api/v1/monitors/<id>/uptime?period=year``.
    Target: p95 ≤ 300 ms.

Databases: the SQLite file ``bench/results/monitors-bench.sqlite3`` or the PostgreSQL
database ``crm_bench_monitors`` (``BENCH_PG_ADMIN_URL``, default
``postgresql://postgres@127.0.0.1:5432/postgres``), recreated for each part with
``db.create_all()``. Redis: ``--redis`` (its queue ``bench-monitors`` and lag list are emptied).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import free_port, fresh_database, log  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
SQLITE_PATH = os.path.join(RESULTS, "monitors-bench.sqlite3")
PG_DB = "crm_bench_monitors"
QUEUE = "bench-monitors"
LAG_TARGET_S = 2.0
PAGE_TARGET_MS = 300.0
SLOW_SECONDS = 2.0
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@bench.example.com", "bench-pass-123"


# ---------------------------------------------------------------- the HTTP target server

async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1]
            if path.startswith(b"/slow"):
                await asyncio.sleep(SLOW_SECONDS)
            status = b"500 Internal Server Error" if path.startswith(b"/fail") else b"200 OK"
            close = b"connection: close" in head.lower()
            writer.write(
                b"HTTP/1.1 "
                + status
                + b"\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
                + (b"Connection: close\r\n" if close else b"")
                + b"\r\nok"
            )
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, ConnectionError, IndexError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


def serve_targets(port: int, ready) -> None:
    """Process body: the asyncio target server on 127.0.0.1:``port``."""

    async def main():
        server = await asyncio.start_server(_handle, "127.0.0.1", port, backlog=4096)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def target_url(i: int, port: int, refused_port: int) -> str:
    """The URL monitor number ``i`` checks: 1 % slow, 1 % failing, 0.5 % refused."""
    if i % 100 == 0:
        return f"http://127.0.0.1:{port}/slow/{i}"
    if i % 100 == 1:
        return f"http://127.0.0.1:{port}/fail/{i}"
    if i % 200 == 2:
        return f"http://127.0.0.1:{refused_port}/refused/{i}"
    return f"http://127.0.0.1:{port}/ok/{i}"


# ---------------------------------------------------------------- app and database


def database_url(kind: str) -> str:
    """Recreate the bench database of ``kind`` and return its SQLAlchemy URL."""
    return fresh_database(kind, SQLITE_PATH, PG_DB)


def overrides(db_url: str, redis_url: str, tick: int = 5) -> dict:
    """Config overrides of every app the bench builds (worker, server, loader)."""
    return {
        "SQLALCHEMY_DATABASE_URI": db_url,
        "REDIS_URL": redis_url,
        "RQ_QUEUE": QUEUE,
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
        "MAIL_SUPPRESS_SEND": True,
        "CRM_DEMO_DATA": False,
        "MONITOR_TICK_SECONDS": tick,
        "TESTING": False,
    }


def make_app(db_url: str, redis_url: str, tick: int = 5):
    """``crm.create_app`` with :func:`overrides` (quiet logging)."""
    import logging

    from crm import create_app

    app = create_app(overrides(db_url, redis_url, tick))
    logging.getLogger().setLevel(logging.WARNING)
    return app


def create_schema(app) -> None:
    """``db.create_all()`` on the bench database."""
    from crm.extensions import db

    with app.app_context():
        db.create_all()


def worker_main(db_url: str, redis_url: str) -> None:
    """``--_worker`` mode: one ``rq.SimpleWorker`` (jobs run in this process) on every queue
    kind (:data:`crm.queue.KINDS`: the tick on the default queue hands the check chunks to
    the monitoring queue), as one ``python -m workers.worker`` serving all of them does."""
    from rq import SimpleWorker

    from crm.queue import KINDS, get_queue, redis_conn
    from crm.workers_app import set_app

    app = make_app(db_url, redis_url)
    set_app(app)
    with app.app_context():
        conn = redis_conn()
        SimpleWorker([get_queue(kind) for kind in KINDS], connection=conn).work(
            logging_level="WARNING")


# ---------------------------------------------------------------- (a) engine throughput


def insert_owners(app, n: int) -> list[int]:
    """Bulk-insert ``n`` verified customers (the owners of customers' monitors).

    :returns: their ids."""
    from sqlalchemy import insert, select

    from crm.auth.models import ACTIVE, CUSTOMER, User
    from crm.extensions import db

    now = datetime.now(UTC)
    with app.app_context():
        rows = [{"email": f"bench-owner-{i}@example.com", "name": f"Owner {i}", "role": CUSTOMER,
                 "status": ACTIVE, "email_verified_at": now, "created_at": now,
                 "password_hash": "!"} for i in range(n)]
        db.session.execute(insert(User), rows)
        db.session.commit()
        return list(db.session.scalars(select(User.id).where(User.email.like("bench-owner-%"))))


def insert_monitors(app, n: int, port: int, refused_port: int, first_due: datetime,
                    owner_ids: list[int] | None = None) -> None:
    """Bulk-insert ``n`` HTTP monitors at a 60 s interval, due times spread over a minute;
    with ``owner_ids``, owned round-robin by those customers (checked under the customer
    outbound policy)."""
    from sqlalchemy import insert

    from crm.extensions import db
    from crm.monitoring.models import Monitor

    now = datetime.now(UTC)
    with app.app_context():
        rows = [
            {
                "name": f"bench-{i:05d}",
                "type": "http",
                "config": {"url": target_url(i, port, refused_port), "method": "GET"},
                "interval_seconds": 60,
                "timeout_seconds": 10.0,
                "retries": 1,
                "tags": ["bench"],
                "paused": False,
                "status": "pending",
                "consecutive_failures": 0,
                "next_check_at": first_due + timedelta(seconds=60.0 * i / n),
                "created_at": now,
                "updated_at": now,
                "owner_id": owner_ids[i % len(owner_ids)] if owner_ids else None,
            }
            for i in range(n)
        ]
        for start in range(0, n, 5000):
            db.session.execute(insert(Monitor), rows[start : start + 5000])
        db.session.commit()


def baseline_checks_per_second(n_sample: int, port: int, refused_port: int) -> tuple[float, float]:
    """A plain sequential loop over ``n_sample`` monitors' URLs (same mix), one new
    connection per request. :returns: (checks/s, seconds taken)."""
    import httpx

    urls = [target_url(i, port, refused_port) for i in range(n_sample)]
    with httpx.Client(timeout=10.0, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        t0 = time.perf_counter()
        for url in urls:
            try:
                client.get(url)
            except httpx.HTTPError:
                pass
        elapsed = time.perf_counter() - t0
    return n_sample / elapsed, elapsed


def run_engine(args, kind: str) -> dict:
    """Part (a). :returns: the result record."""
    import psutil
    from redis import Redis
    from rq import Queue
    from sqlalchemy import func, select

    from crm.extensions import db
    from crm.monitoring.engine import scheduler
    from crm.monitoring.models import CheckResult

    port, refused_port = free_port(), free_port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve_targets, args=(port, ready), daemon=True)
    server.start()
    ready.wait(10)
    db_url = database_url(kind)
    app = make_app(db_url, args.redis, args.tick)
    create_schema(app)
    redis = Redis.from_url(args.redis)
    queue = Queue(QUEUE, connection=redis)
    for suffix in ("", "-monitoring", "-periodic"):  # the queue kinds (crm.queue.queue_name)
        Queue(f"{QUEUE}{suffix}", connection=redis).empty()
    with app.app_context():
        redis.delete(scheduler._lag_key())

    log(f"baseline: sequential loop over {args.baseline_sample} URLs …")
    base_cps, base_s = baseline_checks_per_second(args.baseline_sample, port, refused_port)
    log(f"baseline: {base_cps:.1f} checks/s ({base_s:.1f} s)")

    first_due = datetime.now(UTC) + timedelta(seconds=10)
    log(f"{kind}: inserting {args.monitors} monitors …")
    owner_ids = None
    if args.owners:
        # customers' monitors may not reach loopback unless the operator opens it (as the
        # tests do); the worker subprocess inherits the setting
        os.environ["MONITOR_ALLOWED_NETWORKS"] = "127.0.0.0/8"
        owner_ids = insert_owners(app, args.owners)
        log(f"{kind}: {args.owners} customers own the monitors (customer outbound policy)")
    insert_monitors(app, args.monitors, port, refused_port, first_due, owner_ids)
    worker = subprocess.Popen(
        [
            sys.executable,
            os.path.abspath(__file__),
            "--_worker",
            "--db-url",
            db_url,
            "--redis",
            args.redis,
        ],
        cwd=ROOT,
    )
    proc = psutil.Process(worker.pid)
    proc.cpu_percent(None)
    wait = (first_due - datetime.now(UTC)).total_seconds()
    if wait > 0:
        time.sleep(wait)
    t_start = datetime.now(UTC)
    deadline = time.monotonic() + args.minutes * 60
    next_tick = time.monotonic()
    cpu, rss = [], []
    log(f"{kind}: running {args.minutes} min with one worker, tick every {args.tick} s …")
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_tick:
            queue.enqueue("crm.monitoring.engine.jobs.tick", job_timeout=600)
            next_tick += args.tick
        time.sleep(max(0.0, min(1.0, next_tick - time.monotonic())))
        try:
            cpu.append(proc.cpu_percent(None))
            rss.append(proc.memory_info().rss / 2**20)
        except psutil.Error:
            break
    t_end = datetime.now(UTC)
    backlog = sum(Queue(f"{QUEUE}{suffix}", connection=redis).count
                  for suffix in ("", "-monitoring", "-periodic"))
    with app.app_context():
        checks = db.session.scalar(
            select(func.count(CheckResult.id)).where(
                CheckResult.checked_at >= t_start, CheckResult.checked_at < t_end
            )
        )
        lag = scheduler.lag_stats()
    worker.terminate()  # warm shutdown: RQ lets the running check job finish first
    try:
        worker.wait(90)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(10)
    server.terminate()
    seconds = (t_end - t_start).total_seconds()
    cps = checks / seconds if seconds else 0.0
    demand = args.monitors / 60.0
    verdict = (
        "PASS" if lag["p99"] is not None and lag["p99"] <= LAG_TARGET_S and backlog <= 2 else "FAIL"
    )
    return {
        "db": kind,
        "monitors": args.monitors,
        "owners": args.owners,
        "minutes": args.minutes,
        "tick_s": args.tick,
        "checks": checks,
        "seconds": round(seconds, 1),
        "checks_per_s": round(cps, 1),
        "demand_per_s": round(demand, 1),
        "lag": lag,
        "backlog_jobs": backlog,
        "worker_cpu_mean": round(statistics.mean(cpu), 1) if cpu else None,
        "worker_cpu_max": round(max(cpu), 1) if cpu else None,
        "worker_rss_max_mb": round(max(rss), 1) if rss else None,
        "baseline_checks_per_s": round(base_cps, 1),
        "ratio": round(cps / base_cps, 1) if base_cps else None,
        "verdict": verdict,
    }


# ---------------------------------------------------------------- (b) a year of history


def hour_profiles(n: int, rng: random.Random) -> list[dict]:
    """``n`` hour rollups, each from 60 synthetic 1-minute results aggregated exactly as
    :func:`crm.monitoring.engine.rollups.apply_results` does (same histogram buckets)."""
    from crm.monitoring.engine.rollups import empty_histogram, histogram_index

    profiles = []
    for p in range(n):
        up = down = errors = 0
        sum_ms, lo, hi = 0.0, None, None
        hist, codes = empty_histogram(), {}
        bad_hour = p % 40 == 0
        for _ in range(60):
            if bad_hour and rng.random() < 0.3:
                down += 1
                if rng.random() < 0.5:
                    errors += 1  # no answer at all
                    continue
                ms, code = rng.uniform(5, 50), 503
            else:
                up += 1
                ms, code = rng.lognormvariate(4.3, 0.5), 200
            sum_ms += ms
            lo = ms if lo is None else min(lo, ms)
            hi = ms if hi is None else max(hi, ms)
            hist[histogram_index(ms)] += 1
            codes[str(code)] = codes.get(str(code), 0) + 1
        profiles.append(
            {
                "count_up": up,
                "count_down": down,
                "errors": errors,
                "sum_ms": sum_ms,
                "min_ms": lo,
                "max_ms": hi,
                "histogram": hist,
                "status_codes": codes,
            }
        )
    return profiles


def _merge(parts: list[dict]) -> dict:
    out = {
        "count_up": 0,
        "count_down": 0,
        "errors": 0,
        "sum_ms": 0.0,
        "min_ms": None,
        "max_ms": None,
        "histogram": [0] * len(parts[0]["histogram"]),
        "status_codes": {},
    }
    for p in parts:
        for key in ("count_up", "count_down", "errors", "sum_ms"):
            out[key] += p[key]
        if p["min_ms"] is not None:
            out["min_ms"] = (
                p["min_ms"] if out["min_ms"] is None else min(out["min_ms"], p["min_ms"])
            )
            out["max_ms"] = (
                p["max_ms"] if out["max_ms"] is None else max(out["max_ms"], p["max_ms"])
            )
        out["histogram"] = [a + b for a, b in zip(out["histogram"], p["histogram"], strict=True)]
        for code, n in p["status_codes"].items():
            out["status_codes"][code] = out["status_codes"].get(code, 0) + n
    return out


def fill_history(app, n_monitors: int, rng: random.Random) -> list[int]:
    """Part (b) data: monitors, a year of hour/day rollups, incidents + flips, 24 h of raw
    results, and the admin user. :returns: the monitor ids."""
    from sqlalchemy import insert, select

    from crm.auth.models import User
    from crm.extensions import db
    from crm.monitoring.models import DAY, HOUR, CheckResult, Flip, Incident, Monitor, Rollup

    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    year_ago = (now - timedelta(days=366)).replace(hour=0)
    profiles = hour_profiles(400, rng)
    with app.app_context():
        admin = User(
            email=ADMIN_EMAIL,
            name="Bench Admin",
            role="admin",
            status="active",
            email_verified_at=now,
        )
        admin.set_password(ADMIN_PASSWORD)
        db.session.add(admin)
        db.session.execute(
            insert(Monitor),
            [
                {
                    "name": f"service-{i:03d}",
                    "type": "http",
                    "config": {"url": f"https://svc{i}.example/"},
                    "interval_seconds": 60,
                    "timeout_seconds": 10.0,
                    "retries": 1,
                    "tags": [f"team{i % 5}"],
                    "paused": False,
                    "status": "up",
                    "consecutive_failures": 0,
                    "next_check_at": None,
                    "created_at": year_ago - timedelta(days=1),
                    "updated_at": now,
                    "last_checked_at": now,
                    "last_response_ms": 80.0,
                    "last_status_code": 200,
                }
                for i in range(n_monitors)
            ],
        )
        db.session.commit()
        ids = list(db.session.scalars(select(Monitor.id).order_by(Monitor.id)))
        hours = int((now - year_ago).total_seconds() // 3600)
        for n, mid in enumerate(ids, 1):
            rows, day_parts, day_start = [], [], year_ago
            for h in range(hours):
                at = year_ago + timedelta(hours=h)
                prof = profiles[rng.randrange(len(profiles))]
                rows.append(
                    {
                        "monitor_id": mid,
                        "period": HOUR,
                        "bucket_start": at,
                        "protocol": "https",
                        **prof,
                    }
                )
                if at.replace(hour=0) != day_start:
                    rows.append(
                        {
                            "monitor_id": mid,
                            "period": DAY,
                            "bucket_start": day_start,
                            "protocol": "https",
                            **_merge(day_parts),
                        }
                    )
                    day_parts, day_start = [], at.replace(hour=0)
                day_parts.append(prof)
            if day_parts:
                rows.append(
                    {
                        "monitor_id": mid,
                        "period": DAY,
                        "bucket_start": day_start,
                        "protocol": "https",
                        **_merge(day_parts),
                    }
                )
            for start in range(0, len(rows), 5000):
                db.session.execute(insert(Rollup), rows[start : start + 5000])
            incidents, flips = [], []
            for _ in range(6):
                opened = year_ago + timedelta(minutes=rng.randrange(365 * 1440))
                duration = rng.randrange(120, 3600)
                incidents.append(
                    {
                        "monitor_id": mid,
                        "opened_at": opened,
                        "closed_at": opened + timedelta(seconds=duration),
                        "duration_seconds": duration,
                        "cause": "HTTP 503",
                        "in_maintenance": False,
                    }
                )
                flips += [
                    {
                        "monitor_id": mid,
                        "created_at": opened,
                        "old_status": "up",
                        "new_status": "down",
                        "reason": "HTTP 503",
                    },
                    {
                        "monitor_id": mid,
                        "created_at": opened + timedelta(seconds=duration),
                        "old_status": "down",
                        "new_status": "up",
                        "reason": None,
                    },
                ]
            db.session.execute(insert(Incident), incidents)
            db.session.execute(insert(Flip), flips)
            raw = [
                {
                    "monitor_id": mid,
                    "checked_at": now - timedelta(minutes=m),
                    "status": "up",
                    "response_time_ms": rng.lognormvariate(4.3, 0.5),
                    "status_code": 200,
                    "error": None,
                    "protocol": "https",
                }
                for m in range(1, 1441)
            ]
            db.session.execute(insert(CheckResult), raw)
            db.session.commit()
            if n % 10 == 0:
                log(f"history: {n}/{len(ids)} monitors ({len(rows)} rollup rows each)")
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        else:
            with db.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
    return ids


def serve_app(db_url: str, redis_url: str, port: int, ready) -> None:
    """Process body: the app in werkzeug's threaded server on 127.0.0.1:``port``."""
    import logging

    from werkzeug.serving import make_server

    app = make_app(db_url, redis_url)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", port, app, threaded=True)
    ready.set()
    server.serve_forever()


def time_requests(client, paths: list[str], n: int, headers: dict | None = None) -> dict:
    """GET ``paths`` in rotation ``n`` times after 3 warm-ups. :returns: p50/p95 ms, errors."""
    for path in paths[:3]:
        client.get(path, headers=headers)
    times, errors = [], 0
    for i in range(n):
        t0 = time.perf_counter()
        resp = client.get(paths[i % len(paths)], headers=headers)
        times.append((time.perf_counter() - t0) * 1000)
        if resp.status_code != 200:
            errors += 1
    times.sort()
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(p95, 1),
        "errors": errors,
        "n": n,
        "verdict": "PASS" if p95 <= PAGE_TARGET_MS and not errors else "FAIL",
    }


def run_history(args, kind: str) -> dict:
    """Part (b). :returns: the result record."""
    import httpx

    db_url = database_url(kind)
    app = make_app(db_url, args.redis)
    create_schema(app)
    t0 = time.perf_counter()
    ids = fill_history(app, args.history_monitors, random.Random(42))
    fill_s = time.perf_counter() - t0
    log(f"history: filled in {fill_s:.0f} s; starting the server …")
    port = free_port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(
        target=serve_app, args=(db_url, args.redis, port, ready), daemon=True
    )
    server.start()
    ready.wait(30)
    base = f"http://127.0.0.1:{port}"
    results = {}
    try:
        with httpx.Client(base_url=base, timeout=60.0, follow_redirects=False) as client:
            page = client.get("/auth/login").text
            token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
            resp = client.post(
                "/auth/login",
                data={
                    "email": ADMIN_EMAIL,
                    "password": ADMIN_PASSWORD,
                    "csrf_token": token.group(1) if token else "",
                },
            )
            if resp.status_code != 302:
                raise RuntimeError(f"log-in failed: {resp.status_code}")
            api = client.post(
                "/api/v1/auth/token", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
            )
            bearer = {"Authorization": f"Bearer {api.json()['access_token']}"}
            sample = ids[:: max(1, len(ids) // 10)]
            runs = [
                ("overview /monitors/", ["/monitors/"], None),
                ("dashboard 365d by week", ["/monitors/dashboard?range=365d&unit=week"], None),
                ("dashboard 365d by month", ["/monitors/dashboard?range=365d&unit=month"], None),
                (
                    "API uptime period=year",
                    [f"/api/v1/monitors/{i}/uptime?period=year" for i in sample],
                    bearer,
                ),
            ]
            for name, paths, headers in runs:
                log(f"timing {name} …")
                results[name] = time_requests(client, paths, args.requests, headers)
    finally:
        server.terminate()
    return {
        "db": kind,
        "monitors": len(ids),
        "fill_seconds": round(fill_s, 1),
        "endpoints": results,
    }


# ---------------------------------------------------------------- main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--monitors", type=int, default=10000)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--tick", type=int, default=1, help="seconds between scheduler ticks")
    parser.add_argument("--baseline-sample", type=int, default=300)
    parser.add_argument("--history-monitors", type=int, default=100)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument(
        "--redis", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    parser.add_argument("--owners", type=int, default=0,
                        help="customers owning the monitors round-robin (0: the operators')")
    parser.add_argument("--skip-engine", action="store_true")
    parser.add_argument("--skip-history", action="store_true")
    parser.add_argument("--_worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._worker:
        worker_main(args.db_url, args.redis)
        return 0
    record = {"started": datetime.now(UTC).isoformat()}
    if not args.skip_engine:
        r = run_engine(args, args.db)
        record["engine"] = r
        lag = r["lag"]
        print(
            f"\n===== (a) engine: {r['monitors']} HTTP monitors / 60 s, one worker, {r['db']} ====="
        )
        print(
            f"checks/s              {r['checks_per_s']:8.1f}   (demand {r['demand_per_s']}/s; "
            f"{r['checks']} checks in {r['seconds']} s)"
        )
        print(
            f"baseline loop         {r['baseline_checks_per_s']:8.1f}   "
            "checks/s (sequential httpx)  "
            f"ratio {r['ratio']}x"
        )
        print(
            f"scheduling lag        p50 {lag['p50']} s  p99 {lag['p99']} s  max {lag['max']} s  "
            f"({lag['samples']} samples, tick {r['tick_s']} s)"
        )
        print(f"queue backlog at end  {r['backlog_jobs']} jobs")
        print(
            f"worker CPU            mean {r['worker_cpu_mean']} %  max {r['worker_cpu_max']} %   "
            f"RSS max {r['worker_rss_max_mb']} MiB"
        )
        print(f"target lag p99 <= {LAG_TARGET_S} s with one worker: {r['verdict']}")
    if not args.skip_history:
        h = run_history(args, args.db)
        record["history"] = h
        print(
            f"\n===== (b) one year of 1-minute history, {h['monitors']} monitors, {h['db']} "
            f"(filled in {h['fill_seconds']} s) ====="
        )
        print(
            f"{'endpoint':28} {'p50 ms':>8} {'p95 ms':>8} {'err':>4}  "
            f"result (p95 <= {PAGE_TARGET_MS:.0f} ms)"
        )
        for name, e in h["endpoints"].items():
            print(
                f"{name:28} {e['p50_ms']:8.1f} {e['p95_ms']:8.1f} {e['errors']:>4}  {e['verdict']}"
            )
    os.makedirs(RESULTS, exist_ok=True)
    out = os.path.join(RESULTS, f"monitors-{args.db}-{datetime.now(UTC):%Y%m%dT%H%M%S}.json")
    with open(out, "w") as fh:
        json.dump(record, fh, indent=2, default=str)
    log(f"results written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
