"""Failure drill against the production topology (a drill, not a test: pytest never collects it).

    python bench/drill.py [--redis-outage 30] [--tickets 200] [--clients 4] [--kill-rounds 20]

Starts, on this machine only (127.0.0.1): its own ``redis-server`` on a free port, a fresh
PostgreSQL database ``crm_drill`` (``BENCH_PG_ADMIN_URL``), an in-process SMTP server
(aiosmtpd) that records every Message-ID it receives, then the product as production runs it
(``CRM_ENV=production``): ``flask db upgrade``, gunicorn with 2 gthread processes, 2 RQ
workers (every queue) and 2 rq-schedulers. Two drills follow, each a burst of ticket creations
through the API from ``--clients`` threads, every request with its own ``Idempotency-Key``
and retried with it on a 503 or a refused connection, as a careful client does:

1. **Redis outage**: Redis is shut down for ``--redis-outage`` seconds in the middle of the
   burst, then started again on the same port.
2. **Database connections ended**: every backend of the app's database is ended
   (``pg_terminate_backend``) ``--kill-rounds`` times, 0.2 s apart, during the burst.

For each it prints: requests sent, answers by status (5xx counted apart), tickets lost (a key
whose ticket does not exist) and duplicated (two tickets for one key), mails expected (the
requester's and the engineer's per ticket) against mails delivered, duplicated Message-IDs,
which processes died, and the recovery time (from the end of the fault until the last
expected mail arrived; ``--settle`` seconds at most).
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from email import message_from_bytes, policy

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import free_port, log  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = "crm_drill"
PASSWORD = "drill-pass-12345"


class MailSink:
    """aiosmtpd handler counting Message-IDs (thread-safe)."""

    def __init__(self):
        self.ids: Counter = Counter()
        self.lock = threading.Lock()
        self.last_at = 0.0

    async def handle_DATA(self, server, session, envelope):
        msg = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.ids[msg.get("Message-ID", "")] += 1
            self.last_at = time.monotonic()
        return "250 OK"

    def delivered(self) -> int:
        with self.lock:
            return len(self.ids)

    def duplicated(self) -> int:
        with self.lock:
            return sum(n - 1 for n in self.ids.values() if n > 1)


class Redis:
    """A private redis-server on a port of its own, stopped and started at will."""

    def __init__(self, port: int):
        self.port = port
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)


def pg_database() -> str:
    """Recreate the drill database; :returns: its SQLAlchemy URL."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PG_DB}"')
    return (
        PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        + "/"
        + PG_DB
    )


def terminate_backends() -> int:
    """End every backend of the drill database. :returns: how many."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        return len(
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (PG_DB,),
            ).fetchall()
        )


def seed(env: dict) -> None:
    """One approved engineer and one verified customer, through the app's own models."""
    code = (
        "from crm import create_app, clock\n"
        "from crm.auth.models import User, ACTIVE\n"
        "from crm.extensions import db\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    for role, email in (('engineer', 'eng@drill.example.com'),\n"
        "                        ('customer', 'cust@drill.example.com')):\n"
        "        u = User(email=email, name=role.title(), role=role, status=ACTIVE,\n"
        "                 email_verified_at=clock.utcnow())\n"
        f"        u.set_password({PASSWORD!r})\n"
        "        db.session.add(u)\n"
        "    db.session.commit()\n"
    )
    subprocess.run([PY, "-c", code], env=env, check=True, cwd=ROOT)


def burst(
    base: str, token: str, keys: list[str], clients: int, stop_retrying_at: list[float]
) -> Counter:
    """POST one ticket per key from ``clients`` threads; retry 503s and refused connections
    with the same key until answered otherwise (or ``stop_retrying_at[0]`` passes).

    :returns: a Counter of every answer's status (``"refused"`` for connection errors).
    """
    import requests

    statuses: Counter = Counter()
    lock = threading.Lock()

    def client(mine: list[str]) -> None:
        with requests.Session() as http:
            for key in mine:
                while True:
                    try:
                        resp = http.post(
                            f"{base}/api/v1/tickets",
                            timeout=30,
                            json={"subject": f"Drill {key}", "description": "drill"},
                            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
                        )
                        status = resp.status_code
                    except requests.RequestException:
                        status = "refused"
                    with lock:
                        statuses[status] += 1
                    if status not in (503, "refused") or time.monotonic() > stop_retrying_at[0]:
                        break
                    time.sleep(0.2)

    threads = [threading.Thread(target=client, args=(keys[i::clients],)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def outcome(env: dict, keys: list[str]) -> tuple[int, int]:
    """(lost, duplicated) tickets for ``keys``, read from the database."""
    import psycopg

    url = env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT subject, count(*) FROM tickets WHERE subject LIKE 'Drill %' GROUP BY subject"
        ).fetchall()
    counts = {subject[len("Drill ") :]: n for subject, n in rows}
    lost = sum(1 for k in keys if k not in counts)
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    return lost, duplicated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-outage", type=float, default=30.0, help="seconds Redis stays down")
    parser.add_argument("--tickets", type=int, default=200, help="tickets per drill")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--kill-rounds", type=int, default=20)
    parser.add_argument("--settle", type=float, default=180.0, help="seconds to wait for mail")
    args = parser.parse_args(argv)

    from aiosmtpd.controller import Controller

    sink = MailSink()
    smtp_port = free_port()
    smtp = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    redis = Redis(free_port())
    redis.start()
    web_port = free_port()
    env = {
        **os.environ,
        "CRM_ENV": "production",
        "SECRET_KEY": uuid.uuid4().hex * 2,
        "DATABASE_URL": pg_database(),
        "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
        "RQ_QUEUE": "drill",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_port),
        "MAIL_DEFAULT_SENDER": "drill@example.com",
        "PUBLIC_URL": f"http://127.0.0.1:{web_port}",
        "RATELIMIT_ENABLED": "0",
        "NOTIFY_STALE_SECONDS": "20",
        "CRM_DOTENV": "/nonexistent",
    }
    log("migrating")
    subprocess.run(
        [PY, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        env=env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    seed(env)
    procs = {
        "web": subprocess.Popen(
            [
                PY,
                "-m",
                "gunicorn",
                "-w",
                "2",
                "-k",
                "gthread",
                "--threads",
                "4",
                "-b",
                f"127.0.0.1:{web_port}",
                "wsgi:app",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    }
    for n in (1, 2):
        procs[f"worker{n}"] = subprocess.Popen(
            [PY, "-m", "workers.worker", "--name", f"drill-w{n}"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs[f"scheduler{n}"] = subprocess.Popen(
            [PY, "-m", "workers.scheduler"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    base = f"http://127.0.0.1:{web_port}"
    import requests

    for _ in range(200):
        try:
            requests.get(f"{base}/healthz", timeout=1)
            break
        except requests.RequestException:
            time.sleep(0.1)
    token = requests.post(
        f"{base}/api/v1/auth/token",
        timeout=10,
        json={"email": "cust@drill.example.com", "password": PASSWORD},
    ).json()["access_token"]
    results = []
    try:
        for drill in ("redis-outage", "db-terminate"):
            keys = [uuid.uuid4().hex for _ in range(args.tickets)]
            mails_before = sink.delivered()
            stop_at = [time.monotonic() + 600]
            fault_end = [0.0]
            killed: list[int] = []

            def fault(drill=drill, fault_end=fault_end, killed=killed):
                time.sleep(1.0)
                if drill == "redis-outage":
                    log(f"Redis down for {args.redis_outage:.0f} s")
                    redis.stop()
                    time.sleep(args.redis_outage)
                    redis.start()
                    log("Redis back")
                else:
                    for _ in range(args.kill_rounds):
                        killed.append(terminate_backends())
                        time.sleep(0.2)
                fault_end[0] = time.monotonic()

            log(f"drill {drill}: {args.tickets} tickets from {args.clients} clients")
            fault_thread = threading.Thread(target=fault)
            fault_thread.start()
            statuses = burst(base, token, keys, args.clients, stop_at)
            fault_thread.join()
            expected = 2 * args.tickets
            deadline = time.monotonic() + args.settle
            while sink.delivered() - mails_before < expected and time.monotonic() < deadline:
                time.sleep(0.5)
            delivered = sink.delivered() - mails_before
            recovery = (sink.last_at - fault_end[0]) if delivered >= expected else None
            lost, duplicated = outcome(env, keys)
            dead = [name for name, p in procs.items() if p.poll() is not None]
            results.append(
                {
                    "drill": drill,
                    "requests": sum(statuses.values()),
                    "answers": dict(sorted((str(k), v) for k, v in statuses.items())),
                    "5xx other than 503": sum(
                        v
                        for k, v in statuses.items()
                        if isinstance(k, int) and k >= 500 and k != 503
                    ),
                    "tickets lost": lost,
                    "tickets duplicated": duplicated,
                    "mails expected": expected,
                    "mails delivered": delivered,
                    "mails duplicated": sink.duplicated(),
                    "recovery s": None if recovery is None else round(max(recovery, 0.0), 1),
                    "dead processes": dead or "none",
                    **({"backends ended": sum(killed)} if killed else {}),
                }
            )
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        redis.stop()
        smtp.stop()
    for r in results:
        print(f"\n== {r.pop('drill')} ==")
        for key, value in r.items():
            print(f"  {key:22} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
