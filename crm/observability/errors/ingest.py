"""The Sentry-compatible ingest (blueprint ``error_ingest``): any application instrumented
with the official ``sentry-sdk`` reports into CR Tracker with its project's DSN.

* ``POST /api/<project_id>/envelope/`` (current SDKs) and ``POST /api/<project_id>/store/``
  (older ones: one event as the body).
* Authentication: the project's key in ``X-Sentry-Auth`` (``Sentry sentry_key=…``), the
  ``sentry_key`` query parameter or (envelopes) the DSN in the envelope header, as browser
  SDKs send through a tunnel. None: 401; a key that is not this project's: 403.
* Bodies may be ``gzip``, ``deflate`` or ``br`` (brotli) encoded; more than
  ``MAX_CONTENT_LENGTH`` on the wire or ``ERROR_INGEST_MAX_BYTES`` decoded: 413.
* Per project at most ``ERROR_INGEST_QUOTA_PER_MINUTE`` requests a minute (the project's own
  ``quota_per_minute`` when set): 429 with ``Retry-After`` (and Sentry's
  ``X-Sentry-Rate-Limits``, which the SDK honours).
* ``event`` items are stored and grouped; ``log`` items are accepted and ignored (counted in
  the answer as ``ignored``), as are transactions, sessions, client reports and attachments.
* Anything unreadable is a 400 (problem+json), never a 500.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, current_app, jsonify, request
from redis.exceptions import RedisError
from sqlalchemy import select

from crm.auth.policy import public
from crm.errors import problem
from crm.extensions import csrf, db
from crm.observability.errors import envelope, services
from crm.observability.errors.event import MalformedEvent, from_sentry
from crm.observability.errors.models import ErrorProject

log = logging.getLogger(__name__)

bp = Blueprint("error_ingest", __name__)
csrf.exempt(bp)

#: Redis key prefix of the per-project, per-minute request counters
QUOTA_PREFIX = "crm-errors-quota"
#: WSGI environ key of the decoded body (read once per request)
_BODY_KEY = "crm.error_ingest.body"


def key_authenticated(view: Callable) -> Callable:
    """Declare an ingest view: reachable without a log-in (``public`` in the policy table),
    authenticated by the project's DSN key instead (``view.crm_key_auth``): whatever the
    role, a request without a key is a 401."""
    public(view)
    view.crm_key_auth = True
    return view


def _envelope_key() -> str | None:
    """The key of the DSN in the envelope header (``{"dsn": "https://<key>@…"}``): what
    browser SDKs send through a tunnel, without ``X-Sentry-Auth``. None when the body has no
    readable header or DSN."""
    try:
        header = envelope.load_json(_body().partition(b"\n")[0])
        dsn = header.get("dsn") if isinstance(header, dict) else None
        return (urlsplit(dsn).username or None) if isinstance(dsn, str) else None
    except (envelope.BadPayload, IngestRefused, ValueError):
        return None


def _authenticate(project_id: int, from_body: Callable[[], str | None] | None = None
                  ) -> ErrorProject:
    """The project the request's key opens: ``X-Sentry-Auth``, else ``sentry_key``, else
    ``from_body()`` (the envelope header's DSN).

    :raises IngestRefused: 401 without a key, 403 for a key that is not this project's.
    """
    key = envelope.auth_key(request.headers.get("X-Sentry-Auth"), request.args.get("sentry_key"))
    if key is None and from_body is not None:
        key = from_body()
    if key is None:
        raise IngestRefused(401, "Send the project's key in X-Sentry-Auth or sentry_key.")
    project = db.session.scalar(select(ErrorProject).where(ErrorProject.id == project_id))
    if project is None or project.public_key != key:
        raise IngestRefused(403, "The key does not open this project.")
    return project


class IngestRefused(Exception):
    """A refused ingest request: ``status`` and a sentence for the client."""

    def __init__(self, status: int, detail: str, retry_after: int | None = None):
        super().__init__(detail)
        self.status, self.detail, self.retry_after = status, detail, retry_after


def over_quota(project: ErrorProject, now: float | None = None) -> int | None:
    """Count this request against the project's quota for the current minute.

    :returns: seconds until the next minute when the quota is exceeded, else None (also
        when Redis is unavailable: ingesting beats refusing).
    """
    limit = project.quota_per_minute or current_app.config["ERROR_INGEST_QUOTA_PER_MINUTE"]
    conn = current_app.extensions.get("redis")
    if conn is None or limit <= 0:
        return None
    now = time.time() if now is None else now
    minute = int(now // 60)
    key = f"{QUOTA_PREFIX}:{project.id}:{minute}"
    try:
        pipe = conn.pipeline()
        pipe.incr(key)
        pipe.expire(key, 120)
        count = pipe.execute()[0]
    except RedisError:
        log.warning("error ingest: quota counter unavailable", exc_info=True)
        return None
    return max(1, (minute + 1) * 60 - int(now)) if count > limit else None


def _body() -> bytes:
    """The request body, decoded (read once per request).

    :raises IngestRefused: 413 too large (on the wire: werkzeug's own 413), 400 unreadable.
    """
    cached = request.environ.get(_BODY_KEY)
    if cached is not None:
        return cached
    raw = request.get_data(cache=True)
    limit = current_app.config["ERROR_INGEST_MAX_BYTES"]
    try:
        body = envelope.decompress(raw, request.headers.get("Content-Encoding"), limit)
    except envelope.TooLarge as exc:
        raise IngestRefused(413, str(exc)) from None
    except envelope.BadPayload as exc:
        raise IngestRefused(400, str(exc)) from None
    request.environ[_BODY_KEY] = body
    return body


def _ingest(project_id: int, read_events: Callable[[bytes], tuple[list, int]],
            key_in_body: bool = False):
    """Authenticate, check the quota, decode, store; the answer Sentry SDKs expect."""
    try:
        project = _authenticate(project_id, _envelope_key if key_in_body else None)
        retry_after = over_quota(project)
        if retry_after:
            raise IngestRefused(429, "This project's quota is used up for this minute.",
                                retry_after)
        payloads, ignored = read_events(_body())
        events = [from_sentry(p, request.remote_addr) for p in payloads]
    except (envelope.BadPayload, MalformedEvent) as exc:
        return problem(400, "Bad Request", str(exc))
    except IngestRefused as exc:
        resp = problem(exc.status, _TITLES.get(exc.status, "Error"), exc.detail)
        if exc.retry_after:
            resp.headers["Retry-After"] = str(exc.retry_after)
            resp.headers["X-Sentry-Rate-Limits"] = f"{exc.retry_after}::organization"
        return resp
    project_id = project.id  # each record_event commits (expiring the row): read it once
    ids = [services.record_event(project_id, data)[0].event_id for data in events]
    return jsonify({"id": ids[0] if ids else None, "stored": len(ids), "ignored": ignored})


_TITLES = {401: "Unauthorized", 403: "Forbidden", 413: "Content Too Large",
           429: "Too Many Requests"}


def _envelope_events(body: bytes) -> tuple[list, int]:
    """The event payloads of an envelope, and how many other items it held."""
    header, items = envelope.parse_envelope(body)
    events, ignored = [], 0
    for item in items:
        if item.type == "event":
            events.append(envelope.load_json(item.payload))
        else:
            ignored += 1
    if isinstance(header.get("event_id"), str):
        for payload in events:
            if isinstance(payload, dict):
                payload.setdefault("event_id", header["event_id"])
    return events, ignored


def _store_events(body: bytes) -> tuple[list, int]:
    """The one event of a ``/store/`` body."""
    return [envelope.load_json(body)], 0


def _ingest_view(read_events, key_in_body: bool = False):
    def decorate(view):
        @wraps(view)
        def run(project_id: int):
            return _ingest(project_id, read_events, key_in_body)
        return key_authenticated(run)
    return decorate


@bp.route("/api/<int:project_id>/envelope/", methods=["POST"])
@_ingest_view(_envelope_events, key_in_body=True)
def envelope_endpoint(project_id: int):
    """Sentry envelope endpoint (``sentry-sdk`` ≥ 1.x)."""


@bp.route("/api/<int:project_id>/store/", methods=["POST"])
@_ingest_view(_store_events)
def store_endpoint(project_id: int):
    """Sentry store endpoint (older SDKs: one event per request)."""
