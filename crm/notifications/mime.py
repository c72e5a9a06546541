"""How an outgoing email is encoded (RFC 5322 / MIME), for the send job.

Flask-Mail builds its messages with the legacy ``email.mime`` classes and registers UTF-8 with
*no* body encoding, so text goes out as raw 8-bit lines of any length: a 200-character subject
repeated in an HTML line, or a long description, makes a line over RFC 5322's 998-character
limit and real servers answer ``500 Line too long``. :class:`MailMessage` keeps Flask-Mail's
interface (``mail.send`` and the ``email_dispatched`` signal work unchanged) but builds the
message with :class:`email.message.EmailMessage` under :data:`email.policy.SMTP`:

* text and HTML parts in quoted-printable (lines of at most 76 characters, any text);
* headers folded at 78 characters, non-ASCII as RFC 2047 encoded words (a word too long to
  fold is split into encoded words);
* attachments in base64; CRLF line ends.
"""
from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.utils import formatdate

from flask_mail import Message, sanitize_address, sanitize_addresses

#: RFC 5322 §2.1.1: a line must not exceed 998 characters (excluding CRLF).
MAX_LINE = 998


class MailMessage(Message):
    """A Flask-Mail :class:`~flask_mail.Message` encoded so that no line can be too long and
    any Unicode text arrives intact (see the module docstring)."""

    def _message(self) -> EmailMessage:
        """The MIME message: ``multipart/alternative`` (text + HTML) or a single text part,
        wrapped in ``multipart/mixed`` when there are attachments."""
        msg = EmailMessage(policy=policy.SMTP)
        if self.subject:
            msg["Subject"] = self.subject
        msg["From"] = sanitize_address(self.sender)
        # Flask-Mail's sanitize_address: display names RFC 2047, international domains IDNA
        msg["To"] = ", ".join(dict.fromkeys(sanitize_addresses(self.recipients)))
        if self.cc:
            msg["Cc"] = ", ".join(dict.fromkeys(sanitize_addresses(self.cc)))
        if self.reply_to:
            msg["Reply-To"] = sanitize_address(self.reply_to)
        msg["Date"] = formatdate(self.date, localtime=True)
        msg["Message-ID"] = self.msgId
        for name, value in (self.extra_headers or {}).items():
            msg[name] = value
        msg.set_content(self.body or "", cte="quoted-printable")
        if self.html is not None:
            msg.add_alternative(self.html, subtype="html", cte="quoted-printable")
        for attachment in self.attachments or []:
            maintype, _, subtype = attachment.content_type.partition("/")
            msg.add_attachment(attachment.data, maintype=maintype, subtype=subtype or "octet-stream",
                               filename=attachment.filename, disposition=attachment.disposition)
        return msg
