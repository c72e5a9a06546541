"""CR Tracker's own unhandled errors (web requests, RQ jobs) into the built-in project.

:func:`record_request_error` is called by the app's last-resort error handler
(:mod:`crm.errors`), :func:`record_job_failure` by the RQ worker as an exception handler.
Neither ever raises: a failure to record is logged and the request (or the worker) goes on.
With ``ERROR_FORWARD_DSN`` set, each error is also sent to that external Sentry
(:func:`forward`).
"""
from __future__ import annotations

import logging
import os
import traceback as tb

from flask import has_request_context, request

import crm
from crm.observability.errors.event import EventData
from crm.observability.errors.scrub import FILTERED, is_sensitive, scrub, scrub_query

log = logging.getLogger(__name__)

_APP_ROOT = os.path.dirname(os.path.abspath(crm.__file__))
_PROJECT_ROOT = os.path.dirname(_APP_ROOT)


def _frames(exc: BaseException) -> list[dict]:
    """The exception's traceback as Sentry-style frames (outermost first); frames in the
    ``crm`` package are in-app."""
    frames = []
    for frame in tb.extract_tb(exc.__traceback__):
        path = os.path.abspath(frame.filename)
        in_app = path.startswith(_APP_ROOT + os.sep)
        name = os.path.relpath(path, _PROJECT_ROOT) if in_app else frame.filename
        module = name[:-3].replace(os.sep, ".") if in_app and name.endswith(".py") else None
        frames.append({"filename": name[:300], "module": module, "function": frame.name,
                       "lineno": frame.lineno, "context_line": (frame.line or "")[:500],
                       "in_app": in_app})
    return frames[-60:]


def event_from_exception(exc: BaseException) -> EventData:
    """An event (type, message, full traceback, frames, release) for ``exc``; the request's
    method, path, client IP, user and user agent when called during a request."""
    etype = type(exc)
    name = etype.__qualname__ if etype.__module__ == "builtins" else \
        f"{etype.__module__}.{etype.__qualname__}"
    text = "".join(tb.format_exception(exc))
    data = EventData(exception_type=name[:200], message=str(exc)[:10_000],
                     traceback=text[:100_000], frames=_frames(exc), release=crm.__version__,
                     platform="python", environment=None)
    data.data = {"frames": data.frames}
    if has_request_context():
        _add_request(data)
    return data


def _add_request(data: EventData) -> None:
    """Fill the request members of ``data``: the client address is ``remote_addr``, which
    ProxyFix (``PROXY_FIX_HOPS``) takes from the trusted proxies only."""
    from flask import current_app
    from flask_login import current_user

    data.environment = current_app.config.get("ENV_NAME")
    data.client_ip = request.remote_addr
    data.method = request.method
    data.path = request.path[:2000]
    data.user_agent = (request.headers.get("User-Agent") or "")[:500] or None
    try:
        user = current_user._get_current_object()
        if getattr(user, "is_authenticated", False):
            data.user_id, data.user_label = user.id, user.email
    except Exception:  # noqa: BLE001 - the user lookup itself may be what failed
        log.warning("error capture: could not read the current user", exc_info=True)
    headers = {k: FILTERED if is_sensitive(k) else v[:1000] for k, v in request.headers.items()}
    form = None
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            form = scrub(request.form.to_dict())
        except Exception:  # noqa: BLE001 - an unreadable body must not lose the event
            form = {"error": "the form could not be read"}
    data.data["request"] = {"url": request.base_url[:2000],
                            "query": scrub_query(request.query_string.decode("latin-1")),
                            "headers": headers, "data": form}


#: external Sentry clients by DSN (one per process, made on the first forwarded error)
_forward_clients: dict[str, object] = {}


def forward(exc: BaseException, data: EventData, *, wait: bool = False) -> None:
    """Also send ``exc`` to the external Sentry (or GlitchTip, or another CR Tracker) at
    ``ERROR_FORWARD_DSN``, when one is configured, with the official ``sentry-sdk`` (an
    optional dependency): release, environment, method and path as tags; no user data.

    :param wait: block until sent (up to 5 s): a worker's work-horse exits right after.
    """
    from flask import current_app

    dsn = current_app.config.get("ERROR_FORWARD_DSN")
    if not dsn:
        return
    try:
        import sentry_sdk
    except ImportError:
        log.warning("ERROR_FORWARD_DSN is set but sentry-sdk is not installed")
        return
    client = _forward_clients.get(dsn)
    if client is None:
        client = _forward_clients[dsn] = sentry_sdk.Client(
            dsn, default_integrations=False, auto_enabling_integrations=False,
            release=crm.__version__, environment=data.environment)
    with sentry_sdk.isolation_scope() as scope:
        scope.set_client(client)
        for name in ("method", "path"):
            if getattr(data, name):
                scope.set_tag(name, getattr(data, name)[:200])
        scope.capture_exception(exc)
    if wait:
        client.flush(timeout=5)


def _store(data: EventData) -> None:
    from crm.extensions import db
    from crm.observability.errors import services

    db.session.rollback()
    project = services.built_in_project()
    services.record_event(project.id, data)


def _forward_quietly(exc: BaseException, data: EventData, wait: bool = False) -> None:
    try:
        forward(exc, data, wait=wait)
    except Exception:  # noqa: BLE001 - forwarding is best effort
        log.exception("could not forward the error to ERROR_FORWARD_DSN")


def record_request_error(exc: BaseException) -> None:
    """Record an unhandled error of the current request; never raises (logs instead)."""
    data = None
    try:
        data = event_from_exception(exc)
        _store(data)
    except Exception:  # noqa: BLE001 - recording must never break the error page
        log.exception("could not record the unhandled error")
        _rollback_quietly()
    if data is not None:
        _forward_quietly(exc, data)


def record_job_failure(job, exc_type, exc_value, traceback) -> bool:
    """RQ exception handler: record a failed job's error (job id, function, queue) in the
    built-in project, then let RQ's own handling go on (returns True).

    Runs in the worker's work-horse, in the app the worker registered
    (:mod:`crm.workers_app`); never raises.
    """
    try:
        from crm.workers_app import get_app

        with get_app().app_context():
            try:
                if exc_value.__traceback__ is None:
                    exc_value = exc_value.with_traceback(traceback)
                data = event_from_exception(exc_value)
                data.method, data.path = "JOB", (job.func_name or "")[:2000]
                data.data["job"] = {"id": job.id, "func": job.func_name, "origin": job.origin}
                try:
                    _store(data)
                finally:
                    _forward_quietly(exc_value, data, wait=True)
            finally:
                from crm.extensions import db
                db.session.remove()
    except Exception:  # noqa: BLE001 - the worker must go on
        log.exception("could not record the failed job's error")
    return True


def _rollback_quietly() -> None:
    try:
        from crm.extensions import db
        db.session.rollback()
    except Exception:  # noqa: BLE001
        log.warning("rollback after a failed error capture failed too", exc_info=True)
