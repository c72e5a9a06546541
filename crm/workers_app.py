"""Give RQ jobs an application context without building an app at import time.

The worker entry point (``workers/worker.py``) creates the app once and registers it here;
a job decorated with :func:`with_app_context` runs inside it. When a job is called inside an
existing app context (tests, ``flask shell``), that context is used.
"""
from __future__ import annotations

import functools

from flask import Flask, has_app_context

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


def with_app_context(fn):
    """Decorator: run ``fn`` in the worker's app context and remove the DB session after."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if has_app_context():
            return fn(*args, **kwargs)
        app = get_app()
        with app.app_context():
            from crm.extensions import db
            try:
                return fn(*args, **kwargs)
            finally:
                db.session.remove()
    return wrapper
