"""How an outgoing email is encoded (RFC 5322 / MIME), for the send job.

Flask-Mail builds its messages with the legacy ``email.mime`` classes and registers UTF-8 with
*no* body encoding, so text goes out as raw 8-bit lines of any length: a 200-character subject
repeated in an HTML line, or a long description, makes a line over RFC 5322's 998-character
limit and real servers answer ``500 Line too long``. :class:`MailMessage` keeps Flask-Mail's
interface (``mail.send`` and the ``email_dispatched`` signal work unchanged) but encodes so that
no line can be too long:

* text and HTML parts in quoted-printable (RFC 2045 §6.7: lines of at most 76 characters, any
  text), encoded by :func:`binascii.b2a_qp` (C);
* headers folded at 78 characters at whitespace; a value with non-ASCII text or a word too long
  to fold becomes RFC 2047 encoded words, split to fit (:class:`email.header.Header`);
* attachments in base64; CRLF line ends.

It uses the ``compat32`` header model (plain strings and :class:`~email.header.Header`) rather
than :data:`email.policy.SMTP`'s header registry, which parses every header it is given and
cost about two thirds of a mail's build time (``bench/mail.py``: 3.5 ms → 1.2 ms a mail).
"""
from __future__ import annotations

import binascii
import secrets
from email import encoders
from email.charset import QP, Charset
from email.header import Header
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import Compat32
from email.utils import formatdate

from flask_mail import Message, sanitize_address, sanitize_addresses

#: RFC 5322 §2.1.1: a line must not exceed 998 characters (excluding CRLF).
MAX_LINE = 998

#: RFC 5322 §2.1.1's recommended line length, where headers are folded.
FOLD_AT = 78

#: a header word longer than this cannot be folded within :data:`FOLD_AT` after its name, so
#: the value is written as encoded words instead
LONGEST_PLAIN_WORD = 60



class SMTPCompat(Compat32):
    """The ``compat32`` policy with a fast path: a plain ASCII header that fits on one line is
    written as it is (compat32 runs every header through :class:`~email.header.Header`, which
    then returns the same line)."""

    def _fold(self, name, value, sanitize):
        if (isinstance(value, str) and value.isascii() and "\n" not in value and "\r" not in value
                and len(name) + 2 + len(value) <= self.max_line_length):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


#: compat32 headers, CRLF line ends (RFC 5321 §2.3.8), folding at :data:`FOLD_AT`
SMTP_COMPAT = SMTPCompat(linesep="\r\n", max_line_length=FOLD_AT)

_UTF8_QP = Charset("utf-8")
_UTF8_QP.header_encoding = QP


def header_value(name: str, value: str) -> str | Header:
    """``value`` as it can be stored under header ``name``: unchanged when it is ASCII with
    every word short enough to fold, else an RFC 2047 :class:`~email.header.Header` (UTF-8,
    Q encoding) that the generator splits into encoded words of at most 78 characters.
    Line breaks in ``value`` are kept out of the plain form (they would start a new header)."""
    plain = (value.isascii() and "\n" not in value and "\r" not in value
             and max(map(len, value.split()), default=0) <= LONGEST_PLAIN_WORD)
    return value if plain else Header(value, _UTF8_QP, header_name=name)


def boundary() -> str:
    """A fresh multipart boundary that cannot occur in the parts: ``=_`` cannot appear in
    quoted-printable (``=`` starts an escape or a soft break) nor in base64, so the generator
    need not search the text for it (RFC 2046 §5.1.1)."""
    return "=_crm_" + secrets.token_hex(12)


def text_part(text: str, subtype: str) -> MIMENonMultipart:
    """A ``text/<subtype>; charset=utf-8`` part in quoted-printable."""
    part = MIMENonMultipart("text", subtype, policy=SMTP_COMPAT, charset="utf-8")
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii"))
    return part


class MailMessage(Message):
    """A Flask-Mail :class:`~flask_mail.Message` encoded so that no line can be too long and
    any Unicode text arrives intact (see the module docstring)."""

    def _message(self) -> MIMEBase:
        """The MIME message: ``multipart/alternative`` (text + HTML) or a single text part,
        wrapped in ``multipart/mixed`` when there are attachments."""
        body = text_part(self.body or "", "plain")
        if self.html is not None:
            alternative = MIMEMultipart("alternative", boundary(), policy=SMTP_COMPAT)
            alternative.attach(body)
            alternative.attach(text_part(self.html, "html"))
            body = alternative
        msg = body
        if self.attachments:
            msg = MIMEMultipart("mixed", boundary(), policy=SMTP_COMPAT)
            msg.attach(body)
            for attachment in self.attachments:
                maintype, _, subtype = attachment.content_type.partition("/")
                part = MIMEBase(maintype, subtype or "octet-stream", policy=SMTP_COMPAT)
                part.set_payload(attachment.data)
                encoders.encode_base64(part)
                part.add_header("Content-Disposition", attachment.disposition or "attachment",
                                filename=attachment.filename)
                msg.attach(part)
        if self.subject:
            msg["Subject"] = header_value("Subject", self.subject)
        # Flask-Mail's sanitize_address: display names RFC 2047, international domains IDNA
        msg["From"] = header_value("From", sanitize_address(self.sender))
        to = ", ".join(dict.fromkeys(sanitize_addresses(self.recipients)))
        msg["To"] = header_value("To", to)
        if self.cc:
            msg["Cc"] = header_value("Cc", ", ".join(dict.fromkeys(sanitize_addresses(self.cc))))
        if self.reply_to:
            msg["Reply-To"] = header_value("Reply-To", sanitize_address(self.reply_to))
        msg["Date"] = formatdate(self.date, localtime=True)
        msg["Message-ID"] = self.msgId
        for name, value in (self.extra_headers or {}).items():
            msg[name] = header_value(name, value)
        return msg
