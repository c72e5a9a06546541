"""``make run``: the whole application on one machine, in one terminal.

``python -m workers.devstack``:

1. reads the configuration (``CRM_ENV`` defaults to ``development``); a bad value stops here
   with one line;
2. starts an embedded Redis when ``REDIS_URL`` is unset (:mod:`crm.embedded`) and, in
   development without ``MAIL_SERVER``, the SMTP catcher (:mod:`crm.notifications.catcher`);
3. upgrades the database to the latest migration and, unless ``CRM_DEMO_DATA=0``, loads the
   demo data into an empty database and prints the log-ins;
4. starts the web server (gunicorn ``wsgi:app`` on 127.0.0.1:``PORT``), one RQ worker per
   queue (``worker``: mail, reports and the rest; ``monitor``: check sessions; ``periodic``:
   tick, heartbeats, sweeper — see :mod:`crm.queue`) and the scheduler, with their output
   prefixed by their name;
5. on Ctrl-C or SIGTERM stops them all (and Redis). A worker or the scheduler that exits is
   started again after a back-off (1 s, doubling up to 30 s; back to 1 s once it has run for
   a minute), as a process supervisor would; if the web server dies, it stops the rest and
   exits 1.

Children run in their own process group (Ctrl-C reaches only this process, which stops them
in order) and, on Linux, die with this process even if it is killed with SIGKILL.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STOP_TIMEOUT = 10.0
READY_TIMEOUT = 60.0
#: seconds before restarting a child that exited; doubles up to RESTART_MAX_WAIT
RESTART_FIRST_WAIT = 1.0
RESTART_MAX_WAIT = 30.0
#: a child that ran this long before exiting is restarted after RESTART_FIRST_WAIT again
RESTART_RESET_AFTER = 60.0


def say(message: str) -> None:
    """Print a line of the stack's own output (prefixed ``[devstack]``)."""
    print(f"[devstack] {message}", flush=True)


class StackError(RuntimeError):
    """Start-up failed; the message is the one line shown to the user."""


@dataclass
class Child:
    """A process started by the stack: its name, command and running ``Popen``."""

    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    pump: threading.Thread | None = None
    #: restarted when it exits (workers, scheduler); the web server's death stops the stack
    restart: bool = True
    started_at: float = 0.0
    backoff: float = RESTART_FIRST_WAIT
    #: monotonic time of the next start while it waits to be restarted
    restart_at: float | None = None


def _pump(name: str, stream) -> None:
    for raw in iter(stream.readline, b""):
        sys.stdout.write(f"[{name}] {raw.decode(errors='replace').rstrip()}\n")
        sys.stdout.flush()
    stream.close()


def child_commands(port: int, web_workers: int = 2) -> list[Child]:
    """The processes of the stack: web (gunicorn, gthread workers), one RQ worker per queue
    (so mail never waits behind a check session, and the tick never waits behind either), and
    the scheduler.

    gthread workers keep a slow or streaming request from blocking a whole worker; SQLite
    in WAL mode (see ``crm._configure_engine``) lets several processes share the file.
    """
    py = sys.executable
    return [
        Child("web", [py, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
                      "--workers", str(web_workers), "--worker-class", "gthread", "--threads", "4",
                      "--graceful-timeout", "5", "--timeout", "60",
                      # gunicorn 27's control socket is one path per user: two stacks would clash
                      "--no-control-socket", "wsgi:app"], restart=False),
        Child("worker", [py, "-m", "workers.worker", "--queues", "default"]),
        Child("monitor", [py, "-m", "workers.worker", "--queues", "monitoring"]),
        Child("periodic", [py, "-m", "workers.worker", "--queues", "periodic"]),
        Child("scheduler", [py, "-m", "workers.scheduler"]),
    ]


def load_demo_data(app, public_url: str | None = None) -> dict[str, str] | None:
    """Seed the demo data when ``CRM_DEMO_DATA`` is on and the database has no users.

    :param public_url: where the web process answers (the demo's health monitor checks
        ``<public_url>/healthz``); default the app's ``PUBLIC_URL``.
    :returns: {role label: email} of the demo log-ins, or None when skipped.
    """
    if public_url:
        app.config["SERVER_NAME_FOR_LINKS"] = public_url
    if not app.config.get("CRM_DEMO_DATA", True):
        say("CRM_DEMO_DATA=0: demo data not loaded")
        return None
    from crm.demo import DEMO_PASSWORD, seed_demo
    from crm.extensions import db
    with app.app_context():
        try:
            logins = seed_demo()
        finally:
            db.session.remove()
    if logins is None:
        say("the database already has users: demo data not loaded")
        return None
    base = app.config.get("SERVER_NAME_FOR_LINKS", "http://127.0.0.1:5000").rstrip("/")
    say(f"demo data loaded; log in at {base}/auth/login with password {DEMO_PASSWORD} as:")
    for role, email in logins.items():
        say(f"  {role:19} {email}")
    return logins


def upgrade_database(app) -> None:
    """Run ``flask db upgrade`` in-process (alembic's logging config is undone afterwards)."""
    import logging

    from flask_migrate import upgrade
    with app.app_context():
        upgrade()
    # alembic's fileConfig disables loggers created before it; keep ours and the workers' alive.
    for logger in logging.root.manager.loggerDict.values():
        if isinstance(logger, logging.Logger):
            logger.disabled = False


def _port_free(port: int) -> bool:
    import socket
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _check_redis(url: str) -> None:
    from redis import Redis
    from redis.exceptions import RedisError
    try:
        Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except (RedisError, OSError, ValueError) as exc:
        raise StackError(f"REDIS_URL does not answer: {exc}") from None


def _describe_database(url) -> str:
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {url.database}"
    return url.render_as_string(hide_password=True)


class DevStack:
    """Owns every process and service of ``make run``; :meth:`stop` is safe to call twice."""

    def __init__(self, app):
        self.app = app
        self.redis = None
        self.catcher = None
        self.children: list[Child] = []
        self.env = dict(os.environ)

    def start(self) -> None:
        """Start services, migrate, seed, start the children and wait until the web answers.

        :raises StackError: one line saying what failed.
        """
        from crm.embedded import EmbeddedError, start_redis
        cfg = self.app.config
        port = cfg["PORT"]
        if not _port_free(port):
            raise StackError(f"port {port} on 127.0.0.1 is in use: set PORT to a free port, "
                             f"e.g. PORT={port + 1} make run")
        self.env.update({"CRM_ENV": cfg["ENV_NAME"], "CRM_INSTANCE_PATH": self.app.instance_path,
                         "PORT": str(port), "PYTHONUNBUFFERED": "1"})
        if not os.environ.get("PUBLIC_URL"):
            self.env["PUBLIC_URL"] = f"http://127.0.0.1:{port}"
        from crm.extensions import db
        with self.app.app_context():
            say(f"database: {_describe_database(db.engine.url)}")
        if not cfg.get("REDIS_URL"):
            try:
                self.redis = start_redis(self.app.instance_path)
            except EmbeddedError as exc:
                raise StackError(str(exc)) from None
            self.env["REDIS_URL"] = self.redis.url
            say(f"redis: embedded ({self.redis.source}) at {self.redis.url}")
        else:
            _check_redis(cfg["REDIS_URL"])
            say("redis: REDIS_URL from the environment")
        if not cfg.get("MAIL_SERVER") and cfg["ENV_NAME"] == "development":
            self._start_catcher()
        elif not cfg.get("MAIL_SERVER"):
            say("mail: MAIL_SERVER is not set; mail will fail and stay in the outbox")
        else:
            say(f"mail: SMTP server {cfg['MAIL_SERVER']}:{cfg['MAIL_PORT']}")
        from sqlalchemy.exc import OperationalError
        try:
            upgrade_database(self.app)
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            raise StackError(f"the database does not answer: {reason}") from None
        say("database schema is up to date")
        load_demo_data(self.app, self.env.get("PUBLIC_URL"))
        for child in child_commands(port):
            self._spawn(child)
            self.children.append(child)
            say(f"{child.name} started (pid {child.process.pid})")
        self._wait_ready(port)
        say(f"CR Tracker is running at http://127.0.0.1:{port}/ (Ctrl-C stops everything)")

    def _spawn(self, child: Child) -> None:
        """Start ``child``'s process (own process group, output pumped with its prefix)."""
        from crm.embedded import shim_command
        child.process = subprocess.Popen(
            shim_command(child.argv), cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, process_group=0)
        child.started_at = time.monotonic()
        child.restart_at = None
        child.pump = threading.Thread(target=_pump, args=(child.name, child.process.stdout),
                                      daemon=True)
        child.pump.start()

    def _start_catcher(self) -> None:
        from crm.config import ConfigError
        from crm.notifications.catcher import start_catcher

        def announce(row_id: int, rcpt_tos: list[str], subject: str) -> None:
            say(f"mail caught #{row_id} to {', '.join(rcpt_tos)}: {subject}")

        try:
            self.catcher = start_catcher(self.app, on_message=announce)
        except ConfigError as exc:
            raise StackError(f"configuration error: {exc}") from None
        self.env.update({"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(self.catcher.port),
                         "MAIL_USE_TLS": "0", "MAIL_USE_SSL": "0"})
        self.env.pop("MAIL_USERNAME", None)
        self.env.pop("MAIL_PASSWORD", None)
        say(f"mail: SMTP catcher on 127.0.0.1:{self.catcher.port}; read it at /admin/mailbox")

    def _wait_ready(self, port: int) -> None:
        url = f"http://127.0.0.1:{port}/healthz"
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            self.check_children()
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise StackError(f"the web server did not answer {url} within {READY_TIMEOUT:.0f} s")

    def check_children(self) -> None:
        """Restart a worker or the scheduler that exited, after its back-off.

        :raises StackError: the web server exited (the stack is of no use without it).
        """
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self._spawn(child)
                    say(f"{child.name} restarted (pid {child.process.pid})")
                continue
            code = child.process.poll()
            if code is None:
                continue
            if not child.restart:
                raise StackError(f"{child.name} stopped unexpectedly (exit code {code}); "
                                 "stopping everything")
            if now - child.started_at >= RESTART_RESET_AFTER:
                child.backoff = RESTART_FIRST_WAIT
            say(f"{child.name} exited (code {code}); restarting it in {child.backoff:.0f} s")
            child.restart_at = now + child.backoff
            child.backoff = min(child.backoff * 2, RESTART_MAX_WAIT)

    def stop(self) -> None:
        """SIGTERM every child (web first), wait up to 10 s, SIGKILL stragglers; stop services."""
        for child in self.children:
            child.restart_at = None
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in self.children:
            try:
                child.process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                say(f"{child.name} did not stop in {STOP_TIMEOUT:.0f} s: killing it")
                child.process.kill()
                child.process.wait()
        for child in self.children:
            if child.pump:
                child.pump.join(2)
        self.children = []
        if self.catcher is not None:
            self.catcher.stop()
            self.catcher = None
        if self.redis is not None:
            self.redis.stop()
            self.redis = None


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the stack until Ctrl-C/SIGTERM (exit 0) or a failure (one line on stderr, exit 1)."""
    os.environ.setdefault("CRM_ENV", "development")
    os.chdir(ROOT)  # wsgi.py, migrations/ and .env are found from the project root
    import logging
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # start-up noise
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd: a line per SMTP command
    from crm import ConfigError, create_app
    try:
        app = create_app()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _raise_interrupt)
    stack = DevStack(app)
    code = 0
    try:
        stack.start()
        while True:
            stack.check_children()
            time.sleep(0.5)
    except KeyboardInterrupt:
        say("stopping…")
    except StackError as exc:
        print(f"make run: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
    if code == 0:
        say("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
