"""The one access helper for tickets, used by the console and the API."""
from __future__ import annotations

from flask import abort
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crm.extensions import db
from crm.tickets.models import Ticket
from crm.tickets.services import can_view


def get_ticket_or_404(ticket_id: int, user) -> Ticket:
    """Return the ticket if ``user`` may see it, with requester and assignee loaded.

    :raises werkzeug.exceptions.NotFound: missing, or not the user's to know about (404, so a
        customer cannot probe other customers' ticket ids).
    """
    ticket = db.session.scalar(
        select(Ticket)
        .where(Ticket.id == ticket_id)
        .options(selectinload(Ticket.requester), selectinload(Ticket.assignee))
    )
    if ticket is None or not can_view(user, ticket):
        abort(404)
    return ticket
