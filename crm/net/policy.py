"""Which addresses the server may connect to on a user's behalf: :class:`Policy` and
:func:`vet_address`.

Rules (the guard applies them to every address a name resolves to, and again to each
redirect hop, see :mod:`crm.net.guard`):

1. **Never**, for anyone, not even through an allow-list: cloud metadata endpoints
   (:data:`METADATA_NETWORKS`: AWS/GCP/Azure/OpenStack ``169.254.169.254``, the ECS/EKS
   credential endpoints, AWS's IPv6 ``fd00:ec2::254``, Alibaba's ``100.100.100.200``).
2. The policy's ``allowed`` networks (``MONITOR_ALLOWED_NETWORKS``) are reachable even when a
   later rule would refuse them.
3. Refused for everyone: link-local (``169.254.0.0/16``, ``fe80::/10``), unspecified
   (``0.0.0.0/8`` — Linux connects ``0.0.0.0`` to the local host — and ``::``), multicast,
   broadcast and the reserved ``240.0.0.0/4`` (:data:`ALWAYS_BLOCKED`).
4. With ``block_private``: loopback and private networks (:data:`PRIVATE_NETWORKS`: RFC 1918,
   CGNAT ``100.64.0.0/10``, ULA ``fc00::/7``, ``127.0.0.0/8``, ``::1``). Staff monitors may
   reach them by default (operators watch their own services) unless
   ``MONITOR_BLOCK_PRIVATE_FOR_STAFF=1``; :func:`customer_policy` always blocks them.
5. The policy's extra ``blocked`` networks.

Numeric host forms are normalised first (:func:`normalise_host`): ``2130706433``,
``0x7f.1``, ``0177.0.0.1`` and ``127.1`` mean 127.0.0.1 to the C library (``inet_aton``
rules), so they are read the same way here; an IPv6 address that embeds an IPv4 one
(IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``, Teredo) is vetted
as both. Host names reserved for the local host (``localhost``, ``*.localhost``, RFC 6761)
count as loopback without asking DNS, and a policy may refuse host names outright
(``blocked_hosts``: the app's own names for customer monitors).

This module has no Flask dependency; :func:`staff_policy` / :func:`customer_policy` read a
Flask-style config mapping.
"""
from __future__ import annotations

import functools
import ipaddress
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _nets(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


#: Cloud instance-metadata and credential endpoints: refused even when allow-listed.
METADATA_NETWORKS = _nets("169.254.169.254/32", "169.254.170.2/32", "169.254.170.23/32",
                          "fd00:ec2::254/128", "fd00:ec2::23/128", "100.100.100.200/32")
#: Refused for everyone unless allow-listed: link-local, unspecified, multicast, broadcast,
#: reserved.
ALWAYS_BLOCKED = (
    ("link-local", _nets("169.254.0.0/16", "fe80::/10")),
    ("unspecified", _nets("0.0.0.0/8", "::/128")),
    ("multicast", _nets("224.0.0.0/4", "ff00::/8")),
    ("broadcast or reserved", _nets("240.0.0.0/4")),
)
#: Loopback and private networks: refused by policies with ``block_private``.
PRIVATE_NETWORKS = (
    ("loopback", _nets("127.0.0.0/8", "::1/128")),
    ("private", _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
    ("carrier-grade NAT", _nets("100.64.0.0/10")),
)
#: Host names that always mean this host (RFC 6761 §6.3).
LOCAL_HOST_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
#: Well-known metadata host names (they resolve to :data:`METADATA_NETWORKS` inside clouds).
METADATA_HOST_NAMES = ("metadata.google.internal", "metadata.goog", "instance-data",
                       "instance-data.ec2.internal")

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$", re.IGNORECASE)


class AddressRefused(OSError):
    """A destination the policy does not allow (an :class:`OSError`, so code that treats
    network failures as failures treats a refusal as one too).

    :ivar host: the host as given (name or address).
    :ivar address: the offending address (text), or None when the name itself is refused.
    :ivar reason: why (``"cloud metadata"``, ``"link-local"``, ``"loopback"`` …).

    ``str(exc)`` is ``"address refused: <address> (<reason>)"`` (naming the host when it
    differs), safe to show and store: it carries no response content.
    """

    def __init__(self, host: str, address: str | None, reason: str):
        self.host, self.address, self.reason = host, address, reason
        shown = address or host
        if address and host and host.strip("[]").lower() != address:
            reason_text = f"{reason}; from {host}"
        else:
            reason_text = reason
        super().__init__(f"address refused: {shown} ({reason_text})")


@dataclass(frozen=True)
class Policy:
    """What a class of user may reach (immutable and hashable, so connection pools can be
    keyed by it).

    :ivar name: a label for messages and logs (``"staff"``, ``"customer"``).
    :ivar block_private: refuse :data:`PRIVATE_NETWORKS` (loopback, RFC 1918, CGNAT, ULA).
    :ivar allowed: networks reachable despite the blocks (never metadata).
    :ivar blocked: extra networks refused (after ``allowed``).
    :ivar blocked_hosts: host names refused before any lookup (lower case, no trailing dot;
        a leading ``.`` refuses every name under it: ``.corp.example``).
    """

    name: str = "staff"
    block_private: bool = False
    allowed: tuple[IPNetwork, ...] = ()
    blocked: tuple[IPNetwork, ...] = ()
    blocked_hosts: frozenset[str] = field(default_factory=frozenset)

    def refusal(self, address: IPAddress | str) -> str | None:
        """Why ``address`` is refused (the reason text), or None when it may be reached.

        IPv6 addresses embedding an IPv4 address are refused when either is.
        """
        found = self.refused_by(address)
        return found[0] if found else None

    def refused_by(self, address: IPAddress | str) -> tuple[str, IPAddress] | None:
        """(reason, the address refused) for ``address`` or an IPv4 address embedded in it;
        None when it may be reached."""
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        for candidate in (ip, *_embedded_ipv4(ip)):
            reason = self._refusal_one(candidate)
            if reason:
                return reason, candidate
        return None

    def _refusal_one(self, ip: IPAddress) -> str | None:
        # integer range checks (what ``ip in network`` does, without its per-call overhead:
        # every connection of every check comes through here)
        key = (ip.version, int(ip))
        if _hit(_METADATA_RANGES, key):
            return "cloud metadata"
        if self.allowed and _hit(_ranges(self.allowed), key):
            return None
        for reason, ranges in _ALWAYS_RANGES:
            if _hit(ranges, key):
                return reason
        if self.block_private:
            for reason, ranges in _PRIVATE_RANGES:
                if _hit(ranges, key):
                    return reason
        if self.blocked and _hit(_ranges(self.blocked), key):
            return "blocked network"
        return None

    def host_refusal(self, name: str) -> str | None:
        """Why the host *name* ``name`` is refused before any DNS lookup, or None."""
        name = name.lower().rstrip(".")
        if name in METADATA_HOST_NAMES:
            return "cloud metadata"
        for blocked in self.blocked_hosts:
            if name == blocked or (blocked.startswith(".") and name.endswith(blocked)):
                return "this application's own host name"
        return None


@functools.lru_cache(maxsize=256)
def _ranges(nets: tuple[IPNetwork, ...]) -> tuple[tuple[int, int, int], ...]:
    """``(version, first, last)`` integer ranges of ``nets``."""
    return tuple((n.version, int(n.network_address), int(n.broadcast_address)) for n in nets)


def _hit(ranges: tuple[tuple[int, int, int], ...], key: tuple[int, int]) -> bool:
    version, value = key
    for v, first, last in ranges:
        if v == version and first <= value <= last:
            return True
    return False


_METADATA_RANGES = _ranges(METADATA_NETWORKS)
_ALWAYS_RANGES = tuple((reason, _ranges(nets)) for reason, nets in ALWAYS_BLOCKED)
_PRIVATE_RANGES = tuple((reason, _ranges(nets)) for reason, nets in PRIVATE_NETWORKS)


def _embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses carried inside an IPv6 address (mapped, NAT64, 6to4, Teredo)."""
    if ip.version != 6:
        return []
    out = []
    if ip.ipv4_mapped is not None:
        out.append(ip.ipv4_mapped)
    if ip in _NAT64:
        out.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        out.append(ip.sixtofour)
    if ip.teredo is not None:
        out.extend(ip.teredo)
    return out


def normalise_host(host: str) -> IPAddress | str:
    """Read a host as the C library would: an IP address (also from the legacy numeric forms
    ``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``, with ``inet_aton`` rules) or, for
    anything else, a lower-case host name without a trailing dot.

    IPv6 literals may come bracketed (``[::1]``) and with a zone (``fe80::1%eth0``, read
    without it).

    :raises AddressRefused: a numeric-looking host that is no valid address (``08.1.1.1``,
        ``4294967296``): resolvers disagree on such names, so none is trusted.
    """
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.rstrip(".") if text not in ("", ".") else text
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        pass
    if _NUMERIC_HOST.match(text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            raise AddressRefused(host, None, "not a valid numeric address") from None
    return text.lower()


def is_local_name(name: str) -> bool:
    """True for names that always mean this host (``localhost``, ``*.localhost``)."""
    name = name.lower().rstrip(".")
    return name in LOCAL_HOST_NAMES or name.endswith(".localhost")


def vet_address(policy: Policy, address: IPAddress | str, host: str | None = None) -> IPAddress:
    """Check one resolved address against ``policy``.

    :param host: the name it came from (for the message).
    :returns: the address as an :mod:`ipaddress` object.
    :raises AddressRefused: the policy refuses it.
    """
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    found = policy.refused_by(ip)
    if found:
        raise AddressRefused(host or str(ip), str(found[1]), found[0])
    return ip


def vet_host(policy: Policy, host: str) -> IPAddress | str:
    """Check what can be known about ``host`` without DNS: an address (any numeric form) is
    vetted, a name checked against the policy's refused names and the local-host names.

    :returns: the normalised address, or the normalised name (still to be resolved and
        vetted at connection time by :class:`crm.net.guard.Guard`).
    :raises AddressRefused: the policy refuses it.
    """
    value = normalise_host(host)
    if not isinstance(value, str):
        return vet_address(policy, value, host)
    reason = policy.host_refusal(value)
    if reason:
        raise AddressRefused(host, None, reason)
    if is_local_name(value):
        vet_address(policy, ipaddress.IPv4Address("127.0.0.1"), host)
        vet_address(policy, ipaddress.IPv6Address("::1"), host)
    return value


def vet_url(policy: Policy, url: str) -> IPAddress | str:
    """:func:`vet_host` on the host of an http(s) URL.

    :raises AddressRefused: the policy refuses it (or the URL has no host).
    """
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    if not host:
        raise AddressRefused(url, None, "no host in the URL")
    return vet_host(policy, host)


def parse_networks(text: str | Iterable[str] | None) -> tuple[IPNetwork, ...]:
    """Parse comma-separated CIDRs (``"10.1.0.0/16, fd12::/64, 192.0.2.10"``; a bare address is
    a /32 or /128).

    Allowed networks never open :data:`METADATA_NETWORKS` (see :class:`Policy`).

    :raises ValueError: a part that is no network (the message names it).
    """
    parts = text.split(",") if isinstance(text, str) else list(text or ())
    out = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        try:
            net = ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise ValueError(f"{part!r} is not a network (use CIDR, e.g. 10.1.0.0/16)") from None
        out.append(net)
    return tuple(out)


def staff_policy(config: Mapping) -> Policy:
    """The policy for monitors made by staff: loopback and private networks reachable
    unless ``MONITOR_BLOCK_PRIVATE_FOR_STAFF``; ``MONITOR_ALLOWED_NETWORKS`` allowed."""
    return Policy(
        name="staff",
        block_private=bool(config.get("MONITOR_BLOCK_PRIVATE_FOR_STAFF", False)),
        allowed=parse_networks(config.get("MONITOR_ALLOWED_NETWORKS") or ()),
    )


def own_host_names(config: Mapping) -> frozenset[str]:
    """The application's own host names (``SERVER_NAME``, ``PUBLIC_URL``,
    ``SERVER_NAME_FOR_LINKS``), lower case."""
    names = set()
    for key in ("SERVER_NAME", "PUBLIC_URL", "SERVER_NAME_FOR_LINKS"):
        value = config.get(key)
        if not value:
            continue
        host = urlsplit(value if "//" in value else f"//{value}").hostname
        if host:
            names.add(host.lower().rstrip("."))
    return frozenset(names)


def customer_policy(config: Mapping) -> Policy:
    """The stricter policy for destinations customers choose (customer-owned monitors,
    webhooks): loopback, RFC 1918, CGNAT and ULA are refused as well, and so are the app's own
    host names. ``MONITOR_ALLOWED_NETWORKS`` opens the networks the operator names (a
    customers' network reached over a VPN, or the test peers on 127.0.0.1) for customers too;
    the cloud-metadata addresses stay closed whatever it says."""
    return Policy(
        name="customer",
        block_private=True,
        blocked_hosts=own_host_names(config),
        allowed=parse_networks(config.get("MONITOR_ALLOWED_NETWORKS") or ()),
    )
