"""Validation of monitor definitions, shared by the API, the console and ``crm-monitor``.

One pydantic v2 model per monitor type, joined in a discriminated union on ``type``
(:data:`MonitorIn`). :func:`validate_monitor` turns a dict (an API body, a console form's
data, a TOML check) into a :class:`MonitorSpec`-derived model; :func:`split_monitor` then
splits it into the :class:`~crm.monitoring.models.Monitor` columns and the type's ``config``
JSON (see the Monitor docstring for which field goes where).

Units: ``interval`` and ``timeout`` are seconds, ``max_response_ms`` milliseconds,
``grace_seconds`` seconds, ``days_before`` days.

``retries`` is the confirmation count: the number of failed checks in a row that declare a
monitor down. ``1`` means "down after 1 failure" (no confirmation); ``0`` is accepted and
means the same (stored as 1); ``3`` means down at the third failure in a row.

Synthetic steps (``type: synthetic``) run in order and share variables::

    {"name": "log in", "method": "POST", "url": "https://shop.example/api/login",
     "headers": {"Content-Type": "application/json"}, "body": "{\\"user\\": \\"probe\\"}",
     "assertions": [{"type": "status", "expected": "200"},
                    {"type": "header", "name": "Content-Type", "expected": "json"},
                    {"type": "body_contains", "expected": "token"},
                    {"type": "json_path", "path": "$.token"},            # exists
                    {"type": "json_path", "path": "$.user.id", "expected": "42"},
                    {"type": "response_time", "max_ms": 800}],
     "extract": {"token": "$.token", "session": "header:X-Session"}}

A later step's ``url``, header values and ``body`` may use ``{{token}}``. For ``header`` and
``body_contains`` the value is ``expected``; ``contains`` / ``text`` are accepted as other
names for it (both names are stored, so readers of either find it).
"""
from __future__ import annotations

import ipaddress
import json
import re
from typing import Annotated, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from crm.monitoring.models import (
    DEFAULT_INTERVAL_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    DNS,
    FTP,
    HEARTBEAT,
    HTTP,
    MONITOR_TYPES,
    SMTP,
    SYNTHETIC,
    TCP,
    TLS,
)
from crm.net import redact

#: Fallback for ``MONITOR_MIN_INTERVAL_SECONDS`` outside an application context (the CLI).
MIN_INTERVAL_SECONDS = 20
MAX_INTERVAL_SECONDS = 31 * 86400
MAX_TIMEOUT_SECONDS = 300
MAX_NAME = 120
MAX_URL = 2000
MAX_HOST = 253
MAX_TAG = 32
MAX_TAGS = 20
MAX_HEADERS = 50
MAX_BODY = 65_536
MAX_TEXT = 1000
MAX_STEPS = 20
MAX_ASSERTIONS = 30
MAX_RETRIES = 20
MAX_MINUTES = 60 * 24 * 30
MAX_ID = 2_147_483_647
MAX_GROUP_NAME = 120
MAX_GROUP_MEMBERS = 100
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DNS_RECORD_TYPES = ("A", "AAAA")
ASSERTION_TYPES = ("status", "header", "body_contains", "json_path", "response_time")

#: The fields of each type kept in ``Monitor.config`` (everything else is a column).
CONFIG_FIELDS: dict[str, tuple[str, ...]] = {
    HTTP: ("url", "method", "headers", "body", "expected_status", "keyword", "keyword_absent",
           "json_path", "json_expected", "max_response_ms", "follow_redirects"),
    TCP: ("host", "port"),
    SMTP: ("host", "port", "starttls"),
    FTP: ("host", "port", "username", "password"),
    DNS: ("host", "expected_address", "resolver", "record_type"),
    TLS: ("host", "port", "days_before"),
    HEARTBEAT: ("grace_seconds",),
    SYNTHETIC: ("steps",),
}
#: API names of the column fields -> Monitor attribute.
COLUMN_FIELDS = {"name": "name", "type": "type", "interval": "interval_seconds",
                 "timeout": "timeout_seconds", "retries": "retries", "tags": "tags",
                 "paused": "paused", "escalate_after_minutes": "escalate_after_minutes",
                 "remind_every_minutes": "remind_every_minutes",
                 "contact_group_id": "contact_group_id",
                 "escalation_group_id": "escalation_group_id"}
#: The group fields of a definition (ids; export/import carry group names instead).
GROUP_FIELDS = ("contact_group_id", "escalation_group_id")


# ---------------------------------------------------------------- value checks

def _no_nul(value: str) -> str:
    """PostgreSQL text cannot store U+0000 (valid JSON, but it would be a 500)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _text(**constraints):
    return Annotated[str, Field(**constraints), AfterValidator(_no_nul)]


_STATUS_PART = re.compile(r"^\s*([1-5][0-9]{2})\s*(?:-\s*([1-5][0-9]{2})\s*)?$")


def parse_expected_status(text: str) -> list[tuple[int, int]]:
    """Parse an expected-status list such as ``"200-299,301"`` into inclusive ranges.

    :returns: ``[(200, 299), (301, 301)]``.
    :raises ValueError: for an empty list, a code outside 100–599 or a reversed range.
    """
    ranges = []
    for part in (text or "").split(","):
        match = _STATUS_PART.match(part)
        if not match:
            raise ValueError("use status codes 100-599 and ranges, e.g. 200-299,301")
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if high < low:
            raise ValueError(f"range {low}-{high} is reversed")
        ranges.append((low, high))
    return ranges


def status_matches(code: int | None, expected: str) -> bool:
    """True when HTTP status ``code`` is in the :func:`parse_expected_status` ranges."""
    return code is not None and any(lo <= code <= hi for lo, hi in parse_expected_status(expected))


def _expected_status(value: str) -> str:
    parse_expected_status(value)
    return ",".join(p.strip().replace(" ", "") for p in value.split(","))


def _http_url(value: str) -> str:
    """An absolute http(s) URL with a host (no other schemes: file:, ftp:, javascript: …)."""
    value = value.strip()
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError for a bad port
    except ValueError:
        raise ValueError("enter a valid http:// or https:// URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("enter an http:// or https:// URL with a host name")
    if port == 0 or any(c.isspace() for c in value):
        raise ValueError("enter a valid http:// or https:// URL")
    return value


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def _host(value: str) -> str:
    """A DNS host name (RFC 1123 labels; ``_`` allowed for service names) or an IP address."""
    value = value.strip().rstrip(".") if value.strip() not in ("", ".") else value.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    labels = value.split(".")
    if not value or len(value) > MAX_HOST or not all(_HOST_LABEL.match(lbl) for lbl in labels):
        raise ValueError("enter a host name (e.g. mail.example.com) or an IP address")
    return value.lower()


def _resolver(value: str) -> str:
    """``ip``, ``ip:port`` or ``[ipv6]:port`` of a DNS resolver."""
    value = value.strip()
    host, port = value, None
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?", value)
    if match:
        host, port = match.group(1), match.group(2)
    elif value.count(":") == 1:
        host, _, port = value.partition(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError("enter the resolver's IP address, optionally with :port") from None
    if port is not None and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError("the resolver's port must be 1-65535")
    return value


_JSON_PATH = re.compile(r"^\$(?:\.[A-Za-z_][\w-]*|\[-?\d+\]|\['[^'\]]+'\]|\[\"[^\"\]]+\"\])*$")


def _json_path(value: str) -> str:
    """A JSONPath of dotted members and indexes: ``$``, ``$.data.items[0].id``,
    ``$.items[-1]``, ``$['odd.key']`` (the subset
    :func:`crm.monitoring.engine.checks.base.json_path_get` reads: no wildcards, filters or
    slices). ``data.id`` is stored as ``$.data.id``."""
    value = value.strip()
    if not value.startswith("$"):
        value = "$." + value if not value.startswith("[") else "$" + value
    if not _JSON_PATH.match(value):
        raise ValueError("use a JSONPath such as $.data.items[0].id")
    return value


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")  # RFC 9110 token


def _headers(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_HEADERS:
        raise ValueError(f"at most {MAX_HEADERS} headers")
    for name, val in value.items():
        if not _HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid header name")
        if any(c in val for c in "\r\n\x00") or len(val) > 8192:
            raise ValueError(f"the value of {name} must be one line of at most 8192 characters")
    return value


def _tags(value: list[str]) -> list[str]:
    out: list[str] = []
    for tag in value:
        tag = tag.strip()
        if not tag:
            raise ValueError("tags must not be blank")
        if tag not in out:
            out.append(tag)
    return out


Name = _text(min_length=1, max_length=MAX_NAME)
Url = Annotated[_text(min_length=1, max_length=MAX_URL), AfterValidator(_http_url)]
Host = Annotated[_text(min_length=1, max_length=MAX_HOST + 2), AfterValidator(_host)]
Port = Annotated[int, Field(ge=1, le=65535)]
ShortText = _text(max_length=MAX_TEXT)
Tag = _text(min_length=1, max_length=MAX_TAG)
ExpectedStatus = Annotated[_text(min_length=3, max_length=200), AfterValidator(_expected_status)]
JsonPath = Annotated[_text(min_length=1, max_length=500), AfterValidator(_json_path)]
Headers = Annotated[dict[_text(max_length=100), _text(max_length=8192)], AfterValidator(_headers)]
Body = _text(max_length=MAX_BODY)
Method = Literal[HTTP_METHODS]  # type: ignore[valid-type]
Minutes = Annotated[int, Field(ge=1, le=MAX_MINUTES)]
GroupId = Annotated[int, Field(ge=1, le=MAX_ID)]


def min_interval_seconds() -> int:
    """``MONITOR_MIN_INTERVAL_SECONDS`` of the current app (20 s outside an app context)."""
    try:
        from flask import current_app
        return int(current_app.config.get("MONITOR_MIN_INTERVAL_SECONDS", MIN_INTERVAL_SECONDS))
    except RuntimeError:
        return MIN_INTERVAL_SECONDS


# ---------------------------------------------------------------- contacts

class ContactSpec(BaseModel):
    """An alert recipient: exactly one of ``email`` or ``phone`` (normalised to E.164 by the
    service, which knows the default region)."""

    model_config = ConfigDict(extra="forbid")

    email: _text(min_length=3, max_length=254) | None = None
    phone: _text(min_length=3, max_length=32) | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        if bool(self.email) == bool(self.phone):
            raise ValueError("give exactly one of email or phone")
        return self


class ContactGroupIn(BaseModel):
    """A named, shareable contact group: ``name`` (unique, case-insensitively) and its
    recipients, ``emails`` and ``phones`` (normalised to E.164 by the service)."""

    model_config = ConfigDict(extra="forbid")

    name: _text(min_length=1, max_length=MAX_GROUP_NAME)
    emails: list[_text(min_length=3, max_length=254)] = Field(default_factory=list,
                                                               max_length=MAX_GROUP_MEMBERS)
    phones: list[_text(min_length=3, max_length=32)] = Field(default_factory=list,
                                                              max_length=MAX_GROUP_MEMBERS)


class ContactGroupPatch(BaseModel):
    """Changes to a contact group (at least one member): a new ``name``; ``emails`` or
    ``phones`` replace that kind of recipient (recipients kept keep their ids)."""

    model_config = ConfigDict(extra="forbid")

    name: _text(min_length=1, max_length=MAX_GROUP_NAME) | None = None
    emails: list[_text(min_length=3, max_length=254)] | None = Field(
        None, max_length=MAX_GROUP_MEMBERS)
    phones: list[_text(min_length=3, max_length=32)] | None = Field(
        None, max_length=MAX_GROUP_MEMBERS)


class GroupRef(BaseModel):
    """A contact group in an export/import document: matched by ``name``; created with
    ``contacts`` when no group has that name."""

    model_config = ConfigDict(extra="forbid")

    name: _text(min_length=1, max_length=MAX_GROUP_NAME)
    contacts: list[ContactSpec] = Field(default_factory=list, max_length=MAX_GROUP_MEMBERS)



# ---------------------------------------------------------------- the common part

class MonitorSpec(BaseModel):
    """Fields every monitor has (the ``Monitor`` columns)."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    type: Literal[MONITOR_TYPES]  # type: ignore[valid-type]
    interval: int = Field(DEFAULT_INTERVAL_SECONDS, le=MAX_INTERVAL_SECONDS,
                          description="Seconds between checks (minimum "
                                      "MONITOR_MIN_INTERVAL_SECONDS, 20 by default). "
                                      "Heartbeats: the expected ping period.")
    timeout: float = Field(DEFAULT_TIMEOUT_SECONDS, gt=0, le=MAX_TIMEOUT_SECONDS,
                           description="Seconds a check may take; less than interval.")
    retries: int = Field(1, ge=0, le=MAX_RETRIES,
                         description="Failed checks in a row that declare the monitor down "
                                     "(1 or 0: at the first failure).")
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    paused: bool = False
    escalate_after_minutes: Minutes | None = Field(
        None,
        description="Alert the escalation group when an incident is still open after this long.")
    remind_every_minutes: Minutes | None = Field(
        None, description="Repeat the alert this often while the incident stays open.")
    contact_group_id: GroupId | None = Field(
        None, description="The contact group alerted on down, reminders and recovery (a shared "
                          "group, see /contact-groups). None: the monitor's own group, created "
                          "when its first contact is added.")
    escalation_group_id: GroupId | None = Field(
        None, description="The group alerted too once an incident is open escalate_after_minutes "
                          "(which it needs); must differ from contact_group_id.")
    contacts: list[ContactSpec] = Field(default_factory=list, max_length=50,
                                        description="Alert recipients (create and import "
                                                    "only), in the monitor's own group: not "
                                                    "with contact_group_id.")

    @field_validator("tags")
    @classmethod
    def _clean_tags(cls, value: list[str]) -> list[str]:
        return _tags(value)

    @field_validator("interval")
    @classmethod
    def _min_interval(cls, value: int) -> int:
        minimum = min_interval_seconds()
        if value < minimum:
            raise ValueError(f"must be at least {minimum} seconds")
        return value

    @model_validator(mode="after")
    def _timeout_below_interval(self):
        if self.timeout >= self.interval:
            raise ValueError("timeout must be less than interval")
        return self

    @model_validator(mode="after")
    def _coherent_groups(self):
        # The messages start with the field to blame (error_list files them under it).
        if self.escalation_group_id is not None and not self.escalate_after_minutes:
            raise ValueError("escalate_after_minutes is needed with an escalation group "
                             "(how long an incident stays open before it escalates)")
        escalation = self.escalation_group_id
        if escalation is not None and escalation == self.contact_group_id:
            raise ValueError("escalation_group_id must be another group than contact_group_id")
        if self.contact_group_id is not None and self.contacts:
            raise ValueError("contacts are for the monitor's own group: add them to the contact "
                             "group instead, or leave contact_group_id empty")
        return self


class HostPortSpec(MonitorSpec):
    """Monitors of a host and port."""

    host: Host
    port: Port


# ---------------------------------------------------------------- the types

class HttpMonitorIn(MonitorSpec):
    """HTTP(S) request; up when the status is expected and the content rules hold."""

    type: Literal["http"]
    url: Url
    method: Method = "GET"
    headers: Headers = Field(default_factory=dict)
    body: Body | None = None
    expected_status: ExpectedStatus = "200-299"
    keyword: ShortText | None = Field(None, description="Text the body must contain.")
    keyword_absent: bool = Field(False, description="Down when the keyword IS present instead.")
    json_path: JsonPath | None = Field(
        None, description="JSONPath into a JSON body, e.g. $.status.")
    json_expected: ShortText | None = Field(
        None, description="Expected value at json_path (as text).")
    max_response_ms: int | None = Field(None, ge=1, le=MAX_TIMEOUT_SECONDS * 1000,
                                        description="Down when slower than this (milliseconds).")
    follow_redirects: bool = True

    @model_validator(mode="after")
    def _coherent(self):
        if self.json_expected is not None and not self.json_path:
            raise ValueError("json_expected needs json_path")
        if self.keyword_absent and not self.keyword:
            raise ValueError("keyword_absent needs keyword")
        return self


class TcpMonitorIn(HostPortSpec):
    """TCP connect to host:port; up when the connection opens."""

    type: Literal["tcp"]


class SmtpMonitorIn(HostPortSpec):
    """SMTP server: up when it greets 220 (and, with ``starttls``, the TLS handshake works)."""

    type: Literal["smtp"]
    port: Port = 25
    starttls: bool = False


class FtpMonitorIn(HostPortSpec):
    """FTP server: up when it greets (and logs in, given ``username``)."""

    type: Literal["ftp"]
    port: Port = 21
    username: _text(max_length=200) | None = None
    password: _text(max_length=200) | None = None


class TlsMonitorIn(HostPortSpec):
    """TLS certificate: down when invalid or expiring within ``days_before`` days."""

    type: Literal["tls"]
    port: Port = 443
    days_before: int = Field(14, ge=0, le=365)


class DnsMonitorIn(MonitorSpec):
    """DNS lookup of ``host`` (the name); up when it resolves (to ``expected_address``)."""

    type: Literal["dns"]
    host: Host
    expected_address: _text(max_length=45) | None = None
    resolver: Annotated[_text(max_length=60), AfterValidator(_resolver)] | None = Field(
        None, description="ip or ip:port of the resolver to ask (system resolver when empty).")
    record_type: Literal[DNS_RECORD_TYPES] = "A"  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _address_matches_type(self):
        if self.expected_address:
            try:
                address = ipaddress.ip_address(self.expected_address.strip())
            except ValueError:
                raise ValueError("expected_address must be an IP address") from None
            if (address.version == 4) != (self.record_type == "A"):
                raise ValueError(f"expected_address is not an {self.record_type} record address")
            self.expected_address = str(address)
        return self


class HeartbeatMonitorIn(MonitorSpec):
    """Push monitor: the job pings ``ping_url`` every ``interval``; down when a ping is more
    than ``grace_seconds`` late."""

    type: Literal["heartbeat"]
    grace_seconds: int = Field(60, ge=0, le=MAX_INTERVAL_SECONDS)


# ---------------------------------------------------------------- synthetic steps

class _Assertion(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _one_value(expected: str | None, alias: str | None,
               alias_name: str) -> tuple[str | None, str | None]:
    """``expected`` and its alias hold the same value (either may be given, not two different)."""
    if expected is not None and alias is not None and expected != alias:
        raise ValueError(f"expected and {alias_name} differ: give one of them")
    value = expected if expected is not None else alias
    return value, value


class StatusAssertion(_Assertion):
    """The step's status code is in ``expected`` (``"200-299,301"``)."""

    type: Literal["status"]
    expected: ExpectedStatus = "200-299"


class HeaderAssertion(_Assertion):
    """Response header ``name`` exists (and its value contains ``expected``; ``contains`` is
    accepted as another name for it, and both are stored)."""

    type: Literal["header"]
    name: _text(min_length=1, max_length=100)
    expected: ShortText | None = None
    contains: ShortText | None = None

    @model_validator(mode="after")
    def _same_value(self):
        self.expected, self.contains = _one_value(self.expected, self.contains, "contains")
        return self


class BodyContainsAssertion(_Assertion):
    """The response body contains ``expected`` (``text`` is accepted as another name for it,
    and both are stored)."""

    type: Literal["body_contains"]
    expected: _text(min_length=1, max_length=MAX_TEXT) | None = None
    text: _text(min_length=1, max_length=MAX_TEXT) | None = None

    @model_validator(mode="after")
    def _same_value(self):
        self.expected, self.text = _one_value(self.expected, self.text, "text")
        if self.expected is None:
            raise ValueError("expected (the text the body must contain) is required")
        return self


class JsonPathAssertion(_Assertion):
    """The JSON body has a value at ``path`` (equal to ``expected`` — JSON or text: ``"3"``
    matches ``3`` — when given; without ``expected`` the path must exist)."""

    type: Literal["json_path"]
    path: JsonPath
    expected: ShortText | None = None


class ResponseTimeAssertion(_Assertion):
    """The step answered within ``max_ms`` milliseconds."""

    type: Literal["response_time"]
    max_ms: int = Field(ge=1, le=MAX_TIMEOUT_SECONDS * 1000)


Assertion = Annotated[(StatusAssertion | HeaderAssertion | BodyContainsAssertion
                       | JsonPathAssertion | ResponseTimeAssertion), Field(discriminator="type")]
VarName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")]


def _extract_source(value: str) -> str:
    """``header:<Name>`` (a response header) or a JSONPath of the body."""
    if value.strip().lower().startswith("header:"):
        name = value.split(":", 1)[1].strip()
        if not _HEADER_NAME.match(name):
            raise ValueError("write header:<Header-Name>")
        return f"header:{name}"
    return _json_path(value)


ExtractSource = Annotated[_text(min_length=1, max_length=500), AfterValidator(_extract_source)]


class SyntheticStep(BaseModel):
    """One request of a synthetic transaction."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    method: Method = "GET"
    url: _text(min_length=1, max_length=MAX_URL)
    headers: Headers = Field(default_factory=dict)
    body: Body | None = None
    assertions: list[Assertion] = Field(default_factory=list, max_length=MAX_ASSERTIONS)
    extract: dict[VarName, ExtractSource] = Field(
        default_factory=dict, max_length=20,
        description="Variables for later steps: {var: JSONPath of the body | header:<Name>}.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        # {{var}} placeholders are filled at run time; check the URL with them stand-ins.
        _http_url(re.sub(r"\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\}", "x", value))
        return value.strip()


class SyntheticMonitorIn(MonitorSpec):
    """A scripted multi-step HTTP transaction (log in, add to cart …); down at the first
    failing step or assertion."""

    type: Literal["synthetic"]
    steps: list[SyntheticStep] = Field(min_length=1, max_length=MAX_STEPS)

    @model_validator(mode="after")
    def _variables_defined(self):
        known: set[str] = set()
        for index, step in enumerate(self.steps):
            used = set(re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}",
                                  " ".join([step.url, step.body or "", *step.headers.values()])))
            missing = used - known
            if missing:
                raise ValueError(f"step {index + 1} uses {{{{{sorted(missing)[0]}}}}} before a "
                                 "step extracts it")
            known |= set(step.extract)
        return self


MonitorIn = Annotated[(HttpMonitorIn | TcpMonitorIn | SmtpMonitorIn | FtpMonitorIn | DnsMonitorIn
                       | TlsMonitorIn | HeartbeatMonitorIn | SyntheticMonitorIn),
                      Field(discriminator="type")]
MODELS: dict[str, type[MonitorSpec]] = {
    HTTP: HttpMonitorIn, TCP: TcpMonitorIn, SMTP: SmtpMonitorIn, FTP: FtpMonitorIn,
    DNS: DnsMonitorIn, TLS: TlsMonitorIn, HEARTBEAT: HeartbeatMonitorIn,
    SYNTHETIC: SyntheticMonitorIn,
}
_ADAPTER: TypeAdapter = TypeAdapter(MonitorIn)


# ---------------------------------------------------------------- entry points

def error_list(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """pydantic errors as ``[(field path, message)]``, in pydantic's order.

    The path drops the union tags pydantic inserts (``http.url`` → ``url``,
    ``steps.0.assertions.1.status.expected`` → ``steps.0.assertions.1.expected``); a
    whole-model rule (``timeout must be less than interval``) is reported on the field its
    message starts with; a bad or missing ``type`` on ``type``.

    :param prefix: prepended to every path (``3`` for the fourth item of an import).
    """
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = [str(p) for p in err["loc"]]
        if loc and loc[0] in MONITOR_TYPES:
            loc = loc[1:]
        loc = [p for i, p in enumerate(loc)
               if not (p in ASSERTION_TYPES and i >= 2 and loc[i - 2] == "assertions")]
        message = err["msg"].removeprefix("Value error, ")
        kind = err["type"]
        if kind == "union_tag_invalid":
            allowed = ASSERTION_TYPES if "assertions" in loc else MONITOR_TYPES
            loc, message = [*loc, "type"], f"must be one of: {', '.join(allowed)}"
        elif kind == "union_tag_not_found":
            loc, message = [*loc, "type"], "Field required"
        elif kind == "value_error" and (not loc or loc[-1].isdigit()):
            first = message.split(" ", 1)[0]
            if first in _ALL_FIELDS:
                loc = [*loc, first]
            elif first == "step":
                loc = [*loc, "steps"]
        path = ".".join(loc)
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        out.append((path or "body", message))
    return out


_ALL_FIELDS = ({name for model in MODELS.values() for name in model.model_fields}
               | {"timeout", "expected", "contains", "text"})


def validate_monitor(data: dict) -> MonitorSpec:
    """Validate a full monitor definition (create, import, ``crm-monitor check``).

    :param data: the API body shape (``type`` chooses the model).
    :returns: the model of that type.
    :raises pydantic.ValidationError: for bad input (see :func:`error_list`).
    """
    return _ADAPTER.validate_python(data)


def spec_to_columns(spec: MonitorSpec) -> tuple[dict, dict]:
    """Split a validated spec into (``Monitor`` column values, ``config`` dict).

    ``retries`` 0 is stored as 1 (both mean "down at the first failure").
    """
    data = spec.model_dump(mode="json")
    columns = {attr: data[name] for name, attr in COLUMN_FIELDS.items()}
    columns["retries"] = max(1, columns["retries"])
    config = {name: data[name] for name in CONFIG_FIELDS[spec.type]}
    return columns, config


def monitor_to_spec_dict(monitor, *, reveal_secrets: bool = False) -> dict:
    """The API-shaped definition of a stored ``Monitor`` (columns + config, no contacts,
    no runtime state): what :func:`validate_monitor` accepts back.

    Request secrets are write-only: unless ``reveal_secrets`` (the service's own merge, an
    export asked for with secrets), they are masked (:func:`mask_secrets`) — so every read
    (API, console page and edit form, export) shows ``********`` for them, and a definition
    sent back unchanged keeps the stored values (:func:`keep_masked_secrets`).
    """
    out = {name: getattr(monitor, attr) for name, attr in COLUMN_FIELDS.items()}
    out["tags"] = list(out["tags"] or [])
    config = monitor.config or {}
    for name in CONFIG_FIELDS.get(monitor.type, ()):
        if name in config:
            out[name] = config[name]
    return out if reveal_secrets else mask_secrets(out)


# ---------------------------------------------------------------- secrets (write-only)

#: Fields of a definition (and of a synthetic step) that may hold request secrets.
SECRET_FIELDS = ("url", "headers", "body", "password")


def _mask_request(item: dict) -> dict:
    out = dict(item)
    if isinstance(out.get("url"), str):
        out["url"] = redact.mask_url(out["url"])
    if isinstance(out.get("headers"), dict):
        out["headers"] = redact.mask_headers(out["headers"])
    if isinstance(out.get("body"), str):
        out["body"] = redact.mask_body(out["body"])
    if out.get("password"):
        out["password"] = redact.MASK
    return out


def mask_secrets(spec: dict) -> dict:
    """A definition with its request secrets masked (:data:`crm.net.redact.MASK`): an FTP
    ``password``; header values whose names look secret (``Authorization``, ``X-Api-Key``,
    ``Cookie`` …); a URL's password and secret-looking query parameters; secret-looking
    members of a JSON or form body — in the monitor and in every synthetic step. Values
    that only reference a variable extracted at run time (``Bearer {{token}}``) stay."""
    out = _mask_request(spec)
    if isinstance(out.get("steps"), list):
        out["steps"] = [_mask_request(s) if isinstance(s, dict) else s for s in out["steps"]]
    return out


def _restore_pairs(incoming: list[tuple[str, str]],
                   stored: list[tuple[str, str]]) -> list[tuple[str, str]]:
    known = {}
    for key, value in stored:
        known.setdefault(key.lower(), value)
    return [(k, known.get(k.lower(), v) if v == redact.MASK else v) for k, v in incoming]


def _restore_url(incoming: str, stored: str) -> str:
    if incoming == redact.mask_url(stored):
        return stored
    try:
        new, old = urlsplit(incoming), urlsplit(stored)
    except ValueError:
        return incoming
    netloc, query = new.netloc, new.query
    if new.password == redact.MASK and old.password is not None and new.username == old.username:
        netloc = old.netloc.rpartition("@")[0] + "@" + new.netloc.rpartition("@")[2]
    if redact.MASK in query:
        pairs = _restore_pairs(parse_qsl(query, keep_blank_values=True),
                               parse_qsl(old.query, keep_blank_values=True))
        query = urlencode(pairs, quote_via=quote, safe="{}")
    if (netloc, query) == (new.netloc, new.query):
        return incoming
    return urlunsplit((new.scheme, netloc, new.path, query, new.fragment))


def _restore_json(new, old):
    if isinstance(new, dict) and isinstance(old, dict):
        return {k: (old[k] if v == redact.MASK and k in old else _restore_json(v, old.get(k)))
                for k, v in new.items()}
    if isinstance(new, list) and isinstance(old, list):
        return [_restore_json(v, old[i] if i < len(old) else None) for i, v in enumerate(new)]
    return new


def _restore_body(incoming: str, stored: str) -> str:
    if incoming == redact.mask_body(stored):
        return stored
    if redact.MASK not in incoming:
        return incoming
    try:
        restored = _restore_json(json.loads(incoming), json.loads(stored))
        return json.dumps(restored, ensure_ascii=False)
    except ValueError:
        pass
    if "=" in incoming:
        pairs = _restore_pairs(parse_qsl(incoming.strip(), keep_blank_values=True),
                               parse_qsl(stored.strip(), keep_blank_values=True))
        return urlencode(pairs, quote_via=quote, safe="{}")
    return incoming


def _restore_request(incoming: dict, stored: dict) -> dict:
    out = dict(incoming)
    if isinstance(out.get("url"), str) and isinstance(stored.get("url"), str):
        out["url"] = _restore_url(out["url"], stored["url"])
    if isinstance(out.get("headers"), dict) and isinstance(stored.get("headers"), dict):
        known = {k.lower(): v for k, v in stored["headers"].items()}
        out["headers"] = {k: (known.get(k.lower(), v) if v == redact.MASK else v)
                          for k, v in out["headers"].items()}
    if isinstance(out.get("body"), str) and isinstance(stored.get("body"), str):
        out["body"] = _restore_body(out["body"], stored["body"])
    if out.get("password") == redact.MASK and stored.get("password"):
        out["password"] = stored["password"]
    return out


def keep_masked_secrets(incoming: dict, stored: dict) -> dict:
    """``incoming`` (a partial or full definition sent by a client that read the masked
    one) with every masked secret replaced by the stored value it stands for: a masked
    header (same name, any case), FTP password, URL password or query parameter, JSON/form
    body member. Synthetic steps are matched by name, else by position.

    :param stored: the monitor's definition with secrets (``reveal_secrets=True``).
    """
    out = _restore_request(incoming, stored)
    if isinstance(out.get("steps"), list) and isinstance(stored.get("steps"), list):
        old_steps = [s for s in stored["steps"] if isinstance(s, dict)]
        by_name = {s.get("name"): s for s in old_steps}
        steps = []
        for index, step in enumerate(out["steps"]):
            if isinstance(step, dict):
                same_place = old_steps[index] if index < len(old_steps) else {}
                old = by_name.get(step.get("name")) or same_place
                step = _restore_request(step, old)
            steps.append(step)
        out["steps"] = steps
    return out


def masked_leftovers(spec: dict) -> list[tuple[str, str]]:
    """Secrets still equal to the mask (nothing stored to keep: a new monitor, an import of an
    export made without secrets, a new header), as ``[(field path, message)]``: a mask is
    never stored as if it were the secret."""
    def scan(item: dict, prefix: str) -> list[tuple[str, str]]:
        found = []
        if item.get("password") == redact.MASK:
            found.append((f"{prefix}password",
                          "password is the masked placeholder: type the password"))
        headers = item.get("headers")
        for name, value in headers.items() if isinstance(headers, dict) else ():
            if isinstance(value, str) and redact.MASK in value:
                found.append((f"{prefix}headers",
                              f"header {name} is the masked placeholder: type its value"))
        for field in ("url", "body"):
            if isinstance(item.get(field), str) and redact.MASK in item[field]:
                found.append((f"{prefix}{field}",
                              f"{field} contains the masked placeholder {redact.MASK}: "
                              "type the secret it stands for"))
        return found
    problems = scan(spec, "")
    for index, step in enumerate(spec.get("steps") or []):
        if isinstance(step, dict):
            problems += scan(step, f"steps.{index}.")
    return problems


def outbound_hosts(spec: MonitorSpec) -> list[tuple[str, str]]:
    """The hosts a monitor connects to, as ``[(field path, host)]``: the URL's host, the
    ``host`` of TCP/SMTP/FTP/TLS monitors, a DNS monitor's ``resolver``, each synthetic
    step's URL host (unless it is filled from a ``{{variable}}`` at run time). A DNS
    monitor's ``host`` is the name asked about, not a destination."""
    out: list[tuple[str, str]] = []
    if spec.type == HTTP:
        out.append(("url", urlsplit(spec.url).hostname or ""))
    elif spec.type in (TCP, SMTP, FTP, TLS):
        out.append(("host", spec.host))
    elif spec.type == DNS and spec.resolver:
        value = spec.resolver.strip()
        match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::\d+)?", value)
        host = value.split(":")[0] if value.count(":") == 1 else value
        out.append(("resolver", match.group(1) if match else host))
    elif spec.type == SYNTHETIC:
        for index, step in enumerate(spec.steps):
            try:
                parts = urlsplit(step.url)
            except ValueError:
                continue
            if "{" not in parts.netloc and parts.hostname:
                out.append((f"steps.{index}.url", parts.hostname))
    return out
