"""Who is told what: domain events → outbox notifications (run inside the transaction).

| event                  | recipients                                   | template            |
|------------------------|----------------------------------------------|---------------------|
| ticket.created         | requester                                    | ticket_created      |
| ticket.assigned        | the new assignee                             | ticket_assigned     |
| ticket.accepted        | requester                                    | ticket_accepted     |
| ticket.status_changed  | requester, and the assignee if someone else changed it | ticket_status |
| comment.added (public) | requester if staff wrote it, else the assignee | ticket_reply      |
| user.registered (staff)| every active admin                           | staff_registered    |
| user.approved/rejected | the user                                     | registration_decided|
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crm import events
from crm.auth.models import ACTIVE, ADMIN, User
from crm.extensions import db
from crm.notifications.services import queue_templated
from crm.tickets.models import STATUS_LABELS, Comment, Ticket


def _ticket(ticket_id: int) -> Ticket:
    return db.session.scalar(select(Ticket).where(Ticket.id == ticket_id)
                             .options(selectinload(Ticket.requester), selectinload(Ticket.assignee)))


@events.in_transaction("ticket.created")
def on_ticket_created(ev: events.DomainEvent) -> None:
    """Confirm the new ticket to its requester."""
    t = _ticket(ev.payload["ticket_id"])
    queue_templated("ticket_created", [t.requester.email], event=ev.name, ticket_id=t.id,
                    ticket=t, user=t.requester)


@events.in_transaction("ticket.assigned")
def on_ticket_assigned(ev: events.DomainEvent) -> None:
    """Tell the engineer a ticket is now theirs."""
    t = _ticket(ev.payload["ticket_id"])
    if t.assignee:
        queue_templated("ticket_assigned", [t.assignee.email], event=ev.name, ticket_id=t.id,
                        ticket=t, user=t.assignee)


@events.in_transaction("ticket.accepted")
def on_ticket_accepted(ev: events.DomainEvent) -> None:
    """Tell the requester an engineer started work."""
    t = _ticket(ev.payload["ticket_id"])
    queue_templated("ticket_accepted", [t.requester.email], event=ev.name, ticket_id=t.id,
                    ticket=t, user=t.requester)


@events.in_transaction("ticket.status_changed")
def on_status_changed(ev: events.DomainEvent) -> None:
    """Tell the requester (and the assignee, when someone else changed it) the new status."""
    t = _ticket(ev.payload["ticket_id"])
    to = [t.requester.email]
    if t.assignee and t.assignee_id != ev.payload.get("actor_id"):
        to.append(t.assignee.email)
    queue_templated("ticket_status", to, event=ev.name, ticket_id=t.id, ticket=t,
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
    queue_templated("ticket_reply", to, event=ev.name, ticket_id=t.id, ticket=t, comment=comment,
                    ticket_path=path)


@events.in_transaction("user.registered")
def on_user_registered(ev: events.DomainEvent) -> None:
    """A staff sign-up awaits approval: tell every active admin."""
    user = db.session.get(User, ev.payload["user_id"])
    if not user.is_staff:
        return
    admins = db.session.scalars(select(User.email).where(User.role == ADMIN, User.status == ACTIVE))
    queue_templated("staff_registered", list(admins), event=ev.name, applicant=user)


@events.in_transaction("user.approved")
@events.in_transaction("user.rejected")
def on_registration_decided(ev: events.DomainEvent) -> None:
    """Tell a staff applicant the admin's decision."""
    user = db.session.get(User, ev.payload["user_id"])
    queue_templated("registration_decided", [user.email], event=ev.name, user=user,
                    approved=ev.name == "user.approved")
