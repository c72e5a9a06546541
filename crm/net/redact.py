"""Keeping secrets and peer content out of what people read.

* :func:`is_secret_name` — does a field/header/parameter name look like it holds a secret
  (``Authorization``, ``X-Api-Key``, ``password``, ``client_secret``, ``access_token`` …)?
* :func:`echo` — a value a peer sent, made fit to show to someone allowed to see response
  content (``monitor.manage``): masked when its name looks secret, else cut to
  :data:`ECHO_LIMIT` characters.
* :func:`mask_headers`, :func:`mask_url`, :func:`mask_body` — the write-only view of request
  secrets a user stored (monitor definitions): each secret value becomes :data:`MASK`.
  Masking is deterministic, so a client that sends a masked value back unchanged can be
  recognised and the stored secret kept (see :mod:`crm.monitoring.schemas`).
"""
from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

#: What a secret shows as in every read.
MASK = "********"
#: Longest echo of a peer's value (characters) for those allowed to see one.
ECHO_LIMIT = 64

_SECRET_NAME = re.compile(
    r"(auth|token|secret|passw|passwd|pwd|api[-_]?key|apikey|access[-_]?key|(?:^|[-_.])key$|private|"
    r"cookie|session|signature|credential|bearer|jwt|otp|pin\b|x-amz-security)", re.IGNORECASE)


_PLACEHOLDER_ONLY = re.compile(r"\s*(?:[A-Za-z]+\s+)?(?:\{\{\s*[A-Za-z_]\w*\s*\}\}\s*)+")


def _secret_value(name, value) -> bool:
    """A value to mask: under a secret-looking name, not empty, and not only a ``{{var}}``
    reference to a value extracted at run time (optionally after an auth scheme)."""
    if not is_secret_name(name) or value in (None, ""):
        return False
    return not (isinstance(value, str) and _PLACEHOLDER_ONLY.fullmatch(value))


def is_secret_name(name: str | None) -> bool:
    """True when ``name`` (a header, JSON member, query parameter, JSON path) looks like it
    names a secret."""
    return bool(name) and bool(_SECRET_NAME.search(str(name)))


def echo(value, name: str | None = None, limit: int = ECHO_LIMIT) -> str:
    """``value`` as short text fit to show: :data:`MASK` when ``name`` looks secret, else its
    ``repr``-like text cut to ``limit`` characters (an ellipsis marks the cut)."""
    if is_secret_name(name):
        return MASK
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = repr(text) if isinstance(value, str) else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mask_headers(headers: dict | None) -> dict:
    """``headers`` with the values of secret-looking names replaced by :data:`MASK`."""
    return {k: (MASK if _secret_value(k, v) else v) for k, v in (headers or {}).items()}


def mask_url(url: str | None) -> str | None:
    """``url`` with a password in its user info and secret-looking query parameters masked
    (``https://u:********@h/p?api_key=********&page=2``); other URLs unchanged."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return url
    netloc = parts.netloc
    if parts.password is not None and "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_secret_value(k, v) for k, v in pairs):
            query = urlencode([(k, MASK if _secret_value(k, v) else v) for k, v in pairs],
                              quote_via=quote, safe="*{}")
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _mask_json(value):
    if isinstance(value, dict):
        return {k: (MASK if isinstance(v, (str, int, float)) and _secret_value(k, v)
                    else _mask_json(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_json(v) for v in value]
    return value


def mask_body(body: str | None) -> str | None:
    """A request body with secret-looking members masked: a JSON document's members
    (recursively; re-serialised compactly when something was masked) or a form-encoded
    body's parameters. Other bodies are returned unchanged."""
    if not body:
        return body
    stripped = body.strip()
    if stripped[:1] in ("{", "["):
        try:
            document = json.loads(stripped)
        except ValueError:
            return body
        masked = _mask_json(document)
        return body if masked == document else json.dumps(masked, ensure_ascii=False)
    if "=" in body and not any(c.isspace() for c in stripped):
        pairs = parse_qsl(stripped, keep_blank_values=True)
        if pairs and any(_secret_value(k, v) for k, v in pairs):
            return urlencode([(k, MASK if _secret_value(k, v) else v) for k, v in pairs],
                             quote_via=quote, safe="*{}")
    return body
