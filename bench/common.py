"""Helpers shared by the benchmark and drill scripts."""
from __future__ import annotations

import socket
import sys
from datetime import UTC, datetime


def log(msg: str) -> None:
    """Progress line on stderr, UTC time first (results go to stdout)."""
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
