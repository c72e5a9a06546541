"""Serve the bench app with gunicorn, log in over HTTP, and drive it with wrk (or hey)."""
from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from contextlib import contextmanager
from http.cookies import SimpleCookie

from bench import datagen
from bench.database import BENCH_DIR, app_env

ROOT = os.path.dirname(BENCH_DIR)
WRK_SCRIPT = os.path.join(BENCH_DIR, "wrk_paths.lua")


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port: int, path: str, cookie: str | None = None) -> tuple[int, dict, str]:
    """One GET; :returns: (status, lower-cased headers, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode()
    finally:
        conn.close()


@contextmanager
def gunicorn(kind: str, workers: int, worker_class: str, threads: int, engineers: int):
    """Run ``gunicorn 'bench.app:create_bench_app()'`` on a free port; yield the port.

    Production settings (``CRM_ENV=production``, a real SECRET_KEY, log level warning); the
    server is stopped (SIGTERM, then SIGKILL) when the block ends, whatever happens.
    """
    port = free_port()
    gunicorn_bin = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    cmd = [
        gunicorn_bin,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--threads",
        str(threads),
        "--log-level",
        "warning",
        "--backlog",
        "2048",
        "--chdir",
        ROOT,
        "--pythonpath",
        ROOT,
        "bench.app:create_bench_app()",
    ]
    env = {**os.environ, **app_env(kind), "BENCH_ENGINEERS": str(engineers)}
    log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {proc.returncode}; see {log.name}")
            try:
                if http_get(port, "/auth/login")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer within 60 s; see {log.name}")
            time.sleep(0.2)
        yield port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def login(port: int, email: str = datagen.ADMIN_EMAIL, password: str = datagen.PASSWORD) -> str:
    """Log in through the HTML form (CSRF token from the page). :returns: a Cookie header."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/auth/login")
        resp = conn.getresponse()
        page = resp.read().decode()
        jar = SimpleCookie()
        for k, v in resp.getheaders():
            if k.lower() == "set-cookie":
                jar.load(v)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
            r'name="csrf_token"[^>]*value="([^"]+)"', page
        )
        if not token:
            raise RuntimeError("no CSRF token on the login page")
        body = urllib.parse.urlencode(
            {"csrf_token": token.group(1), "email": email, "password": password}
        )
        cookie = "; ".join(f"{k}={m.value}" for k, m in jar.items())
        conn.request(
            "POST",
            "/auth/login",
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
        )
        resp = conn.getresponse()
        resp.read()
        if resp.status != 302:
            raise RuntimeError(f"login failed: HTTP {resp.status}")
        for k, v in resp.getheaders():
            if k.lower() == "set-cookie":
                jar.load(v)
        return "; ".join(f"{k}={m.value}" for k, m in jar.items())
    finally:
        conn.close()


def count_rows(html: str) -> int:
    """Ticket rows in a rendered list page (``<tr>`` in the table body)."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return body.count("<tr>")


def _wrk(port: int, cookie: str, paths: list[str], duration: float, clients: int) -> dict:
    cmd = [
        "wrk",
        "-t",
        "2",
        "-c",
        str(clients),
        "-d",
        f"{duration:g}s",
        "--timeout",
        "10s",
        "-s",
        WRK_SCRIPT,
        f"http://127.0.0.1:{port}",
        "--",
        *paths,
    ]
    out = subprocess.run(
        cmd, env={**os.environ, "BENCH_COOKIE": cookie}, capture_output=True, text=True, check=True
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH_JSON "))
    r = json.loads(line[len("BENCH_JSON ") :])
    secs = r["duration_us"] / 1e6
    errors = sum(v for k, v in r.items() if k.startswith("errors_"))
    return {
        "tool": "wrk",
        "requests": r["requests"],
        "seconds": secs,
        "rps": r["requests"] / secs,
        "p50_ms": r["p50_us"] / 1000,
        "p95_ms": r["p95_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "max_ms": r["max_us"] / 1000,
        "errors": errors,
    }


def _hey(port: int, cookie: str, paths: list[str], duration: float, clients: int) -> dict:
    # hey takes one URL: use the first path (wrk is preferred and rotates through all).
    cmd = [
        "hey",
        "-z",
        f"{duration:g}s",
        "-c",
        str(clients),
        "-H",
        f"Cookie: {cookie}",
        f"http://127.0.0.1:{port}{paths[0]}",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pct = {int(p): float(s) * 1000 for p, s in re.findall(r"(\d+)%+ in ([\d.]+) secs", out)}
    statuses = dict(re.findall(r"\[(\d{3})\]\s+(\d+) responses", out))
    return {
        "tool": "hey",
        "requests": int(sum(int(v) for v in statuses.values())),
        "seconds": duration,
        "rps": rps,
        "p50_ms": pct.get(50),
        "p95_ms": pct.get(95),
        "p99_ms": pct.get(99),
        "max_ms": None,
        "errors": sum(int(v) for k, v in statuses.items() if k != "200"),
    }


def run_load(
    port: int, cookie: str, paths: list[str], duration: float, warmup: float, clients: int = 8
) -> dict:
    """Warm up, then load ``paths`` (rotating) with ``clients`` keep-alive connections."""
    runner = _wrk if shutil.which("wrk") else _hey
    if warmup > 0:
        runner(port, cookie, paths, warmup, clients)
    return runner(port, cookie, paths, duration, clients)
