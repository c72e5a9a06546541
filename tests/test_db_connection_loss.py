"""Lost PostgreSQL connections never answer 500 (crm/dbretry.py), proven with real
``pg_terminate_backend`` calls against the app's own connections."""
from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
import requests
from flask import g
from sqlalchemy import func, select, text
from sqlalchemy.exc import ProgrammingError
from werkzeug.serving import make_server

from crm import dbretry, workers_app
from crm.extensions import db
from crm.notifications.models import Notification
from crm.tickets.models import Ticket
from crm.workers_app import with_app_context
from tests.conftest import PG_ADMIN_URL

pytestmark = pytest.mark.only_backend("postgresql")

#: how many times the burst test ends every app connection
KILL_ROUNDS = 25


def _terminate(pid: int) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


def _terminate_app_backends(database: str) -> int:
    """End every backend connected to ``database`` (the app's pool, web threads and the
    test's own session alike). :returns: how many were ended."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return len(rows)


def _lose_connection_once(calls: list, write_first: bool):
    """A view body: the first time, (optionally write,) end its own backend, then query."""

    def view():
        calls.append(1)
        if write_first:
            db.session.execute(text("UPDATE app_locks SET counter = counter + 1"))
        if len(calls) == 1:
            _terminate(db.session.scalar(text("SELECT pg_backend_pid()")))
        db.session.scalar(text("SELECT 1"))
        return "done"

    return view


def test_connection_lost_before_any_write_is_retried_once(app):
    calls: list = []
    with app.test_request_context("/api/v1/tickets"):
        assert (
            dbretry.dispatch_with_retry(_lose_connection_once(calls, write_first=False)) == "done"
        )
        assert g.crm_db_retried is True
    assert len(calls) == 2


def test_connection_lost_after_a_write_answers_503_with_retry_after(app):
    calls: list = []
    with app.test_request_context("/api/v1/tickets", method="POST"):
        resp = dbretry.dispatch_with_retry(_lose_connection_once(calls, write_first=True))
    assert len(calls) == 1
    assert resp.status_code == 503
    assert resp.mimetype == "application/problem+json"
    assert resp.headers["Retry-After"] == str(dbretry.RETRY_AFTER_SECONDS)


def test_console_gets_the_error_page_with_retry_after(app):
    with app.test_request_context("/tickets/", method="POST"):
        resp = dbretry.dispatch_with_retry(_lose_connection_once([], write_first=True))
    assert resp.status_code == 503
    assert "text/html" in resp.content_type
    assert resp.headers["Retry-After"]


def test_other_database_errors_are_not_swallowed(app):
    def view():
        db.session.execute(text("SELECT * FROM no_such_table"))

    with app.test_request_context("/api/v1/tickets"), pytest.raises(Exception) as info:
        dbretry.dispatch_with_retry(view)
    assert not dbretry.lost_connection(info.value)
    db.session.rollback()


@pytest.mark.parametrize(
    "statement, writes",
    [
        ("SELECT 1", False),
        ("  select * from t", False),
        ("WITH x AS (SELECT 1) SELECT * FROM x", False),
        ("BEGIN", False),
        ("SAVEPOINT sa_1", False),
        ("PRAGMA foreign_keys=ON", False),
        ("INSERT INTO t VALUES (1)", True),
        ("UPDATE app_locks SET counter = 1", True),
        ("DELETE FROM t", True),
        ("CREATE TABLE t (x int)", True),
        ("TRUNCATE t", True),
    ],
)
def test_write_detection(statement, writes):
    assert dbretry.is_write(statement) is writes


def test_burst_while_backends_are_terminated_loses_and_duplicates_nothing(
    app, make_user, token_for
):
    """A burst of ticket creations from 6 clients while a killer ends the app's PostgreSQL
    backends again and again: no 500, every ticket created exactly once (clients retry a 503
    with the same Idempotency-Key, as the API documents)."""
    make_user("engineer")
    customer = make_user("customer")
    token = token_for(customer)
    database = db.engine.url.database
    db.session.remove()

    server = make_server("127.0.0.1", 0, app, threaded=True)
    serve = threading.Thread(target=server.serve_forever, daemon=True)
    serve.start()
    url = f"http://127.0.0.1:{server.server_port}/api/v1/tickets"

    keys = [uuid.uuid4().hex for _ in range(30)]
    statuses: list[int] = []
    lock = threading.Lock()
    done = threading.Event()
    killed = []

    def client(my_keys):
        with requests.Session() as http:
            for key in my_keys:
                for _attempt in range(KILL_ROUNDS + 50):
                    resp = http.post(
                        url,
                        json={"subject": f"Burst {key[:6]}", "description": "D"},
                        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
                        timeout=30,
                    )
                    with lock:
                        statuses.append(resp.status_code)
                    if resp.status_code != 503:
                        break
                    done.wait(0.05)

    def killer():
        # A bounded number of rounds: the drill ends, and every client must then get through.
        for _round in range(KILL_ROUNDS):
            if done.is_set():
                break
            killed.append(_terminate_app_backends(database))
            done.wait(0.2)

    clients = [threading.Thread(target=client, args=(keys[i::6],)) for i in range(6)]
    kill_thread = threading.Thread(target=killer)
    kill_thread.start()
    for t in clients:
        t.start()
    for t in clients:
        t.join()
    done.set()
    kill_thread.join()
    server.shutdown()
    db.engine.dispose()

    assert sum(killed) > 0, "the killer never found an app connection to end"
    assert 500 not in statuses
    assert statuses.count(201) == len(keys)
    assert set(statuses) <= {201, 503}
    subjects = list(db.session.scalars(select(Ticket.subject)))
    assert len(subjects) == len(keys) == len(set(subjects))
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 2 * len(keys)


# ---------------------------------------------------------------- jobs


@with_app_context
def _job_losing_its_connection_once(calls: list) -> int:
    """A job body: on its first run it ends its own backend, so its next query fails."""
    calls.append(1)
    if len(calls) == 1:
        _terminate(db.session.scalar(text("SELECT pg_backend_pid()")))
    return db.session.scalar(text("SELECT count(*) FROM tickets"))


@with_app_context
def _job_always_failing(calls: list) -> None:
    calls.append(1)
    db.session.execute(text("SELECT * FROM no_such_table_at_all"))


def test_job_is_run_again_after_its_database_connection_is_lost(app, monkeypatch):
    monkeypatch.setattr(workers_app, "DB_RETRY_FIRST_PAUSE", 0.01)
    calls: list = []
    assert _job_losing_its_connection_once(calls) == 0
    assert len(calls) == 2


def test_job_errors_other_than_operational_are_not_retried(app):
    calls: list = []
    with pytest.raises(ProgrammingError):
        _job_always_failing(calls)
    db.session.rollback()
    assert len(calls) == 1


def test_sent_mail_is_recorded_even_when_the_batch_connection_died(app):
    """The SMTP server has the message; the batch's outcome connection is gone: the row is
    still marked sent (on a fresh connection), so no sweeper sends it again."""
    from crm.notifications import jobs
    from crm.notifications.models import SENDING, SENT
    from crm.notifications.services import queue_email

    note = queue_email(["once@example.com"], "Once", "Body")
    note.status = SENDING
    db.session.commit()
    note_id = note.id
    with db.engine.connect() as raw:
        outcomes = raw.execution_options(isolation_level="AUTOCOMMIT")
        _terminate(outcomes.exec_driver_sql("SELECT pg_backend_pid()").scalar())
        jobs._record_sent(note_id, outcomes)
    db.session.expire_all()
    assert db.session.get(Notification, note_id).status == SENT
