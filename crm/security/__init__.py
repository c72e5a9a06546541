"""Web security: rate limits, security headers, CORS, parameter-pollution checks and the
developer-console warning (blueprint ``security``).

``init_app(app)`` is called by ``create_app`` after the blueprints are registered.
"""
from flask import Blueprint, Flask

bp = Blueprint("security", __name__)

#: :mod:`crm.settings` key of the admin's message printed in the browser's developer console.
DEVCONSOLE_SETTING = "devconsole.message"


def init_app(app: Flask) -> None:
    """Install every part on ``app``: ``ProxyFix`` when ``PROXY_FIX_HOPS`` > 0, the strict JSON
    parser, ``Cache-Control``/``Retry-After`` fix-ups, the limiter (on Redis), the headers, CORS,
    the security-event log, the repeated-parameter check and this blueprint's routes."""
    from crm.security import audit, caching, headers, jsonsafe, limits, params

    app.json = jsonsafe.StrictJSONProvider(app)  # every JSON body: bounded depth, unique keys

    hops = int(app.config.get("PROXY_FIX_HOPS") or 0)
    if hops:
        # Behind reverse proxies: take the client's address and scheme from X-Forwarded-For /
        # -Proto / -Host, trusting only the last ``hops`` entries (rate limits per IP, HTTPS).
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    caching.init_app(app)  # before the limiter, so its after-request hook runs after the limiter's
    limits.init_app(app)
    headers.init_app(app)
    audit.init_app(app)
    params.init_app(app)
    app.register_blueprint(bp)


from crm.security import routes  # noqa: E402,F401
