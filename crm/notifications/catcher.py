"""The development SMTP catcher: every message it receives becomes a :class:`CaughtMail` row.

``make run`` starts it when ``MAIL_SERVER`` is unset in development and points the web
server and the worker at it (``MAIL_SERVER=127.0.0.1``, ``MAIL_PORT=<port>``), so every flow
that sends mail works on a machine with no mail account; admins read the result at
``/admin/mailbox``. It accepts any sender and recipient, needs no auth and listens on
127.0.0.1 only.
"""
from __future__ import annotations

import os
import socket
from collections.abc import Callable
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller
from flask import Flask

from crm.config import ConfigError, env_int
from crm.extensions import db
from crm.notifications.models import CaughtMail

DEFAULT_PORT = 1025


def store_message(mail_from: str, rcpt_tos: list[str], content: bytes) -> CaughtMail:
    """Save one received message (inside an app context) and return the committed row.

    :param content: the raw RFC 5322 message as received (bytes; stored decoded as UTF-8,
        undecodable bytes replaced).
    """
    msg = message_from_bytes(content, policy=policy.default)
    subject = str(msg.get("Subject", "") or "").replace("\r", " ").replace("\n", " ")
    message_id = msg.get("Message-ID")
    row = CaughtMail(
        mail_from=(mail_from or "")[:254],
        rcpt_to=list(rcpt_tos),
        subject=subject[:255],
        message_id=str(message_id)[:255] if message_id else None,
        raw=content.decode("utf-8", errors="replace"),
    )
    db.session.add(row)
    db.session.commit()
    return row


def read_message(row: CaughtMail) -> tuple[str, dict[str, str], str, str | None]:
    """A caught message decoded for reading: (subject, ``{"from", "to"}`` headers, text,
    HTML part or None).

    Parsed from the stored bytes with :data:`email.policy.default`, so RFC 2047 headers and
    quoted-printable, base64 or raw 8-bit UTF-8 bodies all come out as the sender wrote them
    (parsing the stored *text* instead turned an 8-bit ``Zoë 🚀`` into ``Zo�`` and
    ``\\U0001f680``). The text is the plain part, else the HTML part, else the raw message.
    """
    msg = message_from_bytes(row.raw.encode("utf-8", errors="replace"), policy=policy.default)
    headers = {name: _header(msg, name.capitalize()) for name in ("from", "to")}
    subject = _header(msg, "Subject") or row.subject
    text = _content(msg.get_body(preferencelist=("plain", "html")))
    html = _content(msg.get_body(preferencelist=("html",)))
    return subject, headers, (text if text is not None else row.raw).replace("\r\n", "\n"), html


def _content(part) -> str | None:
    if part is None:
        return None
    try:
        return part.get_content()
    except (LookupError, ValueError):  # an unknown charset or a broken encoding
        return None


def _header(msg, name: str) -> str:
    try:
        return str(msg.get(name, "") or "").replace("\r", " ").replace("\n", " ")
    except (ValueError, IndexError, TypeError):  # a header the parser cannot make sense of
        return ""


class CatcherHandler:
    """aiosmtpd handler: store each message with :func:`store_message` in ``app``'s context.

    :param on_message: optional callback ``(row_id, rcpt_tos, subject)`` after each save
        (``make run`` prints a line).
    """

    def __init__(self, app: Flask, on_message: Callable[[int, list[str], str], None] | None = None):
        self.app = app
        self.on_message = on_message

    async def handle_DATA(self, server, session, envelope) -> str:
        """Store the message; answer 451 (the sender retries) if the database refuses it."""
        with self.app.app_context():
            try:
                row = store_message(envelope.mail_from, envelope.rcpt_tos, envelope.content)
                row_id, subject = row.id, row.subject
            except Exception as exc:  # a DB error must not kill the SMTP server
                db.session.rollback()
                return f"451 Requested action aborted: {type(exc).__name__}"
            finally:
                db.session.remove()
        if self.on_message:
            self.on_message(row_id, list(envelope.rcpt_tos), subject)
        return "250 Message accepted for delivery"


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def choose_port(host: str = "127.0.0.1") -> int:
    """The catcher's port: ``CRM_MAIL_CATCHER_PORT`` if set (strict; 0 means any free port),
    else 1025 if free, else any free port.

    :raises ConfigError: ``CRM_MAIL_CATCHER_PORT`` is malformed or already in use.
    """
    if os.environ.get("CRM_MAIL_CATCHER_PORT", "").strip():
        port = env_int("CRM_MAIL_CATCHER_PORT", DEFAULT_PORT, minimum=0)
        if port == 0:
            return _any_free_port(host)
        if port > 65535 or not _port_is_free(host, port):
            raise ConfigError(f"CRM_MAIL_CATCHER_PORT {port} is not a free port on {host}")
        return port
    if _port_is_free(host, DEFAULT_PORT):
        return DEFAULT_PORT
    return _any_free_port(host)


def _any_free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def start_catcher(
    app: Flask,
    port: int | None = None,
    host: str = "127.0.0.1",
    on_message: Callable[[int, list[str], str], None] | None = None,
) -> Controller:
    """Start the catcher on a background thread and return its running controller.

    :param port: the TCP port (default: :func:`choose_port`); read it back from
        ``controller.port``. Call ``controller.stop()`` to shut it down.
    :raises ConfigError: the configured port is malformed or busy.
    """
    controller = Controller(
        CatcherHandler(app, on_message),
        hostname=host,
        port=port if port is not None else choose_port(host),
    )
    controller.start()
    return controller
