"""API resources for tickets and their comments.

Object-level rules stay in :mod:`crm.tickets.services` and :mod:`crm.tickets.access`; these
handlers authorise, validate, call them and serialise.
"""
from __future__ import annotations

from datetime import UTC

from flask import request
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crm import idempotency
from crm.api.common import answer, decode_id_cursor, encode_id_cursor, page_answer
from crm.api.openapi import ApiProblem, api_operation, request_body, request_query
from crm.api.schemas import (
    CommentIn,
    CommentListQuery,
    CommentOut,
    CommentPage,
    TicketIn,
    TicketListQuery,
    TicketOut,
    TicketPage,
    TicketPatch,
)
from crm.auth.policy import acting_user, requires
from crm.errors import ServiceError
from crm.extensions import db
from crm.tickets import search, services
from crm.tickets.access import get_ticket_or_404
from crm.tickets.filters import filters_from_args
from crm.tickets.models import Comment, Ticket


def _reload(ticket_id: int) -> Ticket:
    """The ticket as stored now, requester and assignee loaded (services commit, which
    expires the instance, and its relationships refuse lazy loads)."""
    return db.session.scalar(select(Ticket).where(Ticket.id == ticket_id)
                             .options(selectinload(Ticket.requester), selectinload(Ticket.assignee))
                             .execution_options(populate_existing=True))


def _ticket_answer(ticket_id: int, status: int = 200):
    headers = {"Location": f"/api/v1/tickets/{ticket_id}"} if status == 201 else {}
    return answer(TicketOut, _reload(ticket_id), status, **headers)


def _ticket_filters():
    """:func:`filters_from_args` on this request, with datetimes that the database can store.

    :raises ServiceError: 422 naming the bad parameter.
    """
    try:
        filters = filters_from_args(request.args)
    except OverflowError:  # created_before=9999-12-31 plus "end of day"
        raise ServiceError("Date out of range.", field="created_before", status=422) from None
    for name in ("created_after", "created_before"):
        when = getattr(filters, name)
        try:
            when and when.astimezone(UTC)
        except OverflowError:
            raise ServiceError("Date out of range.", field=name, status=422) from None
    return filters


# ---------------------------------------------------------------- tickets

@api_operation(
    "POST",
    "/tickets",
    body=TicketIn,
    response=TicketOut,
    status=201,
    tag="Tickets",
    summary="Raise a ticket",
    errors=(400,),
    header_params=(idempotency.HEADER_PARAMETER,),
)
@requires("ticket.create", api=True)
def create_ticket():
    """A customer raises a ticket; it is assigned at once to the least-loaded approved
    engineer (``assignee`` is null while no engineer is approved).

    Send an ``Idempotency-Key`` header (1–255 visible ASCII characters) to make retries safe:
    a repeat with the same key and body answers the first ticket again (201, header
    ``Idempotent-Replayed: true``); the same key with another body is a 422."""
    data: TicketIn = request_body()
    ticket = services.create_ticket(
        acting_user(),
        data.subject,
        data.description,
        data.priority,
        idempotency_key=request.headers.get(idempotency.HEADER),
    )
    response = _ticket_answer(ticket.id, 201)
    if ticket.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@api_operation(
    "GET",
    "/tickets",
    query=TicketListQuery,
    response=TicketPage,
    tag="Tickets",
    summary="List tickets",
    errors=((414, "The query string is longer than 2,048 characters."),),
)
@requires("ticket.view", api=True)
def list_tickets():
    """Tickets the caller may see, most recently updated first unless ``sort`` says otherwise
    (keyset pages).

    Customers see their own tickets; engineers pass ``assignee=me`` for their queue, or
    search all tickets without it; agents, managers and admins see every ticket. A query
    string over 2,048 characters is answered 414 (``q`` itself takes at most 200)."""
    if search.query_string_too_long(request.query_string):
        raise ApiProblem(
            414,
            f"The query string is longer than {search.MAX_QUERY_STRING:,} "
            f"characters; search with at most {search.MAX_QUERY_LENGTH} characters.",
            {"q": [f"At most {search.MAX_QUERY_LENGTH} characters."]},
        )
    query: TicketListQuery = request_query()
    filters = _ticket_filters()
    rows, next_cursor = services.list_tickets(
        acting_user(), filters, cursor=query.cursor, limit=query.limit, sort=query.sort
    )
    return page_answer(TicketPage, rows, query.limit, next_cursor)


@api_operation(
    "GET", "/tickets/{ticket_id}", response=TicketOut, tag="Tickets", summary="Get a ticket"
)
@requires("ticket.view", api=True)
def get_ticket(ticket_id: int):
    """One ticket; 404 for a ticket that is not the caller's to know about."""
    return answer(TicketOut, get_ticket_or_404(ticket_id, acting_user()))


@api_operation(
    "PATCH",
    "/tickets/{ticket_id}",
    body=TicketPatch,
    response=TicketOut,
    errors=(409,),
    tag="Tickets",
    summary="Change a ticket",
)
@requires("ticket.view", api=True)
def update_ticket(ticket_id: int):
    """Apply any combination of changes, all or nothing (services.update_ticket), in this
    order: text (requester, while open), priority, assignee, status. Each member needs its own
    permission (see the body schema); the service checks every permission (403), then the
    status's workflow step (409), before anything changes."""
    user = acting_user()
    ticket = get_ticket_or_404(ticket_id, user)
    data: TicketPatch = request_body()
    fields = data.model_fields_set
    if not fields:
        raise ApiProblem(
            422,
            "Send at least one member to change.",
            {
                "body": [
                    "Send at least one of: subject, description, status, priority, assignee_id."
                ]
            },
        )
    services.update_ticket(
        ticket,
        user,
        subject=data.subject,
        description=data.description,
        priority=data.priority,
        assignee_id=data.assignee_id,
        status=data.status,
        fields=fields,
    )
    return _ticket_answer(ticket.id)


@api_operation(
    "POST",
    "/tickets/{ticket_id}/accept",
    response=TicketOut,
    errors=(409,),
    tag="Tickets",
    summary="Accept a ticket",
)
@requires("ticket.accept", api=True)
def accept_ticket(ticket_id: int):
    """The assigned engineer accepts an open ticket: it becomes ``in_progress``. Another
    engineer gets a 403; a ticket that is not open, a 409."""
    user = acting_user()
    ticket = get_ticket_or_404(ticket_id, user)
    services.accept(ticket, user)
    return _ticket_answer(ticket.id)


# ---------------------------------------------------------------- comments


@api_operation(
    "GET",
    "/tickets/{ticket_id}/comments",
    query=CommentListQuery,
    response=CommentPage,
    tag="Comments",
    summary="List a ticket's comments",
)
@requires("ticket.view", api=True)
def list_comments(ticket_id: int):
    """The thread, oldest first. Customers see public replies only; staff also see
    internal notes."""
    user = acting_user()
    ticket = get_ticket_or_404(ticket_id, user)
    query: CommentListQuery = request_query()
    comments = services.visible_comments(user, ticket)
    if query.cursor:
        after = decode_id_cursor(query.cursor)
        ids = [c.id for c in comments]
        start = ids.index(after) + 1 if after in ids else sum(1 for i in ids if i <= after)
        comments = comments[start:]
    page = comments[: query.limit]
    next_cursor = encode_id_cursor(page[-1].id) if len(comments) > query.limit else None
    return page_answer(CommentPage, page, query.limit, next_cursor)


@api_operation(
    "POST",
    "/tickets/{ticket_id}/comments",
    body=CommentIn,
    response=CommentOut,
    status=201,
    tag="Comments",
    summary="Comment on a ticket",
)
@requires("ticket.comment", api=True)
def add_comment(ticket_id: int):
    """Add a public reply, or (staff only; customers get a 403) an internal note with
    ``public: false``."""
    user = acting_user()
    ticket = get_ticket_or_404(ticket_id, user)
    data: CommentIn = request_body()
    comment = services.add_comment(ticket, user, data.body, public=data.public)
    stored = db.session.scalar(
        select(Comment)
        .where(Comment.id == comment.id)
        .options(selectinload(Comment.author))
        .execution_options(populate_existing=True)
    )
    return answer(CommentOut, stored, 201)
