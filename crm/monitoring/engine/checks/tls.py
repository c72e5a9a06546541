"""TLS certificate check: handshake (chain and host name verified unless ``verify_tls`` is
false), read the peer certificate's ``notAfter`` and report the days left; down when fewer
than ``days_before`` (default 14) days remain, or when the handshake fails.

Config keys: ``host``, ``port`` (443), ``days_before``, ``verify_tls`` (true).
"""
from __future__ import annotations

import asyncio
import ssl
import time

from cryptography import x509

from crm.clock import utcnow
from crm.monitoring.engine.checks.base import (
    CheckContext,
    CheckOutcome,
    Target,
    describe_exception,
    down,
    up,
)
from crm.monitoring.engine.checks.tcp import close

DEFAULT_DAYS_BEFORE = 14


async def check(target: Target, ctx: CheckContext) -> CheckOutcome:
    """Handshake with ``config.host``:``config.port`` and judge the certificate's expiry."""
    cfg = target.config
    host, port = cfg["host"], int(cfg.get("port") or 443)
    days_before = float(
        cfg.get("days_before") if cfg.get("days_before") is not None else DEFAULT_DAYS_BEFORE
    )
    started = time.perf_counter()
    try:
        _reader, writer = await asyncio.wait_for(
            ctx.guard.open_connection(
                host, port, ssl=ctx.ssl_context(bool(cfg.get("verify_tls", True)))
            ),
            target.timeout,
        )
    except ssl.SSLCertVerificationError as exc:
        return down(
            "tls",
            f"certificate not valid: {exc.verify_message or exc}",
            response_time_ms=round((time.perf_counter() - started) * 1000.0, 3),
        )
    except (OSError, TimeoutError) as exc:
        return down("tls", describe_exception(exc))
    elapsed = round((time.perf_counter() - started) * 1000.0, 3)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        await close(writer)
    cert = x509.load_der_x509_certificate(der)
    not_after = cert.not_valid_after_utc
    days_left = (not_after - utcnow()).total_seconds() / 86400.0
    detail = {
        "days_left": int(days_left),
        "not_after": not_after.isoformat(),
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
    }
    if days_left < days_before:
        what = "expired" if days_left < 0 else f"expires in {int(days_left)} days"
        return down(
            "tls",
            f"certificate {what} ({not_after:%Y-%m-%d %H:%M} UTC), "
            f"alert threshold {days_before:g} days",
            response_time_ms=elapsed,
            detail=detail,
        )
    return up("tls", response_time_ms=elapsed, detail=detail)
