"""Customers' own monitors: owner_id on monitors, contact groups and status pages; monitor_plans

Revision ID: 0008_lead_customer_monitors
Revises: 0007_merge_2026_12_03
Create Date: 2026-12-03 16:00:00

The owner columns are nullable (existing rows are the operators') and indexed (pages list a
customer's own). On SQLite the column and its foreign key are added with ``ALTER TABLE …
ADD COLUMN … REFERENCES`` (allowed for a column whose default is NULL), so no table is copied:
a copy of ``monitors`` under foreign_keys=ON would cascade-delete its results. The keys have
no ON DELETE action (see ``Monitor.owner_id``).
"""
import sqlalchemy as sa
from alembic import op

revision = "0008_lead_customer_monitors"
down_revision = "0007_merge_2026_12_03"
branch_labels = None
depends_on = None

_OWNED = ("monitors", "contact_groups", "status_pages")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in _OWNED:
        if sqlite:
            op.execute(f"ALTER TABLE {table} ADD COLUMN owner_id INTEGER "
                       "REFERENCES users (id)")
        else:  # PostgreSQL names it <table>_owner_id_fkey, as for the models' unnamed keys
            op.add_column(table, sa.Column("owner_id", sa.Integer(), nullable=True))
            op.create_foreign_key(None, table, "users", ["owner_id"], ["id"])
        op.create_index(f"ix_{table}_owner_id", table, ["owner_id"])
    op.create_table(
        "monitor_plans",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("max_monitors", sa.Integer(), nullable=False),
        sa.Column("min_interval_seconds", sa.Integer(), nullable=False),
        sa.Column("sms_included", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_monitor_plans_user_id"),
        sa.ForeignKeyConstraint(["updated_by_id"], ["users.id"], ondelete="SET NULL",
                                name="fk_monitor_plans_updated_by_id"),
        sa.PrimaryKeyConstraint("user_id"),
    )


def downgrade() -> None:
    op.drop_table("monitor_plans")
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in reversed(_OWNED):
        op.drop_index(f"ix_{table}_owner_id", table_name=table)
        if sqlite:
            # SQLite's DROP COLUMN refuses a column with a foreign key: batch mode copies the
            # table without it
            with op.batch_alter_table(table) as batch:
                batch.drop_column("owner_id")
        else:
            op.drop_constraint(f"{table}_owner_id_fkey", table, type_="foreignkey")
            op.drop_column(table, "owner_id")
