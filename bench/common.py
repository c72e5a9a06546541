"""Helpers shared by the benchmark and drill scripts."""
from __future__ import annotations

import os
import socket
import sys
from datetime import UTC, datetime

#: the folder benchmarks write their results and SQLite files to
RESULTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench",
                       "results")
#: PostgreSQL maintenance database the benchmarks create their own databases from
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def log(msg: str) -> None:
    """Progress line on stderr, UTC time first (results go to stdout)."""
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_database(kind: str, sqlite_path: str, pg_db: str) -> str:
    """Recreate a benchmark's database and return its SQLAlchemy URL: the SQLite file
    ``sqlite_path`` (with its WAL files) removed, or the PostgreSQL database ``pg_db`` dropped
    and created again through :data:`PG_ADMIN`.

    :param kind: ``sqlite`` or ``postgresql``.
    """
    if kind == "sqlite":
        os.makedirs(os.path.dirname(sqlite_path), exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(sqlite_path + suffix):
                os.remove(sqlite_path + suffix)
        return f"sqlite:///{sqlite_path}"
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{pg_db}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{pg_db}"
