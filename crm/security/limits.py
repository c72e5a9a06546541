"""Rate limits (Flask-Limiter) on the app's Redis.

* the API (``/api/…``): ``API_RATE_LIMIT`` (default "100 per 10 minutes") shared by every
  API route, counted per user when the request carries a valid Bearer token and per client
  IP otherwise;
* sign-in and account-recovery endpoints: ``AUTH_RATE_LIMIT`` (default "10 per minute;50 per
  hour") on every POST of the ``auth`` blueprint (log-in, registration, password reset, codes
  …, whatever routes it has), on ``/api/v1/auth/*`` (password reset included) and on the
  single sign-on blueprint, counted once per client IP and once per account (the submitted
  ``email`` or ``phone``), so neither many accounts from one address nor one account from
  many addresses gets unlimited guesses.

A breach answers 429 Too Many Requests (RFC 6585) with ``Retry-After`` (seconds): the API as
``application/problem+json`` (RFC 9457), the console as an HTML page.

The limits are declared once per process on the blueprints (so routes added later to those
blueprints are covered) with callables that read the limit strings from the app's config at
request time.
"""
from __future__ import annotations

import hashlib
import time

from flask import Flask, current_app, render_template, request
from flask_limiter import RateLimitExceeded

from crm.errors import problem
from crm.extensions import limiter

#: blueprint endpoints never counted by the sign-in limit (leaving must always work).
AUTH_LIMIT_EXEMPT_ENDPOINTS = frozenset({"auth.logout", "api.logout"})
#: HTTP methods the API limit counts (CORS pre-flight OPTIONS requests are free).
API_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
#: Redis key prefix of every counter (the db is shared with RQ).
KEY_PREFIX = "crm-ratelimit"

_declared = False


def storage_uri_for(redis_url: str | None) -> str:
    """The ``limits`` storage URI for the app's ``REDIS_URL``.

    ``redis://`` and ``rediss://`` URLs are used as they are; the embedded Redis of
    ``make run`` listens on a unix socket (``unix:///path/redis.sock?db=0``), which ``limits``
    spells ``redis+unix://``. Without Redis the counters live in this process's memory.

    :param redis_url: the app's ``REDIS_URL`` or None.
    :returns: a storage URI for Flask-Limiter's ``RATELIMIT_STORAGE_URI``.
    """
    if not redis_url:
        return "memory://"
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://"):]
    return redis_url


def client_ip() -> str:
    """The client's address as the app sees it (``request.remote_addr``; behind reverse
    proxies set ``PROXY_FIX_HOPS`` so that this is the real client, not the proxy)."""
    return request.remote_addr or "unknown"


def api_key() -> str:
    """Rate-limit key of an API request: ``user:<id>`` for a valid Bearer access token (checked
    by signature and expiry only: no database query), else ``ip:<address>``."""
    from crm.api.auth import decode_access_token

    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        claims = decode_access_token(token.strip())
        if claims is not None:
            return f"user:{claims['sub']}"
    return f"ip:{client_ip()}"


def ip_key() -> str:
    """Rate-limit key per client IP: ``ip:<address>``."""
    return f"ip:{client_ip()}"


def submitted_account() -> str | None:
    """The account a sign-in request names: the ``email`` (lower-cased) or ``phone`` field of
    the form or JSON body, or None when it names none."""
    sources = [request.form]
    body = request.get_json(silent=True) if request.is_json else None
    if isinstance(body, dict):
        sources.append(body)
    for source in sources:
        for name in ("email", "phone", "identifier", "username"):
            value = source.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip().lower()
    return None


def account_key() -> str:
    """Rate-limit key per named account: ``acct:<sha256 of the email/phone>`` (hashed, so
    Redis holds no addresses)."""
    account = submitted_account() or ""
    return "acct:" + hashlib.sha256(account.encode()).hexdigest()[:32]


def _api_limit() -> str:
    return current_app.config["API_RATE_LIMIT"]


def _auth_limit() -> str:
    return current_app.config["AUTH_RATE_LIMIT"]


def _not_api() -> bool:
    return not request.path.startswith("/api/")


def _not_api_auth() -> bool:
    return (not request.path.startswith("/api/v1/auth/")
            or request.endpoint in AUTH_LIMIT_EXEMPT_ENDPOINTS)


def _console_auth_exempt() -> bool:
    return request.endpoint in AUTH_LIMIT_EXEMPT_ENDPOINTS


def _console_auth_account_exempt() -> bool:
    return _console_auth_exempt() or submitted_account() is None


def _api_auth_account_exempt() -> bool:
    return _not_api_auth() or submitted_account() is None


def declare_limits() -> None:
    """Attach the limits to the ``auth``, ``api`` and ``sso`` blueprints (once per process:
    Flask-Limiter keeps blueprint limits on the :data:`~crm.extensions.limiter` singleton)."""
    global _declared
    if _declared:
        return
    from crm.api import bp as api_bp
    from crm.auth import bp as auth_bp
    from crm.sso import bp as sso_bp

    post = ["POST"]
    # (blueprint, limit, scope, key, methods, exempt when)
    for blueprint, limit, scope, key, methods, exempt in (
        (api_bp, _api_limit, "api", api_key, API_METHODS, _not_api),
        (api_bp, _auth_limit, "auth-ip", ip_key, post, _not_api_auth),
        (api_bp, _auth_limit, "auth-account", account_key, post, _api_auth_account_exempt),
        (auth_bp, _auth_limit, "auth-ip", ip_key, post, _console_auth_exempt),
        (auth_bp, _auth_limit, "auth-account", account_key, post, _console_auth_account_exempt),
        (sso_bp, _auth_limit, "auth-ip", ip_key, None, None),
    ):
        limiter.shared_limit(
            limit, scope=scope, key_func=key, methods=methods, exempt_when=exempt
        )(blueprint)
    _declared = True


def retry_after_seconds() -> int:
    """Seconds until the limit that refused this request resets (at least 1)."""
    current = limiter.current_limit
    if current is None:
        return 60
    return max(1, int(current.reset_at - time.time()))


def too_many_requests(exc: RateLimitExceeded):
    """429 handler: problem+json for the API, an HTML page for the console; both with
    ``Retry-After`` in seconds (RFC 9110 §10.2.3)."""
    retry_after = retry_after_seconds()
    detail = f"Too many requests: try again in {retry_after} seconds."
    if request.path.startswith("/api/"):
        resp = problem(429, "Too Many Requests", detail, retry_after=retry_after)
    else:
        resp = current_app.make_response(
            (render_template("errors/429.html", retry_after=retry_after), 429)
        )
    resp.headers["Retry-After"] = str(retry_after)
    return resp


def init_app(app: Flask) -> None:
    """Point Flask-Limiter at the app's Redis and bind it, declare the limits and install the
    429 handler.

    ``RATELIMIT_STORAGE_URI`` wins when set; otherwise the counters go to ``REDIS_URL``
    (``make run`` sets it to its embedded Redis), else to memory. Redis errors never break a
    request (``RATELIMIT_SWALLOW_ERRORS``): the limit is skipped and the error logged.
    """
    app.config["RATELIMIT_STORAGE_URI"] = app.config.get(
        "RATELIMIT_STORAGE_URI"
    ) or storage_uri_for(app.config.get("REDIS_URL"))
    app.config.setdefault("RATELIMIT_KEY_PREFIX", KEY_PREFIX)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    declare_limits()
    limiter.init_app(app)
    from crm.security import caching

    caching.install_after_limiter(app)  # keeps the view's Retry-After (see crm.security.caching)
    app.register_error_handler(RateLimitExceeded, too_many_requests)
