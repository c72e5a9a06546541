"""Fixtures of the error tracker tests: the app served on 127.0.0.1 by a real threaded
werkzeug server, and a project to report into."""
from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from crm.extensions import db
from crm.observability.errors.models import ErrorProject


@pytest.fixture
def live_server(app):
    """``http://127.0.0.1:<port>`` serving the session app in threads, stopped after the test."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def project(app) -> ErrorProject:
    """A customer application's project, committed."""
    row = ErrorProject(name="Shop")
    db.session.add(row)
    db.session.commit()
    return row


def sentry_auth(project: ErrorProject) -> dict:
    """The ``X-Sentry-Auth`` header an SDK sends for ``project``."""
    return {"X-Sentry-Auth": f"Sentry sentry_version=7, sentry_client=test/1.0, "
                             f"sentry_key={project.public_key}"}


def event_payload(message: str = "order 42 not found", etype: str = "LookupError",
                  function: str = "load_order", **extra) -> dict:
    """A minimal Sentry event with one in-app frame."""
    return {"level": "error", "platform": "python",
            "exception": {"values": [{"type": etype, "value": message, "stacktrace": {"frames": [
                {"filename": "shop/orders.py", "module": "shop.orders", "function": function,
                 "lineno": 10, "in_app": True, "context_line": "raise LookupError(...)"}]}}]},
            **extra}
