"""users.totp_last_step: the last TOTP time step a code was accepted for (no replays)

Revision ID: 0006_sec_totp_last_step
Revises: 0005_rollup_codes_jsonb
Create Date: 2026-12-03 12:40:00

RFC 6238 §5.2: a verifier must not accept a second OTP for a time step it already accepted.
"""
import sqlalchemy as sa
from alembic import op

revision = "0006_sec_totp_last_step"
down_revision = "0005_rollup_codes_jsonb"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_column("totp_last_step")
