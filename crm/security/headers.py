"""Security headers on every response (flask-talisman) and CORS for the API only (flask-cors).

Content-Security-Policy (CSP Level 3): scripts and styles only from this origin (no inline
``<script>``, no event-handler attributes, no ``style=`` attributes), images from this origin
and ``data:`` URIs (Bootstrap's and Swagger UI's inline SVG icons), no plugins, no framing
(``frame-ancestors 'none'``, plus ``X-Frame-Options: DENY`` for old browsers), forms post
only here. Also ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy:
strict-origin-when-cross-origin``.

HTTPS: HSTS (RFC 6797) is sent only by the production config, and only on requests that
arrived over HTTPS (directly or ``X-Forwarded-Proto: https`` from the proxy). Plain-HTTP
requests are redirected to HTTPS only when ``FORCE_HTTPS`` is set (a proxy usually does that).
"""
from __future__ import annotations

from flask import Flask
from flask_cors import CORS
from flask_talisman import Talisman

#: the Content-Security-Policy of every response.
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'", "data:"],
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
#: one year, in seconds (the usual HSTS lifetime).
HSTS_MAX_AGE_SECONDS = 365 * 86400
#: headers an API client in another origin may read.
CORS_EXPOSE_HEADERS = ["Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining",
                       "X-RateLimit-Reset", "Location"]


def init_app(app: Flask) -> None:
    """Install the security headers and the API's CORS policy on ``app``.

    Cookies: the session and remember-me cookies are HttpOnly and SameSite=Lax everywhere and
    Secure in production (``SESSION_COOKIE_SECURE`` / ``REMEMBER_COOKIE_SECURE`` from
    :class:`~crm.config.ProductionConfig`).
    """
    production = app.config.get("ENV_NAME") == "production"
    Talisman(
        app,
        force_https=bool(app.config.get("FORCE_HTTPS")),
        force_https_permanent=False,
        strict_transport_security=production,
        strict_transport_security_max_age=HSTS_MAX_AGE_SECONDS,
        strict_transport_security_include_subdomains=False,
        content_security_policy=CONTENT_SECURITY_POLICY,
        frame_options="DENY",
        referrer_policy="strict-origin-when-cross-origin",
        session_cookie_secure=bool(app.config.get("SESSION_COOKIE_SECURE")),
        session_cookie_http_only=True,
        session_cookie_samesite=app.config.get("SESSION_COOKIE_SAMESITE") or "Lax",
        permissions_policy={"geolocation": "()", "camera": "()", "microphone": "()"},
    )
    app.config.setdefault("REMEMBER_COOKIE_SECURE", bool(app.config.get("SESSION_COOKIE_SECURE")))
    origins = app.config.get("CORS_ORIGINS") or []
    if origins:
        CORS(app, resources={r"/api/*": {"origins": list(origins)}},
             allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
             expose_headers=CORS_EXPOSE_HEADERS, supports_credentials=False, max_age=600,
             methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
