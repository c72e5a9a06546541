"""Monitoring console forms, and the parsers that turn their text fields into the API shape.

One :class:`MonitorForm` serves every monitor type: the type's own fields sit in field
groups that ``crm/static/js/monitoring_form.js`` shows or hides; :meth:`MonitorForm.to_data`
keeps only the chosen type's fields and returns the dict that
``crm.monitoring.services.create_monitor`` / ``update_monitor`` validate (the API body,
see :mod:`crm.monitoring.schemas`).

Synthetic steps are repeated field groups (``steps-0-url`` …). Their text areas use one
line per item:

* headers: ``Name: value``
* assertions: ``status == 200`` (or ``status in 200-299,301``), ``header Content-Type
  contains json``, ``header X-Request-Id exists``, ``body contains ok``, ``json $.data.id
  exists``, ``json data.status == "ok"``, ``time < 500`` (milliseconds)
* extractions: ``token = json data.token`` (or ``token = $.data.token``)
"""
from __future__ import annotations

import re

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    FloatField,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp
from wtforms.widgets import NumberInput

from crm.monitoring.models import (
    DNS,
    FTP,
    HEARTBEAT,
    HTTP,
    MONITOR_STATUSES,
    MONITOR_TYPES,
    SMTP,
    SYNTHETIC,
    TCP,
    TLS,
)

TYPE_LABELS = {HTTP: "HTTP(S)", TCP: "TCP port", SMTP: "SMTP server", FTP: "FTP server",
               DNS: "DNS lookup", TLS: "TLS certificate", HEARTBEAT: "Heartbeat (push)",
               SYNTHETIC: "Synthetic transaction"}
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
METHOD_CHOICES = [(m, m) for m in HTTP_METHODS]

#: form field -> the monitor types that use it (the rest are common to every type).
TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    "url": (HTTP,), "method": (HTTP,), "headers": (HTTP,), "body": (HTTP,),
    "expected_status": (HTTP,), "keyword": (HTTP,), "keyword_absent": (HTTP,),
    "json_path": (HTTP,), "json_expected": (HTTP,), "max_response_ms": (HTTP,),
    "follow_redirects": (HTTP,),
    "host": (TCP, SMTP, FTP, DNS, TLS), "port": (TCP, SMTP, FTP, TLS),
    "starttls": (SMTP,), "username": (FTP,), "password": (FTP,),
    "expected_address": (DNS,), "resolver": (DNS,), "record_type": (DNS,),
    "days_before": (TLS,), "grace_seconds": (HEARTBEAT,), "steps": (SYNTHETIC,),
}
COMMON_FIELDS = ("name", "type", "interval", "timeout", "retries", "tags", "paused",
                 "escalate_after_minutes", "remind_every_minutes", "contact_group_id",
                 "escalation_group_id")
#: The contact-group select's "no shared group" choice (the monitor's own contacts).
OWN_GROUP_CHOICE = ("", "Its own contacts (managed on the monitor's page)")
NO_ESCALATION_CHOICE = ("", "No escalation")


class FormInputError(ValueError):
    """A line of a text field could not be parsed; ``field`` names the form field
    (``steps-0-assertions``) and the message says which line and why."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.message = message
        self.field = field


# ---------------------------------------------------------------- text parsers

def parse_headers(text: str, field: str = "headers") -> dict[str, str]:
    """``Name: value`` lines (blank lines ignored) → ``{"Name": "value"}``.

    :raises FormInputError: a line without a colon or with an empty name.
    """
    headers: dict[str, str] = {}
    for number, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise FormInputError(f"Line {number}: write headers as 'Name: value'.", field)
        headers[name.strip()] = value.strip()
    return headers


def format_headers(headers: dict | None) -> str:
    """The inverse of :func:`parse_headers`."""
    return "\n".join(f"{k}: {v}" for k, v in (headers or {}).items())


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


_ASSERTION_PATTERNS: list[tuple[re.Pattern, object]] = [
    (re.compile(r"^status\s*(?:==|=|is)\s*(\d{3})$", re.I),
     lambda m: {"type": "status", "expected": m.group(1)}),
    (re.compile(r"^status\s+in\s+([\d,\s-]+)$", re.I),
     lambda m: {"type": "status", "expected": m.group(1).replace(" ", "")}),
    (re.compile(r"^header\s+(\S+)\s+contains\s+(.+)$", re.I),
     lambda m: {"type": "header", "name": m.group(1), "contains": _unquote(m.group(2))}),
    (re.compile(r"^header\s+(\S+)(?:\s+exists)?$", re.I),
     lambda m: {"type": "header", "name": m.group(1)}),
    (re.compile(r"^body\s+contains\s+(.+)$", re.I),
     lambda m: {"type": "body_contains", "text": _unquote(m.group(1))}),
    (re.compile(r"^json\s+(\S+)\s+exists$", re.I),
     lambda m: {"type": "json_path", "path": m.group(1)}),
    (re.compile(r"^json\s+(\S+)\s*(?:==|=)\s*(.+)$", re.I),
     lambda m: {"type": "json_path", "path": m.group(1), "expected": _unquote(m.group(2))}),
    (re.compile(r"^(?:time|response_time)\s*(?:<|<=)\s*(\d+)\s*(?:ms)?$", re.I),
     lambda m: {"type": "response_time", "max_ms": int(m.group(1))}),
]
ASSERTION_HELP = ("One per line: status == 200 · status in 200-299,301 · header Content-Type "
                  "contains json · header X-Id exists · body contains ok · json $.data.id exists · "
                  'json data.status == "ok" · time < 500')


def parse_assertions(text: str, field: str = "assertions") -> list[dict]:
    """Assertion lines → the schema's assertion dicts (see the module docstring).

    :raises FormInputError: naming the first line that matches no form.
    """
    out = []
    for number, line in enumerate((text or "").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        for pattern, build in _ASSERTION_PATTERNS:
            match = pattern.match(line)
            if match:
                out.append(build(match))
                break
        else:
            raise FormInputError(f"Line {number}: '{line[:60]}' is not an assertion this form "
                                 f"understands. {ASSERTION_HELP}.", field)
    return out


def format_assertions(assertions: list[dict] | None) -> str:
    """The inverse of :func:`parse_assertions` (for the edit form)."""
    lines = []
    for a in assertions or []:
        kind = a.get("type")
        if kind == "status":
            expected = str(a.get("expected", "200-299"))
            lines.append(f"status == {expected}" if expected.isdigit() else f"status in {expected}")
        elif kind == "header":
            lines.append(f"header {a['name']} contains {a['contains']}" if a.get("contains")
                         else f"header {a['name']} exists")
        elif kind == "body_contains":
            lines.append(f"body contains {a['text']}")
        elif kind == "json_path":
            lines.append(f'json {a["path"]} == "{a["expected"]}"' if a.get("expected") is not None
                         else f"json {a['path']} exists")
        elif kind == "response_time":
            lines.append(f"time < {a['max_ms']}")
    return "\n".join(lines)


_EXTRACT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?:json\s+)?(\S+)$", re.I)


def parse_extractions(text: str, field: str = "extract") -> dict[str, str]:
    """``name = json path`` lines → ``{"name": "path"}`` (the variable ``{{name}}`` later
    steps may use).

    :raises FormInputError: naming the first malformed line.
    """
    out: dict[str, str] = {}
    for number, line in enumerate((text or "").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        match = _EXTRACT.match(line)
        if not match:
            raise FormInputError(f"Line {number}: write extractions as 'token = json data.token'.",
                                 field)
        out[match.group(1)] = match.group(2)
    return out


def format_extractions(extract: dict | None) -> str:
    """The inverse of :func:`parse_extractions`."""
    return "\n".join(f"{k} = json {v}" for k, v in (extract or {}).items())


def optional_int(value) -> int | None:
    """A select's value as an id: ``""``/None → None, ``"7"`` → 7.

    :raises ValueError: for anything else (WTForms reports "Not a valid choice").
    """
    if value in (None, ""):
        return None
    return int(value)


def group_choices(groups, *, escalation: bool = False) -> list[tuple[str, str]]:
    """Choices of a contact-group select: the empty choice, then ``groups`` by name (the
    values are ids as text; ``optional_int`` turns them back)."""
    first = NO_ESCALATION_CHOICE if escalation else OWN_GROUP_CHOICE
    return [first] + [
        (str(g.id), f"{g.name} ({len(g.contacts)} recipient{'s' if len(g.contacts) != 1 else ''})")
        for g in groups
    ]


def parse_tags(text: str) -> list[str]:
    """Comma-separated tags → a list without blanks."""
    return [t.strip() for t in (text or "").split(",") if t.strip()]


# ---------------------------------------------------------------- forms


def normalise_newlines(text: str | None) -> str | None:
    """Browsers submit a textarea's line breaks as CRLF; store them as ``\n`` (what the API
    takes), so saving a form unchanged leaves a request body or description unchanged."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if isinstance(text, str) else text


#: The filters of every text area (``filters=LF``).
LF = (normalise_newlines,)


class SecondsField(FloatField):
    """A duration in seconds that may have a fraction (the schema's ``timeout`` is a float).

    Shown without a needless ``.0`` (``5.0`` → ``5``, ``2.5`` stays), as a number input that
    accepts decimals, so an edit form posts back what it showed. (An ``IntegerField`` showed
    the stored ``5.0`` and then refused its own value as missing.)
    """

    widget = NumberInput(step="any")

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        if self.data is None:
            return ""
        return f"{self.data:g}"


class StepForm(Form):
    """One step of a synthetic transaction (a sub-form: its CSRF is the parent's)."""

    name = StringField("Step name", validators=[Optional(), Length(max=120)])
    method = SelectField("Step method", choices=METHOD_CHOICES, default="GET")
    url = StringField(
        "Step URL",
        validators=[Optional(), Length(max=2000)],
        description="May use {{variables}} extracted by earlier steps.",
    )
    headers = TextAreaField(
        "Step headers",
        filters=LF,
        validators=[Optional(), Length(max=20_000)],
        description="One per line: Name: value",
    )
    body = TextAreaField("Step body", filters=LF, validators=[Optional(), Length(max=65_536)])
    assertions = TextAreaField(
        "Step assertions",
        filters=LF,
        validators=[Optional(), Length(max=20_000)],
        description=ASSERTION_HELP,
    )
    extract = TextAreaField(
        "Step extractions",
        filters=LF,
        validators=[Optional(), Length(max=5_000)],
        description="One per line: token = json data.token",
    )


class MonitorForm(FlaskForm):
    """Create or edit a monitor of any type."""

    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    type = SelectField("Type", choices=[(t, TYPE_LABELS[t]) for t in MONITOR_TYPES], default=HTTP)
    interval = IntegerField(
        "Check every (seconds)",
        default=300,
        validators=[DataRequired(), NumberRange(min=1, max=31 * 86400)],
    )
    timeout = SecondsField(
        "Timeout (seconds)",
        default=10,
        validators=[InputRequired(), NumberRange(min=0.1, max=300)],
        description="May have decimals, e.g. 2.5; less than the interval.",
    )
    retries = IntegerField(
        "Failures in a row before down",
        default=1,
        validators=[Optional(), NumberRange(min=0, max=20)],
    )
    tags = StringField(
        "Tags",
        validators=[Optional(), Length(max=700)],
        description="Comma-separated, e.g. production, shop",
    )
    paused = BooleanField("Paused (do not check)")
    remind_every_minutes = IntegerField(
        "Remind every (minutes) while down", validators=[Optional(), NumberRange(min=1, max=43200)]
    )
    escalate_after_minutes = IntegerField(
        "Escalate after (minutes) down",
        validators=[Optional(), NumberRange(min=1, max=43200)],
        description="Needed with an escalation group.",
    )
    # The group rules (unknown group, escalation without minutes) live in the service, which
    # names the field at fault; the choices are set by the view (group_choices).
    contact_group_id = SelectField(
        "Contact group",
        choices=[OWN_GROUP_CHOICE],
        coerce=optional_int,
        validate_choice=False,
        description="Alerted when the monitor goes down, while it stays down and on recovery.",
    )
    escalation_group_id = SelectField(
        "Escalation group",
        choices=[NO_ESCALATION_CHOICE],
        coerce=optional_int,
        validate_choice=False,
        description="Also alerted once an incident is open for the minutes below.",
    )
    # http
    url = StringField("URL", validators=[Optional(), Length(max=2000)])
    method = SelectField("Method", choices=METHOD_CHOICES, default="GET")
    headers = TextAreaField(
        "Request headers",
        filters=LF,
        validators=[Optional(), Length(max=20_000)],
        description="One per line: Name: value",
    )
    body = TextAreaField("Request body", filters=LF, validators=[Optional(), Length(max=65_536)])
    expected_status = StringField(
        "Expected status codes",
        default="200-299",
        validators=[Optional(), Length(max=200)],
        description="e.g. 200-299,301",
    )
    keyword = StringField(
        "Keyword",
        validators=[Optional(), Length(max=1000)],
        description="Text the response body must contain.",
    )
    keyword_absent = BooleanField("Down when the keyword is present instead")
    json_path = StringField(
        "JSON path", validators=[Optional(), Length(max=500)], description="e.g. $.status"
    )
    json_expected = StringField("Expected JSON value", validators=[Optional(), Length(max=1000)])
    max_response_ms = IntegerField(
        "Slowest acceptable response (ms)", validators=[Optional(), NumberRange(min=1, max=300_000)]
    )
    follow_redirects = BooleanField("Follow redirects", default=True)
    # host and port types
    host = StringField(
        "Host",
        validators=[Optional(), Length(max=255)],
        description="Host name or IP address (for DNS: the name to look up).",
    )
    port = IntegerField("Port", validators=[Optional(), NumberRange(min=1, max=65535)])
    starttls = BooleanField("Use STARTTLS")
    username = StringField("FTP user name", validators=[Optional(), Length(max=200)])
    password = StringField(
        "FTP password",
        validators=[Optional(), Length(max=200)],
        description="Left empty on edit: keep the stored password.",
    )
    expected_address = StringField("Expected address", validators=[Optional(), Length(max=45)])
    resolver = StringField(
        "Resolver",
        validators=[Optional(), Length(max=60)],
        description="ip or ip:port; the system resolver when empty.",
    )
    record_type = SelectField(
        "Record type", choices=[("A", "A (IPv4)"), ("AAAA", "AAAA (IPv6)")], default="A"
    )
    days_before = IntegerField(
        "Alert days before expiry", default=14, validators=[Optional(), NumberRange(min=0, max=365)]
    )
    grace_seconds = IntegerField(
        "Grace period (seconds)",
        default=60,
        validators=[Optional(), NumberRange(min=0, max=31 * 86400)],
    )
    # synthetic
    steps = FieldList(FormField(StepForm), min_entries=1, max_entries=20)
    submit = SubmitField("Save monitor")

    def to_data(self, *, keep_password: bool = False) -> dict:
        """The API-shaped dict for the chosen type (other types' fields dropped).

        :param keep_password: leave ``password`` out when the field is empty (edit form:
            an empty field keeps the stored password).
        :raises FormInputError: a malformed line in headers, assertions or extractions.
        """
        kind = self.type.data
        data: dict = {
            "name": (self.name.data or "").strip(),
            "type": kind,
            "interval": self.interval.data,
            "timeout": self.timeout.data,
            "retries": self.retries.data if self.retries.data is not None else 1,
            "tags": parse_tags(self.tags.data),
            "paused": bool(self.paused.data),
            "remind_every_minutes": self.remind_every_minutes.data,
            "escalate_after_minutes": self.escalate_after_minutes.data,
            "contact_group_id": self.contact_group_id.data,
            "escalation_group_id": self.escalation_group_id.data,
        }
        if kind == HTTP:
            data.update(
                {
                    "url": (self.url.data or "").strip(),
                    "method": self.method.data,
                    "headers": parse_headers(self.headers.data, "headers"),
                    "body": self.body.data or None,
                    "expected_status": (self.expected_status.data or "").strip() or "200-299",
                    "keyword": self.keyword.data or None,
                    "keyword_absent": bool(self.keyword_absent.data),
                    "json_path": (self.json_path.data or "").strip() or None,
                    "json_expected": self.json_expected.data if self.json_expected.data else None,
                    "max_response_ms": self.max_response_ms.data,
                    "follow_redirects": bool(self.follow_redirects.data),
                }
            )
        elif kind == SYNTHETIC:
            data["steps"] = [
                self._step_data(index, entry.form) for index, entry in enumerate(self.steps.entries)
            ]
        elif kind != HEARTBEAT:
            data["host"] = (self.host.data or "").strip()
            if kind != DNS:
                data["port"] = self.port.data
            if kind == SMTP:
                data["starttls"] = bool(self.starttls.data)
            elif kind == FTP:
                data["username"] = self.username.data or None
                if self.password.data or not keep_password:
                    data["password"] = self.password.data or None
            elif kind == DNS:
                data.update(
                    {
                        "expected_address": (self.expected_address.data or "").strip() or None,
                        "resolver": (self.resolver.data or "").strip() or None,
                        "record_type": self.record_type.data,
                    }
                )
            elif kind == TLS:
                data["days_before"] = (
                    self.days_before.data if self.days_before.data is not None else 14
                )
        if kind == HEARTBEAT:
            data["grace_seconds"] = (
                self.grace_seconds.data if self.grace_seconds.data is not None else 60
            )
        if kind in (SMTP, FTP, TLS) and data.get("port") is None:
            data.pop("port")  # the schema's default port for the protocol
        return data

    @staticmethod
    def _step_data(index: int, step: StepForm) -> dict:
        prefix = f"steps-{index}-"
        return {
            "name": (step.name.data or "").strip() or f"Step {index + 1}",
            "method": step.method.data or "GET",
            "url": (step.url.data or "").strip(),
            "headers": parse_headers(step.headers.data, prefix + "headers"),
            "body": step.body.data or None,
            "assertions": parse_assertions(step.assertions.data, prefix + "assertions"),
            "extract": parse_extractions(step.extract.data, prefix + "extract"),
        }

    def fill_from(self, spec: dict) -> None:
        """Pre-fill an edit form from ``schemas.monitor_to_spec_dict(monitor)``."""
        for name in COMMON_FIELDS + tuple(TYPE_FIELDS):
            if name in ("steps", "headers", "tags", "password") or name not in spec:
                continue
            getattr(self, name).data = spec[name]
        self.tags.data = ", ".join(spec.get("tags") or [])
        self.headers.data = format_headers(spec.get("headers"))
        steps = spec.get("steps") or []
        if steps:
            while len(self.steps.entries):
                self.steps.pop_entry()
            for step in steps:
                self.steps.append_entry()
                form = self.steps.entries[-1].form
                form.name.data = step.get("name", "")
                form.method.data = step.get("method", "GET")
                form.url.data = step.get("url", "")
                form.headers.data = format_headers(step.get("headers"))
                form.body.data = step.get("body") or ""
                form.assertions.data = format_assertions(step.get("assertions"))
                form.extract.data = format_extractions(step.get("extract"))


def error_target(form: MonitorForm, path: str | None):
    """The form field a service error path points at (``url``, ``steps.0.assertions.1.expected``
    → the step's assertions box), or None when no field matches (shown above the form)."""
    if not path:
        return None
    parts = path.split(".")
    if parts[0] == "steps" and len(parts) >= 3 and parts[1].isdigit():
        index = int(parts[1])
        if index < len(form.steps.entries):
            step = form.steps.entries[index].form
            return getattr(step, parts[2], None) if parts[2] in step._fields else None
        return None
    if parts[0] == "steps":
        return form.steps.entries[0].form.url if form.steps.entries else None
    field = form._fields.get(parts[0])
    return None if field is None or parts[0] in ("submit", "csrf_token") else field


class FilterForm(FlaskForm):
    """Overview filters (GET, no CSRF)."""

    class Meta:
        csrf = False

    q = StringField("Search by name", validators=[Optional(), Length(max=120)])
    status = SelectField(
        "Status",
        choices=[("", "Any status")] + [(s, s.capitalize()) for s in MONITOR_STATUSES],
        validators=[Optional()],
    )
    type = SelectField(
        "Type",
        choices=[("", "Any type")] + [(t, TYPE_LABELS[t]) for t in MONITOR_TYPES],
        validators=[Optional()],
    )
    tag = SelectField("Tag", choices=[("", "Any tag")], validators=[Optional()])


class ContactForm(FlaskForm):
    """Add one alert recipient to a monitor."""

    kind = SelectField("Contact type", choices=[("email", "Email"), ("phone", "Phone (SMS)")])
    value = StringField(
        "Email address or phone number", validators=[DataRequired(), Length(max=254)]
    )
    submit = SubmitField("Add contact")


class ContactGroupForm(FlaskForm):
    """Create or rename a contact group."""

    name = StringField(
        "Group name",
        validators=[DataRequired(), Length(max=120)],
        description="e.g. On-call engineers; unique.",
    )
    submit = SubmitField("Save group")


class ActionForm(FlaskForm):
    """A bare CSRF-protected POST (run now, pause, resume, delete)."""

    next = HiddenField(validators=[Optional()])


class StatusPageForm(FlaskForm):
    """Create or edit a public status page."""

    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    slug = StringField(
        "Address (slug)",
        validators=[
            DataRequired(),
            Length(min=2, max=64),
            Regexp(r"^[a-z0-9][a-z0-9-]*$", message="Use lower-case letters, digits and hyphens."),
        ],
        description="The page is public at /status/<slug>.",
    )
    description = TextAreaField(
        "Description", filters=LF, validators=[Optional(), Length(max=5000)]
    )
    monitors = SelectMultipleField("Monitors shown", coerce=int, choices=[])
    submit = SubmitField("Save status page")


class DashboardForm(FlaskForm):
    """Dashboard period (GET, no CSRF)."""

    class Meta:
        csrf = False

    range = SelectField(
        "Period",
        choices=[
            ("24h", "Last 24 hours"),
            ("7d", "Last 7 days"),
            ("30d", "Last 30 days"),
            ("90d", "Last 90 days"),
            ("365d", "Last 365 days"),
            ("custom", "Dates below"),
        ],
        default="30d",
        validators=[Optional()],
    )
    start = StringField("From", validators=[Optional(), Length(max=10)])
    end = StringField("Until", validators=[Optional(), Length(max=10)])
    unit = SelectField(
        "Group failures by",
        choices=[("day", "Day"), ("week", "Week"), ("month", "Month")],
        default="day",
        validators=[Optional()],
    )
