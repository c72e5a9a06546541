"""rollups: the period/bucket index covers the dashboards' columns on PostgreSQL

Revision ID: 0004_rollups_covering_index
Revises: 0003_monitoring
Create Date: 2026-12-01 19:30:00

Dashboards aggregate one period's rollups over a range; with INCLUDE columns PostgreSQL reads
them from the index alone (index-only scan) instead of visiting heap pages where day rows sit
scattered between hour rows. SQLite keeps the plain index (no INCLUDE there).
"""
from alembic import op

revision = "0004_rollups_covering_index"
down_revision = "0003_monitoring"
branch_labels = None
depends_on = None

COVERED = ["monitor_id", "count_up", "count_down", "errors", "protocol", "status_codes"]


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_rollups_period_bucket", table_name="rollups")
    op.create_index("ix_rollups_period_bucket", "rollups", ["period", "bucket_start"],
                    postgresql_include=COVERED)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_rollups_period_bucket", table_name="rollups")
    op.create_index("ix_rollups_period_bucket", "rollups", ["period", "bucket_start"])
