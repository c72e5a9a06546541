"""one search document per ticket (subject, description, public replies, internal notes)
with one full-text index: PostgreSQL tsvector + GIN through the ``crm_search`` text search
configuration (unaccent when available, Snowball stemmer of SEARCH_LANGUAGE, no stop
words); SQLite FTS5 with porter + remove_diacritics. Replaces the expression indexes /
per-table FTS5 tables of revision 0001.

Revision ID: 0008_search_document
Revises: 0007_merge_2026_12_03
Create Date: 2026-12-03 16:00:00
"""
from alembic import op

from crm.search import schema

revision = "0008_search_document"
down_revision = "0007_merge_2026_12_03"
branch_labels = None
depends_on = None

# The search of revision 0001, frozen here for the downgrade.
_PG_0001 = ("to_tsvector('simple', coalesce(tickets.subject, '') || ' ' || "
            "coalesce(tickets.description, ''))",
            "to_tsvector('simple', coalesce(comments.body, ''))")
_SQLITE_0001 = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS tickets_fts USING fts5("
    "subject, description, content='tickets', content_rowid='id')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS comments_fts USING fts5("
    "body, content='comments', content_rowid='id')",
    "CREATE TRIGGER IF NOT EXISTS tickets_fts_ai AFTER INSERT ON tickets BEGIN "
    "INSERT INTO tickets_fts(rowid, subject, description) "
    "VALUES (new.id, new.subject, new.description); END",
    "CREATE TRIGGER IF NOT EXISTS tickets_fts_ad AFTER DELETE ON tickets BEGIN "
    "INSERT INTO tickets_fts(tickets_fts, rowid, subject, description) "
    "VALUES ('delete', old.id, old.subject, old.description); END",
    "CREATE TRIGGER IF NOT EXISTS tickets_fts_au AFTER UPDATE OF subject, description "
    "ON tickets BEGIN INSERT INTO tickets_fts(tickets_fts, rowid, subject, description) "
    "VALUES ('delete', old.id, old.subject, old.description); "
    "INSERT INTO tickets_fts(rowid, subject, description) "
    "VALUES (new.id, new.subject, new.description); END",
    "CREATE TRIGGER IF NOT EXISTS comments_fts_ai AFTER INSERT ON comments BEGIN "
    "INSERT INTO comments_fts(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER IF NOT EXISTS comments_fts_ad AFTER DELETE ON comments BEGIN "
    "INSERT INTO comments_fts(comments_fts, rowid, body) VALUES ('delete', old.id, old.body); END",
    "CREATE TRIGGER IF NOT EXISTS comments_fts_au AFTER UPDATE OF body ON comments BEGIN "
    "INSERT INTO comments_fts(comments_fts, rowid, body) VALUES ('delete', old.id, old.body); "
    "INSERT INTO comments_fts(rowid, body) VALUES (new.id, new.body); END",
    "INSERT INTO tickets_fts(tickets_fts) VALUES ('rebuild')",
    "INSERT INTO comments_fts(comments_fts) VALUES ('rebuild')",
]


def upgrade():
    bind = op.get_bind()
    schema.install(bind)  # drops the 0001 objects; idempotent where 0001 already built these
    schema.rebuild(bind)


def downgrade():
    bind = op.get_bind()
    schema.uninstall(bind)
    if bind.dialect.name == "postgresql":
        op.execute(f"CREATE INDEX IF NOT EXISTS ix_tickets_fts ON tickets "
                   f"USING gin (({_PG_0001[0]}))")
        op.execute(f"CREATE INDEX IF NOT EXISTS ix_comments_fts ON comments "
                   f"USING gin (({_PG_0001[1]}))")
    else:
        for stmt in _SQLITE_0001:
            op.execute(stmt)
