"""Shared fixtures: the app on each database backend, real Redis, a real SMTP server.

Every test runs once per backend in ``CRM_TEST_DATABASES`` (default ``sqlite,postgresql``).

Isolation: two pytest runs on one machine (and the workers of one xdist run) never share a
resource. Each run has a token (:func:`run_token`, from the controller's pid and xdist's
test-run uid), and each worker gets its own SQLite file, its own PostgreSQL database
(``crm_test_<namespace><token>_<worker>``, dropped at the end; those of runs whose controller
died are dropped at the next start), its own RQ queue name and its own Redis database number,
claimed for the run in Redis db 0 (:func:`redis_db`) so that the ``flushdb`` after each test
only ever empties this worker's database. ``CRM_TEST_NAMESPACE`` prefixes the names (for
reading them); ``CRM_TEST_REDIS_DB`` pins the first Redis db number instead of claiming one.

Markers: ``only_backend("sqlite"|"postgresql")`` limits a test to one backend.
"""
from __future__ import annotations

import functools
import os
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy

import psycopg
import pytest
from aiosmtpd.controller import Controller
from flask.testing import FlaskClient
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import text

from crm import clock, create_app
from crm.auth.models import ACTIVE, PENDING, User
from crm.extensions import db

BACKENDS = [
    b.strip()
    for b in os.environ.get("CRM_TEST_DATABASES", "sqlite,postgresql").split(",")
    if b.strip()
]
PG_ADMIN_URL = os.environ.get("CRM_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_BASE = os.environ.get("CRM_TEST_PG_BASE", "postgresql+psycopg://postgres@127.0.0.1:5432/")
REDIS_BASE = os.environ.get("CRM_TEST_REDIS", "redis://127.0.0.1:6379")
PASSWORD = "correct-horse-42"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "only_backend(name): run this test on one database backend only"
    )


def pytest_collection_modifyitems(config, items):
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("only_backend")
        backend = getattr(item, "callspec", None) and item.callspec.params.get("backend")
        if marker and backend and backend != marker.args[0]:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def run_token() -> str:
    """This pytest run's token, the same in the xdist controller and all its workers:
    ``r<controller pid>x<4 hex>`` (the hex from xdist's ``PYTEST_XDIST_TESTRUNUID``, else
    random). The pid lets a later run tell that a run's controller is gone (see
    :func:`_drop_stale_pg_databases`); the hex keeps a reused pid from colliding."""
    token = os.environ.get("CRM_TEST_RUN_TOKEN")
    if not token:
        in_worker = "PYTEST_XDIST_WORKER" in os.environ
        controller = os.getppid() if in_worker else os.getpid()
        uid = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex
        token = f"r{controller}x{uid[:4]}"
        os.environ["CRM_TEST_RUN_TOKEN"] = token  # subprocesses and later calls agree
    return token


def worker_id() -> str:
    """``<CRM_TEST_NAMESPACE><run token>_<xdist worker>`` (``main`` without xdist): a name
    for this worker's databases and queues that no other pytest run on the machine uses."""
    return (
        os.environ.get("CRM_TEST_NAMESPACE", "")
        + run_token()
        + "_"
        + os.environ.get("PYTEST_XDIST_WORKER", "main")
    )


def worker_number() -> int:
    """0 without xdist, else the xdist worker's index."""
    wid = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return int(wid[2:]) if wid.startswith("gw") else 0


REDIS_CLAIM_KEY = "crm-test:redis-db-claim:{}"  # in Redis db 0; value: the claimant's worker_id()
REDIS_CLAIM_SECONDS = 300  # a claim lives this long unless renewed (a killed run frees its db)
_redis_claim: dict = {}


@functools.cache
def redis_db() -> int:
    """Redis database number of this worker, claimed for the run.

    With ``CRM_TEST_REDIS_DB``: that number + the xdist worker index (claimed without asking,
    so that runs without the variable keep off it). Otherwise the highest of 1..15 that no
    live run has claimed and that is empty, claimed with ``SET NX`` on
    :data:`REDIS_CLAIM_KEY` in db 0, renewed by a daemon thread and released at the end.

    :raises RuntimeError: a number out of 1..15, or no free database.
    """
    conn = Redis.from_url(f"{REDIS_BASE}/0")
    me = worker_id()
    pinned = os.environ.get("CRM_TEST_REDIS_DB")
    if pinned:
        db_number = int(pinned) + worker_number()
        if not 1 <= db_number <= 15:
            raise RuntimeError(f"Redis db {db_number} out of range: lower CRM_TEST_REDIS_DB or -n")
        conn.set(REDIS_CLAIM_KEY.format(db_number), me, ex=REDIS_CLAIM_SECONDS)
    else:
        for candidate in range(15, 0, -1):
            key = REDIS_CLAIM_KEY.format(candidate)
            if not conn.set(key, me, nx=True, ex=REDIS_CLAIM_SECONDS):
                continue
            # A run with an older conftest may use it without a claim: take only empty ones.
            if Redis.from_url(f"{REDIS_BASE}/{candidate}").dbsize() == 0:
                db_number = candidate
                break
            conn.delete(key)
        else:
            raise RuntimeError(
                "no free Redis database in 1..15: every one is claimed by a "
                "running pytest or holds keys; set CRM_TEST_REDIS_DB"
            )
    stop = threading.Event()
    key = REDIS_CLAIM_KEY.format(db_number)

    def renew():
        while not stop.wait(REDIS_CLAIM_SECONDS / 5):
            try:
                conn.set(key, me, ex=REDIS_CLAIM_SECONDS)
            except RedisError:  # Redis restarting: try again at the next beat
                pass

    threading.Thread(target=renew, name="redis-db-claim", daemon=True).start()
    _redis_claim.update(conn=conn, key=key, me=me, stop=stop)
    return db_number


def _release_redis_db() -> None:
    """Give this worker's Redis database back (only if the claim is still ours)."""
    if not _redis_claim:
        return
    _redis_claim["stop"].set()
    conn, key = _redis_claim["conn"], _redis_claim["key"]
    try:
        if conn.get(key) == _redis_claim["me"].encode():
            Redis.from_url(f"{REDIS_BASE}/{key.rsplit(':', 1)[1]}").flushdb()
            conn.delete(key)
    except RedisError:
        pass
    _redis_claim.clear()


def pytest_sessionfinish(session, exitstatus):
    _release_redis_db()


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ real SMTP server


@dataclass
class SMTPSink:
    """Messages received by the in-process aiosmtpd server (``messages``: parsed emails)."""

    host: str
    port: int
    messages: list = field(default_factory=list)
    delay_data_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def by_rcpt(self, address: str) -> list:
        """Messages whose envelope recipients include ``address``."""
        with self.lock:
            return [m for m in self.messages if address in m["_rcpt"]]

    def wait_for(self, predicate, timeout: float = 10.0):
        """Poll until ``predicate(messages)`` is truthy; return its value or fail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                value = predicate(list(self.messages))
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(
            f"SMTP sink: condition not met in {timeout}s; got {len(self.messages)} messages"
        )

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
        self.delay_data_seconds = 0.0


class _Handler:
    def __init__(self, sink: SMTPSink):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        if self.sink.delay_data_seconds:
            await asyncio.sleep(self.sink.delay_data_seconds)
        msg = message_from_bytes(envelope.content, policy=policy.default)
        msg["_rcpt"] = ", ".join(envelope.rcpt_tos)
        with self.sink.lock:
            self.sink.messages.append(msg)
        return "250 Message accepted for delivery"


@pytest.fixture(scope="session")
def smtp_server():
    """A real SMTP server (aiosmtpd) on 127.0.0.1 for the whole session."""
    port = free_port()
    sink = SMTPSink("127.0.0.1", port)
    controller = Controller(_Handler(sink), hostname="127.0.0.1", port=port)
    controller.start()
    yield sink
    controller.stop()


# ------------------------------------------------------------------ databases


def _pg_database_url(name: str) -> str:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_BASE + name


def _drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_RUN_DATABASE = re.compile(r"^crm_(?:test|fresh)_.*r(\d+)x[0-9a-f]{4}_")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _drop_stale_pg_databases() -> list[str]:
    """Drop the test databases of earlier runs whose controller process is gone (a run that
    was killed could not drop its own). Returns the names dropped."""
    dropped = []
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        names = [row[0] for row in conn.execute("SELECT datname FROM pg_database")]
        for name in names:
            match = _RUN_DATABASE.match(name)
            if match and not _pid_alive(int(match.group(1))):
                try:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                except psycopg.Error:  # another worker of this run dropped it first
                    continue
                dropped.append(name)
    return dropped


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request) -> str:
    """The database backend of this test run: ``sqlite`` or ``postgresql``."""
    return request.param


@pytest.fixture(scope="session")
def app_config(backend, tmp_path_factory, smtp_server) -> dict:
    """Config overrides for this backend and xdist worker (before ``create_app``)."""
    if backend == "postgresql":
        _drop_stale_pg_databases()
        url = _pg_database_url(f"crm_test_{worker_id()}")
    else:
        url = "sqlite:///" + str(tmp_path_factory.mktemp("db") / "crm.sqlite3")
    return {
        "SQLALCHEMY_DATABASE_URI": url.replace("postgresql://", "postgresql+psycopg://", 1)
        if url.startswith("postgresql://")
        else url,
        "REDIS_URL": f"{REDIS_BASE}/{redis_db()}",
        "RQ_QUEUE": f"crm-test-{worker_id()}",
        "MAIL_SERVER": smtp_server.host,
        "MAIL_PORT": smtp_server.port,
        "MAIL_DEFAULT_SENDER": "CR Tracker <no-reply@example.com>",
        "SERVER_NAME_FOR_LINKS": "http://crm.test",
        "PROPAGATE_EXCEPTIONS": False,
    }


@pytest.fixture(scope="session")
def app(backend, app_config, tmp_path_factory):
    """The app on this backend, schema created once per session (create_all + search DDL).

    Migrations themselves are tested in ``test_config_cli.py`` (upgrade, compare, downgrade).
    """
    os.environ.setdefault("CRM_INSTANCE_PATH", str(tmp_path_factory.mktemp("instance")))
    application = _app_with(app_config)
    with application.app_context():
        db.drop_all()
        _drop_search(application)
        db.create_all()
        from crm.tickets import search

        with db.engine.begin() as conn:
            search.install(conn)
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()
    if backend == "postgresql":
        _drop_pg_database(f"crm_test_{worker_id()}")


def _app_with(overrides: dict):
    """``create_app`` with TestingConfig plus ``overrides`` (applied before extensions init)."""
    from crm.config import TestingConfig

    class _Cfg(TestingConfig):
        @classmethod
        def load(cls, instance_path):
            cfg = super().load(instance_path)
            cfg.update(overrides)
            return cfg

    return create_app(_Cfg)


def _drop_search(application):
    from crm.tickets import search

    with db.engine.begin() as conn:
        search.uninstall(conn)


def _tables() -> list[str]:
    """Every mapped table, children before parents (so DELETE order respects foreign keys)."""
    return [t.name for t in reversed(db.metadata.sorted_tables)]


@pytest.fixture(autouse=True)
def _clean(app, smtp_server):
    """Each test starts with empty tables, an empty Redis db, no mail and the real clock."""
    ctx = app.app_context()
    ctx.push()
    yield
    db.session.remove()
    with db.engine.begin() as conn:
        # DELETE, children first, on both databases: a test leaves a few rows, and on
        # PostgreSQL one TRUNCATE of every table cost ~0.4 s a test (a new file per table)
        # against ~0.05 s for the DELETEs; the id sequences are then restarted at 1, as
        # TRUNCATE … RESTART IDENTITY did (SQLite reuses ids of an emptied table by itself)
        for table in _tables():
            conn.execute(text(f"DELETE FROM {table}"))
        if conn.dialect.name == "postgresql":
            conn.execute(text(
                "SELECT setval(c.oid::regclass, 1, false) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind = 'S' AND n.nspname = current_schema()"))
    Redis.from_url(app.config["REDIS_URL"]).flushdb()
    smtp_server.clear()
    clock.set_offset(timedelta(0))
    ctx.pop()


# ------------------------------------------------------------------ factories and helpers


@pytest.fixture
def client(app):
    """A Flask test client (CSRF off in TestingConfig)."""
    return app.test_client()


_counter = {"n": 0}


@pytest.fixture
def make_user(app):
    """Factory: ``make_user(role="customer", status=None, email=None, name=None,
    password=PASSWORD)``.

    Status defaults to active and the email to verified (``verified=False`` for an unverified
    account). Returns the committed :class:`User`.
    """

    def make(
        role: str = "customer",
        status: str | None = None,
        email: str | None = None,
        name: str | None = None,
        password: str = PASSWORD,
        verified: bool = True,
    ) -> User:
        _counter["n"] += 1
        n = _counter["n"]
        user = User(
            email=email or f"{role}{n}@example.com",
            name=name or f"{role.capitalize()} {n}",
            role=role,
            status=status or ACTIVE,
            email_verified_at=clock.utcnow() if verified else None,
        )
        user.set_password(password)
        db.session.add(user)
        db.session.commit()
        return user

    return make


@pytest.fixture
def login(client):
    """``login(user)`` logs the test client in through the real log-in form."""

    def do(user: User, password: str = PASSWORD):
        resp = client.post("/auth/login", data={"email": user.email, "password": password})
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        return resp

    return do


@pytest.fixture
def login_as(app, make_user):
    """``login_as(role_or_user, password=PASSWORD)`` → a new test client logged in through the
    real log-in form as a fresh active user of ``role`` (``"customer"``, ``"engineer"`` …) or
    as the given :class:`User`; ``client.user`` is that user (``login_as(None)``: a client
    that stays anonymous, ``client.user`` None).

    Each client has its own cookie jar, and each of its requests starts with a clean request
    state (:func:`tests.helpers_matrix.fresh_request_state`: no cached log-in, CSRF token or
    failed transaction from an earlier request), so several personas can act in one test.
    """
    from tests.helpers_matrix import fresh_request_state

    class FreshClient(app.test_client_class or FlaskClient):
        def open(self, *args, **kwargs):
            fresh_request_state()
            return super().open(*args, **kwargs)

    def log_in(role_or_user: str | User | None, password: str = PASSWORD):
        user = make_user(role_or_user) if isinstance(role_or_user, str) else role_or_user
        persona = FreshClient(app, app.response_class, use_cookies=True)
        if user is not None:
            resp = persona.post("/auth/login", data={"email": user.email, "password": password})
            assert resp.status_code == 302, f"log-in as {user.role}: {resp.status_code}"
        persona.user = user
        return persona

    return log_in


@pytest.fixture
def token_for(client):
    """``token_for(user)`` → a Bearer access token obtained from ``POST /api/v1/auth/token``."""

    def get(user: User, password: str = PASSWORD) -> str:
        resp = client.post("/api/v1/auth/token", json={"email": user.email, "password": password})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp.json["access_token"]

    return get


@pytest.fixture
def worker_env(app, smtp_server, tmp_path) -> dict:
    """Environment for a real ``python -m workers.worker`` (or scheduler) process on this
    test's database, Redis db, queues and SMTP sink (``WORKER_QUEUES`` unset: all queues)."""
    env = dict(os.environ)
    env.pop("WORKER_QUEUES", None)
    env.update(
        {
            "CRM_ENV": "testing",
            "CRM_INSTANCE_PATH": str(tmp_path / "worker-instance"),
            "CRM_DOTENV": os.devnull,
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": app.config["REDIS_URL"],
            "RQ_QUEUE": app.config["RQ_QUEUE"],
            "MAIL_SERVER": smtp_server.host,
            "MAIL_PORT": str(smtp_server.port),
            "MAIL_DEFAULT_SENDER": app.config["MAIL_DEFAULT_SENDER"],
            "MAIL_TIMEOUT": "60",
            "PUBLIC_URL": app.config["SERVER_NAME_FOR_LINKS"],
        }
    )
    return env


@pytest.fixture
def run_jobs(app):
    """``run_jobs()`` runs every queued RQ job with a real (non-forking) worker in burst mode.

    :returns: how many jobs were queued when it started.
    """
    from rq import SimpleWorker

    from crm.queue import get_queue, redis_conn

    def run() -> int:
        queue = get_queue()
        queued = queue.count
        SimpleWorker([queue], connection=redis_conn()).work(burst=True)
        return queued

    return run


__all__ = ["PASSWORD", "PENDING", "free_port", "worker_id"]
