"""SMS transports: one interface, a Twilio adapter and the built-in outbox transport.

Every SMS is first an outbox row (:class:`~crm.notifications.models.Notification` with
``channel = "sms"``, written by :func:`crm.notifications.services.queue_sms`); the send job
hands it to the transport chosen by ``SMS_TRANSPORT``:

* ``outbox`` (default) — :class:`OutboxSmsTransport` stores the text as a
  :class:`~crm.notifications.models.SmsMessage` that admins read at ``/notifications/sms``;
  development and the tests read one-time codes there.
* ``twilio`` — :class:`TwilioSmsTransport` sends through Twilio's REST API with the official
  ``twilio`` library (``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN``, ``TWILIO_FROM_NUMBER``).

Phone numbers are E.164 strings (``+447400123456``), parsed with :func:`normalise_phone`.
"""
from __future__ import annotations

from typing import Protocol

import phonenumbers
from flask import current_app

from crm.errors import ServiceError


class SmsTransport(Protocol):
    """What the send job needs of an SMS transport."""

    def send(self, to: str, body: str, *, notification_id: int | None = None) -> str:
        """Send ``body`` to the E.164 number ``to``.

        :returns: the provider's message id (a string).
        :raises Exception: any failure; the outbox records it and retries with backoff.
        """


class OutboxSmsTransport:
    """Stores each SMS in the database (table ``sms_messages``) instead of sending it.

    Idempotent per notification: a retry of the same notification does not store a second
    copy (unique ``notification_id``)."""

    def send(self, to: str, body: str, *, notification_id: int | None = None) -> str:
        """Store the message; return ``"outbox-<id>"``."""
        from crm.extensions import db
        from crm.notifications.models import SmsMessage
        if notification_id is not None:
            existing = db.session.scalar(
                db.select(SmsMessage).where(SmsMessage.notification_id == notification_id)
            )
            if existing is not None:
                return f"outbox-{existing.id}"
        msg = SmsMessage(to=to, body=body, notification_id=notification_id)
        db.session.add(msg)
        db.session.commit()
        return f"outbox-{msg.id}"


class TwilioSmsTransport:
    """Sends through Twilio's Messages API (official ``twilio`` library).

    :param http_client: a ``twilio.http.HttpClient`` for the library to send with (default:
        its own ``TwilioHttpClient``); the tests pass one that talks to a local stand-in.
    :raises ServiceError: at construction, when a TWILIO_* setting is missing.
    """

    def __init__(
        self,
        account_sid: str | None,
        auth_token: str | None,
        from_number: str | None,
        *,
        http_client=None,
    ):
        if not (account_sid and auth_token and from_number):
            raise ServiceError(
                "SMS_TRANSPORT=twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN "
                "and TWILIO_FROM_NUMBER"
            )
        from twilio.rest import Client

        self.client = Client(account_sid, auth_token, http_client=http_client)
        self.from_number = from_number

    def send(self, to: str, body: str, *, notification_id: int | None = None) -> str:
        """Create the message at Twilio; return its SID."""
        message = self.client.messages.create(to=to, from_=self.from_number, body=body)
        return message.sid


def get_transport() -> SmsTransport:
    """The transport named by ``SMS_TRANSPORT`` (``outbox`` or ``twilio``)."""
    cfg = current_app.config
    if cfg.get("SMS_TRANSPORT", "outbox") == "twilio":
        return TwilioSmsTransport(
            cfg.get("TWILIO_ACCOUNT_SID"),
            cfg.get("TWILIO_AUTH_TOKEN"),
            cfg.get("TWILIO_FROM_NUMBER"),
        )
    return OutboxSmsTransport()


def normalise_phone(raw: str, region: str | None = None) -> str:
    """Parse a phone number as typed and return it in E.164 (``phonenumbers`` library).

    :param raw: e.g. ``"07400 123456"`` or ``"+44 7400 123456"``.
    :param region: ISO 3166 region for numbers without ``+`` (default ``PHONE_DEFAULT_REGION``).
    :raises ServiceError: (field ``phone``) when the text is not a valid number.
    """
    region = region or current_app.config.get("PHONE_DEFAULT_REGION", "GB")
    message = f"Enter a valid phone number, e.g. {example_phone(region)}."
    try:
        number = phonenumbers.parse((raw or "").strip(), region)
    except phonenumbers.NumberParseException:
        raise ServiceError(message, field="phone", status=422) from None
    if not phonenumbers.is_valid_number(number):
        raise ServiceError(message, field="phone", status=422)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def example_phone(region: str | None = None, national: bool = False) -> str:
    """A mobile number of ``region`` that :func:`normalise_phone` accepts, for help texts and
    error messages: libphonenumber's own example (``+44 7400 123456`` for GB), so an example
    we show can never be one we refuse (Ofcom's drama range 07700 900xxx is *not* valid).

    :param region: ISO 3166 region (default ``PHONE_DEFAULT_REGION``).
    :param national: the national form (``07400 123456``) instead of the international one.
    :returns: the formatted number, or ``""`` for a region libphonenumber has no example for.
    """
    region = region or current_app.config.get("PHONE_DEFAULT_REGION", "GB")
    number = phonenumbers.example_number_for_type(
        region, phonenumbers.PhoneNumberType.MOBILE
    ) or phonenumbers.example_number(region)
    if number is None:
        return ""
    fmt = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if national
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, fmt)
