"""API: password reset by emailed link or by SMS code (``/api/v1/auth/password-reset…``).

The rules live in :mod:`crm.auth.reset`. Asking for a reset answers ``202 Accepted`` with no
body whatever the address or number, so the API cannot tell whether an account exists
(OWASP Forgot Password Cheat Sheet).
"""
from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from crm.api.openapi import ApiProblem, api_operation, request_body
from crm.api.schemas import Body, Email, PasswordText, _text
from crm.auth import otp, reset
from crm.auth.policy import public
from crm.errors import ServiceError, problem

TokenText = _text(min_length=1, max_length=200)
#: digits with an optional leading + and the usual separators; whether the number exists in
#: a numbering plan is libphonenumber's call (crm.auth.phone), which no pattern can state.
PhoneText = _text(
    min_length=1, max_length=32, json_schema_extra={"pattern": r"^\+?[0-9][0-9 ().\-]{3,31}$"}
)
CodeText = Annotated[str, Field(pattern=r"^[0-9]{4,8}$", description="The digits of the SMS code.")]


class PasswordResetIn(Body):
    """Ask for a reset link by email."""

    email: Email = Field(description="The account's email address.")


class PasswordResetConfirmIn(Body):
    """Use the token from the emailed link (the last part of ``/auth/reset/<token>``)."""

    token: TokenText = Field(description="The token from the reset link.")
    password: PasswordText = Field(
        description="The new password: 8–128 characters, not a common, "
        "breached or easily guessed one."
    )


#: "exactly one of email and phone", as JSON Schema (so generated clients and schemathesis know).
_ONE_IDENTIFIER = {
    "anyOf": [
        {"required": ["email"], "properties": {"email": {"type": "string"}}},
        {"required": ["phone"], "properties": {"phone": {"type": "string"}}},
    ],
    "not": {
        "required": ["email", "phone"],
        "properties": {"email": {"type": "string"}, "phone": {"type": "string"}},
    },
}


class _Identifier(Body):
    """Exactly one of ``email`` and ``phone``."""

    model_config = ConfigDict(json_schema_extra=_ONE_IDENTIFIER)

    email: Email | None = Field(None, description="The account's email address.")
    phone: PhoneText | None = Field(
        None,
        description="The account's verified mobile number "
        "(E.164 such as +447400123456, or national).",
    )

    @model_validator(mode="after")
    def _one_identifier(self):
        if (self.email is None) == (self.phone is None):
            raise ValueError("give exactly one of email and phone")
        return self

    @property
    def identifier(self) -> str:
        """The email or the phone number given."""
        return str(self.email) if self.email is not None else self.phone


class SmsResetIn(_Identifier):
    """Ask for a reset code by SMS (to the account's verified mobile number)."""


class SmsResetConfirmIn(_Identifier):
    """The SMS code and the new password, with the same email or phone as the request."""

    code: CodeText
    password: PasswordText = Field(
        description="The new password: 8–128 characters, not a common, "
        "breached or easily guessed one."
    )


def _accepted():
    return "", 202


def _service_problem(exc: ServiceError, data: _Identifier | None = None):
    if isinstance(exc, reset.SmsCodeError):
        extra = {"errors": {"code": [exc.message]}, "attempts_left": exc.check.attempts_left}
        return problem(
            exc.status,
            "Code not accepted" if exc.status == 422 else "Code no longer valid",
            exc.message,
            **extra,
        )
    if isinstance(exc, reset.ResetLinkError):
        title = "Token not valid" if exc.status == 422 else "Token no longer valid"
        return problem(exc.status, title, exc.message, errors={"token": [exc.message]})
    field = exc.field
    if field == "identifier" and data is not None:  # name the member the client sent
        field = "email" if data.email is not None else "phone"
    raise ApiProblem(exc.status, exc.message, {field: [exc.message]} if field else None)


@api_operation(
    "POST",
    "/auth/password-reset",
    body=PasswordResetIn,
    status=202,
    tag="Auth",
    summary="Ask for a password-reset link by email",
)
@public
def request_password_reset():
    """Email a reset link (valid ``RESET_TOKEN_TTL_SECONDS``, default 10 minutes, single use)
    to the account with this address. Always ``202`` with no body, whether or not the account
    exists."""
    data: PasswordResetIn = request_body()
    reset.request_email_reset(str(data.email))
    return _accepted()


@api_operation(
    "POST",
    "/auth/password-reset/confirm",
    body=PasswordResetConfirmIn,
    status=204,
    errors=(
        (410, "The token expired or was already used."),
        (422, "Invalid token (``errors.token``) or password (``errors.password``)."),
    ),
    tag="Auth",
    summary="Set a new password with an emailed token",
)
@public
def confirm_password_reset():
    """Set a new password with the token of an emailed link. On success (``204``) every
    session and refresh token of the account ends, other reset links die and a "password
    changed" email is sent; log in again with ``POST /api/v1/auth/token``."""
    data: PasswordResetConfirmIn = request_body()
    try:
        reset.reset_with_token(data.token, data.password)
    except ServiceError as exc:
        return _service_problem(exc)
    return "", 204


@api_operation(
    "POST",
    "/auth/password-reset/sms",
    body=SmsResetIn,
    status=202,
    tag="Auth",
    summary="Ask for a password-reset code by SMS",
)
@public
def request_sms_password_reset():
    """Text a code (``OTP_DIGITS`` digits, valid ``OTP_TTL_SECONDS``, ``OTP_MAX_ATTEMPTS``
    tries) to the verified mobile number of the account named by ``email`` or ``phone``.
    Always ``202`` with no body, whether or not the account exists or has a verified number;
    during the resend cool-down (``OTP_RESEND_COOLDOWN_SECONDS``) no new code is sent."""
    data: SmsResetIn = request_body()
    try:
        reset.request_sms_reset(data.identifier)
    except otp.OtpCooldown:
        pass  # the earlier code is still valid; answering alike keeps accounts unguessable
    except ServiceError as exc:
        return _service_problem(exc, data)
    return _accepted()


@api_operation(
    "POST",
    "/auth/password-reset/sms/confirm",
    body=SmsResetConfirmIn,
    status=204,
    errors=(
        (
            410,
            "The code is no longer valid: expired, used, out of attempts, or none "
            "was asked for. ``attempts_left`` is 0; ask for a new code.",
        ),
        (
            422,
            "Wrong code (``attempts_left`` says how many tries remain), or invalid "
            "fields (``errors``).",
        ),
    ),
    tag="Auth",
    summary="Set a new password with an SMS code",
)
@public
def confirm_sms_password_reset():
    """Check the SMS code sent for the same ``email`` or ``phone`` and set the new password.
    A wrong code is a ``422`` problem with ``attempts_left``; the last wrong try, an expired
    or used code is a ``410`` (ask for a new code). On success (``204``) the same happens as
    after an emailed reset."""
    data: SmsResetConfirmIn = request_body()
    try:
        reset.reset_with_sms_code(data.identifier, data.code, data.password)
    except ServiceError as exc:
        return _service_problem(exc, data)
    return "", 204
