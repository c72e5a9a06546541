"""Give RQ jobs an application context without building an app at import time.

The worker entry point (``workers/worker.py``) creates the app once and registers it here;
a job decorated with :func:`with_app_context` runs inside it. When a job is called inside an
existing app context (tests, ``flask shell``), that context is used.

A job that fails with a database ``OperationalError`` (a connection ended by a restart or
fail-over, a server not answering yet, SQLite's "database is locked") is run again after a
rollback, up to :data:`DB_RETRIES` times with a doubling pause. Jobs are idempotent (they take
ids, reload rows and claim work with guarded updates), so a second run never does twice what
the first finished.
"""
from __future__ import annotations

import functools
import logging
import time

from flask import Flask, has_app_context
from sqlalchemy.exc import OperationalError

log = logging.getLogger(__name__)

#: extra runs of a job after a database OperationalError, and the first pause (seconds)
DB_RETRIES = 3
DB_RETRY_FIRST_PAUSE = 0.5

_app: Flask | None = None


def set_app(app: Flask) -> None:
    """Register the app that jobs run in (called by the worker at start)."""
    global _app
    _app = app


def get_app() -> Flask:
    """The registered app, or a new one from the environment (lazy, first job only)."""
    global _app
    if _app is None:
        from crm import create_app
        _app = create_app()
    return _app


def _run_retrying(fn, args, kwargs):
    """``fn(*args, **kwargs)``, run again after a database OperationalError (see module doc).

    :raises OperationalError: the last one, when every retry failed too.
    """
    from crm.extensions import db

    pause = DB_RETRY_FIRST_PAUSE
    for attempt in range(DB_RETRIES + 1):
        try:
            return fn(*args, **kwargs)
        except OperationalError as exc:
            if attempt == DB_RETRIES:
                raise
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            log.warning("job %s: database error (%s); retry %d of %d in %.1f s",
                        fn.__qualname__, reason, attempt + 1, DB_RETRIES, pause)
            db.session.rollback()
            time.sleep(pause)
            pause *= 2
    raise AssertionError("unreachable")


def with_app_context(fn):
    """Decorator: run ``fn`` in the worker's app context, retrying it after a database
    ``OperationalError`` (:func:`_run_retrying`), and remove the DB session after."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if has_app_context():
            return _run_retrying(fn, args, kwargs)
        app = get_app()
        with app.app_context():
            from crm.extensions import db
            try:
                return _run_retrying(fn, args, kwargs)
            finally:
                db.session.remove()
    return wrapper
