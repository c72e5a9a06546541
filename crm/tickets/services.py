"""Ticket rules: creation, auto-assignment, workflow, comments, reassignment, listing.

Every door (console, API, workers) calls these functions; they check object-level rules,
record a :class:`~crm.tickets.models.TicketChange` per changed field and publish domain
events (:mod:`crm.events`). Functions that change data commit.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import selectinload

from crm import events, idempotency
from crm.auth.models import ACTIVE, ADMIN, AGENT, CUSTOMER, ENGINEER, MANAGER, User
from crm.clock import utcnow
from crm.errors import NotAllowed, ServiceError
from crm.extensions import db
from crm.tickets import search
from crm.tickets.models import (
    ACTIVE_STATUSES,
    CLOSED,
    IN_PROGRESS,
    OPEN,
    PRIORITIES,
    RESOLVED,
    STATUSES,
    AppLock,
    Comment,
    Ticket,
    TicketChange,
)
from crm.tickets.workflow import TransitionError, check_transition

ASSIGNMENT_LOCK = "assignment"


# ---------------------------------------------------------------- object-level rules

def can_view(user: User, ticket: Ticket) -> bool:
    """Customers see their own tickets; every active staff member sees all tickets."""
    if user.role == CUSTOMER:
        return ticket.requester_id == user.id
    return user.is_staff


def can_update(user: User, ticket: Ticket) -> bool:
    """Engineers change only tickets assigned to them; agents, managers, admins any ticket."""
    if user.role == ENGINEER:
        return ticket.assignee_id == user.id
    return user.role in (AGENT, MANAGER, ADMIN)


def can_accept(user: User, ticket: Ticket) -> bool:
    """The assigned engineer may accept the ticket while it is open (see :func:`accept`)."""
    return _accept_refusal(user, ticket) is None


def _accept_refusal(user: User, ticket: Ticket) -> ServiceError | None:
    """Why ``user`` may not accept ``ticket`` now (403 not the assignee, 409 not open), or None."""
    if user.role != ENGINEER or ticket.assignee_id != user.id:
        return NotAllowed("Only the assigned engineer can accept this ticket.")
    if ticket.status != OPEN:
        return ServiceError("Only an open ticket can be accepted.")
    return None


#: The refusal of a status or priority change (see :func:`can_update`).
UPDATE_REFUSAL = (
    "Only the assigned engineer, an agent, a manager or an admin can change this ticket."
)


def _require_update(actor: User, ticket: Ticket) -> None:
    """:raises NotAllowed: ``actor`` may not change ``ticket``'s status or priority."""
    if not can_update(actor, ticket):
        raise NotAllowed(UPDATE_REFUSAL)


def _require_reassign(actor: User) -> None:
    """:raises NotAllowed: only managers and admins reassign tickets."""
    if actor.role not in (MANAGER, ADMIN):
        raise NotAllowed("Only managers and admins can reassign tickets.")


def _require_requester(actor: User, ticket: Ticket) -> None:
    """:raises NotAllowed: only the requester edits the ticket's text."""
    if actor.role != CUSTOMER or ticket.requester_id != actor.id:
        raise NotAllowed("Only the requester can edit the ticket's text.")


def _require_transition(ticket: Ticket, new_status: str) -> None:
    """:raises ServiceError: 409 (field ``status``) with the workflow's explanation."""
    try:
        check_transition(ticket.status, new_status)
    except TransitionError as exc:
        raise ServiceError(str(exc), field="status") from None


def can_edit_content(user: User, ticket: Ticket) -> bool:
    """The requester edits subject/description while the ticket is still open."""
    return user.role == CUSTOMER and ticket.requester_id == user.id and ticket.status == OPEN


def visible_comments(user: User, ticket: Ticket) -> list[Comment]:
    """The thread as ``user`` may see it: customers get public replies only, oldest first."""
    stmt = (
        select(Comment)
        .where(Comment.ticket_id == ticket.id)
        .options(selectinload(Comment.author))
        .order_by(Comment.created_at, Comment.id)
    )
    if not user.is_staff:
        stmt = stmt.where(Comment.public.is_(True))
    return list(db.session.scalars(stmt))


def history(ticket: Ticket) -> list[TicketChange]:
    """All recorded changes of ``ticket``, oldest first, actors loaded."""
    stmt = (
        select(TicketChange)
        .where(TicketChange.ticket_id == ticket.id)
        .options(selectinload(TicketChange.actor))
        .order_by(TicketChange.created_at, TicketChange.id)
    )
    return list(db.session.scalars(stmt))


# ---------------------------------------------------------------- helpers


def _record(ticket: Ticket, actor: User | None, field: str, before, after) -> None:
    db.session.add(
        TicketChange(
            ticket_id=ticket.id,
            actor_id=actor.id if actor else None,
            field=field,
            before=None if before is None else str(before),
            after=None if after is None else str(after),
            created_at=utcnow(),
        )
    )


def _touch(ticket: Ticket) -> None:
    ticket.updated_at = utcnow()


def _clean_text(value: str | None, field: str, max_len: int, required: bool = True) -> str:
    value = (value or "").strip()
    if "\x00" in value:
        raise ServiceError("Text may not contain NUL characters.", field=field, status=422)
    if required and not value:
        raise ServiceError("This field is required.", field=field, status=422)
    if len(value) > max_len:
        raise ServiceError(f"At most {max_len} characters.", field=field, status=422)
    return value


def _check_priority(priority: str) -> str:
    if priority not in PRIORITIES:
        raise ServiceError(
            f"Priority must be one of: {', '.join(PRIORITIES)}.", field="priority", status=422
        )
    return priority


# ---------------------------------------------------------------- creation and assignment


def create_ticket(
    requester: User,
    subject: str,
    description: str,
    priority: str = "normal",
    *,
    idempotency_key: str | None = None,
    follow_up_of: int | None = None,
) -> Ticket:
    """Create a ticket for ``requester`` and assign it, in one transaction.

    The ticket, its history entry, its assignment (:func:`pick_engineer`'s choice, under the
    assignment lock) and the outbox rows of ``ticket.created`` / ``ticket.assigned`` commit
    together or not at all, so a failure anywhere leaves neither a ticket without mail nor
    mail about a ticket that does not exist. The caller's open transaction is ended first
    (the lock must be the transaction's first write).

    :param requester: an active customer.
    :param subject: 1–200 characters. :param description: 1–10,000 characters.
    :param priority: one of ``low``, ``normal``, ``high``, ``urgent``.
    :param idempotency_key: a client's key (:mod:`crm.idempotency`); a repeat with the same
        key and payload returns the first ticket and creates nothing.
    :param follow_up_of: id of the closed ticket this one follows up (checked by
        :func:`create_follow_up`).
    :returns: the committed ticket, requester and assignee loaded (``assignee`` None while no
        engineer is approved). ``ticket.replayed`` is True for an idempotent repeat.
    :raises ServiceError: 422 with the field for invalid values; 400/422 for a bad or reused
        idempotency key.
    """
    subject = _clean_text(subject, "subject", 200)
    description = _clean_text(description, "description", 10_000)
    priority = _check_priority(priority or "normal")
    key = idempotency.check_key(idempotency_key)
    request_print = idempotency.fingerprint(
        {"subject": subject, "description": description, "priority": priority}
    )
    db.session.commit()
    try:
        _take_lock(ASSIGNMENT_LOCK)
        ticket_id = idempotency.replayed_id(requester.id, "ticket.create", key, request_print)
        replayed = ticket_id is not None
        if not replayed:
            now = utcnow()
            ticket = Ticket(
                subject=subject,
                description=description,
                priority=priority,
                status=OPEN,
                requester_id=requester.id,
                created_at=now,
                updated_at=now,
                follow_up_of_id=follow_up_of,
            )
            db.session.add(ticket)
            db.session.flush()
            _record(ticket, requester, "status", None, OPEN)
            events.publish(db.session, "ticket.created", ticket_id=ticket.id)
            _assign(ticket, pick_engineer())
            idempotency.remember(requester.id, "ticket.create", key, request_print, ticket.id)
            ticket_id = ticket.id
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    ticket = db.session.scalar(
        select(Ticket)
        .where(Ticket.id == ticket_id)
        .options(selectinload(Ticket.assignee), selectinload(Ticket.requester))
        .execution_options(populate_existing=True)
    )
    ticket.replayed = replayed
    return ticket


def _take_lock(name: str) -> None:
    """Serialise a critical section across processes (row lock on PG, write lock on SQLite).

    Must be the first write of its transaction (see :class:`~crm.tickets.models.AppLock`).
    The lock row is created on first use with INSERT … ON CONFLICT DO NOTHING, so racing
    first users do not fail on the primary key.
    """
    bump = update(AppLock).where(AppLock.name == name).values(counter=AppLock.counter + 1)
    if db.session.execute(bump).rowcount == 0:
        dialect = db.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        db.session.execute(insert(AppLock).values(name=name, counter=0).on_conflict_do_nothing())
        db.session.execute(bump)


def pick_engineer() -> User | None:
    """Return the approved engineer with the fewest active tickets (open/in_progress/pending);
    ties go to the one least recently assigned (never-assigned first), then lowest id.
    Returns None when no engineer is approved. Call with the assignment lock held.
    """
    load = (
        select(Ticket.assignee_id, func.count(Ticket.id).label("n"))
        .where(Ticket.status.in_(ACTIVE_STATUSES), Ticket.assignee_id.is_not(None))
        .group_by(Ticket.assignee_id)
        .subquery()
    )
    stmt = (
        select(User)
        .outerjoin(load, load.c.assignee_id == User.id)
        .where(User.role == ENGINEER, User.status == ACTIVE)
        .order_by(
            func.coalesce(load.c.n, 0),
            User.last_assigned_at.is_not(None),
            User.last_assigned_at,
            User.id,
        )
        .limit(1)
    )
    return db.session.scalar(stmt)


def _assign(ticket: Ticket, engineer: User | None) -> User | None:
    """Give an unassigned ``ticket`` to ``engineer`` in the current transaction: history
    entry and ``ticket.assigned`` event. Call with the assignment lock held.

    :returns: ``engineer`` (None, and nothing changes, when nobody is approved).
    """
    if engineer is None:
        return None
    now = utcnow()
    ticket.assignee_id = engineer.id
    ticket.assigned_at = now
    engineer.last_assigned_at = now
    _touch(ticket)
    _record(ticket, None, "assignee", None, engineer.name)
    events.publish(db.session, "ticket.assigned", ticket_id=ticket.id, assignee_id=engineer.id)
    return engineer


def auto_assign(ticket_id: int) -> User | None:
    """Assign a waiting (unassigned, active) ticket to :func:`pick_engineer`'s choice, under
    the assignment lock, in its own transaction (commits; the caller's open transaction is
    ended first). Concurrent calls are serialised by the lock, so each sees the load the
    previous one left. A ticket already assigned, or no longer active, is left alone.

    :returns: the assignee, or None when nobody is approved (the ticket waits).
    """
    db.session.commit()  # start clean: the lock must be the transaction's first write
    try:
        _take_lock(ASSIGNMENT_LOCK)
        ticket = db.session.get(Ticket, ticket_id, populate_existing=True)
        engineer = None
        if ticket is not None and ticket.assignee_id is None and ticket.status in ACTIVE_STATUSES:
            engineer = _assign(ticket, pick_engineer())
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return engineer


def assign_waiting_tickets(limit: int = 500) -> int:
    """Assign active unassigned tickets, oldest first (after an engineer is approved, and
    periodically as a safety net). :returns: how many were assigned."""
    ids = list(
        db.session.scalars(
            select(Ticket.id)
            .where(Ticket.assignee_id.is_(None), Ticket.status.in_(ACTIVE_STATUSES))
            .order_by(Ticket.created_at, Ticket.id)
            .limit(limit)
        )
    )
    assigned = 0
    for ticket_id in ids:
        if auto_assign(ticket_id) is None:
            break
        assigned += 1
    return assigned


def _reassign(ticket: Ticket, actor: User, assignee_id: int | None) -> Ticket:
    """Give ``ticket`` to another approved engineer (managers and admins).

    :raises ServiceError: 422 when ``assignee_id`` is not an active engineer.
    """
    _require_reassign(actor)
    engineer = db.session.get(User, assignee_id) if assignee_id else None
    if engineer is None or engineer.role != ENGINEER or engineer.status != ACTIVE:
        raise ServiceError("Choose an approved engineer.", field="assignee_id", status=422)
    if engineer.id == ticket.assignee_id:
        raise ServiceError("The ticket is already assigned to that engineer.", field="assignee_id")
    previous_id = ticket.assignee_id
    before = db.session.get(User, ticket.assignee_id).name if ticket.assignee_id else None
    ticket.assignee_id = engineer.id
    ticket.assigned_at = utcnow()
    engineer.last_assigned_at = ticket.assigned_at
    _touch(ticket)
    _record(ticket, actor, "assignee", before, engineer.name)
    events.publish(
        db.session,
        "ticket.assigned",
        ticket_id=ticket.id,
        assignee_id=engineer.id,
        actor_id=actor.id,
        previous_assignee_id=previous_id,
    )
    return ticket


# ---------------------------------------------------------------- workflow


def accept(ticket: Ticket, actor: User) -> Ticket:
    """The assigned engineer accepts an open ticket: open → in_progress.

    :raises NotAllowed: the actor is not the assignee. :raises ServiceError: not open.
    """
    refusal = _accept_refusal(actor, ticket)
    if refusal is not None:
        raise refusal
    _set_status(ticket, actor, IN_PROGRESS, announce=False)
    events.publish(db.session, "ticket.accepted", ticket_id=ticket.id, actor_id=actor.id)
    db.session.commit()
    return ticket


def reassign(ticket: Ticket, actor: User, assignee_id: int | None) -> Ticket:
    """Give ``ticket`` to another approved engineer: :func:`update_ticket` with the assignee
    only (commits; nothing is saved on a refusal); see :func:`_reassign` for the rules."""
    return update_ticket(ticket, actor, assignee_id=assignee_id, fields={"assignee_id"})


def _change_status(ticket: Ticket, actor: User, new_status: str) -> Ticket:
    """Move ``ticket`` to ``new_status`` if the workflow allows it.

    :raises NotAllowed: the actor may not change this ticket.
    :raises ServiceError: 409 with the workflow's explanation.
    """
    _require_update(actor, ticket)
    _require_transition(ticket, new_status)
    _set_status(ticket, actor, new_status)
    return ticket


def change_status(ticket: Ticket, actor: User, new_status: str) -> Ticket:
    """Move ``ticket`` to ``new_status``: :func:`update_ticket` with the status only (commits;
    nothing is saved on a refusal); see :func:`_change_status` for the rules."""
    return update_ticket(ticket, actor, status=new_status, fields={"status"})


def _set_status(ticket: Ticket, actor: User, new_status: str, announce: bool = True) -> None:
    before = ticket.status
    ticket.status = new_status
    now = utcnow()
    if new_status == "resolved":
        ticket.resolved_at = now
    elif new_status == OPEN:
        ticket.resolved_at = None
    _touch(ticket)
    _record(ticket, actor, "status", before, new_status)
    if announce:
        events.publish(
            db.session,
            "ticket.status_changed",
            ticket_id=ticket.id,
            before=before,
            after=new_status,
            actor_id=actor.id,
        )


def _change_priority(ticket: Ticket, actor: User, priority: str) -> Ticket:
    """Set the priority (staff who may update the ticket).

    :raises NotAllowed / ServiceError: as :func:`change_status`; 422 for an unknown value.
    """
    _require_update(actor, ticket)
    priority = _check_priority(priority)
    if priority == ticket.priority:
        raise ServiceError(f"The priority is already {priority}.", field="priority")
    _record(ticket, actor, "priority", ticket.priority, priority)
    ticket.priority = priority
    _touch(ticket)
    return ticket


def change_priority(ticket: Ticket, actor: User, priority: str) -> Ticket:
    """Set the priority: :func:`update_ticket` with the priority only (commits; nothing is
    saved on a refusal); see :func:`_change_priority` for the rules."""
    return update_ticket(ticket, actor, priority=priority, fields={"priority"})


def _edit_content(
    ticket: Ticket, actor: User, subject: str | None, description: str | None
) -> Ticket:
    """The requester edits subject and/or description while the ticket is open.

    :raises NotAllowed: not the requester. :raises ServiceError: no longer open; bad values.
    """
    _require_requester(actor, ticket)
    if ticket.status != OPEN:
        raise ServiceError("The ticket can no longer be edited: work on it has started.")
    changed = False
    if subject is not None:
        subject = _clean_text(subject, "subject", 200)
        if subject != ticket.subject:
            _record(ticket, actor, "subject", ticket.subject[:255], subject[:255])
            ticket.subject = subject
            changed = True
    if description is not None:
        description = _clean_text(description, "description", 10_000)
        if description != ticket.description:
            _record(ticket, actor, "description", "(previous text)", "(edited)")
            ticket.description = description
            changed = True
    if changed:
        _touch(ticket)
    return ticket


def edit_content(
    ticket: Ticket, actor: User, subject: str | None, description: str | None
) -> Ticket:
    """The requester edits subject and/or description (None leaves one as it is):
    :func:`update_ticket` with those members (commits; nothing is saved on a refusal, not
    even a valid subject beside a refused description); see :func:`_edit_content`."""
    fields = {
        name
        for name, value in (("subject", subject), ("description", description))
        if value is not None
    } or {"subject", "description"}  # neither: the rules still apply
    return update_ticket(ticket, actor, subject=subject, description=description, fields=fields)


def update_ticket(
    ticket: Ticket,
    actor: User,
    *,
    subject: str | None = None,
    description: str | None = None,
    priority: str | None = None,
    assignee_id: int | None = None,
    status: str | None = None,
    fields: set[str] | frozenset[str] = frozenset(),
) -> Ticket:
    """Apply several changes at once, all or nothing (one transaction).

    Every permission is checked first (403: text, then status/priority, then assignee), then
    the status's workflow step (409), before anything is applied in this order: text
    (requester, while open), priority, assignee, status — the same rules as the single-change
    functions, which refuse values (422) and no-ops (409). Only members named in ``fields``
    are applied.

    :raises NotAllowed / ServiceError: the first refusal in that order; nothing is saved.
    """
    try:
        if fields & {"subject", "description"}:
            _require_requester(actor, ticket)
        if fields & {"status", "priority"}:
            _require_update(actor, ticket)
        if "assignee_id" in fields:
            _require_reassign(actor)
        if "status" in fields:
            _require_transition(ticket, status)
        if fields & {"subject", "description"}:
            _edit_content(
                ticket,
                actor,
                subject if "subject" in fields else None,
                description if "description" in fields else None,
            )
        if "priority" in fields:
            _change_priority(ticket, actor, priority)
        if "assignee_id" in fields:
            _reassign(ticket, actor, assignee_id)
        if "status" in fields:
            _change_status(ticket, actor, status)
    except ServiceError:
        db.session.rollback()
        raise
    db.session.commit()
    return ticket


def _add_comment(ticket: Ticket, actor: User, body: str, public: bool = True) -> Comment:
    """Add the comment (no commit) and apply the reply rules of :func:`add_comment`."""
    if not can_view(actor, ticket):
        raise NotAllowed()
    if not public and not actor.is_staff:
        raise NotAllowed("Only staff can write internal notes.")
    is_requester = actor.id == ticket.requester_id and not actor.is_staff
    if is_requester and ticket.status == CLOSED:
        raise ServiceError(
            "This ticket is closed, so it takes no more replies: open a follow-up ticket instead.",
            field="body",
        )
    body = _clean_text(body, "body", 10_000)
    comment = Comment(
        ticket_id=ticket.id, author_id=actor.id, body=body, public=public, created_at=utcnow()
    )
    db.session.add(comment)
    _touch(ticket)
    db.session.flush()
    events.publish(
        db.session,
        "comment.added",
        ticket_id=ticket.id,
        comment_id=comment.id,
        public=public,
        actor_id=actor.id,
    )
    if is_requester and ticket.status == RESOLVED:
        _reopen(ticket, actor)
    return comment


def _reopen(ticket: Ticket, actor: User) -> None:
    """The requester answered a resolved ticket: it goes back to work (resolved → open, the
    workflow's reopening step), to the same engineer while they are approved; otherwise it
    waits for :func:`auto_assign` (called by :func:`add_comment` after commit). Records the
    change and publishes ``ticket.status_changed`` (the requester and the engineer are mailed),
    as Zendesk and Freshdesk reopen a solved ticket on the customer's reply."""
    check_transition(ticket.status, OPEN)
    if ticket.assignee_id is not None:
        engineer = db.session.get(User, ticket.assignee_id)
        if engineer is None or engineer.role != ENGINEER or engineer.status != ACTIVE:
            _record(ticket, None, "assignee", engineer.name if engineer else None, None)
            ticket.assignee_id = None
    _set_status(ticket, actor, OPEN)


def add_comment(ticket: Ticket, actor: User, body: str, public: bool = True) -> Comment:
    """Add a public reply or (staff only) an internal note. Commits.

    The requester's reply reopens a resolved ticket (see :func:`_reopen`); a closed ticket
    takes no reply from its requester, who opens a follow-up instead
    (:func:`create_follow_up`).

    :raises NotAllowed: a customer posting an internal note, or on someone else's ticket.
    :raises ServiceError: 422 for an empty or oversized body (10,000 characters); 409 for the
        requester's reply to a closed ticket.
    """
    was_resolved = ticket.status == RESOLVED
    comment = _add_comment(ticket, actor, body, public)
    reassign = was_resolved and ticket.status == OPEN and ticket.assignee_id is None
    db.session.commit()
    if reassign:
        auto_assign(ticket.id)
    return comment


def reply_and_resolve(ticket: Ticket, actor: User, body: str, public: bool = True) -> Comment:
    """Staff "Submit and resolve": add the reply (or internal note) and resolve the ticket in
    one transaction, all or nothing.

    :raises NotAllowed: the actor may not change this ticket (see :func:`can_update`).
    :raises ServiceError: 409 when the workflow does not allow resolving now; 422 for a bad
        body. Nothing is saved then.
    """
    try:
        _require_update(actor, ticket)
        _require_transition(ticket, RESOLVED)
        comment = _add_comment(ticket, actor, body, public)
        _change_status(ticket, actor, RESOLVED)
    except ServiceError:
        db.session.rollback()
        raise
    db.session.commit()
    return comment


def follow_up_source(user: User, ticket_id: int | None) -> Ticket | None:
    """The closed ticket a follow-up may link to: the user's own, closed ticket, else None."""
    if not ticket_id:
        return None
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None or ticket.requester_id != user.id or ticket.status != CLOSED:
        return None
    return ticket


def follow_up_parent(ticket: Ticket) -> Ticket | None:
    """The ticket ``ticket`` follows up, if any (for its page's link)."""
    return db.session.get(Ticket, ticket.follow_up_of_id) if ticket.follow_up_of_id else None


def follow_ups(ticket: Ticket) -> list[Ticket]:
    """Tickets raised as follow-ups of ``ticket``, oldest first."""
    return list(
        db.session.scalars(
            select(Ticket).where(Ticket.follow_up_of_id == ticket.id).order_by(Ticket.id)
        )
    )


def find_requesters(text: str, exact: bool = False, limit: int = 10) -> list[User]:
    """Customers for the lists' requester filter, by name or email (case-insensitive).

    :param exact: the whole name or email equals ``text`` (resolving what was typed or picked);
        otherwise it contains ``text`` (suggestions while typing).
    :returns: at most ``limit`` users, by name then email.
    """
    text = (text or "").strip()[:254].lower()
    if not text:
        return []
    if exact:
        cond = or_(func.lower(User.email) == text, func.lower(User.name) == text)
    else:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        cond = or_(
            func.lower(User.email).like(pattern, escape="\\"),
            func.lower(User.name).like(pattern, escape="\\"),
        )
    stmt = (
        select(User).where(User.role == CUSTOMER, cond).order_by(User.name, User.email).limit(limit)
    )
    return list(db.session.scalars(stmt))


def create_follow_up(
    requester: User,
    original_id: int,
    subject: str,
    description: str,
    priority: str = "normal",
    *,
    idempotency_key: str | None = None,
) -> Ticket:
    """Raise a new ticket that follows up the requester's closed ticket ``original_id``.

    :raises ServiceError: 422 (field ``follow_up_of``) when that ticket is not the requester's
        or not closed; otherwise as :func:`create_ticket`.
    """
    if follow_up_source(requester, original_id) is None:
        raise ServiceError(
            "A follow-up links to one of your closed tickets.", field="follow_up_of", status=422
        )
    return create_ticket(
        requester,
        subject,
        description,
        priority,
        idempotency_key=idempotency_key,
        follow_up_of=original_id,
    )


# ---------------------------------------------------------------- listing


@dataclass
class TicketFilters:
    """Filters of the ticket lists (console and API). All optional.

    ``assignee``: a user id, ``"me"`` or ``"none"``; ``created_after``/``created_before``:
    aware UTC datetimes; ``active``: open + in_progress + pending only.
    """

    status: str | None = None
    priority: str | None = None
    assignee: str | None = None
    requester: int | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    q: str | None = None
    active: bool = False


#: Sort orders of the ticket lists: name -> (column, descending). ``-`` means descending;
#: ``priority`` and ``status`` sort by rank (:data:`SORT_GROUPS`), newest update first within.
SORTS: dict[str, tuple[str, bool]] = {
    "-updated": ("updated_at", True),
    "updated": ("updated_at", False),
    "-created": ("created_at", True),
    "created": ("created_at", False),
    "-priority": ("priority", True),
    "priority": ("priority", False),
    "status": ("status", False),
    "-status": ("status", True),
    "relevance": ("relevance", True),
}
DEFAULT_SORT = "-updated"
#: Ranked columns in ascending order: priority low → urgent, status in workflow order.
SORT_GROUPS: dict[str, tuple[str, ...]] = {"priority": PRIORITIES, "status": STATUSES}


def _cursor_time(ticket: Ticket, sort: str) -> datetime:
    return ticket.created_at if SORTS[sort][0] == "created_at" else ticket.updated_at


def encode_cursor(ticket: Ticket, sort: str = DEFAULT_SORT) -> str:
    """Opaque keyset cursor for "tickets after this one" in ``sort`` order.

    JSON ``[time, id]`` (base64url), plus the ticket's rank value (``"urgent"``, ``"open"``)
    for the ranked sorts: ``time`` is ``created_at`` for the creation sorts, else
    ``updated_at``.
    """
    parts: list = [_cursor_time(ticket, sort).isoformat(), ticket.id]
    column = SORTS[sort][0]
    if column in SORT_GROUPS:
        parts.append(getattr(ticket, column))
    raw = json.dumps(parts).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int, str | None]:
    bad = ServiceError("Invalid cursor.", field="cursor", status=422)
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(parts, list) or len(parts) not in (2, 3):
            raise bad
        group = parts[2] if len(parts) == 3 else None
        when, ticket_id = datetime.fromisoformat(parts[0]), int(parts[1])
    except (ValueError, TypeError, OverflowError, json.JSONDecodeError):
        raise bad from None
    if (
        when.tzinfo is None
        or not 0 < ticket_id <= 2**63 - 1
        or not (group is None or isinstance(group, str))
    ):
        raise bad
    try:
        when = when.astimezone(UTC)
    except OverflowError:
        raise bad from None
    return when, ticket_id, group


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Inverse of :func:`encode_cursor`: (aware UTC time, ticket id in 1..2**63-1).

    :raises ServiceError: 422 naming ``cursor`` for every bad cursor: not base64/JSON, not a
        ``[time, id(, rank)]`` list, a naive or out-of-range time, an id out of range.
    """
    when, ticket_id, _group = _decode_cursor(cursor)
    return when, ticket_id


def _filtered(user: User, filters: TicketFilters, scope: str | None, ordered: bool = True):
    """``SELECT tickets`` with the user's visibility, the scope and ``filters`` applied
    (``ordered=False``: for a count, which needs no order; see
    :func:`crm.tickets.search.search_condition`)."""
    stmt = select(Ticket)
    if user.role == CUSTOMER:
        stmt = stmt.where(Ticket.requester_id == user.id)
    elif scope == "assigned":
        stmt = stmt.where(Ticket.assignee_id == user.id)
    if filters.status:
        stmt = stmt.where(Ticket.status == filters.status)
    elif filters.active:
        stmt = stmt.where(Ticket.status.in_(ACTIVE_STATUSES))
    if filters.priority:
        stmt = stmt.where(Ticket.priority == filters.priority)
    if filters.assignee:
        if filters.assignee == "me":
            stmt = stmt.where(Ticket.assignee_id == user.id)
        elif filters.assignee == "none":
            stmt = stmt.where(Ticket.assignee_id.is_(None))
        else:
            stmt = stmt.where(Ticket.assignee_id == int(filters.assignee))
    if filters.requester:
        stmt = stmt.where(Ticket.requester_id == filters.requester)
    if filters.created_after:
        stmt = stmt.where(Ticket.created_at >= filters.created_after)
    if filters.created_before:
        stmt = stmt.where(Ticket.created_at < filters.created_before)
    if filters.q:
        stmt = search.apply(db.session.connection(), stmt, filters.q, user, ordered)
    return stmt


def _after(time_col, when: datetime, last_id: int, descending: bool):
    """Keyset condition: rows after (``when``, ``last_id``) in (time, id) order."""
    if descending:
        return or_(time_col < when, and_(time_col == when, Ticket.id < last_id))
    return or_(time_col > when, and_(time_col == when, Ticket.id > last_id))


def list_tickets(
    user: User,
    filters: TicketFilters,
    cursor: str | None = None,
    limit: int = 25,
    scope: str | None = None,
    sort: str = DEFAULT_SORT,
) -> tuple[list[Ticket], str | None]:
    """One page of tickets ``user`` may see, in ``sort`` order (keyset pagination).

    :param scope: ``"own"`` (customers: forced), ``"assigned"`` (an engineer's queue), or
        None for every ticket the role may see.
    :param limit: 1–100 rows.
    :param sort: a key of :data:`SORTS`. Time sorts walk (time, id); ``priority``/``status``
        walk one rank value at a time (index ``(priority|status, updated_at, id)``), newest
        update first within a rank, so every page stays an index range scan.
    :returns: (tickets with requester and assignee loaded, cursor of the next page or None).
    :raises ServiceError: 422 for an unknown sort or a malformed cursor.
    """
    if sort not in SORTS:
        raise ServiceError(f"Sort must be one of: {', '.join(SORTS)}.", field="sort", status=422)
    limit = max(1, min(limit, 100))
    if sort == "relevance":
        return _list_by_relevance(user, filters, cursor, limit, scope)
    column, descending = SORTS[sort]
    base = _filtered(user, filters, scope).options(
        selectinload(Ticket.requester), selectinload(Ticket.assignee)
    )
    position = _decode_cursor(cursor) if cursor else None
    if column not in SORT_GROUPS:
        time_col = getattr(Ticket, column)
        stmt = base
        if position:
            if position[2] is not None:
                raise ServiceError("Invalid cursor.", field="cursor", status=422)
            stmt = stmt.where(_after(time_col, position[0], position[1], descending))
        order = (
            (time_col.desc(), Ticket.id.desc()) if descending else (time_col.asc(), Ticket.id.asc())
        )
        rows = list(db.session.scalars(stmt.order_by(*order).limit(limit + 1)))
    else:
        groups = list(SORT_GROUPS[column])
        if descending:
            groups.reverse()
        fixed = filters.priority if column == "priority" else filters.status
        if column == "status" and not fixed and filters.active:
            groups = [g for g in groups if g in ACTIVE_STATUSES]
        if fixed:
            groups = [g for g in groups if g == fixed]
        if position:
            if position[2] not in SORT_GROUPS[column]:
                raise ServiceError("Invalid cursor.", field="cursor", status=422)
            groups = groups[groups.index(position[2]) :] if position[2] in groups else []
        rows = []
        for group in groups:
            stmt = base.where(getattr(Ticket, column) == group)
            if position and group == position[2]:
                stmt = stmt.where(_after(Ticket.updated_at, position[0], position[1], True))
            stmt = stmt.order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(
                limit + 1 - len(rows)
            )
            rows.extend(db.session.scalars(stmt))
            if len(rows) > limit:
                break
    next_cursor = encode_cursor(rows[limit - 1], sort) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _list_by_relevance(
    user: User, filters: TicketFilters, cursor: str | None, limit: int, scope: str | None
) -> tuple[list[Ticket], str | None]:
    """``sort=relevance``: best match first (:meth:`TicketSearch.ranked`), then newest id,
    keyset on (rank, id); a search without words to rank lists in :data:`DEFAULT_SORT`."""
    found = search.compile_for(db.session.connection(), filters.q, user)
    if not found.query.positive:
        return list_tickets(user, filters, cursor, limit, scope, DEFAULT_SORT)
    stmt, rank = found.ranked(_filtered(user, filters, scope))
    stmt = stmt.add_columns(rank).options(
        selectinload(Ticket.requester), selectinload(Ticket.assignee)
    )
    if cursor:
        score, last_id = search.decode_rank_cursor(cursor)
        stmt = stmt.where(or_(rank < score, and_(rank == score, Ticket.id < last_id)))
    rows = list(db.session.execute(stmt.order_by(rank.desc(), Ticket.id.desc()).limit(limit + 1)))
    next_cursor = (
        search.encode_rank_cursor(rows[limit - 1][1], rows[limit - 1][0].id)
        if len(rows) > limit
        else None
    )
    return [row[0] for row in rows[:limit]], next_cursor


#: Lists count matching tickets exactly up to this many, then say "1,000+".
COUNT_BOUND = 1000


def count_tickets(
    user: User, filters: TicketFilters, scope: str | None = None, bound: int = COUNT_BOUND
) -> int:
    """How many tickets :func:`list_tickets` would walk, counted up to ``bound + 1``.

    ``SELECT count(*) FROM (SELECT id … LIMIT bound + 1)`` stops after ``bound + 1`` matches,
    so a list over a million tickets costs a bounded scan; a result above ``bound`` means
    "more than ``bound``".
    """
    ids = (
        _filtered(user, filters, scope, ordered=False)
        .with_only_columns(Ticket.id)
        .limit(bound + 1)
        .subquery()
    )
    return db.session.scalar(select(func.count()).select_from(ids))
