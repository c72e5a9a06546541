"""Ticket search: a parsed query (:mod:`crm.search.syntax`) as SQL conditions, a rank and
highlighted snippets, on PostgreSQL and SQLite (:mod:`crm.search.schema` holds the index).

Every condition is exact (the database tests every ticket's document; nothing is capped),
so a list ordered by any key and paged by keyset reaches every match.
"""
from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from markupsafe import Markup, escape
from sqlalchemy import (
    REAL,
    Float,
    Integer,
    and_,
    bindparam,
    cast,
    column,
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from crm.auth.models import CUSTOMER, User
from crm.clock import utcnow
from crm.errors import ServiceError
from crm.extensions import db
from crm.search.schema import PG_CONFIG
from crm.search.syntax import FieldTerm, Query, Term, parse
from crm.tickets.models import PRIORITIES, STATUSES, Ticket

#: Fields staff may use; customers have all but ``assignee`` and ``requester``.
STAFF_FIELDS = ("status", "priority", "assignee", "requester", "created", "updated", "id")
CUSTOMER_FIELDS = ("status", "priority", "created", "updated", "id")
#: FTS5 columns a customer's query may match (never ``internal_text``).
_PUBLIC_COLUMNS = "{subject description public_text}"
_MARK_OPEN, _MARK_CLOSE = "\x02", "\x03"
_DOCS = table("ticket_search_docs", column("ticket_id", Integer), column("doc"))


def fields_for(user: User) -> tuple[str, ...]:
    """The search fields ``user`` may use."""
    return CUSTOMER_FIELDS if user.role == CUSTOMER else STAFF_FIELDS


@dataclass
class TicketSearch:
    """A query compiled for one user and one database."""

    query: Query
    dialect: str
    #: True for customers: internal notes are never matched, ranked or shown.
    public_only: bool
    #: SQLite: the words are common, so test tickets one by one in list order
    #: (:func:`sqlite_walks`) instead of collecting and sorting every match.
    walk: bool = False
    #: PostgreSQL: the words are rare (:func:`pg_sparse`), so collect the matches first.
    sparse: bool = False

    # ------------------------------------------------------------ text

    def _pg_term(self, term: Term) -> str:
        weights = "ABC" if self.public_only else ""
        parts = []
        for i, word in enumerate(term.words):
            star = "*" if term.prefix and i == len(term.words) - 1 else ""
            parts.append(f"{word}:{star}{weights}" if star or weights else word)
        expr = " <-> ".join(parts)
        expr = f"({expr})" if len(parts) > 1 else expr
        return f"!{expr}" if term.negated else expr

    def tsquery(self) -> str | None:
        """PostgreSQL ``to_tsquery`` input for the text terms (None without text terms)."""
        if not self.query.terms:
            return None
        return " & ".join(self._pg_term(t) for t in self.query.terms)

    @staticmethod
    def _fts_term(term: Term) -> str:
        return '"' + " ".join(term.words) + '"' + ("*" if term.prefix else "")

    def _fts_scope(self, expr: str) -> str:
        return f"{_PUBLIC_COLUMNS} : ({expr})" if self.public_only else expr

    def fts_match(self) -> str | None:
        """FTS5 MATCH input for the terms that must match, with the exclusions (None when
        no term must match)."""
        positive = self.query.positive
        if not positive:
            return None
        expr = " AND ".join(self._fts_term(t) for t in positive)
        negative = self.query.negative
        if negative:
            expr = f"({expr}) NOT ({' OR '.join(self._fts_term(t) for t in negative)})"
        return self._fts_scope(expr)

    def _fts_excluded(self) -> str:
        return self._fts_scope(" OR ".join(self._fts_term(t) for t in self.query.negative))

    def text_condition(self) -> ColumnElement[bool] | None:
        """Tickets whose document matches every text term (None without text terms)."""
        if not self.query.terms:
            return None
        if self.dialect == "postgresql":
            matching = (f"SELECT ticket_id FROM ticket_search_docs "
                        f"WHERE doc @@ to_tsquery('{PG_CONFIG}', :search_tsq)")
            if self.sparse or any(len(t.words) > 1 for t in self.query.positive):
                # Few matches (or a phrase, which the planner prices as if its words were
                # merely all present): collect the matching ids first (GIN), fetch them by
                # primary key and sort, rather than walk the list's index hoping for a
                # match soon (the planner underprices each `@@` test on that walk).
                return text(f"tickets.id = ANY(ARRAY({matching}))"
                            ).bindparams(search_tsq=self.tsquery())
            ids = text(matching).bindparams(search_tsq=self.tsquery())
            return Ticket.id.in_(ids.columns(column("ticket_id", Integer)))
        match = self.fts_match()
        if match is not None and self.walk:
            return text("EXISTS (SELECT 1 FROM ticket_search WHERE ticket_search MATCH "
                        ":search_fts AND ticket_search.rowid = tickets.id)"
                        ).bindparams(search_fts=match)
        if match is not None:
            ids = text("SELECT rowid FROM ticket_search WHERE ticket_search MATCH :search_fts"
                       ).bindparams(search_fts=match)
            return Ticket.id.in_(ids.columns(column("rowid", Integer)))
        ids = text("SELECT rowid FROM ticket_search WHERE ticket_search MATCH :search_not"
                   ).bindparams(search_not=self._fts_excluded())
        return Ticket.id.not_in(ids.columns(column("rowid", Integer)))

    def apply(self, stmt: Select, user: User, ordered: bool = True) -> Select:
        """``stmt`` (a ``select(Ticket)``) narrowed to what the query asks.

        Unordered (a count) on SQLite, words are matched by joining FTS5 rather than by
        ``id IN (…)``: SQLite materialises an ``IN`` list before using it (every match of a
        common word: ~80 ms at 200k tickets), while a join streams the doclist and a count
        with a LIMIT stops early (~3 ms)."""
        if (not ordered and self.dialect == "sqlite" and self.query.positive
                and self.query.lone_number is None):
            stmt = (stmt.join(table("ticket_search"),
                              literal_column("ticket_search.rowid") == Ticket.id)
                    .where(text("ticket_search MATCH :count_fts")
                           .bindparams(count_fts=self.fts_match())))
            for cond in self.field_conditions(user):
                stmt = stmt.where(cond)
            return stmt
        cond = self.condition(user)
        return stmt if cond is None else stmt.where(cond)

    def ranked(self, stmt: Select) -> tuple[Select, ColumnElement]:
        """``stmt`` (a ``select(Ticket)``) joined to the search document, and the rank to
        order by, best match first when descending: ``ts_rank`` (weights D 0.1 — 0 for
        customers — C 0.2, B 0.4, A 1.0) on PostgreSQL, minus FTS5's ``bm25`` (columns
        weighted 10, 5, 2, 1 — 0 for customers) on SQLite. A join, not a correlated
        subquery: SQLite runs the MATCH once instead of once per ticket.

        Only for a query with words that must match (:attr:`Query.positive`)."""
        if self.dialect == "postgresql":
            weights = [0.0 if self.public_only else 0.1, 0.2, 0.4, 1.0]
            query = func.to_tsquery(literal_column(f"'{PG_CONFIG}'::regconfig"),
                                    bindparam("rank_tsq", self.tsquery()))
            rank = func.ts_rank(cast(weights, ARRAY(REAL)), _DOCS.c.doc, query, type_=Float)
            return stmt.join(_DOCS, _DOCS.c.ticket_id == Ticket.id), cast(rank, Float)
        internal = 0.0 if self.public_only else 1.0
        rank = -func.bm25(literal_column("ticket_search"), 10.0, 5.0, 2.0, internal,
                          type_=Float)
        fts = table("ticket_search")
        joined = (stmt.join(fts, literal_column("ticket_search.rowid") == Ticket.id)
                  .where(text("ticket_search MATCH :rank_fts")
                         .bindparams(rank_fts=self.fts_match())))
        return joined, rank

    # ------------------------------------------------------------ fields

    def field_conditions(self, user: User) -> list[ColumnElement[bool]]:
        """One condition per field name (repeated ``status:``/``priority:`` values are
        alternatives; other repeats must all hold), plus the ``#id`` terms.

        :raises ServiceError: 422 on ``q`` for a value the field does not take.
        """
        groups: dict[str, list[ColumnElement[bool]]] = {}
        conditions: list[ColumnElement[bool]] = []
        for term in self.query.fields:
            cond = _field_condition(term, user)
            if term.negated:
                conditions.append(not_(cond))
            elif term.name in ("status", "priority", "assignee", "requester") and term.op == ":":
                groups.setdefault(term.name, []).append(cond)
            else:
                conditions.append(cond)
        conditions += [or_(*alternatives) for alternatives in groups.values()]
        if self.query.ids:
            conditions.append(Ticket.id.in_(self.query.ids))
        return conditions

    def condition(self, user: User) -> ColumnElement[bool] | None:
        """Everything the query asks, as one condition on ``Ticket`` (None: no condition).

        A query that is one number (``123``) matches ticket 123 as well as the word."""
        parts = self.field_conditions(user)
        text_cond = self.text_condition()
        if text_cond is not None:
            lone = self.query.lone_number
            parts.append(or_(Ticket.id == lone, text_cond) if lone is not None else text_cond)
        if not parts:
            return None
        return and_(*parts) if len(parts) > 1 else parts[0]


def compile_query(q: str | None, user: User, dialect: str, conn=None) -> TicketSearch:
    """Parse ``q`` for ``user`` (their fields; customers: public text only); with ``conn``
    (SQLite) also choose how to run it (:func:`sqlite_walks`).

    :raises ServiceError: 422 on ``q`` naming unknown fields.
    """
    found = TicketSearch(parse(q, fields_for(user)), dialect, user.role == CUSTOMER)
    if conn is not None and dialect == "sqlite":
        match = found.fts_match()
        found.walk = match is not None and sqlite_walks(conn, match)
    elif conn is not None and found.query.positive:
        found.sparse = pg_sparse(conn, found.tsquery())
    return found


def pg_sparse(conn, tsquery: str) -> bool:
    """PostgreSQL: True when the planner expects at most ``10 * sqrt(tickets)`` documents to
    match ``tsquery`` (its estimate from the tsvector column's statistics, no rows read; the
    column keeps 10,000 statistics entries so rare words are estimated as rare). Then the
    matches are collected and sorted; above it the planner may walk the list's index."""
    tickets = conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'tickets'")
                           ).scalar() or 0
    plan = conn.execute(text(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM ticket_search_docs "
                             f"WHERE doc @@ to_tsquery('{PG_CONFIG}', :q)"), {"q": tsquery}
                        ).scalar()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return plan[0]["Plan"]["Plan Rows"] <= 10 * math.sqrt(max(tickets, 0))


def sqlite_walks(conn, match: str) -> bool:
    """SQLite's plan for a search: True to walk the list's index and test each ticket against
    FTS5 by rowid (cheap when matches are dense: a page needs few tests), False to collect
    every match and sort them (cheap when they are few). SQLite's planner cannot tell the
    two apart, so this counts matches up to ``15 * sqrt(tickets)`` (FTS5 streams its
    doclist; about 15,000 at a million tickets, where both plans cost about the same) and
    walks above it. Both plans return exactly the same rows."""
    top = conn.execute(text("SELECT max(id) FROM tickets")).scalar() or 0
    bound = min(50_000, max(500, int(15 * math.sqrt(top))))
    found = conn.execute(text("SELECT count(*) FROM (SELECT 1 FROM ticket_search WHERE "
                              "ticket_search MATCH :m LIMIT :b)"), {"m": match, "b": bound})
    return found.scalar() >= bound


# ---------------------------------------------------------------- field values

_AGE = re.compile(r"(\d{1,6})\s*(m|min|mins|minutes?|h|hours?|d|days?|w|weeks?)", re.I)
_AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _bad(term: FieldTerm, expected: str) -> ServiceError:
    return ServiceError(f"{term.name}{term.op}{term.value}: {expected}", field="q", status=422)


def _choice(term: FieldTerm, choices: tuple[str, ...]) -> str:
    value = term.value.lower().replace(" ", "_").replace("-", "_")
    if term.op != ":" or value not in choices:
        raise _bad(term, f"use {term.name}:<{'|'.join(choices)}>.")
    return value


def _when(term: FieldTerm, column_) -> ColumnElement[bool]:
    """``created``/``updated`` against a day, a date-time or an age (``7d`` = 7 days ago:
    ``updated<7d`` is "less than 7 days ago", ``created>2w`` "more than 2 weeks ago")."""
    value, op = term.value.strip(), term.op
    age = _AGE.fullmatch(value)
    if age:
        try:
            since = utcnow() - timedelta(**{_AGE_UNITS[age.group(2)[0].lower()]: int(age.group(1))})
        except OverflowError:
            raise _bad(term, "that age is too large.") from None
        return column_ < since if op in (">", ">=") else column_ >= since
    try:
        if len(value) == 10:
            start = datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)
            end = start + timedelta(days=1)
        else:
            start = datetime.fromisoformat(value.replace("Z", "+00:00"))
            start = start.astimezone(UTC) if start.tzinfo else start.replace(tzinfo=UTC)
            end = start + timedelta(microseconds=1)
    except (ValueError, OverflowError):
        raise _bad(term, "use a day (2026-01-31), an ISO 8601 date-time or an age "
                         "(30m, 12h, 7d, 2w).") from None
    return {":": and_(column_ >= start, column_ < end), ">": column_ >= end,
            ">=": column_ >= start, "<": column_ < start, "<=": column_ < end}[op]


def _users(value: str, roles: tuple[str, ...] | None) -> list[int]:
    """Ids of users whose email or name is ``value`` (case-insensitive), or the id itself."""
    if value.isdigit() and len(value) <= 12:
        return [int(value)]
    lowered = value.lower()[:254]
    stmt = select(User.id).where(or_(func.lower(User.email) == lowered,
                                     func.lower(User.name) == lowered))
    if roles:
        stmt = stmt.where(User.role.in_(roles))
    return list(db.session.scalars(stmt.limit(1000)))


def _field_condition(term: FieldTerm, user: User) -> ColumnElement[bool]:
    name = term.name
    if name == "status":
        return Ticket.status == _choice(term, STATUSES)
    if name == "priority":
        return Ticket.priority == _choice(term, PRIORITIES)
    if name in ("created", "updated"):
        return _when(term, Ticket.created_at if name == "created" else Ticket.updated_at)
    if name == "id":
        if not (term.value.lstrip("#").isdigit() and len(term.value) <= 13):
            raise _bad(term, "use id:<number>.")
        number = int(term.value.lstrip("#"))
        return {":": Ticket.id == number, ">": Ticket.id > number, ">=": Ticket.id >= number,
                "<": Ticket.id < number, "<=": Ticket.id <= number}[term.op]
    if term.op != ":":
        raise _bad(term, f"use {name}:<value>.")
    if name == "assignee":
        value = term.value.lower()
        if value == "me":
            return Ticket.assignee_id == user.id
        if value == "none":
            return Ticket.assignee_id.is_(None)
        ids = _users(term.value, None)
        return Ticket.assignee_id.in_(ids) if ids else false()
    ids = _users(term.value, (CUSTOMER,))
    return Ticket.requester_id.in_(ids) if ids else false()


# ---------------------------------------------------------------- highlights

def render_marked(raw: str | None) -> Markup:
    """HTML for a snippet whose matches the database wrapped in \\x02 … \\x03: the text is
    escaped, markers become balanced ``<mark>`` elements, stray markers are dropped."""
    out, open_ = [], False
    for piece in re.split(f"([{_MARK_OPEN}{_MARK_CLOSE}])", raw or ""):
        if piece == _MARK_OPEN:
            if not open_:
                out.append("<mark>")
                open_ = True
        elif piece == _MARK_CLOSE:
            if open_:
                out.append("</mark>")
                open_ = False
        else:
            out.append(str(escape(piece)))
    if open_:
        out.append("</mark>")
    return Markup("".join(out))


def highlights(search: TicketSearch, ticket_ids: list[int]) -> dict[int, dict[str, Markup]]:
    """Highlighted text of the listed tickets: ``{id: {"subject": html, "snippet": html}}``.

    ``snippet`` comes from the first part that holds a match: description, public replies,
    then (staff) internal notes; absent when only the subject matched. Empty without text
    terms that must match.
    """
    if not ticket_ids or not search.query.positive:
        return {}
    if search.dialect == "postgresql":
        rows = _pg_highlights(search, ticket_ids)
    else:
        rows = _fts_highlights(search, ticket_ids)
    result: dict[int, dict[str, Markup]] = {}
    for ticket_id, subject, *parts in rows:
        entry = {}
        if subject and _MARK_OPEN in subject:
            entry["subject"] = render_marked(subject)
        for part in parts:
            if part and _MARK_OPEN in part:
                entry["snippet"] = render_marked(part)
                break
        result[ticket_id] = entry
    return result


def _pg_highlights(search: TicketSearch, ticket_ids: list[int]) -> list:
    opts = ("StartSel=\x02, StopSel=\x03, MaxWords=24, MinWords=10, MaxFragments=2, "
            "FragmentDelimiter=\" … \"")
    full = "StartSel=\x02, StopSel=\x03, HighlightAll=true"
    parts = ["t.description"]
    comment = ("(SELECT string_agg(c.body, E'\\n' ORDER BY c.id) FROM comments c "
               "WHERE c.ticket_id = t.id AND {cond})")
    parts.append(comment.format(cond="c.public"))
    if not search.public_only:
        parts.append(comment.format(cond="NOT c.public"))
    heads = ", ".join(f"ts_headline('{PG_CONFIG}', {p}, q.q, :hl_opts)" for p in parts)
    sql = (f"SELECT t.id, ts_headline('{PG_CONFIG}', t.subject, q.q, :hl_full), {heads} "
           f"FROM tickets t, (SELECT to_tsquery('{PG_CONFIG}', :hl_tsq) AS q) q "
           f"WHERE t.id = ANY(:hl_ids)")
    return list(db.session.execute(text(sql), {"hl_opts": opts, "hl_full": full,
                                               "hl_tsq": search.tsquery(),
                                               "hl_ids": list(ticket_ids)}))


def _fts_highlights(search: TicketSearch, ticket_ids: list[int]) -> list:
    columns = [1, 2] if search.public_only else [1, 2, 3]
    snippets = ", ".join(f"snippet(ticket_search, {c}, char(2), char(3), '…', 16)"
                         for c in columns)
    marks = ", ".join(f":hl_{i}" for i in range(len(ticket_ids)))
    sql = (f"SELECT rowid, highlight(ticket_search, 0, char(2), char(3)), {snippets} "
           f"FROM ticket_search WHERE ticket_search MATCH :hl_fts AND rowid IN ({marks})")
    params = {f"hl_{i}": tid for i, tid in enumerate(ticket_ids)}
    params["hl_fts"] = search.fts_match()
    return list(db.session.execute(text(sql), params))


# ---------------------------------------------------------------- relevance cursor

def encode_rank_cursor(rank: float, ticket_id: int) -> str:
    """Opaque keyset cursor for "tickets after this one" in relevance order: JSON
    ``["rank", score, id]`` in base64url (the score round-trips exactly through JSON)."""
    raw = json.dumps(["rank", float(rank), int(ticket_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_rank_cursor(cursor: str) -> tuple[float, int]:
    """Inverse of :func:`encode_rank_cursor`: (score, ticket id in 1..2**63-1).

    :raises ServiceError: 422 naming ``cursor`` for anything else (a cursor of another sort,
        not base64/JSON, a non-finite score, an id out of range).
    """
    bad = ServiceError("Invalid cursor.", field="cursor", status=422)
    try:
        parts = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
    except (ValueError, TypeError):
        raise bad from None
    if not (isinstance(parts, list) and len(parts) == 3 and parts[0] == "rank"
            and isinstance(parts[1], int | float) and not isinstance(parts[1], bool)
            and isinstance(parts[2], int) and not isinstance(parts[2], bool)):
        raise bad
    score, ticket_id = float(parts[1]), parts[2]
    if not (math.isfinite(score) and 0 < ticket_id <= 2**63 - 1):
        raise bad
    return score, ticket_id
