"""Hide live secrets in links when admins read mail in the console.

The outbox and the mailbox show the text of every email the product sends, and some of those
carry a credential in a link: a password-reset or verification token, a one-click unsubscribe
token, a heartbeat URL. Whoever reads Admin → Outbox must not be able to use them, so the
console shows :func:`mask_tokens` of the text; the mail itself is sent unchanged.
"""
from __future__ import annotations

import re

HIDDEN = "[token hidden]"

_TOKEN = r"[A-Za-z0-9._~%+=:\-]+"
#: a path segment after one of these is a token, whatever its length.
_KNOWN_PATHS = ("auth/reset", "auth/verify", "broadcasts/unsubscribe", "api/v1/heartbeat")
#: a long segment after one of these words is treated as a token too (links of other flows).
_TOKEN_WORDS = (
    "reset",
    "verify",
    "confirm",
    "unsubscribe",
    "activate",
    "invite",
    "magic",
    "login",
    "token",
)

_PATTERNS = (
    re.compile(rf"(/(?:{'|'.join(map(re.escape, _KNOWN_PATHS))})/){_TOKEN}"),
    re.compile(rf"(/(?:{'|'.join(_TOKEN_WORDS)})/)[A-Za-z0-9._~%+=:\-]{{16,}}"),
    re.compile(
        r"([?&](?:token|code|key|signature|sig|otp|secret|auth)=)[^&\s#\"'<>]+", re.IGNORECASE
    ),
)


def mask_tokens(text: str | None) -> str:
    """``text`` with the secret part of token-bearing links replaced by ``[token hidden]``.

    ``…/auth/reset/Ab3…`` → ``…/auth/reset/[token hidden]``; ``?token=…`` → ``?token=[token
    hidden]``. Idempotent; None gives ``""``.
    """
    if not text:
        return ""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + HIDDEN, text)
    return text
