"""What the error tracker never stores: passwords, tokens, cookies, Authorization headers.

Applied to every event before it is written, ours or a client's (an SDK may send request
headers, cookies, form data and frame locals).
"""
from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

FILTERED = "[Filtered]"
#: a key whose name matches is replaced by :data:`FILTERED`, whatever its value
SENSITIVE_KEY = re.compile(
    r"pass(word|wd)?|secret|token|api[-_]?key|auth|cookie|session|csrf|xsrf|credential"
    r"|private[-_]?key|sentry[-_]?key|otp|totp|card|cvv|iban|dsn", re.IGNORECASE)
#: deeper than this, values are cut (a client's recursive structure costs us nothing)
MAX_DEPTH = 12
#: longest text kept in any one value (characters)
MAX_TEXT = 10_000


def is_sensitive(name: Any) -> bool:
    """True when a key or header called ``name`` holds a secret (``Authorization``,
    ``Cookie``, ``password``, ``X-Api-Key``, ``csrf_token`` …)."""
    return isinstance(name, str) and bool(SENSITIVE_KEY.search(name))


def scrub(value: Any, depth: int = 0) -> Any:
    """``value`` with every sensitive member filtered (dicts, lists, ``[name, value]`` pairs
    as Sentry sends headers), long texts cut, and anything past :data:`MAX_DEPTH` dropped.

    :returns: a new JSON-safe structure; the input is not changed.
    """
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, dict):
        return {str(k)[:200]: FILTERED if is_sensitive(k) else scrub(v, depth + 1)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if len(value) == 2 and is_sensitive(value[0]):
            return [value[0], FILTERED]
        return [scrub(v, depth + 1) for v in value[:500]]
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN/Infinity are not JSON
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)[:MAX_TEXT]


def clean_text(value: str, limit: int = MAX_TEXT) -> str:
    """``value`` without NUL characters (PostgreSQL text cannot hold them), cut to ``limit``."""
    return value.replace("\x00", "")[:limit]


def scrub_query(query: str) -> str:
    """A query string with the values of sensitive parameters filtered."""
    pairs = parse_qsl(query or "", keep_blank_values=True)
    return urlencode([(k, FILTERED if is_sensitive(k) else v) for k, v in pairs])


def scrub_url(url: str) -> str:
    """``url`` without user:password and with sensitive query parameters filtered."""
    try:
        parts = urlsplit(url or "")
    except ValueError:
        return ""
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, scrub_query(parts.query), ""))[:2000]
