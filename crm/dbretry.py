"""Lost database connections never surface as a 500.

A connection can die under a request: a PostgreSQL restart or fail-over,
``pg_terminate_backend``, a proxy's idle timeout. ``pool_pre_ping`` (config) replaces dead
connections when they are checked out of the pool; this module handles the ones that die
while a request uses them:

* the request has not written yet (no INSERT/UPDATE/DELETE/DDL was sent in it): the session
  is rolled back and the view runs once more on a fresh connection — nothing was changed,
  so running it again is safe;
* it had written (the outcome of its transaction is unknown to us, or it was rolled back):
  the answer is 503 with ``Retry-After`` (problem+json on ``/api/``, the error page in the
  console). The transaction is rolled back, so the data stays consistent; a client that
  retries with the same ``Idempotency-Key`` (:mod:`crm.idempotency`) cannot create twice.

"Connection lost" is SQLAlchemy's own disconnect detection (``DBAPIError.
connection_invalidated``, set from each dialect's ``is_disconnect``), not a guess from the
message text.
"""
from __future__ import annotations

import logging

from flask import Flask, g, has_request_context, make_response, render_template, request
from sqlalchemy import event as sa_event
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

#: seconds a client is asked to wait before retrying after a 503
RETRY_AFTER_SECONDS = 2
_WROTE = "crm_db_wrote"
_RETRIED = "crm_db_retried"
_READ_ONLY_PREFIXES = ("SELECT", "WITH", "SHOW", "PRAGMA", "BEGIN", "SAVEPOINT", "RELEASE",
                       "ROLLBACK", "SET ", "EXPLAIN", "VALUES")


def is_write(statement: str) -> bool:
    """Whether ``statement`` (SQL text) may change data: anything but a read, a transaction
    control statement or a session setting. ``WITH … INSERT`` counts as a read here, which
    no code of ours sends."""
    return not statement.lstrip().upper().startswith(_READ_ONLY_PREFIXES)


def _mark_writes(conn, cursor, statement, parameters, context, executemany) -> None:
    if has_request_context() and not g.get(_WROTE) and is_write(statement):
        g.setdefault(_WROTE, True)


def _reset_flags() -> None:
    g.pop(_WROTE, None)
    g.pop(_RETRIED, None)


def lost_connection(exc: BaseException) -> bool:
    """Whether ``exc`` is a database error for a connection that is gone."""
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def dispatch_with_retry(dispatch):
    """Run ``dispatch()`` (the view); on a lost connection retry it once when the request
    had not written, else answer 503. Other exceptions pass through untouched.

    :returns: the view's return value or a 503 response.
    """
    from crm.extensions import db

    while True:
        try:
            return dispatch()
        except DBAPIError as exc:
            if not lost_connection(exc):
                raise
            db.session.rollback()
            if g.get(_WROTE) or g.get(_RETRIED):
                return unavailable()
            setattr(g, _RETRIED, True)
            log.warning("database connection lost before any write on %s %s; retrying once",
                        request.method, request.path)


def unavailable():
    """The 503 answer for a request whose database connection was lost after it wrote."""
    from crm.errors import problem

    log.warning("database connection lost on %s %s after a write; answered 503",
                request.method, request.path)
    if request.path.startswith("/api/"):
        resp = problem(503, "Service Unavailable",
                       "The database connection was lost; nothing was saved for certain. "
                       "Retry the request (with the same Idempotency-Key where you sent one).")
    else:
        resp = make_response(render_template("errors/error.html", error=None, code=503), 503)
    resp.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return resp


def _remove_session(exc: BaseException | None = None) -> None:
    """``teardown_appcontext``: close the scoped session, tolerating a connection that died
    after the view answered (closing rolls back, and a rollback on a dead connection raises,
    which would turn a finished answer into a 500). Registered after Flask-SQLAlchemy's own
    teardown, so it runs first and leaves that one nothing to do."""
    from crm.extensions import db

    try:
        db.session.remove()
    except DBAPIError as err:
        if not lost_connection(err):
            raise
        db.session.registry.clear()
        log.warning("database connection lost while closing the request's session")


def init_app(app: Flask, engine) -> None:
    """Watch ``engine`` for writes made inside requests, reset the flags per request, and
    close each app context's session tolerantly (:func:`_remove_session`). Call after
    ``db.init_app``."""
    sa_event.listen(engine, "before_cursor_execute", _mark_writes)
    app.before_request(_reset_flags)
    app.teardown_appcontext(_remove_session)
