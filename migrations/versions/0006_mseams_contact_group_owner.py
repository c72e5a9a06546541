"""contact_groups.owner_monitor_id: a monitor's own contact group by foreign key, not by name

Revision ID: 0006_mseams_contact_group_owner
Revises: 0005_rollup_codes_jsonb
Create Date: 2026-12-03 14:00:00

Until now a monitor's own group was the group whose name starts ``Monitor #<id>:`` (with
`` (2)`` … suffixes when SQLite reused an id). upgrade() sets the owner from that prefix: of
the groups named for an existing monitor, the one the monitor alerts, else the oldest (the
one the old lookup found); the others stay as named, unowned groups. downgrade() drops the
column (the names are unchanged, so the old lookup works again). On SQLite both
directions copy the table (batch) and restore what the copy's ON DELETE actions undo under
foreign_keys=ON (contacts, the monitors' and reports' groups).
"""
import re

import sqlalchemy as sa
from alembic import op

revision = "0006_mseams_contact_group_owner"
down_revision = "0005_rollup_codes_jsonb"
branch_labels = None
depends_on = None

_PREFIX = re.compile(r"^Monitor #(\d+):")


_REFERRERS = {"monitors": ("contact_group_id", "escalation_group_id"), "health_reports": ("group_id",)}


def _recreate_on_sqlite(change) -> None:
    """Run ``change(batch)`` on contact_groups with SQLite's table copy, keeping what the copy
    would lose: dropping the old table under foreign_keys=ON (the app's setting, which cannot
    be switched off inside the migration's transaction) deletes the contacts and unlinks the
    monitors' and health reports' groups. They are read first and put back."""
    conn = op.get_bind()
    contacts = [dict(r) for r in conn.execute(sa.text("SELECT * FROM contacts")).mappings()]
    links = {table: conn.execute(sa.text(f"SELECT id, {', '.join(cols)} FROM {table}")).all()
             for table, cols in _REFERRERS.items()}
    with op.batch_alter_table("contact_groups", recreate="always") as batch:
        change(batch)
    if contacts and not conn.execute(sa.text("SELECT 1 FROM contacts LIMIT 1")).first():
        columns = list(contacts[0])
        conn.execute(sa.text(f"INSERT INTO contacts ({', '.join(columns)}) "
                             f"VALUES ({', '.join(':' + c for c in columns)})"), contacts)
    for table, cols in _REFERRERS.items():
        sets = ", ".join(f"{c} = :{c}" for c in cols)
        rows = [dict(zip(("id", *cols), row, strict=True)) for row in links[table]]
        if rows:
            conn.execute(sa.text(f"UPDATE {table} SET {sets} WHERE id = :id"), rows)


def _add_owner(batch) -> None:
    batch.add_column(sa.Column("owner_monitor_id", sa.Integer(), nullable=True))
    batch.create_foreign_key("fk_contact_groups_owner_monitor_id", "monitors",
                             ["owner_monitor_id"], ["id"], ondelete="CASCADE")


def upgrade():
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        _recreate_on_sqlite(_add_owner)
    else:
        op.add_column("contact_groups", sa.Column("owner_monitor_id", sa.Integer(), nullable=True))
        op.create_foreign_key("fk_contact_groups_owner_monitor_id", "contact_groups", "monitors",
                              ["owner_monitor_id"], ["id"], ondelete="CASCADE")
    op.create_index("ix_contact_groups_owner_monitor_id", "contact_groups", ["owner_monitor_id"])
    alerting = dict(conn.execute(sa.text("SELECT id, contact_group_id FROM monitors")).all())
    candidates: dict[int, list[int]] = {}
    for group_id, name in conn.execute(sa.text("SELECT id, name FROM contact_groups ORDER BY id")):
        match = _PREFIX.match(name or "")
        if match and int(match.group(1)) in alerting:
            candidates.setdefault(int(match.group(1)), []).append(group_id)
    for monitor_id, group_ids in candidates.items():
        owned = alerting[monitor_id] if alerting[monitor_id] in group_ids else group_ids[0]
        conn.execute(sa.text("UPDATE contact_groups SET owner_monitor_id = :m WHERE id = :g"),
                     {"m": monitor_id, "g": owned})


def downgrade():
    op.drop_index("ix_contact_groups_owner_monitor_id", table_name="contact_groups")
    if op.get_bind().dialect.name == "sqlite":  # SQLite cannot drop a column with a foreign key
        _recreate_on_sqlite(lambda batch: batch.drop_column("owner_monitor_id"))
        return
    op.drop_constraint("fk_contact_groups_owner_monitor_id", "contact_groups", type_="foreignkey")
    op.drop_column("contact_groups", "owner_monitor_id")
