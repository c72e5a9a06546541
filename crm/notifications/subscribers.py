"""Who is told what: domain events → outbox notifications (run inside the transaction).

| event                  | recipients                                   | template            |
|------------------------|----------------------------------------------|---------------------|
| ticket.created         | requester                                    | ticket_created      |
| ticket.assigned        | the new assignee                             | ticket_assigned     |
|  (a reassignment)      | and the previous assignee                    | ticket_moved        |
| ticket.accepted        | requester                                    | ticket_accepted     |
| ticket.status_changed  | requester, and the assignee if someone else changed it | ticket_status |
| comment.added (public) | requester if staff wrote it, else the assignee | ticket_reply      |
| user.registered (staff)| every active admin                           | staff_registered    |
| user.approved/rejected | the user                                     | registration_decided|

Templates receive plain values built here (:mod:`crm.notifications.variables`), never ORM
objects.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crm import events
from crm.auth.models import ACTIVE, ADMIN, User
from crm.extensions import db
from crm.notifications.services import queue_templated
from crm.notifications.variables import person, ticket_vars
from crm.tickets.models import STATUS_LABELS, Comment, Ticket


def _ticket(ticket_id: int) -> Ticket:
    """The ticket with requester and assignee as the database has them now: the session has
    just flushed the change, and ``populate_existing`` replaces relations loaded before it
    (a reassigned ticket's ``assignee`` would otherwise still be the previous engineer)."""
    return db.session.scalar(select(Ticket).where(Ticket.id == ticket_id)
                             .options(selectinload(Ticket.requester), selectinload(Ticket.assignee))
                             .execution_options(populate_existing=True))


def _tell_requester(ev: events.DomainEvent, template: str) -> None:
    """Queue ``template`` to the requester of the event's ticket."""
    t = _ticket(ev.payload["ticket_id"])
    queue_templated(template, [t.requester.email], event=ev.name, ticket_id=t.id,
                    ticket=ticket_vars(t), user=person(t.requester))


@events.in_transaction("ticket.created")
def on_ticket_created(ev: events.DomainEvent) -> None:
    """Confirm the new ticket to its requester."""
    _tell_requester(ev, "ticket_created")


@events.in_transaction("ticket.assigned")
def on_ticket_assigned(ev: events.DomainEvent) -> None:
    """Tell the engineer named in the event that the ticket is now theirs and, on a
    reassignment (``previous_assignee_id`` in the payload), tell the previous engineer where
    it went."""
    t = _ticket(ev.payload["ticket_id"])
    assignee = db.session.get(User, ev.payload["assignee_id"])
    if assignee is None:
        return
    queue_templated("ticket_assigned", [assignee.email], event=ev.name, ticket_id=t.id,
                    ticket=ticket_vars(t), user=person(assignee))
    previous = db.session.get(User, ev.payload["previous_assignee_id"]) \
        if ev.payload.get("previous_assignee_id") else None
    if previous is not None and previous.id != assignee.id:
        queue_templated("ticket_moved", [previous.email], event="ticket.moved", ticket_id=t.id,
                        ticket=ticket_vars(t), user=person(previous), new_assignee=person(assignee))


@events.in_transaction("ticket.accepted")
def on_ticket_accepted(ev: events.DomainEvent) -> None:
    """Tell the requester an engineer started work."""
    _tell_requester(ev, "ticket_accepted")


@events.in_transaction("ticket.status_changed")
def on_status_changed(ev: events.DomainEvent) -> None:
    """Tell the requester (and the assignee, when someone else changed it) the new status."""
    t = _ticket(ev.payload["ticket_id"])
    to = [t.requester.email]
    if t.assignee and t.assignee_id != ev.payload.get("actor_id"):
        to.append(t.assignee.email)
    queue_templated("ticket_status", to, event=ev.name, ticket_id=t.id, ticket=ticket_vars(t),
                    before=STATUS_LABELS.get(ev.payload["before"]),
                    after=STATUS_LABELS.get(ev.payload["after"]))


@events.in_transaction("comment.added")
def on_comment_added(ev: events.DomainEvent) -> None:
    """A public reply goes to the other side of the conversation; internal notes email nobody."""
    if not ev.payload["public"]:
        return
    t = _ticket(ev.payload["ticket_id"])
    comment = db.session.scalar(select(Comment).where(Comment.id == ev.payload["comment_id"])
                                .options(selectinload(Comment.author)))
    if comment.author_id == t.requester_id:
        to, path = ([t.assignee.email] if t.assignee else []), f"/tickets/{t.id}"
    else:
        to, path = [t.requester.email], f"/portal/tickets/{t.id}"
    queue_templated(
        "ticket_reply",
        to,
        event=ev.name,
        ticket_id=t.id,
        ticket=ticket_vars(t),
        comment={"body": comment.body, "author": person(comment.author)},
        ticket_path=path,
    )


@events.in_transaction("user.registered")
def on_user_registered(ev: events.DomainEvent) -> None:
    """A staff sign-up awaits approval: tell every active admin."""
    user = db.session.get(User, ev.payload["user_id"])
    if not user.is_staff:
        return
    admins = db.session.scalars(select(User.email).where(User.role == ADMIN, User.status == ACTIVE))
    queue_templated(
        "staff_registered",
        list(admins),
        event=ev.name,
        applicant={**person(user), "role": user.role},
    )


@events.in_transaction("user.approved")
@events.in_transaction("user.rejected")
def on_registration_decided(ev: events.DomainEvent) -> None:
    """Tell a staff applicant the admin's decision."""
    user = db.session.get(User, ev.payload["user_id"])
    queue_templated(
        "registration_decided",
        [user.email],
        event=ev.name,
        user={**person(user), "role": user.role},
        approved=ev.name == "user.approved",
    )
