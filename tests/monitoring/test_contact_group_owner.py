"""A monitor's own contact group is linked by ``contact_groups.owner_monitor_id``, not found
by its name: the link survives a rename, a stale group named like the monitor is not taken for
its own, and the migration moves the old name-based link into the column."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import func, select

from crm.extensions import db
from crm.monitoring import services
from crm.monitoring.models import ContactGroup, Monitor
from tests.test_config_cli import _cli_env, _run, fresh_database  # noqa: F401  (fixture)

HTTP = {
    "name": "Shop",
    "type": "http",
    "url": "https://shop.example.com/",
    "interval": 60,
    "timeout": 2,
}
REVISION = "0006_mseams_contact_group_owner"


def _own(monitor: Monitor) -> ContactGroup:
    services.add_contact(monitor, email="ops@example.com")
    group = services.own_group(monitor)
    assert group is not None and group.owner_monitor_id == monitor.id
    return group


def test_own_group_link_survives_a_rename(app):
    monitor = services.create_monitor(HTTP)
    group = _own(monitor)
    services.update_contact_group(group, name="Night shift")
    db.session.expire_all()
    monitor = db.session.get(Monitor, monitor.id)
    assert services.own_group(monitor).id == group.id
    assert services.is_own_group(monitor, monitor.contact_group)
    assert services.monitor_to_dict(monitor)["contact_group_id"] == group.id
    # still its own: deleting the monitor deletes it
    services.delete_monitor(monitor)
    assert db.session.scalar(select(func.count(ContactGroup.id))) == 0


def test_a_group_named_like_the_monitor_is_not_its_own(app):
    monitor = services.create_monitor(HTTP)
    stale = ContactGroup(name=f"Monitor #{monitor.id}: Shop", report_periods=[])  # e.g. a reused id
    db.session.add(stale)
    db.session.commit()
    assert services.own_group(monitor) is None
    group = _own(monitor)
    assert group.id != stale.id and group.name == f"Monitor #{monitor.id}: Shop (2)"
    assert [g.id for g in services.shareable_groups()] == [stale.id]


def test_an_own_group_other_monitors_use_outlives_its_monitor_unowned(app):
    first = services.create_monitor(HTTP)
    group = _own(first)
    second = services.create_monitor({**HTTP, "name": "Shop 2", "contact_group_id": group.id})
    services.delete_monitor(first)
    db.session.expire_all()
    kept = db.session.get(ContactGroup, group.id)
    assert kept is not None and kept.owner_monitor_id is None
    assert db.session.get(Monitor, second.id).contact_group_id == group.id


def test_migration_sets_the_owner_from_the_name_prefix(tmp_path, fresh_database):  # noqa: F811
    env = _cli_env(tmp_path, DATABASE_URL=fresh_database)
    _run(["db", "upgrade", "0005_rollup_codes_jsonb"], env)
    engine = sa.create_engine(fresh_database)
    now = "2026-12-01 10:00:00+00:00"
    monitor_sql = sa.text(
        "INSERT INTO monitors (id, name, type, config, interval_seconds, timeout_seconds, "
        "retries, tags, "
        "paused, created_at, updated_at, status, consecutive_failures, contact_group_id) VALUES "
        "(:id, :name, 'http', '{}', 60, 2, 1, '[]', :f, :now, :now, 'pending', 0, :group)"
    )
    group_sql = sa.text(
        "INSERT INTO contact_groups (id, name, report_periods, created_at) "
        "VALUES (:id, :name, '[]', :now)"
    )
    try:
        with engine.begin() as conn:
            for gid, name in [
                (1, "Monitor #1: Shop"),
                (2, "Monitor #2: Api"),
                (3, "Monitor #2: Api (2)"),
                (4, "Monitor #9: Gone"),
                (5, "Ops"),
                (6, "Monitor #3: Old"),
                (7, "Monitor #3: Old (2)"),
            ]:
                conn.execute(group_sql, {"id": gid, "name": name, "now": now})
            for mid, name, group in [(1, "Shop", 1), (2, "Api", 5), (3, "Old", 7)]:
                conn.execute(
                    monitor_sql, {"id": mid, "name": name, "now": now, "group": group, "f": False}
                )
            conn.execute(
                sa.text(
                    "INSERT INTO contacts (group_id, email, created_at) VALUES "
                    "(7, 'a@example.com', :now), (5, 'b@example.com', :now)"
                ),
                {"now": now},
            )
        links = (
            "SELECT (SELECT count(*) FROM contacts), id, contact_group_id FROM monitors ORDER BY id"
        )
        _run(["db", "upgrade", REVISION], env)
        with engine.connect() as conn:
            owners = dict(
                conn.execute(sa.text("SELECT id, owner_monitor_id FROM contact_groups")).all()
            )
            # nothing else moved: contacts and the monitors' groups are as they were
            assert [tuple(r) for r in conn.execute(sa.text(links))] == [
                (2, 1, 1),
                (2, 2, 5),
                (2, 3, 7),
            ]
        # the alerted group wins, else the oldest; no monitor, no owner
        assert owners == {1: 1, 2: 2, 3: None, 4: None, 5: None, 6: None, 7: 3}
        with engine.begin() as conn:  # the foreign key cascades
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")  # as the app's connections have it
            conn.execute(sa.text("DELETE FROM monitors WHERE id = 2"))
        with engine.connect() as conn:
            left = sorted(conn.scalars(sa.text("SELECT id FROM contact_groups")))
        assert left == [1, 3, 4, 5, 6, 7]
        _run(["db", "downgrade", "0005_rollup_codes_jsonb"], env)
        with engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("contact_groups")}
            assert [tuple(r) for r in conn.execute(sa.text(links))] == [(2, 1, 1), (2, 3, 7)]
        assert "owner_monitor_id" not in columns
        _run(["db", "upgrade", REVISION], env)  # and up again
    finally:
        engine.dispose()
