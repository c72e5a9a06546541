"""Start-up configuration, the ``create-admin`` command and the migrations on a fresh database.

Configuration is read strictly: every bad value stops start-up with one line naming the
variable. The CLI and migration tests run the real ``flask --app wsgi …`` commands in a
subprocess (as an operator would) against a database created for the test, on each backend.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from crm import create_app
from crm.config import (
    DEFAULT_SECRET_KEY,
    ConfigError,
    DevelopmentConfig,
    ProductionConfig,
    config_from_env,
)
from crm.extensions import db

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("CRM_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_BASE = os.environ.get("CRM_TEST_PG_BASE", "postgresql+psycopg://postgres@127.0.0.1:5432/")
SQLITE_ONLY = pytest.mark.only_backend("sqlite")  # pure config: once is enough

# Objects the migration creates with raw DDL (crm/tickets/search.py), unknown to the models.
FTS_NAMES = ("ticket_search",)  # the search document (crm.search.schema): not a model


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No CRM/Flask settings inherited from the developer's shell or a .env file."""
    for name in list(os.environ):
        if (
            name.startswith(("CRM_", "MAIL_", "DATABASE_", "REDIS_", "SECRET_", "FLASK_"))
            or name == "PORT"
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CRM_DOTENV", str(tmp_path / "absent.env"))
    return monkeypatch


# ------------------------------------------------------------------ strict parsing


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORT", "abc", "PORT must be an integer, got 'abc'"),
        ("PORT", "0", "PORT must be >= 1, got 0"),
        (
            "DATABASE_URL",
            "mysql://x",
            "DATABASE_URL must be a sqlite:// or postgresql:// URL, got 'mysql://x'",
        ),
        ("MAIL_USE_TLS", "maybe", "MAIL_USE_TLS must be a boolean"),
        ("MAIL_PORT", "25x", "MAIL_PORT must be an integer, got '25x'"),
        ("CRM_DEMO_DATA", "sometimes", "CRM_DEMO_DATA must be a boolean"),
    ],
)
def test_a_bad_value_is_refused_with_one_line_naming_the_variable(
    clean_env, tmp_path, name, value, message
):
    clean_env.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        DevelopmentConfig.load(str(tmp_path))
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


@SQLITE_ONLY
def test_an_unknown_crm_env_is_refused(clean_env):
    clean_env.setenv("CRM_ENV", "nope")
    with pytest.raises(
        ConfigError, match="^CRM_ENV must be one of development, testing, production, got 'nope'$"
    ):
        config_from_env()


@SQLITE_ONLY
def test_development_defaults_to_sqlite_under_the_instance_folder(clean_env, tmp_path):
    cfg = DevelopmentConfig.load(str(tmp_path))
    assert cfg["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/crm.sqlite3"
    assert cfg["REDIS_URL"] is None and cfg["MAIL_SERVER"] is None and cfg["PORT"] == 5000


@SQLITE_ONLY
def test_postgres_urls_get_the_psycopg_driver(clean_env, tmp_path):
    clean_env.setenv("DATABASE_URL", "postgres://u:p@db:5432/crm")
    assert (
        DevelopmentConfig.load(str(tmp_path))["SQLALCHEMY_DATABASE_URI"]
        == "postgresql+psycopg://u:p@db:5432/crm"
    )


@SQLITE_ONLY
@pytest.mark.parametrize("secret", [None, DEFAULT_SECRET_KEY, "short"])
def test_production_refuses_the_default_or_a_short_secret_key(clean_env, tmp_path, secret):
    if secret:
        clean_env.setenv("SECRET_KEY", secret)
    with pytest.raises(ConfigError, match="^SECRET_KEY must be set to a random value"):
        ProductionConfig.load(str(tmp_path))


@SQLITE_ONLY
def test_production_accepts_a_real_secret_and_secures_cookies(clean_env, tmp_path):
    clean_env.setenv("SECRET_KEY", "x" * 40)
    cfg = ProductionConfig.load(str(tmp_path))
    assert cfg["SESSION_COOKIE_SECURE"] is True


def _cli_env(tmp_path: Path, **extra: str) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CRM_", "MAIL_", "DATABASE_", "REDIS_", "SECRET_", "FLASK_"))
        and k != "PORT"
    }
    env.update(
        {
            "CRM_DOTENV": str(tmp_path / "absent.env"),
            "CRM_INSTANCE_PATH": str(tmp_path / "instance"),
        }
    )
    env.update(extra)
    return env


def _run(args: list[str], env: dict, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("extra", "line"),
    [
        ({"PORT": "abc"}, "configuration error: PORT must be an integer, got 'abc'"),
        (
            {"CRM_ENV": "production"},
            "configuration error: SECRET_KEY must be set to a random value of 16+ "
            "characters in production",
        ),
    ],
)
def test_wsgi_start_up_fails_with_one_clear_line(tmp_path, extra, line):
    proc = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=ROOT,
        env=_cli_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == line  # one line, no traceback
    proc = _run(["routes"], _cli_env(tmp_path, **extra), check=False)
    assert proc.returncode != 0
    assert line in proc.stderr and "Traceback" not in proc.stderr


# ------------------------------------------------------------------ fresh databases


def _namespace() -> str:
    from tests.conftest import worker_id  # unique per run (see tests/conftest.py)

    return worker_id()


@pytest.fixture
def fresh_database(backend, tmp_path):
    """The URL of a new, empty database on this backend (dropped afterwards)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    name = f"crm_fresh_{_namespace()}".lower()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield PG_BASE + name
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _is_fts(diff) -> bool:
    op = diff[0] if isinstance(diff, tuple) else diff[0][0]
    obj = diff[1] if isinstance(diff, tuple) else diff[0][1]
    name = getattr(obj, "name", "") or ""
    table = getattr(getattr(obj, "table", None), "name", "") or ""  # an index's table
    return op in {"remove_table", "remove_index"} and (name.startswith(FTS_NAMES)
                                                       or table.startswith(FTS_NAMES))


def test_flask_db_upgrade_builds_the_schema_of_the_models_and_downgrade_removes_it(
    tmp_path, fresh_database
):
    env = _cli_env(tmp_path, DATABASE_URL=fresh_database)
    _run(["db", "upgrade"], env)
    engine = create_engine(fresh_database)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), db.metadata)
            names = set(inspect(conn).get_table_names())
        assert [d for d in diffs if not _is_fts(d)] == []
        assert set(db.metadata.tables) <= names
        if engine.dialect.name == "sqlite":
            assert "ticket_search" in names
        else:
            assert "ticket_search_docs" in names
        _run(["db", "downgrade", "base"], env)
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        _run(["db", "upgrade"], env)  # and up again from nothing
    finally:
        engine.dispose()


def test_create_admin_creates_an_active_admin_who_can_log_in(tmp_path, fresh_database):
    env = _cli_env(tmp_path, DATABASE_URL=fresh_database)
    _run(["db", "upgrade"], env)
    proc = _run(
        ["create-admin", "--email", "Boss@Example.com", "--password", "s3cret-pass-99"], env
    )
    assert "is active" in proc.stdout

    bad = _run(
        ["create-admin", "--email", "x@example.com", "--password", "short"], env, check=False
    )
    assert bad.returncode != 0 and "Traceback" not in bad.stderr

    other = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": fresh_database.replace(
                "postgresql://", "postgresql+psycopg://"
            ),
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "REDIS_URL": None,
            "TESTING": True,
        }
    )
    try:
        with other.app_context():
            from crm.auth.models import User

            users = db.session.query(User).all()
            assert [(u.email, u.role, u.status) for u in users] == [
                ("boss@example.com", "admin", "active")
            ]
            db.session.remove()
        resp = other.test_client().post(
            "/auth/login", data={"email": "boss@example.com", "password": "s3cret-pass-99"}
        )
        assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()
