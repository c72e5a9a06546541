"""One event in the shape the tracker stores, built from a Sentry event payload.

:func:`from_sentry` reads the members of the Sentry event protocol the tracker uses
(``exception``, ``logentry``/``message``, ``request``, ``user``, ``level``, ``release`` …),
type-checks them and scrubs them; anything else in the payload is dropped.
"""
from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from crm.clock import utcnow
from crm.observability.errors.models import LEVELS
from crm.observability.errors.scrub import clean_text, is_sensitive, scrub, scrub_query, scrub_url

#: frames kept per event (the innermost ones)
MAX_FRAMES = 60
#: an event time further in the future than this is taken as "now" (client clock skew)
MAX_FUTURE = timedelta(minutes=5)


class MalformedEvent(ValueError):
    """The payload is not a usable event (the ingest answers 400 with this message)."""


@dataclass
class EventData:
    """An event ready to store (every text already scrubbed and cut to its column)."""

    exception_type: str
    message: str
    traceback: str
    frames: list[dict] = field(default_factory=list)
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    occurred_at: datetime = field(default_factory=utcnow)
    level: str = "error"
    release: str | None = None
    environment: str | None = None
    platform: str | None = None
    client_ip: str | None = None
    method: str | None = None
    path: str | None = None
    user_id: int | None = None
    user_label: str | None = None
    user_agent: str | None = None
    data: dict = field(default_factory=dict)

    @property
    def title(self) -> str:
        """``Type: message`` (first line), as the issue list shows it."""
        first = (self.message or "").strip().splitlines()[0] if self.message.strip() else ""
        if self.exception_type and first:
            return f"{self.exception_type}: {first}"[:255]
        return (self.exception_type or first or "(no message)")[:255]


def _text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise MalformedEvent("a text member of the event is not a string")
    return clean_text(value, limit) or None


def _dict(value: Any, name: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedEvent(f"'{name}' must be an object")
    return value


def parse_timestamp(value: Any) -> datetime:
    """A Sentry ``timestamp`` (seconds since the epoch, or RFC 3339 text) as aware UTC;
    "now" when absent, unreadable or in the future."""
    now = utcnow()
    when = None
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            when = datetime.fromtimestamp(float(value), UTC)
        elif isinstance(value, str) and value:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
            when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        when = None
    if when is None or when > now + MAX_FUTURE or when.year < 2000:
        return now
    return when


def _frames(stacktrace: Any) -> list[dict]:
    frames = _dict(stacktrace, "stacktrace").get("frames") or []
    if not isinstance(frames, list):
        raise MalformedEvent("'stacktrace.frames' must be a list")
    out = []
    for frame in frames[-MAX_FRAMES:]:
        if not isinstance(frame, dict):
            raise MalformedEvent("each stack frame must be an object")
        lineno = frame.get("lineno")
        out.append({
            "filename": _text(frame.get("filename") or frame.get("abs_path"), 300) or "?",
            "module": _text(frame.get("module"), 200),
            "function": _text(frame.get("function"), 200) or "?",
            "lineno": lineno if isinstance(lineno, int) and not isinstance(lineno, bool) else None,
            "context_line": _text(frame.get("context_line"), 500),
            "in_app": frame.get("in_app") is True,
        })
    return out


def format_traceback(chain: list[tuple[str, str, list[dict]]]) -> str:
    """Python-style traceback text of an exception chain (outermost cause first).

    :param chain: ``(type, message, frames)`` per exception, frames outermost first.
    """
    parts = []
    for i, (etype, message, frames) in enumerate(chain):
        if i:
            parts.append("\nThe above exception was the direct cause of the following "
                         "exception:\n\n")
        if frames:
            parts.append("Traceback (most recent call last):\n")
            for f in frames:
                parts.append(f'  File "{f["filename"]}", line {f.get("lineno") or "?"}, '
                             f'in {f["function"]}\n')
                if f.get("context_line"):
                    parts.append(f"    {f['context_line'].strip()}\n")
        parts.append(f"{etype}: {message}\n" if message else f"{etype}\n")
    return "".join(parts)[:100_000]


def _exceptions(payload: dict) -> list[tuple[str, str, list[dict]]]:
    exc = payload.get("exception")
    if exc is None:
        return []
    values = exc.get("values") if isinstance(exc, dict) else exc
    if not isinstance(values, list):
        raise MalformedEvent("'exception.values' must be a list")
    chain = []
    for value in values:
        if not isinstance(value, dict):
            raise MalformedEvent("each exception must be an object")
        etype = _text(value.get("type"), 200) or "Error"
        chain.append((etype, _text(value.get("value"), 10_000) or "",
                      _frames(value.get("stacktrace"))))
    return chain


def _message(payload: dict) -> str:
    logentry = payload.get("logentry")
    if isinstance(logentry, dict):
        return _text(logentry.get("formatted") or logentry.get("message"), 10_000) or ""
    message = payload.get("message")
    if isinstance(message, dict):
        return _text(message.get("formatted") or message.get("message"), 10_000) or ""
    return _text(message, 10_000) or ""


def _headers(raw: Any) -> dict[str, str]:
    if isinstance(raw, list):
        raw = {str(pair[0]): pair[1] for pair in raw
               if isinstance(pair, (list, tuple)) and len(pair) == 2}
    return {str(k)[:100]: str(v)[:1000] for k, v in _dict(raw, "request.headers").items()}


def _ip(value: Any) -> str | None:
    try:
        return str(ipaddress.ip_address(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def from_sentry(payload: Any, sender_ip: str | None = None) -> EventData:
    """The event of a Sentry event payload (``/store/`` body, envelope ``event`` item).

    :param sender_ip: the address the payload came from, used only when the SDK asks for it
        (``user.ip_address`` ``{{auto}}``, as Sentry infers it).
    :raises MalformedEvent: not an object, or a member of the wrong type.
    """
    if not isinstance(payload, dict):
        raise MalformedEvent("the event must be a JSON object")
    chain = _exceptions(payload)
    etype, message, frames = chain[-1] if chain else ("", _message(payload), [])
    request_info = _dict(payload.get("request"), "request")
    user = _dict(payload.get("user"), "user")
    headers = _headers(request_info.get("headers"))
    env = _dict(request_info.get("env"), "request.env")
    level = payload.get("level") if payload.get("level") in LEVELS else "error"
    event_id = payload.get("event_id")
    if not (isinstance(event_id, str) and len(event_id.replace("-", "")) == 32):
        event_id = uuid.uuid4().hex
    url = _text(request_info.get("url"), 2000)
    user_label = next((_text(user.get(k), 255) for k in ("email", "username", "id")
                       if user.get(k) is not None), None)
    data = {
        "request": {"url": scrub_url(url or "") or None,
                    "query": scrub_query(request_info["query_string"])
                    if isinstance(request_info.get("query_string"), str) else None,
                    "headers": {k: "[Filtered]" if is_sensitive(k) else v
                                for k, v in headers.items()},
                    "data": scrub(request_info.get("data"))},
        "tags": scrub(payload.get("tags")), "contexts": scrub(payload.get("contexts")),
        "extra": scrub(payload.get("extra")), "frames": frames,
        "server_name": _text(payload.get("server_name"), 200),
        "transaction": _text(payload.get("transaction"), 200),
        "sdk": scrub(payload.get("sdk")),
    }
    return EventData(
        exception_type=etype, message=message or "", traceback=format_traceback(chain),
        frames=frames, event_id=event_id.replace("-", "").lower()[:32],
        occurred_at=parse_timestamp(payload.get("timestamp")), level=level,
        release=_text(payload.get("release"), 200),
        environment=_text(payload.get("environment"), 64),
        platform=_text(payload.get("platform"), 32),
        client_ip=_ip(user.get("ip_address")) or _ip(env.get("REMOTE_ADDR"))
        or (sender_ip if user.get("ip_address") == "{{auto}}" else None),
        method=_text(request_info.get("method"), 16),
        path=scrub_url(url)[:2000] if url else None, user_label=user_label,
        user_agent=next((v[:500] for k, v in headers.items() if k.lower() == "user-agent"),
                        None),
        data=data)
