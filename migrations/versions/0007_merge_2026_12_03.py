"""merge the parallel revisions of 2026-12-03 (TOTP replay guard, ticket follow-ups and
sorting, idempotency keys, contact-group owner) into one head

Revision ID: 0007_merge_2026_12_03
Revises: 0006_sec_totp_last_step, 0006_tickets_follow_up_sort, 0006_lead_idempotency_keys,
    0006_mseams_contact_group_owner
Create Date: 2026-12-03 13:00:00

Each was written against 0005 independently and none depends on another, so alembic applies
them in any order; this revision only joins the branches.
"""

revision = "0007_merge_2026_12_03"
down_revision = ("0006_sec_totp_last_step", "0006_tickets_follow_up_sort", "0006_lead_idempotency_keys",
                 "0006_mseams_contact_group_owner")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
