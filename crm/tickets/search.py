"""Ticket search as the ticket lists use it: the bounds of the search box, the ``#123``
jump, and the one condition :func:`crm.tickets.services.list_tickets` adds for ``q``.

The query language and the SQL live in :mod:`crm.search`; the per-ticket search document,
its index and its triggers in :mod:`crm.search.schema` (``install``/``uninstall`` are here
too because the first migration calls them by this name).
"""
from __future__ import annotations

import re

from sqlalchemy import Connection
from sqlalchemy.sql.elements import ColumnElement

from crm.auth.models import User
from crm.search import schema
from crm.search import tickets as ticket_search  # a module: import cycles stay harmless

#: Longest search text the ticket lists accept, in characters (the console's search field
#: has this ``maxlength``; the API's ``q`` the same bound).
MAX_QUERY_LENGTH = 200
#: Longest query string, in characters, a ticket list answers. gunicorn refuses request lines
#: over 4,094 bytes (``limit_request_line``) with a bare "URI Too Long" page before the app
#: runs, so the console's fields are bounded well below that, and what reaches the app above
#: this bound gets the console's own message or a 414 problem from the API.
MAX_QUERY_STRING = 2048


def query_string_too_long(query_string: bytes | str) -> bool:
    """True when a list request's raw query string is longer than :data:`MAX_QUERY_STRING`."""
    return len(query_string) > MAX_QUERY_STRING


def install(conn: Connection) -> None:
    """Create the search document, index and triggers for ``conn``'s dialect (idempotent);
    see :func:`crm.search.schema.install`."""
    schema.install(conn)


def uninstall(conn: Connection) -> None:
    """Drop what :func:`install` created (migration downgrade)."""
    schema.uninstall(conn)


def ticket_id_from_query(q: str) -> int | None:
    """Return the ticket id when ``q`` is ``123`` or ``#123``, else None."""
    m = re.fullmatch(r"\s*#?(\d{1,12})\s*", q or "")
    return int(m.group(1)) if m else None


def compile_for(conn: Connection, q: str | None, user: User,
                ordered: bool = True) -> ticket_search.TicketSearch:
    """``q`` parsed for ``user`` on ``conn``'s database; ``ordered=False`` for a query that
    needs no order (a count), which never walks an index in list order.

    :raises ServiceError: 422 on ``q`` (unknown fields, bad field values).
    """
    return ticket_search.compile_query(q, user, conn.dialect.name, conn if ordered else None)


def search_condition(conn: Connection, q: str | None, user: User,
                     ordered: bool = True) -> ColumnElement[bool] | None:
    """The condition the ticket lists add for ``q`` (None when ``q`` asks nothing).

    Exact on both databases: every matching ticket, whatever the word's frequency.
    ``ordered``: the rows are read in list order with a LIMIT (a page); False for a count.

    :raises ServiceError: 422 on ``q`` (unknown fields, bad field values).
    """
    return compile_for(conn, q, user, ordered).condition(user)


def encode_rank_cursor(rank: float, ticket_id: int) -> str:
    """The relevance order's cursor (:func:`crm.search.tickets.encode_rank_cursor`)."""
    return ticket_search.encode_rank_cursor(rank, ticket_id)


def decode_rank_cursor(cursor: str) -> tuple[float, int]:
    """(score, id) of a relevance cursor; :raises ServiceError: 422 naming ``cursor``."""
    return ticket_search.decode_rank_cursor(cursor)


def highlights(conn: Connection, q: str | None, user: User,
               ticket_ids: list[int]) -> dict[int, dict]:
    """Highlighted subject and snippet of each listed ticket that ``q``'s words match, as
    safe HTML (:func:`crm.search.tickets.highlights`); empty when ``q`` has no words."""
    if not (q or "").strip() or not ticket_ids:
        return {}
    return ticket_search.highlights(compile_for(conn, q, user), ticket_ids)


def apply(conn: Connection, stmt, q: str | None, user: User, ordered: bool = True):
    """``stmt`` (a ``select(Ticket)``) narrowed to ``q`` for ``user``
    (:meth:`crm.search.tickets.TicketSearch.apply`); ``ordered=False`` for a count.

    :raises ServiceError: 422 on ``q`` (unknown fields, bad field values).
    """
    return compile_for(conn, q, user, ordered).apply(stmt, user, ordered)
