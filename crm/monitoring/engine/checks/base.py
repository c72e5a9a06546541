"""The shared vocabulary of the checks: :class:`CheckOutcome`, :class:`Target`,
:class:`CheckContext` and small parsers (expected status codes, JSON paths, line replies)."""
from __future__ import annotations

import asyncio
import json
import re
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from crm.monitoring.models import DOWN, UP
from crm.net import AddressRefused, Guard, customer_policy, guarded_client


@dataclass
class CheckOutcome:
    """The result of one check.

    :ivar status: ``"up"`` or ``"down"``.
    :ivar response_time_ms: time until the peer answered (milliseconds); None when it did not
        answer at all (timeout, refused, unresolvable) — rollups count those as ``errors``.
    :ivar status_code: the protocol's reply code (HTTP status, SMTP/FTP reply code), if any.
    :ivar error: why the check is down (None when up).
    :ivar protocol: ``http``/``https``/``tcp``/``smtp``/``ftp``/``dns``/``tls``/``heartbeat``/
        ``synthetic``.
    :ivar steps: synthetic checks only: one dict per step
        ``{name, ok, status_code, response_time_ms, assertions: [{description, ok, detail}]}``.
    :ivar detail: type-specific facts (``days_left`` for TLS, ``addresses`` for DNS …).
    :ivar checked_at: when the check started (UTC), set by the runner.
    """

    status: str
    response_time_ms: float | None = None
    status_code: int | None = None
    error: str | None = None
    protocol: str = ""
    steps: list = field(default_factory=list)
    detail: dict = field(default_factory=dict)
    checked_at: datetime | None = None

    @property
    def ok(self) -> bool:
        """True when the check is up."""
        return self.status == UP

    @property
    def answered(self) -> bool:
        """False when the peer gave no answer at all (see ``response_time_ms``)."""
        return self.response_time_ms is not None


def up(protocol: str, **kw) -> CheckOutcome:
    """An up outcome."""
    return CheckOutcome(status=UP, protocol=protocol, **kw)


def down(protocol: str, error: str, **kw) -> CheckOutcome:
    """A down outcome with its ``error``."""
    return CheckOutcome(status=DOWN, protocol=protocol, error=error, **kw)


@dataclass(frozen=True)
class Target:
    """A plain snapshot of a monitor for the async checks (no ORM access off the main thread).

    :ivar timeout: seconds allowed for the check (per request for synthetic checks).
    """

    id: int | None
    type: str
    config: dict
    timeout: float
    protocol: str
    name: str = ""
    #: the customer who owns the monitor (None: an operator's monitor); a customer's checks
    #: connect under the customer outbound policy (:meth:`CheckContext.for_target`)
    owner_id: int | None = None

    @classmethod
    def from_monitor(cls, monitor) -> Target:
        """Snapshot a :class:`~crm.monitoring.models.Monitor` (or any object with the same
        attributes)."""
        return cls(
            id=monitor.id,
            type=monitor.type,
            config=dict(monitor.config or {}),
            timeout=float(monitor.timeout_seconds or 10),
            protocol=monitor.protocol,
            name=monitor.name or "",
            owner_id=getattr(monitor, "owner_id", None),
        )


#: Connections one pooled HTTP client holds at most (see :class:`CheckContext`).
CONNECTIONS_PER_CLIENT = 10


class CheckContext:
    """Resources shared by the checks of one batch: the concurrency semaphore, pooled
    :class:`httpx.AsyncClient` instances per TLS-verification mode, and TLS contexts.

    HTTP requests are spread round-robin over several clients of at most
    :data:`CONNECTIONS_PER_CLIENT` connections each: httpcore's pool rescans all of its
    connections for every queued request (O(connections x requests), encode/httpcore#1035),
    which at 500 concurrent checks in one pool spent most of the worker's CPU in pool
    bookkeeping (bench/monitors.py); small pools keep that cost flat.

    Every connection a check makes goes through :attr:`guard` (:class:`crm.net.Guard`):
    the HTTP clients are built on its guarded transport, the stream checks call
    :meth:`~crm.net.Guard.open_connection`, the DNS check vets its resolver. A refused
    destination makes the check down with ``address refused: …``.

    :param concurrency: checks running at once (``MONITOR_CONCURRENCY``).
    :param ca_file: extra trusted CA certificates (PEM), e.g. an internal CA, added to the
        system store for HTTPS, TLS and SMTP STARTTLS checks.
    :param guard: the outbound guard of the operators' monitors (default: a
        :class:`crm.net.Guard` with the default staff :class:`~crm.net.Policy` and the system
        resolver).
    :param customer_guard: the guard of customers' monitors (default: the customer policy
        without configuration, :func:`crm.net.customer_policy`); see :meth:`for_target`.
    """

    def __init__(
        self,
        concurrency: int = 100,
        ca_file: str | None = None,
        guard: Guard | None = None,
        customer_guard: Guard | None = None,
        *,
        semaphore: asyncio.Semaphore | None = None,
    ):
        self.semaphore = semaphore or asyncio.Semaphore(concurrency)
        self.concurrency = concurrency
        self.ca_file = ca_file
        self.guard = guard or Guard()
        self._customer_guard = customer_guard
        self._customer: CheckContext | None = None
        self._clients: dict[tuple[bool, int], httpx.AsyncClient] = {}
        self._ssl: dict[bool, ssl.SSLContext] = {}
        self._shards = max(1, -(-concurrency // CONNECTIONS_PER_CLIENT))
        self._next_shard = 0

    def for_target(self, target: Target) -> CheckContext:
        """The context ``target``'s check runs in: this one for an operator's monitor; for a
        customer's (``owner_id`` set) a context on the customer guard, with its own HTTP
        clients (their transports vet under that policy) and this one's semaphore."""
        if target.owner_id is None:
            return self
        if self._customer is None:
            self._customer = CheckContext(
                self.concurrency,
                self.ca_file,
                self._customer_guard or Guard(customer_policy({})),
                semaphore=self.semaphore,
            )
        return self._customer

    def ssl_context(self, verify: bool = True) -> ssl.SSLContext:
        """A client TLS context: verifying (system store + ``ca_file``) or not verifying."""
        if verify not in self._ssl:
            ctx = ssl.create_default_context()
            if verify and self.ca_file:
                ctx.load_verify_locations(cafile=self.ca_file)
            if not verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self._ssl[verify] = ctx
        return self._ssl[verify]

    def http_client(self, verify: bool = True) -> httpx.AsyncClient:
        """A shared HTTP client (the next one round-robin; each pools at most
        :data:`CONNECTIONS_PER_CLIENT` connections, all of them ``concurrency`` together)."""
        shard = self._next_shard
        self._next_shard = (shard + 1) % self._shards
        key = (verify, shard)
        if key not in self._clients:
            size = min(self.concurrency, CONNECTIONS_PER_CLIENT)
            limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
            self._clients[key] = guarded_client(
                self.guard,
                verify=self.ssl_context(verify),
                limits=limits,
                headers={"User-Agent": "CR-Tracker-Monitor/1.0"},
            )
        return self._clients[key]

    async def aclose(self) -> None:
        """Close the HTTP clients (the customer context's too)."""
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        if self._customer is not None:
            await self._customer.aclose()


# ------------------------------------------------------------------ expected status codes


def parse_status_ranges(spec: str | None, default: str = "200-299") -> list[tuple[int, int]]:
    """Parse ``"200-299,301"`` into inclusive ranges ``[(200, 299), (301, 301)]``.

    :raises ValueError: a part that is not a code or a ``low-high`` range.
    """
    ranges = []
    for part in (spec or default).replace(" ", "").split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        lo, hi = int(low), int(high or low)
        if lo > hi:
            raise ValueError(f"bad status range {part!r}")
        ranges.append((lo, hi))
    if not ranges:
        raise ValueError("no expected status code")
    return ranges


def status_matches(code: int, spec: str | None, default: str = "200-299") -> bool:
    """True when ``code`` is in the expected ranges ``spec`` (see :func:`parse_status_ranges`)."""
    return any(lo <= code <= hi for lo, hi in parse_status_ranges(spec, default))


# ------------------------------------------------------------------ JSON paths

_TOKEN = re.compile(r"\.?([A-Za-z_][\w-]*)|\[(-?\d+)\]|\[[\"']([^\"']+)[\"']\]")
_MISSING = object()


def json_path_get(document: Any, path: str) -> Any:
    """Read a small dotted/indexed path such as ``data.items[0].status`` (a leading ``$`` or
    ``$.`` is allowed; ``["key"]`` for keys with dots) from a parsed JSON document.

    :returns: the value.
    :raises KeyError: the path does not exist in the document (message names the path).
    :raises ValueError: the path is malformed.
    """
    path = path.strip()
    if path.startswith("$"):
        path = path[1:]
    pos, value = 0, document
    while pos < len(path):
        match = _TOKEN.match(path, pos)
        if not match or match.end() == pos:
            raise ValueError(f"bad JSON path {path!r} at {pos}")
        key, index, quoted = match.groups()
        pos = match.end()
        if index is not None:
            if not isinstance(value, list) or not -len(value) <= int(index) < len(value):
                raise KeyError(f"{path}: no item [{index}]")
            value = value[int(index)]
        else:
            name = key if key is not None else quoted
            if not isinstance(value, dict) or name not in value:
                raise KeyError(f"{path}: no key {name!r}")
            value = value[name]
    return value


def json_equals(actual: Any, expected: Any) -> bool:
    """Compare a JSON value with an expected one given as JSON value or text (so ``"true"``,
    ``"3"`` and ``"ok"`` match ``true``, ``3`` and ``"ok"``)."""
    if actual == expected:
        return True
    if isinstance(expected, str):
        try:
            if json.loads(expected) == actual:
                return True
        except ValueError:
            pass
        return not isinstance(actual, (dict, list)) and str(actual) == expected
    return False


# ------------------------------------------------------------------ line protocols


async def read_reply(reader: asyncio.StreamReader) -> tuple[int, str]:
    """Read one SMTP/FTP reply (RFC 5321 §4.2, RFC 959 §4.2), multi-line included.

    :returns: (code, text of all lines).
    :raises ConnectionError: the peer closed the connection or sent a malformed reply.
    """
    lines = []
    while True:
        raw = await reader.readline()
        if not raw:
            raise ConnectionError("connection closed by the server")
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        lines.append(line)
        if len(line) >= 3 and line[:3].isdigit() and (len(line) == 3 or line[3] == " "):
            return int(line[:3]), "\n".join(lines)
        if len(line) < 4 or not line[:3].isdigit():
            raise ConnectionError("malformed reply (not a reply of this protocol)")


def split_host_port(value: str, default_port: int) -> tuple[str, int]:
    """``"1.2.3.4:53"`` → ("1.2.3.4", 53); ``"[::1]:53"`` and a bare host are accepted."""
    value = value.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if value.count(":") == 1:
        host, port = value.split(":")
        return host, int(port)
    return value, default_port


def describe_exception(exc: BaseException) -> str:
    """A short human-readable reason for a failed connection (``address refused: …`` for a
    destination the guard refused)."""
    if isinstance(exc, AddressRefused):
        return str(exc)
    # Protocol errors quote what the peer sent (h11: "Illegal status line: b'SSH-2.0-…'"),
    # which would echo a non-HTTP service's banner into results every staff role reads.
    if isinstance(exc, httpx.ProtocolError):
        return f"the server did not answer with valid HTTP ({exc.__class__.__name__})"
    if isinstance(exc, httpx.DecodingError):
        return "the response could not be decoded (DecodingError)"
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError, httpx.TimeoutException)):
        return "timed out"
    text = str(exc) or exc.__class__.__name__
    return (
        f"{exc.__class__.__name__}: {text}" if not text.startswith(exc.__class__.__name__) else text
    )
