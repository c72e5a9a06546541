"""CR Tracker: the application factory.

``create_app(config)`` is the only way to get an app; ``wsgi.py``, the workers and the tests
call it. Nothing builds an app at import time.
"""
from __future__ import annotations

import logging
import os

from dotenv import load_dotenv
from flask import Flask
from sqlalchemy import event as sa_event
from werkzeug.routing import IntegerConverter

from crm.config import Config, ConfigError, config_from_env

__version__ = "0.1.0"


class CRMFlask(Flask):
    """Flask with one addition: a view whose database connection is lost is retried once
    when it had not written, and answers 503 when it had (:mod:`crm.dbretry`)."""

    def dispatch_request(self):
        """:meth:`flask.Flask.dispatch_request` through :func:`crm.dbretry.dispatch_with_retry`."""
        from crm import dbretry
        return dbretry.dispatch_with_retry(super().dispatch_request)


def create_app(config: type[Config] | dict | None = None) -> Flask:
    """Build the Flask app.

    :param config: a :class:`~crm.config.Config` subclass (default: chosen by ``CRM_ENV``),
        or a dict of overrides applied on top of the class chosen by ``CRM_ENV`` (tests).
    :returns: the configured app with every blueprint, extension and CLI command registered.
    :raises ConfigError: a missing or malformed setting (one line naming the variable).
    """
    load_dotenv(os.environ.get("CRM_DOTENV", ".env"), override=False)
    app = CRMFlask(__name__, instance_path=os.environ.get("CRM_INSTANCE_PATH") or None,
                   instance_relative_config=True)
    overrides = {}
    if isinstance(config, dict):
        overrides, config = config, None
    config_cls = config or config_from_env()
    app.config.update(config_cls.load(app.instance_path))
    app.config.update(overrides)
    logging.basicConfig(level=logging.INFO if not app.testing else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    from crm import events, queue
    from crm.extensions import csrf, db, login_manager, mail, migrate

    db.init_app(app)
    migrate.init_app(
        app, db, directory=os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")
    )
    csrf.init_app(app)
    mail.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to see that page."
    login_manager.login_message_category = "info"
    queue.init_app(app)

    with app.app_context():
        _configure_engine(db.engine)
        from crm import dbretry

        dbretry.init_app(app, db.engine)
    events.install(db.session)

    from crm.sessions.services import load_user_from_cookie_id, write_bookkeeping

    login_manager.user_loader(load_user_from_cookie_id)
    app.teardown_request(write_bookkeeping)

    app.url_map.converters["int"] = BoundedIntConverter
    app.before_request(_refuse_nul_characters)
    _register_blueprints(app)
    from crm import security, sso

    security.init_app(app)  # rate limits (binds the limiter), headers, CORS, parameter checks
    sso.init_app(app)  # OpenID Connect sign-in
    from crm.errors import register_error_handlers

    register_error_handlers(app)
    from crm import assets, cli

    assets.init_app(app)
    cli.init_app(app)
    from crm import templating

    templating.init_app(app)
    import crm.api.tokens  # noqa: F401  (models, event handlers)
    import crm.auth.tokens  # noqa: F401  (models)
    import crm.monitoring.alerts  # noqa: F401  (registers the monitoring alert handlers)
    import crm.notifications.subscribers  # noqa: F401  (registers event handlers)
    import crm.settings  # noqa: F401  (models)

    return app


def _configure_engine(engine) -> None:
    """SQLite: WAL, a busy timeout and foreign keys, so workers and web share the file; a
    larger page cache and mmap for the list and search pages."""
    if engine.dialect.name != "sqlite":
        return

    @sa_event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=15000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        # Search and list pages do many random row lookups: a 64 MiB page cache and 256 MiB of
        # memory-mapped I/O per connection cut them several-fold on a 1M-ticket file (bench/).
        cur.execute("PRAGMA cache_size=-65536")
        cur.execute("PRAGMA mmap_size=268435456")
        cur.close()


class BoundedIntConverter(IntegerConverter):
    """``<int:…>`` limited to 1 … 2**31 − 1 by default, so an id beyond the database column
    is a 404 instead of an overflow (explicit ``min``/``max`` arguments still apply)."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002 - werkzeug's signature
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def _refuse_nul_characters():
    """Refuse NUL characters in console query strings and forms (400): PostgreSQL cannot
    store them and no legitimate text contains them. The API's schemas refuse them too."""
    from flask import abort, request

    if request.path.startswith("/api/"):
        return None
    for values in (request.args, request.form if request.method == "POST" else {}):
        for value in values.values():
            if "\x00" in value:
                abort(400, "Text may not contain NUL characters.")
    return None


def _register_blueprints(app: Flask) -> None:
    from crm.admin import bp as admin_bp
    from crm.api import bp as api_bp
    from crm.auth import bp as auth_bp
    from crm.dashboard import bp as dashboard_bp
    from crm.monitoring.pages import bp as monitoring_bp
    from crm.notifications import bp as notifications_bp
    from crm.portal import bp as portal_bp
    from crm.sessions import bp as sessions_bp
    from crm.tickets import bp as tickets_bp

    for bp in (
        auth_bp,
        dashboard_bp,
        portal_bp,
        tickets_bp,
        admin_bp,
        notifications_bp,
        sessions_bp,
        monitoring_bp,
        api_bp,
    ):
        app.register_blueprint(bp)
    # health reports, maintenance windows and broadcasts (uptime monitoring)
    from crm.broadcasts import bp as broadcasts_bp
    from crm.monitoring.pages.maintenance import bp as maintenance_bp
    from crm.monitoring.pages.reports import bp as reports_bp

    for bp in (reports_bp, maintenance_bp, broadcasts_bp):
        app.register_blueprint(bp)
    from crm.monitoring.pages.portal import bp as my_monitors_bp  # customers' own monitors

    app.register_blueprint(my_monitors_bp)
    from crm.monitoring.pages.status_pages import bp as status_pages_bp  # public /status/<slug>

    app.register_blueprint(status_pages_bp)
    from crm import observability  # error tracker: Sentry-compatible ingest, console pages

    observability.init_app(app)
    # shops: console pages, the customer's orders in the portal (receivers: crm.api.shop)
    from crm.shop import bp as shop_bp
    from crm.shop.portal import bp as shop_portal_bp

    for bp in (shop_bp, shop_portal_bp):
        app.register_blueprint(bp)


__all__ = ["create_app", "ConfigError", "__version__"]
