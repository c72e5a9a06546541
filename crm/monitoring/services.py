"""Monitor management shared by the API, the console and ``crm-monitor``: create, change,
delete, contacts, named contact groups, export and import.

Contact groups: every monitor alerts one contact group (``contact_group_id``) and may
escalate to a second (``escalation_group_id`` after ``escalate_after_minutes``). A monitor
created without ``contact_group_id`` gets its *own* group (``owner_monitor_id`` = the
monitor; named ``Monitor #<id>: <name>`` for people) when its first contact is added through
:func:`add_contact`; named groups (:func:`create_contact_group`) can be shared by many
monitors. Names starting ``Monitor #<digits>:`` are reserved for own groups, so a named group
never looks like one.

Every function validates with :mod:`crm.monitoring.schemas`, commits, and raises
:class:`crm.errors.ServiceError` for bad input (status 422, ``field`` = the first field at
fault, ``errors`` = every problem as ``{field: [messages]}``). Domain events:
``monitor.created``, ``monitor.updated``, ``monitor.deleted`` (payload ``monitor_id``).
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from pydantic import ValidationError
from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import selectinload

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
    Incident,
    Monitor,
)
from crm.net import AddressRefused, customer_policy, staff_policy, vet_host
from crm.notifications.sms import normalise_phone

#: Fields ``update_monitor`` refuses (contacts have their own functions/endpoints).
_NOT_UPDATABLE = {"contacts": "Manage contacts with the monitor's contacts (add/remove)."}
#: Fields whose change means the next check should run now.
_CHECK_FIELDS = {"type", "interval", "timeout"}


class MonitorInvalid(ServiceError):
    """A monitor definition failed validation (HTTP 422).

    :param problems: ``[(field path, message)]``; the first becomes ``field`` and the
        message (``url: Field required``: the field named unless the message starts with it),
        all of them ``errors`` (``{field: [messages]}``).
    :param detail: the message instead.
    """

    def __init__(self, problems: list[tuple[str, str]], detail: str | None = None):
        field, message = problems[0]
        errors: dict[str, list[str]] = {}
        for name, msg in problems:
            errors.setdefault(name, []).append(msg)
        if detail is None:
            named = field == "body" or message.startswith(field)
            detail = _sentence(message) if named else f"{field}: {message}"
        super().__init__(detail, field=field, status=422, errors=errors)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


#: the monitor types a customer may own (self-service uptime): no SMTP, FTP or synthetic
#: transactions, which reach into systems rather than watch a site
CUSTOMER_TYPES = ("http", "tls", "tcp", "dns", "heartbeat")


def _validate(data, owner=None) -> schemas.MonitorSpec:
    """Validate a full definition or raise :class:`MonitorInvalid`: the schema, no masked
    placeholder standing in for a secret (:func:`schemas.masked_leftovers`), and
    destinations the outbound policy allows (:func:`vet_destinations`). For a customer's
    monitor (``owner``) also the types customers may own (:data:`CUSTOMER_TYPES`) and the
    owner's plan (:func:`crm.monitoring.plans.check_settings`: interval, SMS)."""
    if not isinstance(data, dict):
        raise MonitorInvalid([("body", "a monitor must be a JSON object")])
    try:
        spec = schemas.validate_monitor(data)
    except ValidationError as exc:
        raise MonitorInvalid(schemas.error_list(exc)) from None
    problems = schemas.masked_leftovers(data)
    if problems:
        raise MonitorInvalid(problems)
    if owner is not None:
        from crm.monitoring import plans
        if spec.type not in CUSTOMER_TYPES:
            raise MonitorInvalid([("type", f"choose one of: {', '.join(CUSTOMER_TYPES)}")])
        plans.check_settings(owner, interval_seconds=spec.interval,
                             sms_numbers=sum(1 for c in spec.contacts if c.phone))
        _check_own_contacts(owner, spec)
    vet_destinations(spec, owner)
    return spec


def _check_own_contacts(owner, spec: schemas.MonitorSpec) -> None:
    """A customer's monitor alerts only the customer: their email address and their verified
    phone number. (Other addresses would let anyone have us mail strangers; they need a
    confirmation by link first, which customers' contact groups do not offer yet.)

    :raises MonitorInvalid: 422 naming ``contacts.<i>.email`` / ``contacts.<i>.phone``.
    """
    problems = []
    for index, contact in enumerate(spec.contacts):
        if contact.email and contact.email.strip().lower() != owner.email.lower():
            problems.append((f"contacts.{index}.email",
                             f"alerts of your monitors go to your own address ({owner.email})"))
        if contact.phone and not (owner.phone_verified_at and
                                  normalise_phone(contact.phone) == owner.phone):
            problems.append((f"contacts.{index}.phone",
                             "alerts by SMS go to your own verified phone number only"))
    if problems:
        raise MonitorInvalid(problems)


def vet_destinations(spec: schemas.MonitorSpec, owner=None) -> None:
    """Refuse a definition whose destinations the outbound policy refuses (the staff policy,
    or for a customer's monitor, ``owner`` given, the customer policy; see
    :mod:`crm.net.policy`): addresses in any numeric form and names known without DNS
    (``localhost``, metadata names). Names are resolved and vetted again at every connection
    (:class:`crm.net.Guard`), since DNS answers change.

    :raises MonitorInvalid: 422 naming the field and the address (``url``: ``address
        refused: 169.254.169.254 (cloud metadata)``).
    """
    config = current_app.config
    policy = customer_policy(config) if owner is not None else staff_policy(config)
    problems = []
    for field, host in schemas.outbound_hosts(spec):
        try:
            vet_host(policy, host)
        except AddressRefused as exc:
            problems.append((field, f"{exc}: monitors may not connect there"))
    if problems:
        raise MonitorInvalid(problems)


# ---------------------------------------------------------------- listing

@dataclass
class MonitorFilters:
    """Filters of the monitor lists (the console's overview and ``GET /api/v1/monitors``).
    Every member is optional; None or ``""`` means "any".

    ``text``: text in the name (case-insensitive; ``%`` and ``_`` match themselves);
    ``status``/``type``: a monitor status or type (another value matches no monitor);
    ``tag``: a tag the monitor carries; ``owner_id``: only this customer's monitors (the
    scope of a customer's list; None: everyone's).
    """

    text: str | None = None
    status: str | None = None
    type: str | None = None
    tag: str | None = None
    owner_id: int | None = None


def _has_tag(tag: str):
    """SQL condition: the monitor's JSON ``tags`` list contains ``tag`` (``@>`` on
    PostgreSQL, ``json_each`` on SQLite)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.cast(Monitor.tags, JSONB).contains([tag])
    values = func.json_each(Monitor.tags).table_valued("value").alias("tag_values")
    return exists(select(1).select_from(values).where(values.c.value == tag))


def all_tags() -> list[str]:
    """Every tag some monitor carries, sorted (unnested in SQL)."""
    if db.session.get_bind().dialect.name == "postgresql":
        values = func.json_array_elements_text(Monitor.tags).table_valued("value")
    else:
        values = func.json_each(Monitor.tags).table_valued("value")
    values = values.alias("tag_values")
    stmt = select(values.c.value).select_from(Monitor).join(values, db.true()).distinct()
    return sorted(str(v) for v in db.session.scalars(stmt))


def list_monitors(filters: MonitorFilters) -> Select:
    """The monitors matching ``filters``, as a statement the door pages in its own order
    (the console newest first with :func:`crm.pagination.id_keyset_page`, the API by id
    with a cursor).

    :returns: ``select(Monitor)`` with the filters applied, unordered and unlimited.
    """
    stmt = select(Monitor)
    if filters.owner_id is not None:
        stmt = stmt.where(Monitor.owner_id == filters.owner_id)
    if filters.status:
        stmt = stmt.where(Monitor.status == filters.status)
    if filters.type:
        stmt = stmt.where(Monitor.type == filters.type)
    if filters.tag:
        stmt = stmt.where(_has_tag(filters.tag))
    if filters.text:
        escaped = filters.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Monitor.name.ilike(f"%{escaped}%", escape="\\"))
    return stmt


def list_incidents(*, owner_id: int | None = None, state: str | None = None,
                   monitor_id: int | None = None) -> Select:
    """Incidents with their monitor loaded, for the doors to page (by id, newest first).

    :param owner_id: only incidents of this customer's monitors (a customer's scope).
    :param state: ``open`` (not closed) or ``closed``; None for both.
    :param monitor_id: only this monitor's.
    :returns: ``select(Incident)``, unordered and unlimited.
    """
    stmt = select(Incident).options(selectinload(Incident.monitor))
    if owner_id is not None:
        stmt = stmt.join(Monitor, Monitor.id == Incident.monitor_id).where(
            Monitor.owner_id == owner_id)
    if state == "open":
        stmt = stmt.where(Incident.closed_at.is_(None))
    elif state == "closed":
        stmt = stmt.where(Incident.closed_at.is_not(None))
    if monitor_id is not None:
        stmt = stmt.where(Incident.monitor_id == monitor_id)
    return stmt


# ---------------------------------------------------------------- definitions

def ping_url(monitor: Monitor) -> str | None:
    """The URL a heartbeat monitor's job calls (``PUBLIC_URL`` + ``/api/v1/heartbeat/<token>``),
    None for other types."""
    if monitor.type != HEARTBEAT or not monitor.heartbeat_token:
        return None
    base = current_app.config.get("SERVER_NAME_FOR_LINKS", "").rstrip("/")
    return f"{base}/api/v1/heartbeat/{monitor.heartbeat_token}"


def _groups_of(spec: schemas.MonitorSpec,
               owner_id: int | None = None) -> dict[str, ContactGroup | None]:
    """The groups ``spec`` names, by field. A customer's monitor (``owner_id``) may name only
    that customer's groups; another's is answered as missing.

    :raises MonitorInvalid: 422 naming ``contact_group_id`` / ``escalation_group_id`` when no
        group (of the owner's) has that id.
    """
    found, problems = {}, []
    for field in schemas.GROUP_FIELDS:
        group_id = getattr(spec, field)
        group = db.session.get(ContactGroup, group_id) if group_id is not None else None
        if group is not None and owner_id is not None and group.owner_id != owner_id:
            group = None
        found[field] = group
        if group_id is not None and found[field] is None:
            problems.append((field, f"no contact group has id {group_id}"))
    if problems:
        raise MonitorInvalid(problems)
    return found


def _apply(monitor: Monitor, spec: schemas.MonitorSpec) -> None:
    groups = _groups_of(spec, monitor.owner_id)
    columns, config = schemas.spec_to_columns(spec)
    for attr, value in columns.items():
        setattr(monitor, attr, value)
    monitor.config = config
    # null contact_group_id means "the monitor's own group" (kept, or created with the first
    # contact); set the relationships too, so alerts in this session see the new groups.
    contact_group = groups["contact_group_id"]
    if contact_group is None and monitor.id is not None:
        contact_group = own_group(monitor)
    monitor.contact_group = contact_group
    monitor.contact_group_id = contact_group.id if contact_group else None
    monitor.escalation_group = groups["escalation_group_id"]
    if monitor.type == HEARTBEAT and not monitor.heartbeat_token:
        monitor.heartbeat_token = secrets.token_urlsafe(24)
    elif monitor.type != HEARTBEAT:
        monitor.heartbeat_token = None


def _new_monitor(spec: schemas.MonitorSpec, by, owner=None) -> Monitor:
    """Add (not commit) a monitor built from ``spec``, with its contacts (owned by
    ``owner``, a customer, when given)."""
    monitor = Monitor(created_by_id=getattr(by, "id", None), consecutive_failures=0,
                      owner_id=getattr(owner, "id", None))
    _apply(monitor, spec)
    monitor.status = PAUSED if monitor.paused else PENDING
    monitor.next_check_at = utcnow()
    db.session.add(monitor)
    db.session.flush()
    for index, contact in enumerate(spec.contacts):
        try:
            _add_contact(monitor, email=contact.email, phone=contact.phone)
        except ServiceError as exc:
            path = f"contacts.{index}.{exc.field or 'email'}"
            raise MonitorInvalid([(path, exc.message)]) from None
    events.publish(db.session, "monitor.created", monitor_id=monitor.id)
    return monitor


def create_monitor(data: dict, by=None, owner=None) -> Monitor:
    """Create a monitor from an API-shaped definition and commit.

    :param data: ``name``, ``type``, ``interval`` (s), ``timeout`` (s), ``retries``, ``tags``,
        ``paused``, ``escalate_after_minutes``, ``remind_every_minutes``,
        ``contact_group_id`` / ``escalation_group_id`` (ids of contact groups, or None), optional
        ``contacts`` ([{email} | {phone}], only without ``contact_group_id``: they form the
        monitor's own group) and the type's own fields (see :mod:`crm.monitoring.schemas`).
    :param by: the acting user (stored as ``created_by_id``).
    :param owner: the customer who will own it (self-service): the customer outbound policy,
        the types of :data:`CUSTOMER_TYPES`, the owner's groups only and the owner's plan
        apply (:mod:`crm.monitoring.plans`).
    :returns: the new monitor: ``status`` ``pending`` (``paused`` when created paused),
        ``next_check_at`` now, and a random ``heartbeat_token`` for heartbeat monitors.
    :raises ServiceError: 422 (:class:`MonitorInvalid`) naming the field at fault (an unknown
        group: ``contact_group_id`` / ``escalation_group_id``); 409 or 422
        (:class:`crm.monitoring.plans.PlanLimit`) past the owner's plan.
    """
    if owner is not None:
        from crm.monitoring import plans
        plans.check_new_monitor(owner)
    spec = _validate(data, owner)
    monitor = _new_monitor(spec, by, owner)
    db.session.commit()
    return monitor


def _owner_of(monitor: Monitor):
    """The customer who owns ``monitor`` (a :class:`crm.auth.models.User`), or None."""
    if monitor.owner_id is None:
        return None
    from crm.auth.models import User
    return db.session.get(User, monitor.owner_id)


def update_monitor(monitor: Monitor, data: dict, by=None) -> Monitor:
    """Change some fields of ``monitor`` (a partial definition; ``null`` clears an optional
    field) and commit. Changing ``type`` drops the old type's fields.

    Pausing sets ``status`` ``paused``; resuming sets ``pending`` and checks at once, as does
    a change of type, interval or timeout. ``contact_group_id: null`` goes back to the
    monitor's own group (if it has one; a shared group it leaves is untouched).

    :raises ServiceError: 422 naming the field at fault (``contacts`` cannot be changed here;
        an unknown group id).
    """
    if not isinstance(data, dict):
        raise MonitorInvalid([("body", "send the fields to change as a JSON object")])
    for name, message in _NOT_UPDATABLE.items():
        if name in data:
            raise MonitorInvalid([(name, message)])
    current = schemas.monitor_to_spec_dict(monitor, reveal_secrets=True)
    # secrets are masked in every read: one sent back masked keeps the stored value
    data = schemas.keep_masked_secrets(data, current)
    if "type" in data and data["type"] != monitor.type:
        current = {k: v for k, v in current.items() if k in schemas.COLUMN_FIELDS}
    merged = {**current, **data}
    spec = _validate(merged, _owner_of(monitor))
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


_OWN_GROUP_NAME = re.compile(r"^Monitor #\d+:")


def _own_group_name(monitor: Monitor) -> str:
    """The display name of a new own group: ``Monitor #<id>: <name>`` (120 characters at
    most), with `` (2)`` … when taken (names are unique; a group kept for other monitors when
    its monitor was deleted keeps its name, and SQLite may reuse the id)."""
    base = f"Monitor #{monitor.id}: {monitor.name}"[:112]
    name, n = base, 1
    while db.session.scalar(select(ContactGroup.id).where(ContactGroup.name == name)) is not None:
        n += 1
        name = f"{base} ({n})"
    return name


def is_own_group(monitor: Monitor, group: ContactGroup | None) -> bool:
    """True when ``group`` is ``monitor``'s own group (the one :func:`add_contact` created:
    its ``owner_monitor_id``)."""
    return group is not None and monitor.id is not None and group.owner_monitor_id == monitor.id


def own_group(monitor: Monitor) -> ContactGroup | None:
    """``monitor``'s own contact group, attached or not (None when it never had one)."""
    if monitor.contact_group is not None and is_own_group(monitor, monitor.contact_group):
        return monitor.contact_group
    if monitor.id is None:
        return None
    return db.session.scalar(select(ContactGroup).where(ContactGroup.owner_monitor_id == monitor.id)
                             .order_by(ContactGroup.id).limit(1))


def delete_monitor(monitor: Monitor, by=None) -> None:
    """Delete ``monitor`` with its results, flips, rollups and incidents (database cascades)
    and its own contact group (the one :func:`add_contact` created, even when the monitor
    now alerts a shared group, if no other monitor uses it); commit. Shared groups stay, and
    so does an own group other monitors use (no longer owned)."""
    group = own_group(monitor)  # attached or not (the monitor may alert a shared group now)
    monitor_id = monitor.id
    if group is not None:
        used = db.session.scalar(select(Monitor.id).where(Monitor.id != monitor_id, or_(
            Monitor.contact_group_id == group.id, Monitor.escalation_group_id == group.id))
            .limit(1))
        if used is None:
            db.session.delete(group)
        else:
            group.owner_monitor_id = None  # else the database's cascade would delete it
        db.session.flush()
    db.session.delete(monitor)
    db.session.flush()
    events.publish(db.session, "monitor.deleted", monitor_id=monitor_id,
                   by_id=getattr(by, "id", None))
    db.session.commit()


def _normalise_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        raise ServiceError("Enter a valid email address.", field="email", status=422) from None


def _recipient(email: str | None, phone: str | None) -> tuple[str | None, str | None]:
    """(normalised email, E.164 phone), exactly one of them set.

    :raises ServiceError: 422 for neither/both or an invalid value (field ``email``/``phone``).
    """
    if bool(email) == bool(phone):
        raise ServiceError("Give an email address or a phone number (one of them).",
                           field="email", status=422)
    return (_normalise_email(email) if email else None), (normalise_phone(phone) if phone else None)


def _find_contact(group: ContactGroup, email: str | None, phone: str | None) -> Contact | None:
    """The contact of ``group`` with this (normalised) email (case-insensitively) or phone."""
    for existing in group.contacts:
        if ((email and (existing.email or "").lower() == email.lower())
                or (phone and existing.phone == phone)):
            return existing
    return None


def _append(group: ContactGroup, email: str | None, phone: str | None) -> Contact:
    contact = Contact(group_id=group.id, email=email, phone=phone)
    group.contacts.append(contact)
    db.session.flush()
    return contact


def _add_contact(monitor: Monitor, *, email: str | None, phone: str | None) -> Contact:
    email, phone = _recipient(email, phone)
    group = monitor.contact_group
    if group is None:
        group = ContactGroup(name=_own_group_name(monitor), report_periods=[],
                             owner_monitor_id=monitor.id)
        db.session.add(group)
        db.session.flush()
        monitor.contact_group_id = group.id
        monitor.contact_group = group
    if _find_contact(group, email, phone) is not None:
        raise ServiceError(f"{email or phone} is already a contact of this monitor.",
                           field="email" if email else "phone", status=409)
    return _append(group, email, phone)


def add_contact(monitor: Monitor, *, email: str | None = None, phone: str | None = None) -> Contact:
    """Add an alert recipient to the monitor's contact group (its own group, created on first
    use; when the monitor alerts a shared group, that group — every monitor using it) and commit.

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


# ---------------------------------------------------------------- named contact groups

def _group_name(name: str | None, group: ContactGroup | None = None, *,
                reserved_ok: bool = False) -> str:
    """``name`` stripped, checked non-blank, not reserved, and free (case-insensitively).

    :raises ServiceError: 422 (field ``name``) for a blank or reserved name, 409 when another
        group has it.
    """
    name = (name or "").strip()
    if not name or len(name) > schemas.MAX_GROUP_NAME:
        raise ServiceError(f"Give the group a name of 1 to {schemas.MAX_GROUP_NAME} characters.",
                           field="name", status=422)
    kept = group is not None and group.name == name
    if _OWN_GROUP_NAME.match(name) and not reserved_ok and not kept:
        raise ServiceError("Names starting 'Monitor #<number>:' are kept for monitors' own groups; "
                           "choose another name.", field="name", status=422)
    taken = db.session.scalar(select(ContactGroup.id).where(
        func.lower(ContactGroup.name) == name.lower(),
        ContactGroup.id != (group.id if group else 0)))
    if taken is not None:
        raise ServiceError(f"A contact group named {name} already exists.", field="name",
                           status=409)
    return name


def _recipients(emails, phones) -> list[tuple[str | None, str | None]]:
    """Normalised (email, phone) pairs, duplicates dropped.

    :raises ServiceError: 422 naming the bad member (``emails.2``, ``phones.0``) in ``errors``.
    """
    out: list[tuple[str | None, str | None]] = []
    errors: dict[str, list[str]] = {}
    seen: set[str] = set()
    for kind, values in (("emails", emails or ()), ("phones", phones or ())):
        for index, value in enumerate(values):
            try:
                pair = _recipient(value, None) if kind == "emails" else _recipient(None, value)
            except ServiceError as exc:
                errors.setdefault(f"{kind}.{index}", []).append(exc.message)
                continue
            key = (pair[0] or "").lower() or pair[1]
            if key not in seen:
                seen.add(key)
                out.append(pair)
    if errors:
        field, messages = next(iter(errors.items()))
        raise ServiceError(f"{field}: {messages[0]}", field=field, status=422, errors=errors)
    return out


def list_contact_groups() -> list[ContactGroup]:
    """Every contact group by name (case-insensitively), contacts loaded."""
    return list(db.session.scalars(select(ContactGroup).options(selectinload(ContactGroup.contacts))
                                   .order_by(func.lower(ContactGroup.name), ContactGroup.id)))


def shareable_groups(monitor: Monitor | None = None) -> list[ContactGroup]:
    """The groups a monitor form offers, by name: named groups, plus any other group
    ``monitor`` uses now (not its own group: the form's empty choice stands for it)."""
    if monitor is None:
        return [g for g in list_contact_groups() if g.owner_monitor_id is None]
    current = {monitor.contact_group_id, monitor.escalation_group_id}
    return [g for g in list_contact_groups()
            if (g.owner_monitor_id is None or g.id in current)
            and not (is_own_group(monitor, g) and g.id != monitor.escalation_group_id)]


def group_usage(groups: list[ContactGroup]) -> dict[int, tuple[list[Monitor], list[Monitor]]]:
    """For each group id: (monitors alerting it, monitors escalating to it), each by name —
    one query for all of ``groups``."""
    ids = [g.id for g in groups]
    usage: dict[int, tuple[list[Monitor], list[Monitor]]] = {i: ([], []) for i in ids}
    if not ids:
        return usage
    rows = db.session.scalars(select(Monitor).where(or_(
        Monitor.contact_group_id.in_(ids), Monitor.escalation_group_id.in_(ids)))
        .order_by(Monitor.name, Monitor.id))
    for monitor in rows:
        if monitor.contact_group_id in usage:
            usage[monitor.contact_group_id][0].append(monitor)
        if monitor.escalation_group_id in usage:
            usage[monitor.escalation_group_id][1].append(monitor)
    return usage


def group_monitors(group: ContactGroup) -> tuple[list[Monitor], list[Monitor]]:
    """(monitors alerting ``group``, monitors escalating to it), each by name."""
    return group_usage([group])[group.id]


def create_contact_group(name: str, emails=(), phones=(), *,
                         reserved_ok: bool = False) -> ContactGroup:
    """Create a named contact group with its recipients and commit.

    :param name: unique (case-insensitively), 1–120 characters, not ``Monitor #<n>:…``.
    :param emails: email addresses (normalised; duplicates dropped).
    :param phones: phone numbers, normalised to E.164 (``PHONE_DEFAULT_REGION`` for numbers
        without ``+``; duplicates dropped).
    :param reserved_ok: allow a reserved name (import of an exported own group).
    :returns: the new group.
    :raises ServiceError: 422 for a blank/reserved name (field ``name``) or a bad recipient
        (``emails.<i>`` / ``phones.<i>``), 409 when the name is taken.
    """
    group = _new_group(name, emails, phones, reserved_ok=reserved_ok)
    db.session.commit()
    return group


def _new_group(name: str, emails=(), phones=(), *, reserved_ok: bool = False) -> ContactGroup:
    """Add (not commit) a group; see :func:`create_contact_group`."""
    name = _group_name(name, reserved_ok=reserved_ok)
    pairs = _recipients(emails, phones)
    group = ContactGroup(name=name, report_periods=[])
    db.session.add(group)
    db.session.flush()
    for email, phone in pairs:
        _append(group, email, phone)
    return group


def update_contact_group(group: ContactGroup, *, name: str | None = None, emails=None,
                         phones=None) -> ContactGroup:
    """Rename ``group`` and/or replace its recipients of one kind, and commit.

    :param name: the new name (None: unchanged); rules of :func:`create_contact_group`.
    :param emails: when not None, the group's email recipients become exactly these (those
        kept keep their contact ids); likewise ``phones``.
    :raises ServiceError: as :func:`create_contact_group`.
    """
    new_name = _group_name(name, group) if name is not None else group.name
    replace = {}
    for kind, values in (("emails", emails), ("phones", phones)):
        if values is not None:  # every value checked before anything changes
            replace[kind] = (_recipients(values, None) if kind == "emails"
                             else _recipients(None, values))
    group.name = new_name
    for kind, pairs in replace.items():
        wanted = {(e or "").lower() or p for e, p in pairs}
        for contact in [c for c in group.contacts if bool(c.email) == (kind == "emails")]:
            if ((contact.email or "").lower() or contact.phone) not in wanted:
                group.contacts.remove(contact)
                db.session.delete(contact)
        for email, phone in pairs:
            if _find_contact(group, email, phone) is None:
                _append(group, email, phone)
    db.session.commit()
    return group


def delete_contact_group(group: ContactGroup) -> None:
    """Delete ``group`` with its contacts and commit (its health reports stay, without a group).

    :raises ServiceError: 409 while a monitor alerts it or escalates to it (the message names
        the monitors).
    """
    alerting, escalating = group_monitors(group)
    users = sorted({m.name for m in alerting + escalating})
    if users:
        shown = ", ".join(users[:5]) + (f" and {len(users) - 5} more" if len(users) > 5 else "")
        raise ServiceError(f"{group.name} is in use by {shown}: choose another group for "
                           f"{'them' if len(users) > 1 else 'it'} first.", field="group_id",
                           status=409)
    db.session.delete(group)
    db.session.commit()


def add_group_contact(group: ContactGroup, *, email: str | None = None,
                      phone: str | None = None) -> Contact:
    """Add a recipient to ``group`` (so to every monitor alerting it) and commit.

    :raises ServiceError: 422 for neither/both or an invalid value (field ``email``/``phone``;
        phones are normalised to E.164), 409 when the recipient is already in the group.
    """
    email, phone = _recipient(email, phone)
    if _find_contact(group, email, phone) is not None:
        raise ServiceError(f"{email or phone} is already in {group.name}.",
                           field="email" if email else "phone", status=409)
    contact = _append(group, email, phone)
    db.session.commit()
    return contact


def remove_group_contact(group: ContactGroup, contact_id: int) -> None:
    """Remove a recipient from ``group`` and commit.

    :raises ServiceError: 404 when ``contact_id`` is not a contact of this group.
    """
    contact = next((c for c in group.contacts if c.id == contact_id), None)
    if contact is None:
        raise ServiceError("This group has no such contact.", field="contact_id", status=404)
    group.contacts.remove(contact)
    db.session.delete(contact)
    db.session.commit()


def contact_group_to_dict(group: ContactGroup,
                          usage: tuple[list[Monitor], list[Monitor]] | None = None) -> dict:
    """The API representation of a group: ``id``, ``name``, ``contacts`` ([Contact]),
    ``monitor_ids`` (monitors alerting it), ``escalation_monitor_ids``, ``created_at``.

    :param usage: the group's :func:`group_usage` entry, when already known (lists).
    """
    alerting, escalating = usage if usage is not None else group_monitors(group)
    return {"id": group.id, "name": group.name, "contacts": list(group.contacts),
            "monitor_ids": sorted(m.id for m in alerting),
            "escalation_monitor_ids": sorted(m.id for m in escalating),
            "created_at": group.created_at}


def _contact_dict(contact: Contact) -> dict:
    return {"email": contact.email} if contact.email else {"phone": contact.phone}


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def monitor_to_dict(monitor: Monitor) -> dict:
    """The API representation of a monitor: ``id``, the definition (as accepted by
    :func:`create_monitor`, with ``contact_group_id`` — its own group's id once it has one —
    and ``escalation_group_id``), ``contacts`` ([{id, email, phone}] of the contact group),
    ``ping_url`` (heartbeats,
    else null) and the runtime state (``status``, ``last_checked_at`` … as UTC ISO 8601).
    Request secrets are masked for every reader (:func:`schemas.mask_secrets`); an FTP
    ``password`` is left out (``password_set`` tells whether one is stored;
    :func:`export_monitors` with ``include_secrets`` carries it). ``last_error`` never holds
    response content (the checks keep it out)."""
    out = {"id": monitor.id, **schemas.monitor_to_spec_dict(monitor)}
    if monitor.type == FTP:
        out["password_set"] = bool(out.pop("password", None))
    out.update({
        "contacts": [{"id": c.id, "email": c.email, "phone": c.phone}
                     for c in monitor_contacts(monitor)],
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
        "owner_id": monitor.owner_id,
        "created_at": _iso(monitor.created_at),
        "updated_at": _iso(monitor.updated_at),
    })
    return out


def _group_ref(group: ContactGroup | None) -> dict | None:
    if group is None:
        return None
    return {"name": group.name, "contacts": [_contact_dict(c) for c in group.contacts]}


def export_monitors(include_secrets: bool = False) -> list[dict]:
    """Every monitor's definition with its contacts, oldest first: the shape
    :func:`import_monitors` accepts (no ids, no runtime state; heartbeat monitors get a new
    token, so a new ``ping_url``, when imported).

    Request secrets (FTP passwords, secret headers, URL and body secrets) are masked unless
    ``include_secrets``; the caller checks that the reader may have them (``monitor.manage``
    asking explicitly). An import refuses masked secrets, so a masked export is for reading.

    Groups travel by name, since ids differ between installations: a monitor with its own
    group has ``contacts`` ([{email} | {phone}]) and ``contact_group: null``; one alerting a
    shared group has ``contacts: []`` and ``contact_group: {name, contacts}``;
    ``escalation_group`` is ``{name, contacts}`` or null.
    """
    monitors = db.session.scalars(select(Monitor).order_by(Monitor.id).options(
        selectinload(Monitor.contact_group).selectinload(ContactGroup.contacts),
        selectinload(Monitor.escalation_group).selectinload(ContactGroup.contacts)))
    out = []
    for m in monitors:
        definition = schemas.monitor_to_spec_dict(m, reveal_secrets=include_secrets)
        spec = {k: v for k, v in definition.items() if k not in schemas.GROUP_FIELDS}
        own = m.contact_group is None or is_own_group(m, m.contact_group)
        contacts = [_contact_dict(c) for c in monitor_contacts(m)] if own else []
        out.append({**spec, "contacts": contacts,
                    "contact_group": None if own else _group_ref(m.contact_group),
                    "escalation_group": _group_ref(m.escalation_group)})
    return out


_REF_FIELDS = {"contact_group": "contact_group_id", "escalation_group": "escalation_group_id"}


def _resolve_refs(index: int, item: dict, created: dict[str, ContactGroup]) -> tuple[dict, list]:
    """``item`` with ``contact_group`` / ``escalation_group`` (a name, or {name, contacts})
    replaced by the ids of the groups they name; ``(item, problems)``.

    A name is matched to an existing group case-insensitively; an unknown name given as
    ``{name, contacts}`` creates the group (once per import, in ``created``), a bare unknown
    name is a problem. A created group whose name is reserved for own groups
    (``Monitor #3: …``, another installation's monitor) is prefixed ``Imported ``.
    """
    item, problems = dict(item), []
    for ref_field, id_field in _REF_FIELDS.items():
        if ref_field not in item:
            continue
        raw = item.pop(ref_field)
        if raw is None:
            continue
        path = f"{index}.{ref_field}"
        if item.get(id_field) is not None:
            problems.append((path, f"Item {index}: give {ref_field} or {id_field}, not both"))
            continue
        if isinstance(raw, str):
            raw = {"name": raw}
        if not isinstance(raw, dict):
            problems.append((path, f"Item {index}: give a group name or {{name, contacts}}"))
            continue
        try:
            ref = schemas.GroupRef.model_validate(raw)
        except ValidationError as exc:
            problems += [(f"{path}.{p}" if p != "body" else path, f"Item {index}: {m}")
                         for p, m in schemas.error_list(exc)]
            continue
        name = ref.name.strip()
        by_name_only = "contacts" not in raw
        new_name = (f"Imported {name}"[:schemas.MAX_GROUP_NAME] if _OWN_GROUP_NAME.match(name)
                    else name)
        keys = {name.lower(), new_name.lower()}
        group = next((created[k] for k in keys if k in created), None) or db.session.scalar(
            select(ContactGroup).where(func.lower(ContactGroup.name).in_(keys)).order_by(ContactGroup.id).limit(1))
        if group is None and by_name_only:
            problems.append((path, f"Item {index}: no contact group is named {name}; create it "
                                   "first or give {name, contacts}"))
            continue
        if group is None:
            try:
                group = _new_group(new_name, [c.email for c in ref.contacts if c.email],
                                   [c.phone for c in ref.contacts if c.phone])
            except ServiceError as exc:
                found = exc.errors or {exc.field: [exc.message]}
                problems += [(f"{path}.contacts" if "." in (f or "") else f"{path}.{f or 'name'}",
                              f"Item {index}: {m}") for f, ms in found.items() for m in ms]
                continue
            created[name.lower()] = group
        item[id_field] = group.id
    return item, problems


def import_monitors(items: list[dict], by=None) -> list[Monitor]:
    """Create every monitor in ``items`` (the :func:`export_monitors` shape), all or nothing:
    one transaction, committed only when every item is valid.

    Groups: ``contact_group`` / ``escalation_group`` (a group name, or ``{name, contacts}``)
    use the existing group of that name (case-insensitively; its contacts are left as they
    are), or create it from ``{name, contacts}``; ``contact_group_id`` /
    ``escalation_group_id`` (ids of this installation) are accepted too, not both for one
    role. Without a contact group, ``contacts`` form the monitor's own group, as on create.

    :returns: the new monitors, in the order given.
    :raises ServiceError: 422 whose ``errors`` name each bad member as ``<index>.<field>``
        (``3.url``, ``2.contact_group``) with a message starting ``Item 3:`` (indexes from 0).
    """
    if not isinstance(items, list) or not items:
        raise MonitorInvalid([("body", "send a non-empty JSON array of monitors")])
    if len(items) > 1000:
        raise MonitorInvalid([("body", "import at most 1000 monitors at a time")])
    created = []
    try:
        specs, problems, groups = [], [], {}
        for index, item in enumerate(items):
            if isinstance(item, dict):
                item, ref_problems = _resolve_refs(index, item, groups)
                problems += ref_problems
            try:
                specs.append(_validate(item))
            except MonitorInvalid as exc:
                for field, messages in exc.errors.items():
                    path = f"{index}.{field}" if field != "body" else str(index)
                    problems += [(path, f"Item {index}: {msg}") for msg in messages]
        if problems:
            bad = len({p.split('.')[0] for p, _ in problems})
            raise MonitorInvalid(problems, detail=f"{bad} of {len(items)} monitors are invalid; "
                                                  f"nothing was imported. {problems[0][1]}")
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
