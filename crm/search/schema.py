"""The per-ticket search document and its one full-text index, on PostgreSQL and SQLite.

Each ticket has one document: its subject, its description, its public replies, and (a part
customers never match) its internal notes. Triggers rebuild a ticket's document in the same
transaction as the change (a ticket written or edited, a comment added, edited or deleted),
so a search sees exactly what was committed.

* PostgreSQL: table ``ticket_search_docs(ticket_id, doc tsvector)`` with one GIN index. The
  four parts carry the weights A (subject), B (description), C (public replies) and
  D (internal notes); a customer's query asks for weights ``ABC`` only. Text goes through
  the ``crm_search`` configuration: ``unaccent`` (when the extension can be created), then
  a Snowball stemmer in the configured language, without stop words (FTS5 has none either,
  so both databases match the same words). Punctuation is turned into spaces first, so
  e-mail addresses and URLs are words, as FTS5's ``unicode61`` tokenizer sees them.
* SQLite: FTS5 table ``ticket_search(subject, description, public_text, internal_text)``,
  rowid = ticket id, tokenizer ``porter unicode61 remove_diacritics 2`` (``porter`` only for
  English: it is an English stemmer); a customer's query is limited to the first three
  columns.
"""
from __future__ import annotations

import logging
import os

from sqlalchemy import Connection, text

log = logging.getLogger(__name__)

#: Snowball languages PostgreSQL ships (``SEARCH_LANGUAGE``); ``simple`` means no stemming.
LANGUAGES = ("simple", "arabic", "armenian", "basque", "catalan", "danish", "dutch",
             "english", "finnish", "french", "german", "greek", "hindi", "hungarian",
             "indonesian", "irish", "italian", "lithuanian", "nepali", "norwegian",
             "portuguese", "romanian", "russian", "serbian", "spanish", "swedish", "tamil",
             "turkish", "yiddish")
DEFAULT_LANGUAGE = "english"
#: The PostgreSQL text search configuration documents and queries use.
PG_CONFIG = "crm_search"

# Objects of the earlier search (expression indexes / per-table FTS5 tables): dropped on
# install, so a database upgraded from them keeps one index per ticket, not three.
_LEGACY_PG = ["DROP INDEX IF EXISTS ix_comments_fts", "DROP INDEX IF EXISTS ix_tickets_fts"]
_LEGACY_SQLITE = [
    "DROP TRIGGER IF EXISTS comments_fts_au", "DROP TRIGGER IF EXISTS comments_fts_ad",
    "DROP TRIGGER IF EXISTS comments_fts_ai", "DROP TRIGGER IF EXISTS tickets_fts_au",
    "DROP TRIGGER IF EXISTS tickets_fts_ad", "DROP TRIGGER IF EXISTS tickets_fts_ai",
    "DROP TABLE IF EXISTS comments_fts", "DROP TABLE IF EXISTS tickets_fts",
]


def language(configured: str | None = None) -> str:
    """The search language: ``configured``, else the app's ``SEARCH_LANGUAGE``, else the
    ``SEARCH_LANGUAGE`` environment variable, else English.

    :raises ValueError: not one of :data:`LANGUAGES`.
    """
    value = configured
    if value is None:
        try:
            from flask import current_app
            value = current_app.config.get("SEARCH_LANGUAGE")
        except RuntimeError:  # no app (a migration run by hand, a script)
            value = None
    value = (value or os.environ.get("SEARCH_LANGUAGE") or DEFAULT_LANGUAGE).strip().lower()
    if value not in LANGUAGES:
        raise ValueError(f"SEARCH_LANGUAGE must be one of {', '.join(LANGUAGES)}, got {value!r}")
    return value


# ---------------------------------------------------------------- PostgreSQL

def _pg_part(expr: str, weight: str) -> str:
    return (f"setweight(to_tsvector('{PG_CONFIG}', crm_search_text({expr})), '{weight}')")


def _pg_comments(public: bool) -> str:
    cond = "c.public" if public else "NOT c.public"
    return (f"(SELECT string_agg(c.body, ' ' ORDER BY c.id) FROM comments c "
            f"WHERE c.ticket_id = t.id AND {cond})")


#: A placeholder word between the parts, deleted again: it leaves a gap in the positions, so
#: a phrase cannot run from the subject into the description (FTS5 columns do the same).
_PG_GAP = "crmsearchgap"

#: The document of ticket ``t`` (a ``tickets`` row alias) as one SQL expression.
PG_DOCUMENT = ("ts_delete(" + f" || to_tsvector('simple', '{_PG_GAP}') || ".join(
    [_pg_part("t.subject", "A"), _pg_part("t.description", "B"),
     _pg_part(_pg_comments(True), "C"), _pg_part(_pg_comments(False), "D")])
    + f", '{_PG_GAP}'::text)")

_PG_FUNCTIONS = [
    # Punctuation to spaces: the PostgreSQL parser would keep e-mail addresses, hosts, paths
    # and decimals as single tokens, which FTS5 (and people) see as several words.
    "CREATE OR REPLACE FUNCTION crm_search_text(value text) RETURNS text "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS "
    "$$ SELECT regexp_replace(coalesce(value, ''), '[^[:alnum:]]+', ' ', 'g') $$",
    "CREATE OR REPLACE FUNCTION crm_search_refresh(tid integer) RETURNS void "
    "LANGUAGE sql AS $$ "
    "INSERT INTO ticket_search_docs (ticket_id, doc) "
    f"SELECT t.id, {PG_DOCUMENT} FROM tickets t WHERE t.id = tid "
    "ON CONFLICT (ticket_id) DO UPDATE SET doc = excluded.doc $$",
    "CREATE OR REPLACE FUNCTION crm_search_on_change() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_TABLE_NAME = 'tickets' THEN PERFORM crm_search_refresh(NEW.id); "
    "ELSIF TG_OP = 'DELETE' THEN PERFORM crm_search_refresh(OLD.ticket_id); "
    "ELSE PERFORM crm_search_refresh(NEW.ticket_id); "
    "IF TG_OP = 'UPDATE' AND OLD.ticket_id <> NEW.ticket_id THEN "
    "PERFORM crm_search_refresh(OLD.ticket_id); END IF; "
    "END IF; RETURN NULL; END $$",
]
_PG_TABLE = [
    "CREATE TABLE IF NOT EXISTS ticket_search_docs ("
    "ticket_id integer PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE, "
    "doc tsvector NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_ticket_search_docs_doc ON ticket_search_docs USING gin (doc)",
    # Many statistics entries, so the planner knows rare words are rare (crm.search.tickets).
    "ALTER TABLE ticket_search_docs ALTER COLUMN doc SET STATISTICS 10000",
]
_PG_TRIGGERS = [
    "DROP TRIGGER IF EXISTS crm_search_tickets ON tickets",
    "CREATE TRIGGER crm_search_tickets AFTER INSERT OR UPDATE OF subject, description "
    "ON tickets FOR EACH ROW EXECUTE FUNCTION crm_search_on_change()",
    "DROP TRIGGER IF EXISTS crm_search_comments ON comments",
    "CREATE TRIGGER crm_search_comments AFTER INSERT OR DELETE OR UPDATE OF body, public, "
    "ticket_id ON comments FOR EACH ROW EXECUTE FUNCTION crm_search_on_change()",
]
_PG_DROP = [
    "DROP TRIGGER IF EXISTS crm_search_comments ON comments",
    "DROP TRIGGER IF EXISTS crm_search_tickets ON tickets",
    "DROP TABLE IF EXISTS ticket_search_docs",
    "DROP FUNCTION IF EXISTS crm_search_on_change()",
    "DROP FUNCTION IF EXISTS crm_search_refresh(integer)",
    "DROP FUNCTION IF EXISTS crm_search_text(text)",
    f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {PG_CONFIG}",
    "DROP TEXT SEARCH DICTIONARY IF EXISTS crm_search_stem",
]


def _pg_unaccent(conn: Connection) -> bool:
    """Create the ``unaccent`` extension if it is available and we may; True when it is
    there. A savepoint keeps a refusal from spoiling the caller's transaction."""
    if conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'unaccent'")).first():
        return True
    available = conn.execute(text(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent'")).first()
    if not available:
        log.warning("search: the unaccent extension is not installed; accents are not folded")
        return False
    try:
        with conn.begin_nested():
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS unaccent"))
    except Exception as exc:  # noqa: BLE001 - no privilege: search works, accents stay
        log.warning("search: cannot create the unaccent extension (%s); accents are not folded",
                    exc.__class__.__name__)
        return False
    return True


def _pg_configuration(conn: Connection, lang: str) -> None:
    """(Re)create the ``crm_search`` configuration: every word token goes through
    ``unaccent`` (if available), then the stemmer of ``lang`` (no stop words)."""
    unaccent = _pg_unaccent(conn)
    conn.execute(text(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {PG_CONFIG}"))
    conn.execute(text("DROP TEXT SEARCH DICTIONARY IF EXISTS crm_search_stem"))
    template = "simple" if lang == "simple" else "snowball"
    options = "" if lang == "simple" else f", Language = {lang}"
    conn.execute(text(f"CREATE TEXT SEARCH DICTIONARY crm_search_stem "
                      f"(TEMPLATE = {template}{options})"))
    conn.execute(text(f"CREATE TEXT SEARCH CONFIGURATION {PG_CONFIG} (COPY = simple)"))
    chain = "unaccent, crm_search_stem" if unaccent else "crm_search_stem"
    conn.execute(text(
        f"ALTER TEXT SEARCH CONFIGURATION {PG_CONFIG} ALTER MAPPING FOR asciiword, word, "
        f"numword, asciihword, hword, numhword, hword_asciipart, hword_part, hword_numpart, "
        f"int, uint WITH {chain}"))


# ---------------------------------------------------------------- SQLite

def _sqlite_comments(public: bool, ticket: str) -> str:
    cond = "public" if public else "NOT public"
    return (f"(SELECT group_concat(body, char(10)) FROM (SELECT body FROM comments "
            f"WHERE ticket_id = {ticket} AND {cond} ORDER BY id))")


def _sqlite_set_comments(ticket: str) -> str:
    return (f"UPDATE ticket_search SET public_text = {_sqlite_comments(True, ticket)}, "
            f"internal_text = {_sqlite_comments(False, ticket)} WHERE rowid = {ticket};")


def _sqlite_table(lang: str) -> str:
    tokenizer = "porter unicode61 remove_diacritics 2" if lang == "english" \
        else "unicode61 remove_diacritics 2"
    return ("CREATE VIRTUAL TABLE IF NOT EXISTS ticket_search USING fts5("
            f"subject, description, public_text, internal_text, tokenize='{tokenizer}')")


SQLITE_TRIGGERS = [
    "CREATE TRIGGER IF NOT EXISTS ticket_search_ti AFTER INSERT ON tickets BEGIN "
    "INSERT INTO ticket_search (rowid, subject, description, public_text, internal_text) "
    f"VALUES (new.id, new.subject, new.description, {_sqlite_comments(True, 'new.id')}, "
    f"{_sqlite_comments(False, 'new.id')}); END",
    "CREATE TRIGGER IF NOT EXISTS ticket_search_tu AFTER UPDATE OF subject, description "
    "ON tickets BEGIN UPDATE ticket_search SET subject = new.subject, "
    "description = new.description WHERE rowid = new.id; END",
    "CREATE TRIGGER IF NOT EXISTS ticket_search_td AFTER DELETE ON tickets BEGIN "
    "DELETE FROM ticket_search WHERE rowid = old.id; END",
    "CREATE TRIGGER IF NOT EXISTS ticket_search_ci AFTER INSERT ON comments BEGIN "
    f"{_sqlite_set_comments('new.ticket_id')} END",
    "CREATE TRIGGER IF NOT EXISTS ticket_search_cu AFTER UPDATE OF body, public, ticket_id "
    f"ON comments BEGIN {_sqlite_set_comments('new.ticket_id')} "
    f"{_sqlite_set_comments('old.ticket_id')} END",
    "CREATE TRIGGER IF NOT EXISTS ticket_search_cd AFTER DELETE ON comments BEGIN "
    f"{_sqlite_set_comments('old.ticket_id')} END",
]
_SQLITE_TRIGGER_NAMES = ("ticket_search_ti", "ticket_search_tu", "ticket_search_td",
                         "ticket_search_ci", "ticket_search_cu", "ticket_search_cd")
SQLITE_DROP_TRIGGERS = [f"DROP TRIGGER IF EXISTS {n}" for n in _SQLITE_TRIGGER_NAMES]


# ---------------------------------------------------------------- both

def install(conn: Connection, lang: str | None = None) -> None:
    """Create the search document, its index and its triggers (idempotent), dropping the
    earlier search's objects. Does not fill documents of existing tickets: see
    :func:`rebuild`.

    :param lang: one of :data:`LANGUAGES` (default: :func:`language`).
    """
    lang = language(lang)
    if conn.dialect.name == "postgresql":
        for stmt in _LEGACY_PG:
            conn.execute(text(stmt))
        _pg_configuration(conn, lang)
        for stmt in _PG_TABLE + _PG_FUNCTIONS + _PG_TRIGGERS:
            conn.execute(text(stmt))
    else:
        for stmt in _LEGACY_SQLITE + [_sqlite_table(lang)] + SQLITE_TRIGGERS:
            conn.execute(text(stmt))


def rebuild_sql(dialect: str) -> list[str]:
    """The statements of :func:`rebuild` as plain SQL for ``dialect`` (for bulk loaders that
    hold a DB-API connection): every ticket's document written afresh, then statistics."""
    if dialect == "postgresql":
        return ["TRUNCATE ticket_search_docs",
                "DROP INDEX IF EXISTS ix_ticket_search_docs_doc",
                f"INSERT INTO ticket_search_docs (ticket_id, doc) SELECT t.id, {PG_DOCUMENT} "
                "FROM tickets t",
                "SET maintenance_work_mem = '512MB'",
                _PG_TABLE[1], _PG_TABLE[2], "ANALYZE ticket_search_docs"]
    return ["DELETE FROM ticket_search",
            "INSERT INTO ticket_search (rowid, subject, description, public_text, "
            f"internal_text) SELECT t.id, t.subject, t.description, "
            f"{_sqlite_comments(True, 't.id')}, {_sqlite_comments(False, 't.id')} FROM tickets t",
            "INSERT INTO ticket_search (ticket_search) VALUES ('optimize')"]


def rebuild(conn: Connection) -> int:
    """Write every ticket's document afresh (after :func:`install` on a database with
    tickets, after a bulk load with the triggers off, or after a language change).

    :returns: the number of documents written.
    """
    written = 0
    for stmt in rebuild_sql(conn.dialect.name):
        if stmt.startswith("SET "):
            continue  # the caller's session settings stay as they are
        result = conn.execute(text(stmt))
        if stmt.startswith("INSERT INTO ticket_search") and "VALUES" not in stmt:
            written = result.rowcount
    return written


def uninstall(conn: Connection) -> None:
    """Drop what :func:`install` created and the earlier search's objects (downgrades)."""
    if conn.dialect.name == "postgresql":
        for stmt in _PG_DROP + _LEGACY_PG:
            conn.execute(text(stmt))
    else:
        for stmt in SQLITE_DROP_TRIGGERS + ["DROP TABLE IF EXISTS ticket_search"] + _LEGACY_SQLITE:
            conn.execute(text(stmt))
