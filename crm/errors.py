"""Errors raised by services, and the app's error handlers (HTML page or problem+json).

API errors follow RFC 9457 (Problem Details for HTTP APIs): ``application/problem+json``
with one shape for every error: ``type``, ``title`` (by status, :data:`TITLES`), ``status``,
``detail`` and, for validation (every 422) and other refusals naming fields, ``errors``
(``{field: [messages]}``).
"""
from __future__ import annotations

import logging

from flask import Flask, Response, json, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """A business rule refused the request; ``message`` is safe to show the user.

    :param message: sentence for the user.
    :param field: the input field at fault, if any.
    :param status: HTTP status the API answers (409 conflict by default, 422 for bad values).
    :param errors: every problem as ``{field: [messages]}`` when there are several (the API's
        problem ``errors`` member); ``field``/``message`` name the first.
    """

    def __init__(self, message: str, field: str | None = None, status: int = 409,
                 errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
        self.errors = errors


class NotAllowed(ServiceError):
    """The actor may see the object but not make this change (HTTP 403)."""

    def __init__(self, message: str = "You are not allowed to do that."):
        super().__init__(message, status=403)


#: The one title of each status (RFC 9110 reason phrases), so a client can rely on it.
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
          405: "Method Not Allowed", 409: "Conflict", 410: "Gone", 413: "Content Too Large",
          414: "URI Too Long", 415: "Unsupported Media Type", 422: "Unprocessable Content",
          429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


def problem(status: int, title: str | None = None, detail: str | None = None,
            **extra) -> Response:
    """Build an RFC 9457 ``application/problem+json`` response of the one shape.

    :param status: HTTP status code (4xx/5xx).
    :param title: used only for a status without an entry in :data:`TITLES`; the table's
        title wins, so every problem of one status has the same title.
    :param detail: explanation of this occurrence for the client (the title when omitted).
    :param extra: extension members (``errors={field: [messages]}``; a 422 without
        ``errors`` gets ``{"body": [detail]}``).
    """
    title = TITLES.get(status) or title or "Error"
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail or title}
    body.update({name: value for name, value in extra.items() if value is not None})
    if status == 422 and not body.get("errors"):
        body["errors"] = {"body": [body["detail"]]}
    resp = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    return resp


def _is_api() -> bool:
    return request.path.startswith("/api/")


def _keep_exception_headers(exc: HTTPException, resp: Response) -> None:
    """Copy the headers werkzeug's exception carries (``Allow`` on a 405, RFC 9110 §15.5.6;
    ``WWW-Authenticate``, ``Retry-After``, ``Content-Range``) onto our own error page."""
    for name, value in exc.get_headers():
        if name.lower() != "content-type" and name not in resp.headers:
            resp.headers[name] = value


def register_error_handlers(app: Flask) -> None:
    """Install handlers: API paths get problem+json, console paths get an HTML page."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        original = getattr(exc, "original_exception", None)
        if exc.code == 500 and original is not None:  # raised outside the view (after_request)
            from crm.observability.errors.capture import record_request_error
            record_request_error(original)
        if _is_api():
            resp = problem(exc.code or 500, exc.name, exc.description or exc.name)
            if exc.code == 401:
                resp.headers["WWW-Authenticate"] = 'Bearer realm="api"'
            if exc.code == 429 and getattr(exc, "retry_after", None):
                resp.headers["Retry-After"] = str(exc.retry_after)
        else:
            resp = app.make_response(
                (render_template("errors/error.html", error=exc), exc.code or 500)
            )
        _keep_exception_headers(exc, resp)
        return resp

    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError):
        from crm.extensions import db

        db.session.rollback()  # a refused change must leave nothing half-applied behind
        if _is_api():
            fields = exc.errors or ({exc.field: [exc.message]} if exc.field else None)
            return problem(exc.status, detail=exc.message, errors=fields)
        return render_template("errors/error.html", error=exc, code=exc.status), exc.status

    @app.errorhandler(Exception)
    def unhandled(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        from crm.extensions import db

        db.session.rollback()  # the error page reads current_user: the session must be usable
        from crm.observability.errors.capture import record_request_error

        record_request_error(exc)  # the error tracker's built-in project; never raises
        if app.config.get("PROPAGATE_EXCEPTIONS"):
            raise exc
        if _is_api():
            return problem(500, "Internal Server Error", "An unexpected error occurred.")
        return render_template("errors/error.html", error=None, code=500), 500
