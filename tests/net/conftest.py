"""Fixtures of the outbound-connection tests: the monitoring tests' real peers (HTTP, TCP),
monitor factory and API helpers, shared rather than copied."""
from __future__ import annotations

from tests.monitoring.conftest import (  # noqa: F401 - fixtures re-exported for tests/net
    _reset_http_peer,
    agent,
    api,
    dns_peer,
    engineer,
    http_peer,
    make_monitor,
    tcp_peer,
)
