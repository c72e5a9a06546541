"""The grouping key of an event (as GlitchTip groups): exception type + normalised message +
the top in-app frame, so the same bug with other ids, numbers or addresses is one issue."""
from __future__ import annotations

import hashlib
import re

_UUID = re.compile(r"\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b",
                   re.IGNORECASE)
_HEX = re.compile(r"\b(0x[0-9a-f]+|[0-9a-f]*\d[0-9a-f]*[a-f][0-9a-f]*|[0-9a-f]*[a-f][0-9a-f]*"
                  r"\d[0-9a-f]*)\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(\.\d+)?")
_SPACE = re.compile(r"\s+")


def normalise_message(message: str) -> str:
    """``message`` with UUIDs, hex ids (``0x7f3a``, ``5f2b9c1e``) and numbers replaced by
    ``<uuid>``, ``<hex>`` and ``<n>``, whitespace collapsed, cut to 500 characters.

    Hex words need both a digit and a letter a-f, so plain words ("face") stay.
    """
    text = _UUID.sub("<uuid>", message or "")
    text = _HEX.sub(lambda m: "<hex>" if len(m.group(0)) >= 4 else m.group(0), text)
    text = _NUMBER.sub("<n>", text)
    return _SPACE.sub(" ", text).strip()[:500]


def top_frame(frames: list[dict]) -> str:
    """``module.function`` (or ``file:function``) of the innermost in-app frame; of the
    innermost frame when none is marked in-app; ``""`` without frames.

    :param frames: Sentry order (outermost first), each ``{filename, module, function,
        in_app}``. Line numbers are left out: an edit above the bug must not split the group.
    """
    if not frames:
        return ""
    in_app = [f for f in frames if f.get("in_app")]
    frame = (in_app or frames)[-1]
    where = frame.get("module") or frame.get("filename") or "?"
    return f"{where}.{frame.get('function') or '?'}"[:255]


def fingerprint(exception_type: str, message: str, frames: list[dict]) -> str:
    """The issue key: sha256 (hex) of type, normalised message and top in-app frame."""
    key = "\x1f".join((exception_type or "", normalise_message(message), top_frame(frames)))
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()
