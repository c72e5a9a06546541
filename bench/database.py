"""Bench databases: create, migrate (``flask db upgrade``), fill, and remember what they hold."""
from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict

from bench import datagen

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
RESULTS_DIR = os.path.join(BENCH_DIR, "results")
SQLITE_PATH = os.environ.get("BENCH_SQLITE_PATH") or os.path.join(
    RESULTS_DIR, "tickets-bench.sqlite3"
)
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = os.environ.get("BENCH_PG_DB", "crm_bench")


def pg_url(db: str = PG_DB) -> str:
    """libpq URL of database ``db`` on the bench server."""
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + db


def database_url(kind: str) -> str:
    """The ``DATABASE_URL`` the app uses for the bench database of ``kind``."""
    return "sqlite:///" + SQLITE_PATH if kind == "sqlite" else pg_url()


def app_env(kind: str) -> dict[str, str]:
    """Environment for the app (migrations and gunicorn): production settings, no Redis."""
    return {
        "DATABASE_URL": database_url(kind),
        "CRM_ENV": "production",
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789",
        "CRM_DEMO_DATA": "0",
        "CRM_DOTENV": os.devnull,  # ignore a developer's .env
        "REDIS_URL": "",
        "CRM_INSTANCE_PATH": os.path.join(RESULTS_DIR, "instance"),
    }


def _read_meta(kind: str) -> dict | None:
    try:
        if kind == "sqlite":
            if not os.path.exists(SQLITE_PATH):
                return None
            with sqlite3.connect(SQLITE_PATH) as conn:
                row = conn.execute("SELECT value FROM bench_meta WHERE key = 'sizes'").fetchone()
        else:
            import psycopg

            with psycopg.connect(pg_url(), autocommit=True) as conn:
                row = conn.execute("SELECT value FROM bench_meta WHERE key = 'sizes'").fetchone()
    except Exception:  # no file, no database, no table: nothing reusable
        return None
    return json.loads(row[0]) if row else None


def _write_meta(kind: str, sizes: datagen.Sizes, timings: dict) -> None:
    value = json.dumps(asdict(sizes))
    ddl = "CREATE TABLE IF NOT EXISTS bench_meta (key VARCHAR(32) PRIMARY KEY, value TEXT)"
    rows = [("sizes", value), ("timings", json.dumps(timings, default=str))]
    if kind == "sqlite":
        with sqlite3.connect(SQLITE_PATH) as conn:
            conn.execute(ddl)
            conn.executemany("INSERT OR REPLACE INTO bench_meta VALUES (?, ?)", rows)
    else:
        import psycopg

        with psycopg.connect(pg_url(), autocommit=True) as conn:
            conn.execute(ddl)
            for k, v in rows:
                conn.execute(
                    "INSERT INTO bench_meta VALUES (%s, %s) ON CONFLICT (key) "
                    "DO UPDATE SET value = excluded.value",
                    (k, v),
                )


def _fresh_schema(kind: str) -> None:
    """Drop and recreate the bench database, then run the migrations on it."""
    if kind == "sqlite":
        os.makedirs(RESULTS_DIR, exist_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(SQLITE_PATH + suffix):
                os.remove(SQLITE_PATH + suffix)
    else:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{PG_DB}"')
    saved = {k: os.environ.get(k) for k in app_env(kind)}
    os.environ.update(app_env(kind))
    try:
        import flask_migrate

        from crm import create_app

        app = create_app()
        with app.app_context():
            flask_migrate.upgrade(revision="heads")  # every head, merged or not
            from crm.extensions import db

            db.engine.dispose()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def prepare(kind: str, sizes: datagen.Sizes, reuse: bool, log: Callable[[str], None]) -> dict:
    """Make sure the bench database of ``kind`` holds ``sizes`` worth of data.

    With ``reuse`` an existing database generated with the same sizes is kept as is.
    :returns: ``{"reused": bool, "timings": {...}}`` (seconds).
    """
    if reuse and _read_meta(kind) == asdict(sizes):
        log(f"{kind}: reusing the existing bench database ({sizes.tickets:,} tickets)")
        return {"reused": True, "timings": {}}
    t0 = time.perf_counter()
    log(f"{kind}: creating the schema (flask db upgrade) …")
    _fresh_schema(kind)
    t_schema = time.perf_counter() - t0
    log(
        f"{kind}: generating {sizes.tickets:,} tickets, {sizes.customers:,} customers, "
        f"{sizes.engineers} engineers, {sizes.comments_per_ticket} comments per ticket …"
    )
    if kind == "sqlite":
        timings = datagen.load_sqlite(SQLITE_PATH, sizes, log)
    else:
        timings = datagen.load_postgresql(pg_url(), sizes, log)
    timings = {"schema": t_schema, **timings, "total": time.perf_counter() - t0}
    _write_meta(kind, sizes, timings)
    log(
        f"{kind}: generated in {timings['total']:.1f} s  "
        + " ".join(
            f"{k}={v:.1f}s" if isinstance(v, float) else f"{k}={v}" for k, v in timings.items()
        )
    )
    return {"reused": False, "timings": timings}
