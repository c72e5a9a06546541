"""The check types: one module each, all ``async def check(target, ctx) -> CheckOutcome``.

:data:`CHECKS` maps a monitor type to its check; heartbeat monitors have no active check
(they are judged by :func:`crm.monitoring.engine.heartbeat.check_heartbeats`).
"""
from __future__ import annotations

from crm.monitoring.engine.checks import dns, ftp, http, smtp, synthetic, tcp, tls
from crm.monitoring.engine.checks.base import CheckContext, CheckOutcome, Target

CHECKS = {
    "http": http.check,
    "tcp": tcp.check,
    "smtp": smtp.check,
    "ftp": ftp.check,
    "dns": dns.check,
    "tls": tls.check,
    "synthetic": synthetic.check,
}

__all__ = ["CHECKS", "CheckContext", "CheckOutcome", "Target"]
