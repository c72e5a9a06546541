"""Full-text search over tickets (subject, description) and their comments.

SQLite and PostgreSQL differ here, so this module is the one place that knows:

* PostgreSQL: GIN indexes on ``to_tsvector('simple', …)`` expressions, queried with
  ``plainto_tsquery('simple', q)``;
* SQLite: FTS5 external-content tables ``tickets_fts`` and ``comments_fts`` kept in step by
  triggers, queried with ``MATCH`` on quoted terms.

Both return a SQL condition on ``Ticket.id`` so callers combine it with other filters.
"""
from __future__ import annotations

import json
import re
import time

from sqlalchemy import Connection, Integer, column, or_, text
from sqlalchemy.sql.elements import ColumnElement

from crm.tickets.models import Ticket

_PG_TICKET_DOC = ("to_tsvector('simple', coalesce(tickets.subject, '') || ' ' || "
                  "coalesce(tickets.description, ''))")
_PG_COMMENT_DOC = "to_tsvector('simple', coalesce(comments.body, ''))"

PG_DDL = [
    f"CREATE INDEX IF NOT EXISTS ix_tickets_fts ON tickets USING gin (({_PG_TICKET_DOC}))",
    f"CREATE INDEX IF NOT EXISTS ix_comments_fts ON comments USING gin (({_PG_COMMENT_DOC}))",
]
PG_DROP = ["DROP INDEX IF EXISTS ix_comments_fts", "DROP INDEX IF EXISTS ix_tickets_fts"]

SQLITE_DDL = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS tickets_fts USING fts5("
    "subject, description, content='tickets', content_rowid='id')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS comments_fts USING fts5("
    "body, content='comments', content_rowid='id')",
    "CREATE TRIGGER IF NOT EXISTS tickets_fts_ai AFTER INSERT ON tickets BEGIN "
    "INSERT INTO tickets_fts(rowid, subject, description) VALUES (new.id, new.subject, new.description); END",
    "CREATE TRIGGER IF NOT EXISTS tickets_fts_ad AFTER DELETE ON tickets BEGIN "
    "INSERT INTO tickets_fts(tickets_fts, rowid, subject, description) "
    "VALUES ('delete', old.id, old.subject, old.description); END",
    "CREATE TRIGGER IF NOT EXISTS tickets_fts_au AFTER UPDATE OF subject, description ON tickets BEGIN "
    "INSERT INTO tickets_fts(tickets_fts, rowid, subject, description) "
    "VALUES ('delete', old.id, old.subject, old.description); "
    "INSERT INTO tickets_fts(rowid, subject, description) VALUES (new.id, new.subject, new.description); END",
    "CREATE TRIGGER IF NOT EXISTS comments_fts_ai AFTER INSERT ON comments BEGIN "
    "INSERT INTO comments_fts(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER IF NOT EXISTS comments_fts_ad AFTER DELETE ON comments BEGIN "
    "INSERT INTO comments_fts(comments_fts, rowid, body) VALUES ('delete', old.id, old.body); END",
    "CREATE TRIGGER IF NOT EXISTS comments_fts_au AFTER UPDATE OF body ON comments BEGIN "
    "INSERT INTO comments_fts(comments_fts, rowid, body) VALUES ('delete', old.id, old.body); "
    "INSERT INTO comments_fts(rowid, body) VALUES (new.id, new.body); END",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS comments_fts_au", "DROP TRIGGER IF EXISTS comments_fts_ad",
    "DROP TRIGGER IF EXISTS comments_fts_ai", "DROP TRIGGER IF EXISTS tickets_fts_au",
    "DROP TRIGGER IF EXISTS tickets_fts_ad", "DROP TRIGGER IF EXISTS tickets_fts_ai",
    "DROP TABLE IF EXISTS comments_fts", "DROP TABLE IF EXISTS tickets_fts",
]

_WORD = re.compile(r"\w+", re.UNICODE)

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
    """Create the search indexes/tables/triggers for ``conn``'s dialect (idempotent)."""
    for stmt in PG_DDL if conn.dialect.name == "postgresql" else SQLITE_DDL:
        conn.execute(text(stmt))


def uninstall(conn: Connection) -> None:
    """Drop what :func:`install` created (migration downgrade)."""
    for stmt in PG_DROP if conn.dialect.name == "postgresql" else SQLITE_DROP:
        conn.execute(text(stmt))


def terms(q: str) -> list[str]:
    """Split a query into word terms (letters/digits), at most 8, each at most 64 chars."""
    return [w[:64] for w in _WORD.findall(q or "")][:8]


def ticket_id_from_query(q: str) -> int | None:
    """Return the ticket id when ``q`` is ``123`` or ``#123``, else None."""
    m = re.fullmatch(r"\s*#?(\d{1,12})\s*", q or "")
    return int(m.group(1)) if m else None


def _start(q: str) -> tuple[list[str], list[ColumnElement[bool]]]:
    """The common opening of every search condition: the query's words, and the id match
    (``#123``) as the first alternative when ``q`` looks like a ticket id."""
    by_id = ticket_id_from_query(q)
    return terms(q), ([Ticket.id == by_id] if by_id is not None else [])


def _fts_query(words: list[str]) -> str:
    """FTS5 query for "all these words": each quoted, so FTS syntax is neutralised."""
    return " ".join('"' + w.replace('"', '') + '"' for w in words)


def match_condition(dialect: str, q: str) -> ColumnElement[bool] | None:
    """A condition on ``Ticket`` that is true for tickets matching every term of ``q``.

    Matches by id (``#123``), or all words across subject/description, or all words in one
    comment. Returns None when ``q`` has no searchable term.

    This is the *set* form: the database collects every matching ticket id (from the
    full-text indexes) and then sorts them, so its cost grows with the number of matches.
    :func:`search_condition` picks between it and :func:`row_condition`.

    :param dialect: ``"postgresql"`` or ``"sqlite"`` (``engine.dialect.name``).
    """
    words, conditions = _start(q)
    if not words:
        return None
    if dialect == "postgresql":
        phrase = " ".join(words)
        ids = text(f"SELECT tickets.id FROM tickets WHERE {_PG_TICKET_DOC} @@ plainto_tsquery('simple', :tsq_t) "
                   f"UNION SELECT comments.ticket_id FROM comments "
                   f"WHERE {_PG_COMMENT_DOC} @@ plainto_tsquery('simple', :tsq_c)"
                   ).bindparams(tsq_t=phrase, tsq_c=phrase)
    else:
        fts_query = _fts_query(words)
        ids = text("SELECT rowid FROM tickets_fts WHERE tickets_fts MATCH :fq_t "
                   "UNION SELECT comments.ticket_id FROM comments_fts "
                   "JOIN comments ON comments.id = comments_fts.rowid "
                   "WHERE comments_fts MATCH :fq_c").bindparams(fq_t=fts_query, fq_c=fts_query)
    conditions.append(Ticket.id.in_(ids.columns(column("id", Integer))))
    return or_(*conditions)


def _like_pattern(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def row_condition(dialect: str, q: str) -> ColumnElement[bool] | None:
    """The same test as :func:`match_condition`, evaluated row by row (correlated).

    Meant for a query that walks an index in ``updated_at`` order with a LIMIT: the database
    checks one ticket at a time (its own text, then its comments) and stops after one page,
    so a common word costs a few dozen checks instead of collecting all its matches. On
    PostgreSQL a cheap ``ILIKE '%word%'`` pre-filter (true for every real match) runs before
    the exact ``to_tsvector`` test, which costs ~50 µs a row. Returns None when ``q`` has no
    searchable term.
    """
    words, conditions = _start(q)
    if not words:
        return None
    if dialect == "postgresql":
        phrase = " ".join(words)
        params = {f"rlike_{i}": _like_pattern(w) for i, w in enumerate(words)}
        t_like = " AND ".join(f"(tickets.subject || ' ' || tickets.description) ILIKE :rlike_{i}"
                              for i in range(len(words)))
        c_like = " AND ".join(f"comments.body ILIKE :rlike_{i}" for i in range(len(words)))
        conditions.append(text(f"({t_like} AND {_PG_TICKET_DOC} @@ plainto_tsquery('simple', :rtsq))")
                          .bindparams(rtsq=phrase, **params))
        # OFFSET 0 keeps the EXISTS a per-row probe of ix_comments_ticket_created; without
        # it the planner turns it into a hashed subplan that collects every matching comment.
        conditions.append(text(f"EXISTS (SELECT 1 FROM comments WHERE comments.ticket_id = tickets.id "
                               f"AND {c_like} AND {_PG_COMMENT_DOC} @@ plainto_tsquery('simple', :rtsq) "
                               f"OFFSET 0)")
                          .bindparams(rtsq=phrase, **params))
    else:
        fts_query = _fts_query(words)
        conditions.append(text("EXISTS (SELECT 1 FROM tickets_fts WHERE tickets_fts MATCH :rfq_t "
                               "AND tickets_fts.rowid = tickets.id)").bindparams(rfq_t=fts_query))
        conditions.append(text("EXISTS (SELECT 1 FROM comments CROSS JOIN comments_fts "
                               "ON comments_fts.rowid = comments.id WHERE comments.ticket_id = tickets.id "
                               "AND comments_fts MATCH :rfq_c)").bindparams(rfq_c=fts_query))
    return or_(*conditions)


#: SQLite: how many of the newest matching tickets, and of the newest matching comments,
#: a search considers (see :func:`candidate_condition`).
SQLITE_CANDIDATES = 200
#: PostgreSQL: above this many estimated matching rows (tickets + comments) a search walks
#: the ``updated_at`` index (:func:`row_condition`) instead of collecting every match.
PG_COMMON_MATCHES = 10_000


def candidate_condition(q: str, k: int = SQLITE_CANDIDATES) -> ColumnElement[bool] | None:
    """SQLite: tickets among the ``k`` newest tickets matching ``q`` (by id, i.e. creation)
    and the tickets of the ``k`` newest matching comments.

    FTS5 reads a doclist newest-first and stops after ``k`` entries, so the cost is bounded
    whatever the word's frequency. Exact (same rows as :func:`match_condition`) whenever
    ``q`` matches at most ``k`` tickets and ``k`` comments; for commoner words the page is
    the most recently updated of those candidates (a ticket's comments update it, so busy
    tickets are found), and paging ends after the candidates.
    """
    words = terms(q)
    if not words:
        return None
    fts_query = _fts_query(words)
    ids = text("SELECT rowid FROM (SELECT rowid FROM tickets_fts WHERE tickets_fts MATCH :cfq_t "
               "ORDER BY rowid DESC LIMIT :ck_t) "
               "UNION SELECT comments.ticket_id FROM comments WHERE comments.id IN "
               "(SELECT rowid FROM comments_fts WHERE comments_fts MATCH :cfq_c "
               "ORDER BY rowid DESC LIMIT :ck_c)").bindparams(cfq_t=fts_query, cfq_c=fts_query,
                                                              ck_t=k, ck_c=k)
    cond = Ticket.id.in_(ids.columns(column("id", Integer)))
    by_id = ticket_id_from_query(q)
    return or_(Ticket.id == by_id, cond) if by_id is not None else cond


_ESTIMATES: dict[str, tuple[float, int]] = {}
_ESTIMATE_TTL_S = 300.0


def estimated_matches(conn: Connection, q: str) -> int:
    """PostgreSQL: the planner's estimate of ticket + comment rows matching ``q``.

    Comes from the statistics of the expression indexes (``ANALYZE``); no rows are read.
    Estimates are kept per process for :data:`_ESTIMATE_TTL_S` seconds (two EXPLAINs cost
    about a millisecond; statistics change slowly).
    """
    words = terms(q)
    if not words:
        return 0
    phrase = " ".join(words)
    now = time.monotonic()
    cached = _ESTIMATES.get(phrase)
    if cached and now - cached[0] < _ESTIMATE_TTL_S:
        return cached[1]
    total = 0
    for sql in (f"SELECT 1 FROM tickets WHERE {_PG_TICKET_DOC} @@ plainto_tsquery('simple', :p)",
                f"SELECT 1 FROM comments WHERE {_PG_COMMENT_DOC} @@ plainto_tsquery('simple', :p)"):
        plan = conn.execute(text("EXPLAIN (FORMAT JSON) " + sql), {"p": phrase}).scalar()
        if isinstance(plan, str):
            plan = json.loads(plan)
        total += int(plan[0]["Plan"]["Plan Rows"])
    if len(_ESTIMATES) > 4096:
        _ESTIMATES.clear()
    _ESTIMATES[phrase] = (now, total)
    return total


def search_condition(conn: Connection, q: str) -> ColumnElement[bool] | None:
    """The condition the ticket list uses for ``q`` (newest update first, one page).

    * SQLite: :func:`candidate_condition` (bounded cost at any word frequency).
    * PostgreSQL: rare words (planner estimate at most :data:`PG_COMMON_MATCHES` rows):
      :func:`match_condition` (GIN bitmap scans, then sort the matches); common words:
      :func:`row_condition`, so the list walks its ``updated_at`` index and stops after a
      page (GIN cannot return matches in order, and its bitmap of a common word costs
      ~0.4 µs per matching row). Both give exact results.
    """
    if not terms(q):
        return None
    if conn.dialect.name != "postgresql":
        return candidate_condition(q)
    if estimated_matches(conn, q) > PG_COMMON_MATCHES:
        return row_condition("postgresql", q)
    return match_condition("postgresql", q)
