"""Observability: what goes wrong in CR Tracker and in the customers' own applications.

``errors/`` is the error tracker: unhandled errors of the web app and the workers, and events
sent by any application instrumented with the official ``sentry-sdk``, grouped into issues.
:func:`init_app` registers its blueprints (ingest, console pages) and hooks.
"""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the error tracker's blueprints (Sentry-compatible ingest, console pages)."""
    from crm.observability.errors import ingest, pages

    app.register_blueprint(ingest.bp)
    app.register_blueprint(pages.bp)
