"""Outbound connections to destinations users choose (monitors today; webhooks and imports
by URL later): the address policy (:mod:`crm.net.policy`), the guarded client
(:mod:`crm.net.guard`) and the redaction of secrets and peer content (:mod:`crm.net.redact`).
"""
from __future__ import annotations

from crm.net.guard import DnsResolver, Guard, RedirectRefused, SystemResolver, guarded_client, send
from crm.net.policy import (
    AddressRefused,
    Policy,
    customer_policy,
    normalise_host,
    staff_policy,
    vet_address,
    vet_host,
    vet_url,
)

__all__ = ["AddressRefused", "DnsResolver", "Guard", "Policy", "RedirectRefused", "SystemResolver",
           "customer_policy", "guarded_client", "normalise_host", "send", "staff_policy",
           "vet_address", "vet_host", "vet_url"]
