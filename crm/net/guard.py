"""The guarded outbound client: every connection the server makes to a destination a user
chose goes through a :class:`Guard`.

A guard resolves the host once, vets **every** address against its
:class:`~crm.net.policy.Policy` (one refused address refuses the host, so a name answering
``[public, 169.254.169.254]`` cannot win by luck) and connects to a vetted address itself, so
a second DNS answer (DNS rebinding) never reaches the socket. TLS keeps the host *name* for
SNI and certificate checks.

* Raw streams (TCP, SMTP, FTP, TLS checks): :meth:`Guard.open_connection`.
* HTTP: :func:`guarded_transport` gives an httpx transport whose httpcore network backend is
  :class:`GuardedBackend` (the connection pool asks it for every new connection, with the
  URL's host; TLS then starts with that host name). :func:`send` follows redirects itself,
  vetting each hop before it is requested.
* Anything else that connects to a user-given address (a DNS resolver, a future webhook)
  calls :meth:`Guard.addresses` / :func:`crm.net.policy.vet_address` first.

Refusals raise :class:`~crm.net.policy.AddressRefused`; its text names the address and the
reason and nothing the peer sent.
"""
from __future__ import annotations

import asyncio
import socket
import ssl as ssl_module
from collections.abc import Iterable
from typing import Protocol

import httpcore
import httpx

from crm.net.policy import AddressRefused, IPAddress, Policy, vet_address, vet_host, vet_url

#: Redirects :func:`send` follows at most (httpx's default is 20; monitors need few).
MAX_REDIRECTS = 10


class Resolver(Protocol):
    """Turns a host name into addresses (text), in preference order."""

    async def resolve(self, host: str, port: int) -> list[str]:
        """:raises OSError: the name does not resolve."""


class SystemResolver:
    """The operating system's resolver (``getaddrinfo`` in a thread: /etc/hosts, then DNS)."""

    async def resolve(self, host: str, port: int) -> list[str]:
        """Addresses of ``host`` for a TCP connection, duplicates removed, in the order the
        system prefers them.

        :raises OSError: (``socket.gaierror``) unknown name.
        """
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(info[4][0].split("%", 1)[0] for info in infos))


class DnsResolver:
    """Ask given DNS servers (dnspython) for A and AAAA records, bypassing /etc/hosts: for a
    deployment that wants monitors resolved by a chosen resolver, and for tests that need a
    DNS server they control.

    :param nameservers: IP addresses of the servers.
    :param port: their port (53).
    :param lifetime: seconds one lookup may take.
    """

    def __init__(self, nameservers: Iterable[str], port: int = 53, lifetime: float = 5.0):
        import dns.asyncresolver

        self._resolver = dns.asyncresolver.Resolver(configure=False)
        self._resolver.nameservers = list(nameservers)
        self._resolver.port = port
        self._lifetime = lifetime

    async def resolve(self, host: str, port: int) -> list[str]:
        """IPv4 then IPv6 addresses of ``host``.

        :raises OSError: no address (NXDOMAIN, no records, timeout).
        """
        import dns.exception

        out: list[str] = []
        for rtype in ("A", "AAAA"):
            try:
                answer = await self._resolver.resolve(host, rtype, lifetime=self._lifetime)
            except (dns.exception.DNSException, OSError):
                continue
            out += [r.to_text() for r in answer]
        if not out:
            raise socket.gaierror(socket.EAI_NONAME, f"{host}: name does not resolve")
        return out


class Guard:
    """Resolve, vet, connect (see module doc).

    :param policy: what may be reached.
    :param resolver: how names are resolved (:class:`SystemResolver` by default).
    """

    def __init__(self, policy: Policy | None = None, resolver: Resolver | None = None):
        self.policy = policy or Policy()
        self.resolver = resolver or SystemResolver()

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The vetted addresses of ``host`` (an address in any numeric form is not resolved).

        :raises AddressRefused: the host or one of its addresses is refused.
        :raises OSError: the name does not resolve.
        """
        value = vet_host(self.policy, host)
        if not isinstance(value, str):
            return [value]
        found = await self.resolver.resolve(value, port)
        if not found:
            raise socket.gaierror(socket.EAI_NONAME, f"{host}: name does not resolve")
        return [vet_address(self.policy, address, host) for address in found]

    async def open_connection(
        self,
        host: str,
        port: int,
        *,
        ssl: ssl_module.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """:func:`asyncio.open_connection` to a vetted address of ``host`` (tried in order).

        :param ssl: a client TLS context, to handshake at once; the certificate is checked
            against ``server_hostname`` (default: ``host``, normalised).
        :raises AddressRefused: see :meth:`addresses`.
        :raises OSError: no address accepted the connection (the last error).
        """
        addresses = await self.addresses(host, port)
        if ssl is not None and server_hostname is None:
            normal = vet_host(self.policy, host)
            server_hostname = str(normal)
        last: OSError | None = None
        for address in addresses:
            try:
                return await asyncio.open_connection(
                    str(address), port, ssl=ssl, server_hostname=server_hostname if ssl else None
                )
            except OSError as exc:
                last = exc
        raise last or OSError(f"{host}: no address")


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to addresses its :class:`Guard` vetted
    (the pool passes the URL's host; TLS then starts on the stream with that host name)."""

    def __init__(self, guard: Guard, backend: httpcore.AsyncNetworkBackend | None = None):
        self._guard = guard
        self._backend = backend or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options=None,
    ) -> httpcore.AsyncNetworkStream:
        """Connect to the first vetted address of ``host`` that accepts.

        :raises AddressRefused: refused by the policy (not retried, not an httpx error).
        :raises httpcore.ConnectError: the name does not resolve or nothing accepted.
        """
        try:
            addresses = await self._guard.addresses(host, port)
        except AddressRefused:
            raise
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or exc.__class__.__name__) from exc
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._backend.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last or httpcore.ConnectError(f"{host}: no address")

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options=None
    ) -> httpcore.AsyncNetworkStream:
        """Unix sockets are never a user's destination."""
        raise AddressRefused(path, None, "unix socket")

    async def sleep(self, seconds: float) -> None:
        """Delegate to the real backend."""
        await self._backend.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the connection pool built on a :class:`GuardedBackend`."""

    def __init__(self, guard: Guard, verify: ssl_module.SSLContext, limits: httpx.Limits):
        super().__init__(verify=verify, limits=limits, trust_env=False)
        # httpx does not expose httpcore's network_backend; the pool it built is replaced by
        # the same pool with the guarded backend (tests/security/test_ssrf.py proves it is used).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(guard),
        )


def guarded_transport(
    guard: Guard, *, verify: ssl_module.SSLContext, limits: httpx.Limits | None = None
) -> httpx.AsyncBaseTransport:
    """An httpx transport whose every connection goes through ``guard``.

    :param verify: the TLS context for https (verification on or off, extra CAs).
    :param limits: pool limits (httpx's defaults when None).
    """
    return _GuardedTransport(guard, verify, limits or httpx.Limits())


def guarded_client(
    guard: Guard,
    *,
    verify: ssl_module.SSLContext,
    limits: httpx.Limits | None = None,
    headers: dict | None = None,
) -> httpx.AsyncClient:
    """An :class:`httpx.AsyncClient` on :func:`guarded_transport`, never using proxies from the
    environment; use :func:`send` with it to follow redirects safely."""
    return httpx.AsyncClient(
        transport=guarded_transport(guard, verify=verify, limits=limits),
        trust_env=False,
        headers=headers,
    )


class RedirectRefused(AddressRefused):
    """A redirect pointed at a refused destination (the message names neither the Location
    nor the address: both come from the peer)."""

    def __init__(self, refused: AddressRefused):
        OSError.__init__(self, f"redirect refused: address refused ({refused.reason})")
        self.host, self.address, self.reason = refused.host, refused.address, refused.reason


async def send(
    client: httpx.AsyncClient,
    guard: Guard,
    request: httpx.Request,
    *,
    follow_redirects: bool = True,
    max_redirects: int = MAX_REDIRECTS,
) -> httpx.Response:
    """Send ``request`` on a guarded ``client``, following redirects hop by hop: each hop's
    host is vetted before it is requested (and its connection is vetted again by the
    transport). httpx builds each next request (method change on 303, Authorization dropped
    on another origin).

    :returns: the final response, body read.
    :raises AddressRefused: the first host is refused; :class:`RedirectRefused`: a hop is.
    :raises httpx.TooManyRedirects: more than ``max_redirects`` hops.
    :raises httpx.HTTPError: transport errors.
    """
    vet_url(guard.policy, str(request.url))
    for hop in range(max_redirects + 1):
        try:
            response = await client.send(request, follow_redirects=False)
        except AddressRefused as exc:
            if hop:
                raise RedirectRefused(exc) from None
            raise
        if not follow_redirects or response.next_request is None:
            return response
        await response.aclose()
        request = response.next_request
        try:
            vet_url(guard.policy, str(request.url))
        except AddressRefused as exc:
            raise RedirectRefused(exc) from None
    raise httpx.TooManyRedirects(f"more than {max_redirects} redirects", request=request)
