"""Configuration classes, read from environment variables (and an optional ``.env``).

Every value is parsed strictly: a malformed value raises :class:`ConfigError` with one line
naming the variable, and ``create_app`` turns that into a clean start-up failure.
"""
from __future__ import annotations

import os
from pathlib import Path

from crm.search.schema import LANGUAGES as SEARCH_LANGUAGES

DEFAULT_SECRET_KEY = "dev-insecure-secret-key-change-me-before-production"  # 32+ bytes for HS256


class ConfigError(RuntimeError):
    """A configuration value is missing or malformed (message names the variable)."""


def env_str(name: str, default: str | None = None) -> str | None:
    """Return ``os.environ[name]`` stripped, or ``default`` when unset or empty."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    """Parse an integer variable; raise :class:`ConfigError` on garbage or below ``minimum``."""
    raw = env_str(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def env_bool(name: str, default: bool) -> bool:
    """Parse a boolean variable: 1/true/yes/on or 0/false/no/off (case-insensitive)."""
    raw = env_str(name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be a boolean (1/0, true/false, yes/no, on/off), got {raw!r}")


def env_networks(name: str) -> tuple[str, ...]:
    """Parse comma-separated CIDR networks (``10.1.0.0/16, fd12::/64``); raise
    :class:`ConfigError` naming the bad part. Returns them normalised, as text."""
    from crm.net.policy import parse_networks

    try:
        return tuple(str(net) for net in parse_networks(env_str(name, "") or ""))
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def env_choice(name: str, default: str, choices: tuple[str, ...], cast=str):
    """Parse a variable that must be one of ``choices``; return ``cast(value)``."""
    raw = env_str(name, default)
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return cast(raw)


class Config:
    """Base settings shared by every environment.

    Attributes are filled by :meth:`load` from the environment so that a test can build a
    config object, override attributes and pass it to ``create_app``.
    """

    ENV_NAME = "base"
    TESTING = False
    DEBUG = False

    @classmethod
    def load(cls, instance_path: str) -> dict:
        """Read the environment and return a dict of Flask config keys.

        :param instance_path: the app's instance folder, where the default SQLite file lives.
        :raises ConfigError: a variable is malformed, or production uses the default secret.
        """
        Path(instance_path).mkdir(parents=True, exist_ok=True)
        sqlite_default = "sqlite:///" + os.path.join(instance_path, "crm.sqlite3")
        database_url = env_str("DATABASE_URL", sqlite_default)
        if database_url.startswith("postgres://"):
            # Heroku-style URLs; SQLAlchemy wants the psycopg 3 driver name.
            database_url = "postgresql+psycopg://" + database_url[len("postgres://"):]
        elif database_url.startswith("postgresql://"):
            database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
        if not (database_url.startswith("sqlite") or database_url.startswith("postgresql")):
            raise ConfigError(
                f"DATABASE_URL must be a sqlite:// or postgresql:// URL, got {database_url!r}"
            )
        mail_port = env_int("MAIL_PORT", 25, minimum=1)
        cfg = {
            "ENV_NAME": cls.ENV_NAME,
            "TESTING": cls.TESTING,
            "DEBUG": cls.DEBUG,
            "SECRET_KEY": env_str("SECRET_KEY", DEFAULT_SECRET_KEY),
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
            "REDIS_URL": env_str("REDIS_URL"),
            "RQ_QUEUE": env_str("RQ_QUEUE", "crm"),
            # unset: "<RQ_QUEUE>-monitoring" and "<RQ_QUEUE>-periodic" (crm.queue.queue_name)
            "RQ_MONITORING_QUEUE": env_str("RQ_MONITORING_QUEUE"),
            "RQ_PERIODIC_QUEUE": env_str("RQ_PERIODIC_QUEUE"),
            "MAIL_SERVER": env_str("MAIL_SERVER"),
            "MAIL_PORT": mail_port,
            "MAIL_USE_TLS": env_bool("MAIL_USE_TLS", False),
            "MAIL_USE_SSL": env_bool("MAIL_USE_SSL", False),
            "MAIL_USERNAME": env_str("MAIL_USERNAME"),
            "MAIL_PASSWORD": env_str("MAIL_PASSWORD"),
            "MAIL_DEFAULT_SENDER": env_str(
                "MAIL_DEFAULT_SENDER", "CR Tracker <no-reply@crtracker.local>"
            ),
            "MAIL_TIMEOUT": env_int("MAIL_TIMEOUT", 10, minimum=1),
            # a send job delivers up to this many waiting mails over one SMTP connection,
            # taking new ones for up to MAIL_BATCH_SECONDS (crm.notifications.jobs)
            "MAIL_BATCH_SIZE": env_int("MAIL_BATCH_SIZE", 100, minimum=1),
            "MAIL_BATCH_SECONDS": env_int("MAIL_BATCH_SECONDS", 20, minimum=1),
            # Flask-Mail would silently drop mail when TESTING; our tests use a real SMTP server.
            "MAIL_SUPPRESS_SEND": env_bool("MAIL_SUPPRESS_SEND", False),
            # Flask-Mail defaults MAIL_DEBUG to app.debug, which prints every SMTP conversation.
            "MAIL_DEBUG": env_bool("MAIL_DEBUG", False),
            "PORT": env_int("PORT", 5000, minimum=1),
            "SERVER_NAME_FOR_LINKS": env_str("PUBLIC_URL", "http://127.0.0.1:5000"),
            "JWT_ACCESS_TTL_SECONDS": env_int("JWT_ACCESS_TTL_SECONDS", 900, minimum=30),
            "NOTIFY_MAX_ATTEMPTS": env_int("NOTIFY_MAX_ATTEMPTS", 6, minimum=1),
            "NOTIFY_STALE_SECONDS": env_int("NOTIFY_STALE_SECONDS", 60, minimum=1),
            "CRM_DEMO_DATA": env_bool("CRM_DEMO_DATA", True),
            # unset: the app's Redis (REDIS_URL) when there is one, else memory (crm.security)
            "RATELIMIT_STORAGE_URI": env_str("RATELIMIT_STORAGE_URI"),
            "FORCE_HTTPS": env_bool("FORCE_HTTPS", False),
            # reverse proxies in front of the app whose X-Forwarded-* headers are trusted (0: none)
            "PROXY_FIX_HOPS": env_int("PROXY_FIX_HOPS", 0, minimum=0),
            "RATELIMIT_ENABLED": env_bool("RATELIMIT_ENABLED", True),
            "PAGE_SIZE": env_int("PAGE_SIZE", 25, minimum=1),
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "WTF_CSRF_TIME_LIMIT": None,
            "MAX_CONTENT_LENGTH": env_int("MAX_CONTENT_LENGTH", 1024 * 1024, minimum=1024),
            # ---- accounts and security
            "REMEMBER_COOKIE_DURATION": env_int("REMEMBER_COOKIE_SECONDS", 30 * 86400, minimum=60),
            "REMEMBER_COOKIE_HTTPONLY": True,
            "REMEMBER_COOKIE_SAMESITE": "Lax",
            "REFRESH_TOKEN_TTL_SECONDS": env_int(
                "REFRESH_TOKEN_TTL_SECONDS", 30 * 86400, minimum=60
            ),
            "VERIFY_TOKEN_TTL_SECONDS": env_int("VERIFY_TOKEN_TTL_SECONDS", 2 * 3600, minimum=60),
            "RESET_TOKEN_TTL_SECONDS": env_int("RESET_TOKEN_TTL_SECONDS", 600, minimum=60),
            "OTP_TTL_SECONDS": env_int("OTP_TTL_SECONDS", 300, minimum=30),
            "OTP_DIGITS": env_choice("OTP_DIGITS", "6", ("4", "6"), int),
            "OTP_MAX_ATTEMPTS": env_int("OTP_MAX_ATTEMPTS", 5, minimum=1),
            "OTP_RESEND_COOLDOWN_SECONDS": env_int("OTP_RESEND_COOLDOWN_SECONDS", 60, minimum=0),
            "VERIFY_RESEND_COOLDOWN_SECONDS": env_int(
                "VERIFY_RESEND_COOLDOWN_SECONDS", 60, minimum=0
            ),
            "LOCKOUT_THRESHOLD": env_int("LOCKOUT_THRESHOLD", 5, minimum=1),
            "LOCKOUT_BASE_SECONDS": env_int("LOCKOUT_BASE_SECONDS", 30, minimum=1),
            "LOCKOUT_MAX_SECONDS": env_int("LOCKOUT_MAX_SECONDS", 3600, minimum=1),
            "PHONE_DEFAULT_REGION": env_str("PHONE_DEFAULT_REGION", "GB"),
            "API_RATE_LIMIT": env_str("API_RATE_LIMIT", "100 per 10 minutes"),
            "AUTH_RATE_LIMIT": env_str("AUTH_RATE_LIMIT", "10 per minute;50 per hour"),
            "CORS_ORIGINS": [
                o.strip() for o in (env_str("CORS_ORIGINS", "") or "").split(",") if o.strip()
            ],
            "SMS_TRANSPORT": env_choice("SMS_TRANSPORT", "outbox", ("outbox", "twilio")),
            "TWILIO_ACCOUNT_SID": env_str("TWILIO_ACCOUNT_SID"),
            "TWILIO_AUTH_TOKEN": env_str("TWILIO_AUTH_TOKEN"),
            "TWILIO_FROM_NUMBER": env_str("TWILIO_FROM_NUMBER"),
            "OIDC_ISSUER": env_str("OIDC_ISSUER"),
            "OIDC_CLIENT_ID": env_str("OIDC_CLIENT_ID"),
            "OIDC_CLIENT_SECRET": env_str("OIDC_CLIENT_SECRET"),
            "OIDC_PROVIDER_NAME": env_str("OIDC_PROVIDER_NAME", "single sign-on"),
            "OIDC_SCOPES": env_str("OIDC_SCOPES", "openid email profile"),
            # ---- uptime monitoring
            "MONITOR_RESULT_RETENTION_DAYS": env_int(
                "MONITOR_RESULT_RETENTION_DAYS", 30, minimum=1
            ),
            "MONITOR_MIN_INTERVAL_SECONDS": env_int("MONITOR_MIN_INTERVAL_SECONDS", 20, minimum=1),
            "MONITOR_TICK_SECONDS": env_int("MONITOR_TICK_SECONDS", 5, minimum=1),
            # seconds a run_checks job keeps claiming newly due monitors while slow checks
            # run (0: off)
            "MONITOR_SESSION_SECONDS": env_int("MONITOR_SESSION_SECONDS", 300, minimum=0),
            "MONITOR_CONCURRENCY": env_int("MONITOR_CONCURRENCY", 500, minimum=1),
            # extra CA certificates (PEM file) trusted by HTTPS/TLS/SMTP checks (internal CAs)
            "MONITOR_CA_FILE": env_str("MONITOR_CA_FILE"),
            # outbound connections of monitors (crm/net/policy.py): staff monitors may reach
            # loopback/private networks unless this is set; the allow-list opens networks
            # (CIDRs) despite every block except cloud metadata
            "MONITOR_BLOCK_PRIVATE_FOR_STAFF": env_bool("MONITOR_BLOCK_PRIVATE_FOR_STAFF", False),
            "MONITOR_ALLOWED_NETWORKS": env_networks("MONITOR_ALLOWED_NETWORKS"),
            "WKHTMLTOPDF": env_str("WKHTMLTOPDF", "wkhtmltopdf"),
            # stemming language of search (crm.search.schema), applied when the search is
            # installed (migration 0008_search_document; a change needs a rebuild)
            "SEARCH_LANGUAGE": env_choice("SEARCH_LANGUAGE", "english", SEARCH_LANGUAGES),
            # ---- error tracker (crm/observability/errors)
            "ERROR_INGEST_QUOTA_PER_MINUTE": env_int(
                "ERROR_INGEST_QUOTA_PER_MINUTE", 6000, minimum=0
            ),
            "ERROR_INGEST_MAX_BYTES": env_int(
                "ERROR_INGEST_MAX_BYTES", 5 * 1024 * 1024, minimum=1024
            ),
            "ERROR_NOTIFY_THROTTLE_SECONDS": env_int(
                "ERROR_NOTIFY_THROTTLE_SECONDS", 3600, minimum=0
            ),
            "ERROR_EVENT_RETENTION_DAYS": env_int("ERROR_EVENT_RETENTION_DAYS", 90, minimum=1),
            # also send our own errors to this external Sentry DSN (needs sentry-sdk installed)
            "ERROR_FORWARD_DSN": env_str("ERROR_FORWARD_DSN"),
        }
        if cfg["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
            cfg["SQLALCHEMY_ENGINE_OPTIONS"].update(
                {
                    "pool_size": env_int("DB_POOL_SIZE", 5, minimum=1),
                    "max_overflow": 10,
                    # JIT compilation pays off for long analytical queries; for a console's
                    # short queries it only adds 20-30 ms to each large scan (bench/monitors.py).
                    "connect_args": {"options": "-c jit=off"},
                }
            )
        return cfg


class DevelopmentConfig(Config):
    """Local development: debug on, embedded SQLite/Redis/SMTP catcher when unset."""

    ENV_NAME = "development"
    DEBUG = True


class TestingConfig(Config):
    """Tests: CSRF off for the plain client (browser tests turn it on), fast password hashing."""

    ENV_NAME = "testing"
    TESTING = True

    @classmethod
    def load(cls, instance_path: str) -> dict:
        """As :meth:`Config.load`, with test-friendly overrides."""
        cfg = super().load(instance_path)
        cfg.update(
            {
                "WTF_CSRF_ENABLED": False,
                "RATELIMIT_ENABLED": False,
                "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
                "MAIL_SERVER": cfg["MAIL_SERVER"] or "127.0.0.1",
            }
        )
        return cfg


class ProductionConfig(Config):
    """Production: refuses the default SECRET_KEY, secure cookies."""

    ENV_NAME = "production"

    @classmethod
    def load(cls, instance_path: str) -> dict:
        """As :meth:`Config.load`; raises :class:`ConfigError` for a default/short secret."""
        cfg = super().load(instance_path)
        if cfg["SECRET_KEY"] == DEFAULT_SECRET_KEY or len(cfg["SECRET_KEY"]) < 16:
            raise ConfigError(
                "SECRET_KEY must be set to a random value of 16+ characters in production"
            )
        cfg["SESSION_COOKIE_SECURE"] = True
        cfg["REMEMBER_COOKIE_SECURE"] = True
        return cfg


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_from_env() -> type[Config]:
    """Pick the config class named by ``CRM_ENV`` (development by default).

    :raises ConfigError: an unknown name.
    """
    name = env_str("CRM_ENV", "development")
    try:
        return CONFIGS[name]
    except KeyError:
        raise ConfigError(f"CRM_ENV must be one of {', '.join(CONFIGS)}, got {name!r}") from None
