"""DNS check with dnspython's asynchronous resolver.

Config keys: ``host`` (the name to resolve), ``record_type`` (A), ``resolver``
(``"1.1.1.1"``, ``"127.0.0.1:5353"``; empty: the system's resolvers), ``resolver_port``
(53), ``expected_address`` (down unless one answer equals it).

A chosen resolver is a destination like any other: its address is vetted by the context's
guard (:mod:`crm.net`) before the query is sent.
"""
from __future__ import annotations

import time

import dns.asyncresolver
import dns.exception
import dns.resolver

from crm.monitoring.engine.checks.base import (
    CheckContext,
    CheckOutcome,
    Target,
    down,
    split_host_port,
    up,
)
from crm.net import AddressRefused, vet_host


def make_resolver(cfg: dict) -> dns.asyncresolver.Resolver:
    """A resolver for the monitor's ``resolver`` (+ port), or the system configuration."""
    if not cfg.get("resolver"):
        return dns.asyncresolver.Resolver()
    resolver = dns.asyncresolver.Resolver(configure=False)
    host, port = split_host_port(str(cfg["resolver"]), int(cfg.get("resolver_port") or 53))
    resolver.nameservers = [host]
    resolver.port = port
    return resolver


async def check(target: Target, ctx: CheckContext) -> CheckOutcome:
    """Resolve ``config.host`` (``record_type``) within the timeout."""
    cfg = target.config
    rtype = (cfg.get("record_type") or "A").upper()
    if cfg.get("resolver"):
        host, _port = split_host_port(str(cfg["resolver"]), 53)
        try:
            vet_host(ctx.guard.policy, host)
        except AddressRefused as exc:
            return down("dns", f"resolver {exc}")
    resolver = make_resolver(cfg)
    started = time.perf_counter()
    try:
        answer = await resolver.resolve(cfg["host"], rtype, lifetime=target.timeout,
                                        raise_on_no_answer=True)
    except dns.resolver.NXDOMAIN:
        return down("dns", f"{cfg['host']}: no such domain (NXDOMAIN)",
                    response_time_ms=round((time.perf_counter() - started) * 1000.0, 3))
    except dns.resolver.NoAnswer:
        return down("dns", f"{cfg['host']}: no {rtype} record",
                    response_time_ms=round((time.perf_counter() - started) * 1000.0, 3))
    except dns.exception.Timeout:
        return down("dns", "timed out")
    except (dns.exception.DNSException, OSError) as exc:
        return down("dns", f"{exc.__class__.__name__}: {exc}")
    elapsed = round((time.perf_counter() - started) * 1000.0, 3)
    values = [rdata.to_text().rstrip(".") for rdata in answer]
    detail = {"addresses": values, "record_type": rtype}
    expected = (cfg.get("expected_address") or "").strip().rstrip(".")
    if expected and expected not in values:
        # the answers stay in ``detail`` (a manual run shows them): results name no address the
        # resolver gave, as they quote nothing else a target sent
        return down("dns", f"{cfg['host']} did not resolve to the expected {expected}",
                    response_time_ms=elapsed, detail=detail)
    return up("dns", response_time_ms=elapsed, detail=detail)
