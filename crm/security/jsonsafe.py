"""Strict JSON parsing for every JSON request body: bounded nesting, no duplicate keys.

Python's ``json`` recurses once per nesting level, so a body of a few kilobytes nested
3,000 deep raises ``RecursionError`` (a 500) before any schema sees it; and a document with
the same key twice (``{"role": "customer", "role": "admin"}``) means whatever the last
parser in a chain decides, which lets two components disagree about one request (OWASP
"JSON interoperability"; RFC 8259 §4 says names SHOULD be unique). Both are refused here
with :class:`UnsafeJSON` (a ``ValueError``), once for the whole app:

* :class:`StrictJSONProvider` is the app's JSON provider (``app.json``), so
  ``request.get_json()`` anywhere answers 400 for them (werkzeug's ``BadRequest``, rendered as
  problem+json under ``/api/``);
* :func:`loads` is what the API's body parsers call, to say why in the problem's ``detail``.

The depth is measured on the raw text before parsing (strings skipped), so a deep document
costs one linear scan, never a deep recursion.
"""
from __future__ import annotations

import json
import re
from typing import Any

from flask.json.provider import DefaultJSONProvider

#: deepest nesting of arrays/objects accepted (the top-level object or array is depth 1).
MAX_DEPTH = 32

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


class UnsafeJSON(ValueError):
    """A JSON document refused before or while parsing: too deeply nested, or a duplicate key.
    ``str(exc)`` is a sentence for the client."""


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON ``text`` (brackets inside strings do
    not count). Malformed text gives some number; the parser reports the syntax error."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth -= 1
    return deepest


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise UnsafeJSON(f"The JSON object has the key {key!r} more than once.")
        seen[key] = value
    return seen


def loads(data: str | bytes | bytearray, **kwargs: Any) -> Any:
    """Parse a JSON document strictly.

    :param data: the document (bytes are decoded as UTF-8/16/32, as ``json.loads`` does).
    :raises UnsafeJSON: nested deeper than :data:`MAX_DEPTH`, or an object with a duplicate key.
    :raises ValueError: malformed JSON (``json.JSONDecodeError``) or undecodable bytes.
    """
    if isinstance(data, (bytes, bytearray)):
        data = data.decode(json.detect_encoding(data), "strict")
    if nesting_depth(data) > MAX_DEPTH:
        raise UnsafeJSON(f"The JSON document is nested more than {MAX_DEPTH} levels deep.")
    kwargs.setdefault("object_pairs_hook", _unique_keys)
    return json.loads(data, **kwargs)


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's default JSON provider, parsing with :func:`loads` (depth bound, unique keys)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse ``s`` strictly. :raises ValueError: see :func:`loads`."""
        return loads(s, **kwargs)
