"""Monitor management shared by the API, the console and ``crm-monitor``: create, change,
delete, contacts, export and import.

Every function validates with :mod:`crm.monitoring.schemas`, commits, and raises
:class:`crm.errors.ServiceError` for bad input (status 422, ``field`` = the first field at
fault, ``errors`` = every problem as ``{field: [messages]}``). Domain events:
``monitor.created``, ``monitor.updated``, ``monitor.deleted`` (payload ``monitor_id``).
"""
from __future__ import annotations

import secrets

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from pydantic import ValidationError
from sqlalchemy import or_, select

from crm import events
from crm.clock import utcnow
from crm.errors import ServiceError
from crm.extensions import db
from crm.monitoring import schemas
from crm.monitoring.models import (
    FTP,
    HEARTBEAT,
    PAUSED,
    PENDING,
    Contact,
    ContactGroup,
    Monitor,
)
from crm.notifications.sms import normalise_phone

#: Fields ``update_monitor`` refuses (contacts have their own functions/endpoints).
_NOT_UPDATABLE = {"contacts": "Manage contacts with the monitor's contacts (add/remove)."}
#: Fields whose change means the next check should run now.
_CHECK_FIELDS = {"type", "interval", "timeout"}


class MonitorInvalid(ServiceError):
    """A monitor definition failed validation (HTTP 422).

    :param problems: ``[(field path, message)]``; the first becomes ``field``/``message``,
        all of them ``errors`` (``{field: [messages]}``).
    """

    def __init__(self, problems: list[tuple[str, str]], detail: str | None = None):
        field, message = problems[0]
        errors: dict[str, list[str]] = {}
        for name, msg in problems:
            errors.setdefault(name, []).append(msg)
        super().__init__(detail or _sentence(message), field=field, status=422, errors=errors)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _validate(data) -> schemas.MonitorSpec:
    """Validate a full definition or raise :class:`MonitorInvalid`."""
    if not isinstance(data, dict):
        raise MonitorInvalid([("body", "a monitor must be a JSON object")])
    try:
        return schemas.validate_monitor(data)
    except ValidationError as exc:
        raise MonitorInvalid(schemas.error_list(exc)) from None


def ping_url(monitor: Monitor) -> str | None:
    """The URL a heartbeat monitor's job calls (``PUBLIC_URL`` + ``/api/v1/heartbeat/<token>``),
    None for other types."""
    if monitor.type != HEARTBEAT or not monitor.heartbeat_token:
        return None
    base = current_app.config.get("SERVER_NAME_FOR_LINKS", "").rstrip("/")
    return f"{base}/api/v1/heartbeat/{monitor.heartbeat_token}"


def _apply(monitor: Monitor, spec: schemas.MonitorSpec) -> None:
    columns, config = schemas.spec_to_columns(spec)
    for attr, value in columns.items():
        setattr(monitor, attr, value)
    monitor.config = config
    if monitor.type == HEARTBEAT and not monitor.heartbeat_token:
        monitor.heartbeat_token = secrets.token_urlsafe(24)
    elif monitor.type != HEARTBEAT:
        monitor.heartbeat_token = None


def _new_monitor(spec: schemas.MonitorSpec, by) -> Monitor:
    """Add (not commit) a monitor built from ``spec``, with its contacts."""
    monitor = Monitor(created_by_id=getattr(by, "id", None), consecutive_failures=0)
    _apply(monitor, spec)
    monitor.status = PAUSED if monitor.paused else PENDING
    monitor.next_check_at = utcnow()
    db.session.add(monitor)
    db.session.flush()
    for index, contact in enumerate(spec.contacts):
        try:
            _add_contact(monitor, email=contact.email, phone=contact.phone)
        except ServiceError as exc:
            raise MonitorInvalid([(f"contacts.{index}.{exc.field or 'email'}", exc.message)]) from None
    events.publish(db.session, "monitor.created", monitor_id=monitor.id)
    return monitor


def create_monitor(data: dict, by=None) -> Monitor:
    """Create a monitor from an API-shaped definition and commit.

    :param data: ``name``, ``type``, ``interval`` (s), ``timeout`` (s), ``retries``, ``tags``,
        ``paused``, ``escalate_after_minutes``, ``remind_every_minutes``, optional
        ``contacts`` ([{email} | {phone}]) and the type's own fields (see
        :mod:`crm.monitoring.schemas`).
    :param by: the acting user (stored as ``created_by_id``).
    :returns: the new monitor: ``status`` ``pending`` (``paused`` when created paused),
        ``next_check_at`` now, and a random ``heartbeat_token`` for heartbeat monitors.
    :raises ServiceError: 422 (:class:`MonitorInvalid`) naming the field at fault.
    """
    spec = _validate(data)
    monitor = _new_monitor(spec, by)
    db.session.commit()
    return monitor


def update_monitor(monitor: Monitor, data: dict, by=None) -> Monitor:
    """Change some fields of ``monitor`` (a partial definition; ``null`` clears an optional
    field) and commit. Changing ``type`` drops the old type's fields.

    Pausing sets ``status`` ``paused``; resuming sets ``pending`` and checks at once, as does
    a change of type, interval or timeout.

    :raises ServiceError: 422 naming the field at fault (``contacts`` cannot be changed here).
    """
    if not isinstance(data, dict):
        raise MonitorInvalid([("body", "send the fields to change as a JSON object")])
    for name, message in _NOT_UPDATABLE.items():
        if name in data:
            raise MonitorInvalid([(name, message)])
    current = schemas.monitor_to_spec_dict(monitor)
    if "type" in data and data["type"] != monitor.type:
        current = {k: v for k, v in current.items() if k in schemas.COLUMN_FIELDS}
    merged = {**current, **data}
    spec = _validate(merged)
    was_paused = monitor.paused
    _apply(monitor, spec)
    if monitor.paused and not was_paused:
        monitor.status = PAUSED
    elif was_paused and not monitor.paused:
        monitor.status = PENDING
        monitor.consecutive_failures = 0
        monitor.next_check_at = utcnow()
    if _CHECK_FIELDS & set(data) or set(data) - set(schemas.COLUMN_FIELDS):
        monitor.next_check_at = utcnow()
    events.publish(db.session, "monitor.updated", monitor_id=monitor.id,
                   by_id=getattr(by, "id", None), fields=sorted(data))
    db.session.commit()
    return monitor


def _own_group_name(monitor: Monitor) -> str:
    return f"Monitor #{monitor.id}: {monitor.name}"[:120]


def delete_monitor(monitor: Monitor, by=None) -> None:
    """Delete ``monitor`` with its results, flips, rollups and incidents (database cascades)
    and its own contact group (the one :func:`add_contact` created, if no other monitor uses
    it); commit."""
    group = monitor.contact_group
    monitor_id = monitor.id
    own = group is not None and group.name.startswith(f"Monitor #{monitor_id}:")
    db.session.delete(monitor)
    db.session.flush()
    if own:
        used = db.session.scalar(select(Monitor.id).where(or_(
            Monitor.contact_group_id == group.id, Monitor.escalation_group_id == group.id)).limit(1))
        if used is None:
            db.session.delete(group)
    events.publish(db.session, "monitor.deleted", monitor_id=monitor_id, by_id=getattr(by, "id", None))
    db.session.commit()


def _normalise_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        raise ServiceError("Enter a valid email address.", field="email", status=422) from None


def _add_contact(monitor: Monitor, *, email: str | None, phone: str | None) -> Contact:
    if bool(email) == bool(phone):
        raise ServiceError("Give an email address or a phone number (one of them).",
                           field="email", status=422)
    email = _normalise_email(email) if email else None
    phone = normalise_phone(phone) if phone else None
    group = monitor.contact_group
    if group is None:
        group = ContactGroup(name=_own_group_name(monitor), report_periods=[])
        db.session.add(group)
        db.session.flush()
        monitor.contact_group_id = group.id
        monitor.contact_group = group
    for existing in group.contacts:
        same = (email and (existing.email or "").lower() == email.lower()) or (phone and existing.phone == phone)
        if same:
            raise ServiceError(f"{email or phone} is already a contact of this monitor.",
                               field="email" if email else "phone", status=409)
    contact = Contact(group_id=group.id, email=email, phone=phone)
    group.contacts.append(contact)
    db.session.flush()
    return contact


def add_contact(monitor: Monitor, *, email: str | None = None, phone: str | None = None) -> Contact:
    """Add an alert recipient to the monitor's contact group (created on first use) and commit.

    :param email: an email address (normalised), or
    :param phone: a phone number, normalised to E.164 (``PHONE_DEFAULT_REGION`` for numbers
        without ``+``).
    :returns: the new contact.
    :raises ServiceError: 422 for neither/both or an invalid value (field ``email``/``phone``),
        409 when the recipient is already in the group.
    """
    contact = _add_contact(monitor, email=email, phone=phone)
    db.session.commit()
    return contact


def monitor_contacts(monitor: Monitor) -> list[Contact]:
    """The contacts of the monitor's contact group (empty when it has none)."""
    return list(monitor.contact_group.contacts) if monitor.contact_group else []


def remove_contact(monitor: Monitor, contact_id: int) -> None:
    """Remove a recipient from the monitor's contact group and commit.

    :raises ServiceError: 404 when ``contact_id`` is not a contact of this monitor.
    """
    contact = next((c for c in monitor_contacts(monitor) if c.id == contact_id), None)
    if contact is None:
        raise ServiceError("This monitor has no such contact.", field="contact_id", status=404)
    monitor.contact_group.contacts.remove(contact)
    db.session.delete(contact)
    db.session.commit()


def _contact_dict(contact: Contact) -> dict:
    return {"email": contact.email} if contact.email else {"phone": contact.phone}


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def monitor_to_dict(monitor: Monitor) -> dict:
    """The API representation of a monitor: ``id``, the definition (as accepted by
    :func:`create_monitor`), ``contacts`` ([{id, email, phone}]), ``ping_url`` (heartbeats,
    else null) and the runtime state (``status``, ``last_checked_at`` … as UTC ISO 8601).
    An FTP ``password`` is never included (``password_set`` tells whether one is stored;
    :func:`export_monitors` carries it)."""
    out = {"id": monitor.id, **schemas.monitor_to_spec_dict(monitor)}
    if monitor.type == FTP:
        out["password_set"] = bool(out.pop("password", None))
    out.update({
        "contacts": [{"id": c.id, "email": c.email, "phone": c.phone} for c in monitor_contacts(monitor)],
        "ping_url": ping_url(monitor),
        "protocol": monitor.protocol,
        "status": monitor.status,
        "consecutive_failures": monitor.consecutive_failures,
        "last_checked_at": _iso(monitor.last_checked_at),
        "last_response_ms": monitor.last_response_ms,
        "last_status_code": monitor.last_status_code,
        "last_error": monitor.last_error,
        "last_flip_at": _iso(monitor.last_flip_at),
        "last_ping_at": _iso(monitor.last_ping_at),
        "next_check_at": _iso(monitor.next_check_at),
        "created_at": _iso(monitor.created_at),
        "updated_at": _iso(monitor.updated_at),
    })
    return out


def export_monitors() -> list[dict]:
    """Every monitor's definition with its contacts ([{email} | {phone}]), oldest first: the
    shape :func:`import_monitors` accepts (no ids, no runtime state; heartbeat monitors get
    a new token, so a new ``ping_url``, when imported)."""
    monitors = db.session.scalars(select(Monitor).order_by(Monitor.id))
    return [{**schemas.monitor_to_spec_dict(m), "contacts": [_contact_dict(c) for c in monitor_contacts(m)]}
            for m in monitors]


def import_monitors(items: list[dict], by=None) -> list[Monitor]:
    """Create every monitor in ``items`` (the :func:`export_monitors` shape), all or nothing:
    one transaction, committed only when every item is valid.

    :returns: the new monitors, in the order given.
    :raises ServiceError: 422 whose ``errors`` name each bad member as ``<index>.<field>``
        (``3.url``) with a message starting ``Item 3:`` (indexes from 0).
    """
    if not isinstance(items, list) or not items:
        raise MonitorInvalid([("body", "send a non-empty JSON array of monitors")])
    if len(items) > 1000:
        raise MonitorInvalid([("body", "import at most 1000 monitors at a time")])
    specs, problems = [], []
    for index, item in enumerate(items):
        try:
            specs.append(_validate(item))
        except MonitorInvalid as exc:
            for field, messages in exc.errors.items():
                path = f"{index}.{field}" if field != "body" else str(index)
                problems += [(path, f"Item {index}: {msg}") for msg in messages]
    if problems:
        raise MonitorInvalid(problems, detail=f"{len({p.split('.')[0] for p, _ in problems})} of "
                                              f"{len(items)} monitors are invalid; nothing was imported. "
                                              f"{problems[0][1]}")
    created = []
    try:
        for index, spec in enumerate(specs):
            try:
                created.append(_new_monitor(spec, by))
            except MonitorInvalid as exc:
                raise MonitorInvalid([(f"{index}.{f}", f"Item {index}: {m}")
                                      for f, ms in exc.errors.items() for m in ms]) from None
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return created
