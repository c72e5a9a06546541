"""idempotency_keys: a retried create returns the first result (Idempotency-Key header)

Revision ID: 0006_lead_idempotency_keys
Revises: 0005_rollup_codes_jsonb
Create Date: 2026-12-03 12:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = "0006_lead_idempotency_keys"
down_revision = "0005_rollup_codes_jsonb"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ux_idempotency_keys_user_scope_key", "idempotency_keys",
                    ["user_id", "scope", "key"], unique=True)


def downgrade():
    op.drop_index("ux_idempotency_keys_user_scope_key", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
