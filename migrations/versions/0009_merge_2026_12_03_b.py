"""merge the parallel revisions of 2026-12-03, afternoon (error tracker, search documents,
customers' own monitors, shops) into one head

Revision ID: 0009_merge_2026_12_03_b
Revises: 0008_errs_error_tracker, 0008_search_document, 0008_lead_customer_monitors,
    0008_shop_core
Create Date: 2026-12-03 16:05:00

Each was written against 0007 independently and none depends on another, so alembic applies
them in any order; this revision only joins the branches.
"""

revision = "0009_merge_2026_12_03_b"
down_revision = (
    "0008_errs_error_tracker",
    "0008_search_document",
    "0008_lead_customer_monitors",
    "0008_shop_core",
)
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
