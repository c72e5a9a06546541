"""Full-text search over tickets (subject, description) and their comments.

SQLite and PostgreSQL differ here, so this module is the one place that knows:

* PostgreSQL: GIN indexes on ``to_tsvector('simple', …)`` expressions, queried with
  ``plainto_tsquery('simple', q)``;
* SQLite: FTS5 external-content tables ``tickets_fts`` and ``comments_fts`` kept in step by
  triggers, queried with ``MATCH`` on quoted terms.

Both return a SQL condition on ``Ticket.id`` so callers combine it with other filters.
"""
from __future__ import annotations

import re

from sqlalchemy import Connection, Integer, column, or_, select, text
from sqlalchemy.sql.elements import ColumnElement

from crm.tickets.models import Comment, Ticket

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


def match_condition(dialect: str, q: str) -> ColumnElement[bool] | None:
    """A condition on ``Ticket`` that is true for tickets matching every term of ``q``.

    Matches by id (``#123``), or all words across subject/description, or all words in one
    comment. Returns None when ``q`` has no searchable term.

    :param dialect: ``"postgresql"`` or ``"sqlite"`` (``engine.dialect.name``).
    """
    words = terms(q)
    by_id = ticket_id_from_query(q)
    if not words:
        return None
    conditions = []
    if by_id is not None:
        conditions.append(Ticket.id == by_id)
    if dialect == "postgresql":
        phrase = " ".join(words)
        conditions.append(text(f"{_PG_TICKET_DOC} @@ plainto_tsquery('simple', :tsq_t)")
                          .bindparams(tsq_t=phrase))
        conditions.append(Ticket.id.in_(select(Comment.ticket_id).where(
            text(f"{_PG_COMMENT_DOC} @@ plainto_tsquery('simple', :tsq_c)").bindparams(tsq_c=phrase))))
    else:
        fts_query = " ".join('"' + w.replace('"', '') + '"' for w in words)
        ticket_ids = text("SELECT rowid FROM tickets_fts WHERE tickets_fts MATCH :fq_t").bindparams(fq_t=fts_query)
        comment_rowids = text("SELECT rowid FROM comments_fts WHERE comments_fts MATCH :fq_c").bindparams(fq_c=fts_query)
        rowid = column("rowid", Integer)
        conditions.append(Ticket.id.in_(ticket_ids.columns(rowid)))
        conditions.append(Ticket.id.in_(select(Comment.ticket_id)
                                        .where(Comment.id.in_(comment_rowids.columns(rowid)))))
    return or_(*conditions)
