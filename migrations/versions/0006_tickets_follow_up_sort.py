"""tickets: follow-up link to a closed ticket; indexes for the list's sort orders

Revision ID: 0006_tickets_follow_up_sort
Revises: 0005_rollup_codes_jsonb
Create Date: 2026-12-03 12:30:00

* ``tickets.follow_up_of_id``: a customer cannot reply to a closed ticket; the portal offers a
  follow-up ticket that links to it (``ON DELETE SET NULL``), indexed for "follow-ups of".
* ``ix_tickets_status_updated (status, updated_at, id)``: the list sorted by status walks
  each status's rows newest update first (keyset per status).
* ``ix_tickets_created`` becomes ``(created_at, id)``: keyset pagination sorted by creation.
"""
import sqlalchemy as sa
from alembic import op

revision = "0006_tickets_follow_up_sort"
down_revision = "0005_rollup_codes_jsonb"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("follow_up_of_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_tickets_follow_up_of_id_tickets", "tickets",
                                 ["follow_up_of_id"], ["id"], ondelete="SET NULL")
    op.create_index("ix_tickets_follow_up_of", "tickets", ["follow_up_of_id"])
    op.create_index("ix_tickets_status_updated", "tickets", ["status", "updated_at", "id"])
    op.drop_index("ix_tickets_created", table_name="tickets")
    op.create_index("ix_tickets_created", "tickets", ["created_at", "id"])


def downgrade():
    op.drop_index("ix_tickets_created", table_name="tickets")
    op.create_index("ix_tickets_created", "tickets", ["created_at"])
    op.drop_index("ix_tickets_status_updated", table_name="tickets")
    op.drop_index("ix_tickets_follow_up_of", table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_constraint("fk_tickets_follow_up_of_id_tickets", type_="foreignkey")
        batch.drop_column("follow_up_of_id")
