"""Reading what a Sentry SDK sends: the ``X-Sentry-Auth`` key, compressed bodies, envelopes.

An envelope (https://develop.sentry.dev/sdk/envelopes/) is newline-separated: a JSON header,
then items, each a JSON item header (``type``, optional ``length`` in bytes) followed by its
payload (``length`` bytes, else up to the next newline).
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass

import brotli

#: items of an envelope the tracker reads at most (the rest is ignored)
MAX_ITEMS = 100


class BadPayload(ValueError):
    """A body that cannot be read (the ingest answers 400 with this message)."""


class TooLarge(ValueError):
    """A body larger than allowed once decompressed (the ingest answers 413)."""


def auth_key(header: str | None, query_key: str | None) -> str | None:
    """The ``sentry_key`` of an ``X-Sentry-Auth`` header (``Sentry sentry_key=…,
    sentry_version=7, …``), else of the ``sentry_key`` query parameter; None when neither."""
    if header:
        text = header.strip()
        if text.lower().startswith("sentry "):
            text = text[7:]
        for part in text.split(","):
            name, _, value = part.strip().partition("=")
            if name.strip() == "sentry_key" and value.strip():
                return value.strip()
    return (query_key or "").strip() or None


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """``body`` decoded per ``Content-Encoding`` (``gzip``, ``deflate`` (zlib or raw),
    ``br``, ``identity`` or none).

    :param limit: most bytes the decoded body may have.
    :raises TooLarge: the decoded body would exceed ``limit``.
    :raises BadPayload: an unknown encoding, or data that is not in it.
    """
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        out = body
    elif encoding in ("gzip", "x-gzip"):
        out = _inflate(body, zlib.MAX_WBITS | 16, limit)
    elif encoding == "deflate":
        try:
            out = _inflate(body, zlib.MAX_WBITS, limit)
        except BadPayload:  # some clients send raw deflate without the zlib header
            out = _inflate(body, -zlib.MAX_WBITS, limit)
    elif encoding == "br":
        out = _unbrotli(body, limit)
    else:
        raise BadPayload(f"unsupported Content-Encoding {encoding!r}")
    if len(out) > limit:
        raise TooLarge("the body is too large")
    return out


def _inflate(body: bytes, wbits: int, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadPayload(f"the body is not valid compressed data ({exc})") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise TooLarge("the body is too large once decompressed")
    if not inflater.eof:
        raise BadPayload("the compressed body is truncated")
    return out


def _unbrotli(body: bytes, limit: int) -> bytes:
    decoder = brotli.Decompressor()
    try:
        out = decoder.process(body, output_buffer_limit=limit + 1)
    except brotli.error as exc:
        raise BadPayload(f"the body is not valid brotli data ({exc})") from None
    if len(out) > limit or (not decoder.is_finished() and not decoder.can_accept_more_data()):
        raise TooLarge("the body is too large once decompressed")
    if not decoder.is_finished():
        raise BadPayload("the compressed body is truncated")
    return out


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def load_json(raw: bytes):
    """Parse JSON strictly (no NaN/Infinity). :raises BadPayload: not JSON, or not UTF-8."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadPayload("the body is not valid JSON") from None


@dataclass
class Item:
    """One envelope item: its ``type`` and raw ``payload`` bytes."""

    type: str
    payload: bytes


def parse_envelope(body: bytes) -> tuple[dict, list[Item]]:
    """The envelope's header and items.

    :raises BadPayload: an empty body, a header or item header that is not a JSON object, a
        ``length`` that is not a whole number or runs past the body, too many items.
    """
    head, sep, rest = body.partition(b"\n")
    header = load_json(head) if head.strip() else None
    if not isinstance(header, dict):
        raise BadPayload("the envelope header must be a JSON object")
    items: list[Item] = []
    while rest.strip(b"\n"):
        if len(items) >= MAX_ITEMS:
            raise BadPayload(f"an envelope may hold at most {MAX_ITEMS} items")
        line, _, rest = rest.partition(b"\n")
        if not line.strip():
            continue
        item_header = load_json(line)
        if not isinstance(item_header, dict) or not isinstance(item_header.get("type"), str):
            raise BadPayload("each item header must be a JSON object with a 'type'")
        length = item_header.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        elif isinstance(length, int) and not isinstance(length, bool) and 0 <= length <= len(rest):
            payload, rest = rest[:length], rest[length:]
            if rest.startswith(b"\n"):
                rest = rest[1:]
        else:
            raise BadPayload("an item 'length' is not a whole number within the body")
        items.append(Item(item_header["type"], payload))
    return header, items
