"""error tracker: projects (DSN keys), issues (events grouped by fingerprint) and events

Revision ID: 0008_errs_error_tracker
Revises: 0007_merge_2026_12_03
Create Date: 2026-12-03 16:00:00

"""
import sqlalchemy as sa
from alembic import op


revision = "0008_errs_error_tracker"
down_revision = "0007_merge_2026_12_03"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "error_projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("public_key", sa.String(length=32), nullable=False),
        sa.Column("built_in", sa.Boolean(), nullable=False),
        sa.Column("quota_per_minute", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("public_key"),
    )
    op.create_table(
        "error_issues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("exception_type", sa.String(length=200), nullable=False),
        sa.Column("culprit", sa.String(length=255), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("regressed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["error_projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["assignee_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "fingerprint", name="uq_error_issues_fingerprint"),
    )
    op.create_index("ix_error_issues_project_seen", "error_issues",
                    ["project_id", "last_seen", "id"])
    op.create_index("ix_error_issues_status_seen", "error_issues", ["status", "last_seen", "id"])
    op.create_index("ix_error_issues_assignee_id", "error_issues", ["assignee_id"])
    op.create_table(
        "error_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("exception_type", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("traceback", sa.Text(), nullable=False),
        sa.Column("release", sa.String(length=200), nullable=True),
        sa.Column("environment", sa.String(length=64), nullable=True),
        sa.Column("platform", sa.String(length=32), nullable=True),
        sa.Column("client_ip", sa.String(length=45), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=True),
        sa.Column("path", sa.String(length=2000), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("user_label", sa.String(length=255), nullable=True),
        sa.Column("user_agent", sa.String(length=500), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["issue_id"], ["error_issues.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["project_id"], ["error_projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_error_events_issue", "error_events", ["issue_id", "id"])
    op.create_index("ix_error_events_project_received", "error_events",
                    ["project_id", "received_at"])


def downgrade():
    op.drop_index("ix_error_events_project_received", table_name="error_events")
    op.drop_index("ix_error_events_issue", table_name="error_events")
    op.drop_table("error_events")
    op.drop_index("ix_error_issues_assignee_id", table_name="error_issues")
    op.drop_index("ix_error_issues_status_seen", table_name="error_issues")
    op.drop_index("ix_error_issues_project_seen", table_name="error_issues")
    op.drop_table("error_issues")
    op.drop_table("error_projects")
