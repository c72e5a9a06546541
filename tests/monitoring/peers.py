"""Real peer servers on 127.0.0.1 for the monitoring tests (HTTP(S), TLS, TCP, SMTP, FTP,
DNS). Each starts in a thread on a free port and stops cleanly; fixtures live in
``tests/monitoring/conftest.py``.
"""
from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    """What the HTTP peer answers on a path: status, body, headers, delay (seconds)."""

    status: int = 200
    body: str | bytes | dict | list = "ok"
    headers: dict = field(default_factory=dict)
    delay: float = 0.0


class _HTTPHandler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body_in = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        self.server.requests.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers),
                "body": body_in.decode("utf-8", "replace"),
            }
        )
        route = self.server.routes.get(path) or Route(404, "not found")
        if callable(route):
            route = route(self.command, self.path, dict(self.headers), body_in)
        if route.delay:
            time.sleep(route.delay)
        body = route.body
        headers = dict(route.headers)
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        data = body.encode() if isinstance(body, str) else body
        try:
            self.send_response(route.status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128  # the default backlog (5) drops SYNs under a concurrent batch

    def __init__(self, tls: ssl.SSLContext | None = None):
        super().__init__(("127.0.0.1", 0), _HTTPHandler)
        self.routes: dict = {}
        self.requests: list = []
        self.tls = tls

    def get_request(self):
        sock, addr = super().get_request()
        if self.tls is not None:
            sock.settimeout(5)
            sock = self.tls.wrap_socket(sock, server_side=True)
        return sock, addr

    def handle_error(self, request, client_address):  # failed handshakes are expected in tests
        pass


class HTTPPeer:
    """A threaded HTTP (or, with ``tls``, HTTPS) server answering :class:`Route` s by path.

    ``routes[path] = Route(...)`` or a callable ``(method, path, headers, body) -> Route``;
    ``requests`` lists what it received.
    """

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.server = _HTTPServer(tls)
        self.port = self.server.server_address[1]
        self.scheme = "https" if tls else "http"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def routes(self) -> dict:
        return self.server.routes

    @property
    def requests(self) -> list:
        return self.server.requests

    def url(self, path: str = "/") -> str:
        """The absolute URL of ``path`` on this peer."""
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def start(self) -> HTTPPeer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        self.routes.clear()
        self.requests.clear()


class TCPPeer:
    """A TCP listener that accepts and immediately closes connections."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = False
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            conn.close()

    def start(self) -> TCPPeer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop = True
        self.thread.join(2)
        self.sock.close()


class SilentPeer:
    """A TCP listener that accepts connections and never says anything (a hanging server)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: list = []
        self._stop = False
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
                self.conns.append(conn)
            except (TimeoutError, OSError):
                continue

    def start(self) -> SilentPeer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop = True
        self.thread.join(2)
        for conn in self.conns:
            conn.close()
        self.sock.close()


class SMTPPeer:
    """An aiosmtpd server offering STARTTLS with ``tls_context`` (a second controller, apart
    from the project's ``smtp_server`` sink)."""

    def __init__(self, tls_context: ssl.SSLContext | None = None):
        from aiosmtpd.controller import Controller

        class _Sink:
            async def handle_DATA(self, server, session, envelope):
                return "250 OK"

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        kwargs = {"tls_context": tls_context} if tls_context else {}
        self.controller = Controller(_Sink(), hostname="127.0.0.1", port=self.port, **kwargs)

    def start(self) -> SMTPPeer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


class FTPPeer:
    """A pyftpdlib FTP server with one user (``user`` / ``secret``) serving ``root``."""

    USER, PASSWORD = "user", "secret"

    def __init__(self, root: str):
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import FTPHandler
        from pyftpdlib.servers import ThreadedFTPServer

        authorizer = DummyAuthorizer()
        authorizer.add_user(self.USER, self.PASSWORD, root, perm="elr")
        handler = type(
            "Handler",
            (FTPHandler,),
            {"authorizer": authorizer, "banner": "CR test FTP ready", "auth_failed_timeout": 0.05},
        )
        self.server = ThreadedFTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"timeout": 0.1, "handle_exit": False},
            daemon=True,
        )

    def start(self) -> FTPPeer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.close_all()
        self.thread.join(2)


class DNSPeer:
    """A dnslib UDP DNS server on a free port answering ``records`` ({name: [addresses]},
    A records, names without the trailing dot); other names get NXDOMAIN."""

    def __init__(self, records: dict[str, list[str]] | None = None):
        from dnslib import QTYPE, RCODE, RR, A
        from dnslib.server import BaseResolver, DNSLogger, DNSServer

        self.records = dict(records or {})
        peer = self

        class _Resolver(BaseResolver):
            def resolve(self, request, handler):
                reply = request.reply()
                name = str(request.q.qname).rstrip(".")
                if name not in peer.records:
                    reply.header.rcode = RCODE.NXDOMAIN
                    return reply
                if request.q.qtype == QTYPE.A:
                    for address in peer.records[name]:
                        reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=60))
                return reply

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = DNSServer(
            _Resolver(),
            port=self.port,
            address="127.0.0.1",
            logger=DNSLogger(
                log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False
            ),
        )

    def start(self) -> DNSPeer:
        self.server.start_thread()
        return self

    def stop(self) -> None:
        self.server.stop()
