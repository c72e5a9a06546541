"""Mail delivery benchmark (a benchmark, not a test: pytest never collects it).

    python bench/mail.py [--db sqlite|postgresql] [--mails 2000] [--workers 1 [2 ...]]
        [--batch N] [--redis redis://127.0.0.1:6379/9] [--timeout 600]

A local SMTP server (aiosmtpd, in its own process, answering 250 at once and counting what
it receives) stands in for the mail relay. For each worker count in ``--workers``: that many
real ``python -m workers.worker --queues default`` processes start and register (start-up is
not timed); then ``--mails`` outbox rows (pending, one recipient, a short text and HTML
body) are written and their send jobs enqueued the way a burst of ticket events does
(``crm.notifications.jobs.enqueue_send`` after commit), and the clock runs until every row
is ``sent``. Printed per run: mails/s overall and per worker, and whether the SMTP server
received each Message-ID exactly once; also the workers' CPU seconds (their start-up
included) and mails per worker CPU-second, the capacity of one worker on a core of its own,
which a busy machine does not distort the way it distorts the wall-clock rate (the 1-minute
load average is printed beside it).

``--batch`` sets ``MAIL_BATCH_SIZE`` for the workers (1: one mail per job and one SMTP
connection per mail, the behaviour before send jobs shared connections).

Databases: the SQLite file ``bench/results/mail-bench.sqlite3`` or the PostgreSQL database
``crm_bench_mail`` (``BENCH_PG_ADMIN_URL``, default
``postgresql://postgres@127.0.0.1:5432/postgres``), recreated for each run with
``db.create_all()``. Redis: ``--redis`` (its queue ``bench-mail`` is emptied).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import uuid

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import free_port, fresh_database, log  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
SQLITE_PATH = os.path.join(RESULTS, "mail-bench.sqlite3")
PG_DB = "crm_bench_mail"
QUEUE = "bench-mail"
TARGET_PER_WORKER = 100.0


# ---------------------------------------------------------------- the SMTP server

def serve_smtp(port: int, ready, received, ids_path: str) -> None:
    """Process body: aiosmtpd on 127.0.0.1:``port``; counts messages in ``received`` and
    appends each Message-ID to ``ids_path``."""
    import logging
    from email.parser import BytesHeaderParser

    from aiosmtpd.controller import Controller
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    out = open(ids_path, "a", buffering=1)  # noqa: SIM115 (lives as long as the process)
    parser = BytesHeaderParser()

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            out.write(f"{parser.parsebytes(envelope.content)['Message-ID']}\n")
            with received.get_lock():
                received.value += 1
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    signal.sigwait({signal.SIGTERM})
    controller.stop()


# ---------------------------------------------------------------- database and app

def database_url(kind: str) -> str:
    """Recreate the bench database of ``kind`` and return its SQLAlchemy URL."""
    return fresh_database(kind, SQLITE_PATH, PG_DB)


def worker_env(db_url: str, redis_url: str, smtp_port: int, batch: int | None) -> dict:
    """Environment of the worker processes (production settings, the bench's services)."""
    env = dict(os.environ)
    env.update({"CRM_ENV": "production", "SECRET_KEY": uuid.uuid4().hex, "CRM_DOTENV": os.devnull,
                "DATABASE_URL": db_url, "REDIS_URL": redis_url, "RQ_QUEUE": QUEUE,
                "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp_port), "MAIL_USE_TLS": "0",
                "MAIL_DEFAULT_SENDER": "CR Tracker <no-reply@example.com>",
                "PUBLIC_URL": "http://127.0.0.1:5000",
                "CRM_INSTANCE_PATH": os.path.join(RESULTS, "mail-instance")})
    env.pop("WORKER_QUEUES", None)
    if batch is not None:
        env["MAIL_BATCH_SIZE"] = str(batch)
    return env


def make_app(env: dict):
    """``crm.create_app()`` configured from ``env`` (as the workers are)."""
    import logging
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        from crm import create_app
        app = create_app()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    logging.getLogger().setLevel(logging.WARNING)
    return app


def insert_rows(app, n: int) -> list[int]:
    """``n`` pending outbox rows in one transaction. :returns: their ids."""
    from sqlalchemy import insert, select

    from crm.clock import utcnow
    from crm.extensions import db
    from crm.notifications.models import PENDING, Notification
    from crm.notifications.services import make_message_id
    now = utcnow()
    rows = [
        {
            "channel": "email",
            "to": [f"customer{i}@example.com"],
            "subject": f"Ticket #{i} received",
            "body_text": f"Hello,\n\nwe received your ticket #{i}.\n",
            "status": PENDING,
            "body_html": f"<p>Hello,</p><p>we received your ticket #{i}.</p>",
            "attempts": 0,
            "message_id": make_message_id(),
            "created_at": now,
            "next_attempt_at": now,
        }
        for i in range(n)
    ]
    with app.app_context():
        db.session.execute(insert(Notification), rows)
        db.session.commit()
        ids = list(db.session.scalars(select(Notification.id).order_by(Notification.id)))
        db.session.remove()
    return ids


def sent_count(app) -> int:
    """Rows whose status is ``sent``."""
    from sqlalchemy import func, select

    from crm.extensions import db
    from crm.notifications.models import SENT, Notification

    with app.app_context():
        try:
            return db.session.scalar(select(func.count()).where(Notification.status == SENT))
        finally:
            db.session.remove()


# ---------------------------------------------------------------- one run


def run(args, kind: str, workers: int) -> dict:
    """Deliver ``args.mails`` with ``workers`` worker processes. :returns: the result record."""
    from redis import Redis
    from rq import Queue, Worker

    from crm.extensions import db

    smtp_port = free_port()
    ids_path = os.path.join(RESULTS, "mail-bench-ids.txt")
    os.makedirs(RESULTS, exist_ok=True)
    if os.path.exists(ids_path):
        os.remove(ids_path)
    ready, received = multiprocessing.Event(), multiprocessing.Value("i", 0)
    smtp = multiprocessing.Process(
        target=serve_smtp, args=(smtp_port, ready, received, ids_path), daemon=True
    )
    smtp.start()
    ready.wait(10)
    db_url = database_url(kind)
    env = worker_env(db_url, args.redis, smtp_port, args.batch)
    app = make_app(env)
    with app.app_context():
        db.create_all()
        db.session.remove()
    redis = Redis.from_url(args.redis)
    queue = Queue(QUEUE, connection=redis)
    queue.empty()
    cpu_before = children_cpu_seconds()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "workers.worker", "--queues", "default"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(workers)
    ]
    try:
        deadline = time.monotonic() + 120
        while len(Worker.all(queue=queue)) < workers:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit("the workers did not start")
            time.sleep(0.2)
        ids = insert_rows(app, args.mails)
        log(f"{kind}: {workers} worker(s), {args.mails} mails, batch {args.batch or 'default'} …")
        from crm.notifications.jobs import enqueue_send

        t0 = time.perf_counter()
        with app.app_context():
            for notification_id in ids:
                enqueue_send(notification_id, 0)
        enqueued_s = time.perf_counter() - t0
        deadline = time.monotonic() + args.timeout
        while (done := sent_count(app)) < args.mails:
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        elapsed = time.perf_counter() - t0
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        worker_cpu = children_cpu_seconds() - cpu_before  # before the SMTP process is reaped
        smtp.terminate()
        smtp.join(10)
    with open(ids_path) as fh:
        message_ids = [line.strip() for line in fh if line.strip()]
    rate = done / elapsed if elapsed else 0.0
    return {
        "db": kind,
        "workers": workers,
        "batch": args.batch,
        "mails": args.mails,
        "sent": done,
        "smtp_received": received.value,
        "distinct_message_ids": len(set(message_ids)),
        "exactly_once": received.value == len(set(message_ids)) == done,
        "enqueue_s": round(enqueued_s, 2),
        "seconds": round(elapsed, 2),
        "mails_per_s": round(rate, 1),
        "mails_per_s_per_worker": round(rate / workers, 1),
        "worker_cpu_s": round(worker_cpu, 2),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "mails_per_worker_cpu_s": round(done / worker_cpu, 1) if worker_cpu else None,
        "verdict": "PASS" if rate / workers >= TARGET_PER_WORKER else "FAIL",
    }


def children_cpu_seconds() -> float:
    """User + system CPU seconds of this process's ended and reaped children, and theirs (the
    workers and the work-horses they forked and waited for), from ``getrusage``."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print one JSON line per run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1])
    parser.add_argument("--batch", type=int, default=None, help="MAIL_BATCH_SIZE for the workers")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/9")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="give up after this many seconds"
    )
    args = parser.parse_args(argv)
    for workers in args.workers:
        print(json.dumps(run(args, args.db, workers)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
