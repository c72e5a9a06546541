"""In-process look at what one page view does: every SQL statement, its plan and its time.

Runs the real ``tickets.index`` view in a request context as the bench admin, records the
statements SQLAlchemy sends, then asks the database for their plans (``EXPLAIN QUERY PLAN``
on SQLite, ``EXPLAIN (ANALYZE, BUFFERS)`` on PostgreSQL). This proves index use and that no
page view counts the whole table.
"""
from __future__ import annotations

import os
import re
import time
from contextlib import contextmanager

from sqlalchemy import event

from bench.database import app_env


@contextmanager
def _env(kind: str):
    saved = {k: os.environ.get(k) for k in app_env(kind)}
    os.environ.update(app_env(kind))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _plan(conn, dialect: str, statement: str, params) -> list[str]:
    if dialect == "sqlite":
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).fetchall()
        depth = {0: 0}
        out = []
        for node_id, parent, _, detail in rows:
            depth[node_id] = depth.get(parent, 0) + 1
            out.append("  " * (depth[node_id] - 1) + detail)
        return out
    rows = conn.exec_driver_sql(
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, params
    ).fetchall()
    return [r[0] for r in rows]


def inspect(kind: str, urls: list[str], repeat: int = 30) -> list[dict]:
    """For each staff-list URL: the statements one view issues, their plans, and the
    in-process time per view (mean of ``repeat`` runs after a warm-up).

    :returns: one dict per URL: ``url``, ``ms_per_view``, ``rows``, ``statements`` (each
        with ``sql``, ``plan``, ``full_count``: a COUNT without a WHERE clause).
    """
    with _env(kind):
        from flask_login import login_user

        from bench.datagen import ADMIN_EMAIL
        from crm import create_app
        from crm.auth.models import User
        from crm.extensions import db

        app = create_app()
        results = []
        with app.app_context():
            engine = db.engine
            dialect = engine.dialect.name
            admin = db.session.scalar(db.select(User).where(User.email == ADMIN_EMAIL))
            admin_id = admin.id
            db.session.remove()
            view = app.view_functions["tickets.index"]
            for url in urls:
                captured: list[tuple[str, object]] = []

                def capture(
                    conn, cursor, statement, parameters, context, executemany, _sink=captured
                ):
                    _sink.append((statement, parameters))

                def one_view(url=url):
                    with app.test_request_context(url):
                        login_user(db.session.get(User, admin_id))
                        body, status = view()
                        db.session.remove()
                        return body, status

                one_view()  # warm caches, compile statements
                event.listen(engine, "before_cursor_execute", capture)
                try:
                    body, status = one_view()
                finally:
                    event.remove(engine, "before_cursor_execute", capture)
                t = time.perf_counter()
                for _ in range(repeat):
                    one_view()
                ms = (time.perf_counter() - t) * 1000 / repeat
                statements = []
                with engine.connect() as conn:
                    for sql, params in captured:
                        if sql.lstrip().upper().startswith("EXPLAIN"):  # the search's row estimate
                            statements.append(
                                {
                                    "sql": sql,
                                    "params": repr(params)[:300],
                                    "ms": 0.0,
                                    "plan": ["(planner row estimate, nothing executed)"],
                                    "full_count": False,
                                }
                            )
                            continue
                        t = time.perf_counter()
                        conn.exec_driver_sql(sql, params).fetchall()
                        q_ms = (time.perf_counter() - t) * 1000
                        statements.append(
                            {
                                "sql": sql,
                                "params": repr(params)[:300],
                                "ms": q_ms,
                                "plan": _plan(conn, dialect, sql, params),
                                "full_count": bool(re.search(r"count\(", sql, re.I))
                                and " WHERE " not in sql.upper(),
                            }
                        )
                    conn.rollback()
                rows = body.split("<tbody>", 1)[1].count("<tr>") if "<tbody>" in body else 0
                results.append(
                    {
                        "url": url,
                        "status": status,
                        "ms_per_view": ms,
                        "rows": rows,
                        "statements": statements,
                    }
                )
            engine.dispose()
    return results


def report(kind: str, results: list[dict], show_sql: bool = True) -> str:
    """Human-readable text of :func:`inspect`'s results."""
    out = []
    for r in results:
        out.append(
            f"--- {kind}: GET {r['url']}  -> {r['status']}, {r['rows']} rows, "
            f"{r['ms_per_view']:.2f} ms per view in-process, {len(r['statements'])} statements"
        )
        for i, s in enumerate(r["statements"], 1):
            sql = re.sub(r"\s+", " ", s["sql"]).strip()
            out.append(
                f"  [{i}] {s['ms']:.2f} ms{'  FULL-TABLE COUNT!' if s['full_count'] else ''}  "
                + (sql if show_sql else sql[:160])
            )
            out.append(f"      params: {s['params']}")
            out.extend("      | " + line for line in s["plan"])
    return "\n".join(out)
