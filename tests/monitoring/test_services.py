"""crm.monitoring.services and schemas: validation per type, CRUD, contacts, export/import."""
from __future__ import annotations

import pytest

from crm.errors import ServiceError
from crm.extensions import db
from crm.monitoring import schemas, services
from crm.monitoring.models import PAUSED, PENDING, Contact, ContactGroup, Monitor

HTTP = {"name": "Shop", "type": "http", "url": "https://shop.example.com/health"}


def _refused(data, field, fragment=""):
    with pytest.raises(ServiceError) as caught:
        services.create_monitor(data)
    exc = caught.value
    assert exc.status == 422
    assert exc.field == field, exc.errors
    assert fragment.lower() in exc.message.lower()
    assert field in exc.errors
    return exc


# ---------------------------------------------------------------- validation per type

@pytest.mark.parametrize(
    "data,field,fragment",
    [
        ({"type": "http", "url": "https://a.example"}, "name", "required"),
        ({"name": "x"}, "type", "required"),
        ({"name": "x", "type": "gopher"}, "type", "must be one of"),
        ({**HTTP, "url": "ftp://files.example.com"}, "url", "http"),
        ({**HTTP, "url": "javascript:alert(1)"}, "url", "http"),
        ({**HTTP, "url": "https://"}, "url", "host"),
        ({**HTTP, "expected_status": "200-199"}, "expected_status", "reversed"),
        ({**HTTP, "expected_status": "2xx"}, "expected_status", "200-299"),
        ({**HTTP, "expected_status": "200,700"}, "expected_status", "100-599"),
        ({**HTTP, "method": "BREW"}, "method", ""),
        ({**HTTP, "headers": {"Bad Header": "x"}}, "headers", "header name"),
        ({**HTTP, "headers": {"X-A": "a\r\nInjected: 1"}}, "headers", "one line"),
        ({**HTTP, "json_path": "$..[?(@.x)]"}, "json_path", "jsonpath"),
        ({**HTTP, "json_expected": "ok"}, "json_expected", "json_path"),
        ({**HTTP, "keyword_absent": True}, "keyword_absent", "keyword"),
        ({**HTTP, "max_response_ms": 0}, "max_response_ms", ""),
        ({**HTTP, "interval": 5}, "interval", "at least 20"),
        ({**HTTP, "interval": 30, "timeout": 30}, "timeout", "less than interval"),
        ({**HTTP, "timeout": 0}, "timeout", ""),
        ({**HTTP, "retries": -1}, "retries", ""),
        ({**HTTP, "tags": ["ok", " "]}, "tags", "blank"),
        ({**HTTP, "tags": ["x" * 33]}, "tags.0", ""),
        ({**HTTP, "surprise": 1}, "surprise", "extra"),
        ({**HTTP, "escalate_after_minutes": 0}, "escalate_after_minutes", ""),
        ({"name": "db", "type": "tcp", "host": "db.example.com"}, "port", "required"),
        (
            {"name": "db", "type": "tcp", "host": "db..example.com", "port": 5432},
            "host",
            "host name",
        ),
        ({"name": "db", "type": "tcp", "host": "db.example.com", "port": 70000}, "port", ""),
        (
            {"name": "mx", "type": "smtp", "host": "mx.example.com", "starttls": "perhaps"},
            "starttls",
            "",
        ),
        ({"name": "ftp", "type": "ftp", "host": "ftp.example.com", "username": 5}, "username", ""),
        (
            {"name": "cert", "type": "tls", "host": "example.com", "days_before": 400},
            "days_before",
            "",
        ),
        (
            {"name": "dns", "type": "dns", "host": "example.com", "expected_address": "::1"},
            "expected_address",
            "not an a record",
        ),
        (
            {"name": "dns", "type": "dns", "host": "example.com", "expected_address": "nope"},
            "expected_address",
            "ip address",
        ),
        (
            {"name": "dns", "type": "dns", "host": "example.com", "resolver": "8.8.8.8:99999"},
            "resolver",
            "port",
        ),
        (
            {"name": "dns", "type": "dns", "host": "example.com", "record_type": "MX"},
            "record_type",
            "",
        ),
        ({"name": "hb", "type": "heartbeat", "grace_seconds": -5}, "grace_seconds", ""),
        ({"name": "flow", "type": "synthetic", "steps": []}, "steps", "at least 1"),
        ({"name": "flow", "type": "synthetic"}, "steps", "required"),
        (
            {
                "name": "flow",
                "type": "synthetic",
                "steps": [{"name": "a", "url": "mailto:x@example.com"}],
            },
            "steps.0.url",
            "http",
        ),
        (
            {
                "name": "flow",
                "type": "synthetic",
                "steps": [
                    {"name": "a", "url": "https://a.example", "assertions": [{"type": "teleport"}]}
                ],
            },
            "steps.0.assertions.0.type",
            "must be one of",
        ),
        (
            {
                "name": "flow",
                "type": "synthetic",
                "steps": [
                    {
                        "name": "a",
                        "url": "https://a.example",
                        "assertions": [{"type": "status", "expected": "999"}],
                    }
                ],
            },
            "steps.0.assertions.0.expected",
            "",
        ),
        (
            {
                "name": "flow",
                "type": "synthetic",
                "steps": [{"name": "a", "url": "https://a.example/{{token}}"}],
            },
            "steps",
            "before a step extracts it",
        ),
        (
            {
                "name": "flow",
                "type": "synthetic",
                "steps": [
                    {
                        "name": "a",
                        "url": "https://a.example",
                        "assertions": [{"type": "body_contains"}],
                    }
                ],
            },
            "steps.0.assertions.0.expected",
            "required",
        ),
        (
            {
                "name": "flow",
                "type": "synthetic",
                "steps": [
                    {"name": "a", "url": "https://a.example", "extract": {"t": "header:bad name"}}
                ],
            },
            "steps.0.extract.t",
            "header",
        ),
        ({**HTTP, "json_path": "$.items[*].id"}, "json_path", "jsonpath"),
        (
            {**HTTP, "contacts": [{"email": "a@example.com", "phone": "+447911123456"}]},
            "contacts.0",
            "exactly one",
        ),
    ],
)
def test_bad_definitions_are_refused_naming_the_field(data, field, fragment):
    _refused(data, field, fragment)
    assert db.session.query(Monitor).count() == 0


def test_a_non_object_is_refused():
    _refused(["not", "an", "object"], "body", "object")


def test_every_problem_is_listed_not_only_the_first():
    exc = _refused({"name": "", "type": "tcp", "host": "bad host", "port": 0}, "name")
    assert {"name", "host", "port"} <= set(exc.errors)


def test_minimum_interval_comes_from_the_config(app):
    app.config["MONITOR_MIN_INTERVAL_SECONDS"] = 60
    try:
        _refused({**HTTP, "interval": 59}, "interval", "at least 60")
    finally:
        app.config["MONITOR_MIN_INTERVAL_SECONDS"] = 20


def test_expected_status_ranges_parse_and_match():
    assert schemas.parse_expected_status("200-299, 301") == [(200, 299), (301, 301)]
    assert schemas.status_matches(204, "200-299,301") and schemas.status_matches(301, "200-299,301")
    assert not schemas.status_matches(302, "200-299,301") and not schemas.status_matches(
        None, "200"
    )


# ---------------------------------------------------------------- create / update / delete


def test_http_monitor_fields_go_to_columns_and_config(make_user):
    user = make_user("engineer")
    monitor = services.create_monitor(
        {
            **HTTP,
            "interval": 60,
            "timeout": 5.5,
            "retries": 3,
            "tags": ["shop", "prod", "shop"],
            "keyword": "OK",
            "headers": {"X-Probe": "1"},
        },
        by=user,
    )
    stored = db.session.get(Monitor, monitor.id)
    assert (
        stored.name,
        stored.type,
        stored.interval_seconds,
        stored.timeout_seconds,
        stored.retries,
    ) == ("Shop", "http", 60, 5.5, 3)
    assert stored.tags == ["shop", "prod"]
    assert stored.created_by_id == user.id
    assert stored.status == PENDING and stored.next_check_at is not None
    assert stored.config["url"] == "https://shop.example.com/health"
    assert stored.config["expected_status"] == "200-299" and stored.config["method"] == "GET"
    assert stored.config["headers"] == {"X-Probe": "1"} and stored.config["keyword"] == "OK"
    assert "name" not in stored.config and "interval" not in stored.config
    assert stored.heartbeat_token is None and services.monitor_to_dict(stored)["ping_url"] is None


def test_zero_retries_is_stored_as_down_at_first_failure():
    assert services.create_monitor({**HTTP, "retries": 0}).retries == 1


@pytest.mark.parametrize(
    "data,config",
    [
        (
            {"name": "db", "type": "tcp", "host": "DB.Example.com", "port": 5432},
            {"host": "db.example.com", "port": 5432},
        ),
        (
            {"name": "mx", "type": "smtp", "host": "mx.example.com", "starttls": True},
            {"host": "mx.example.com", "port": 25, "starttls": True},
        ),
        (
            {
                "name": "ftp",
                "type": "ftp",
                "host": "192.0.2.7",
                "username": "probe",
                "password": "s3cret",
            },
            {"host": "192.0.2.7", "port": 21, "username": "probe", "password": "s3cret"},
        ),
        (
            {"name": "cert", "type": "tls", "host": "example.com"},
            {"host": "example.com", "port": 443, "days_before": 14},
        ),
        (
            {
                "name": "dns",
                "type": "dns",
                "host": "example.com",
                "record_type": "AAAA",
                "expected_address": "2001:db8::0001",
                "resolver": "[::1]:5353",
            },
            {
                "host": "example.com",
                "record_type": "AAAA",
                "expected_address": "2001:db8::1",
                "resolver": "[::1]:5353",
            },
        ),
    ],
)
def test_each_type_stores_its_own_fields(data, config):
    monitor = services.create_monitor(data)
    assert monitor.config == config


def test_heartbeat_monitor_gets_a_token_and_ping_url(app):
    monitor = services.create_monitor(
        {"name": "nightly backup", "type": "heartbeat", "interval": 86400, "grace_seconds": 600}
    )
    assert monitor.heartbeat_token and len(monitor.heartbeat_token) >= 32
    other = services.create_monitor({"name": "other", "type": "heartbeat"})
    assert other.heartbeat_token != monitor.heartbeat_token
    base = app.config["SERVER_NAME_FOR_LINKS"].rstrip("/")
    assert (
        services.monitor_to_dict(monitor)["ping_url"]
        == f"{base}/api/v1/heartbeat/{monitor.heartbeat_token}"
    )
    assert monitor.config == {"grace_seconds": 600}


def test_synthetic_monitor_keeps_steps_and_assertions():
    steps = [
        {
            "name": "log in",
            "method": "POST",
            "url": "https://shop.example.com/login",
            "headers": {"Content-Type": "application/json"},
            "body": '{"u": "probe"}',
            "assertions": [
                {"type": "status", "expected": "200"},
                {"type": "json_path", "path": "$.token"},
                {"type": "response_time", "max_ms": 800},
            ],
            "extract": {"token": "token", "session": "header:X-Session"},
        },
        {
            "name": "cart",
            "url": "https://shop.example.com/cart?t={{token}}",
            "headers": {"Authorization": "Bearer {{ token }}", "X-Session": "{{session}}"},
            "assertions": [
                {"type": "body_contains", "text": "Cart"},
                {"type": "header", "name": "Content-Type", "contains": "html"},
                {"type": "header", "name": "X-Id", "expected": "4"},
                {"type": "json_path", "path": "items[-1].id", "expected": "7"},
            ],
        },
    ]
    monitor = services.create_monitor({"name": "checkout", "type": "synthetic", "steps": steps})
    stored = monitor.config["steps"]
    assert [s["name"] for s in stored] == ["log in", "cart"]
    assert stored[0]["assertions"][1] == {"type": "json_path", "path": "$.token", "expected": None}
    assert stored[1]["method"] == "GET"
    assert stored[0]["extract"] == {"token": "$.token", "session": "header:X-Session"}
    # both names of the compared value are stored (the checks read "expected")
    assert stored[1]["assertions"][:3] == [
        {"type": "body_contains", "expected": "Cart", "text": "Cart"},
        {"type": "header", "name": "Content-Type", "expected": "html", "contains": "html"},
        {"type": "header", "name": "X-Id", "expected": "4", "contains": "4"},
    ]
    assert stored[1]["assertions"][3]["path"] == "$.items[-1].id"


def test_update_is_partial_and_validates_the_merged_definition():
    monitor = services.create_monitor({**HTTP, "interval": 60, "keyword": "OK"})
    services.update_monitor(monitor, {"name": "Shop front", "tags": ["web"]})
    assert (
        monitor.name == "Shop front"
        and monitor.config["keyword"] == "OK"
        and monitor.interval_seconds == 60
    )
    with pytest.raises(ServiceError) as caught:
        services.update_monitor(monitor, {"timeout": 90})
    assert caught.value.field == "timeout"
    db.session.rollback()
    assert db.session.get(Monitor, monitor.id).timeout_seconds == 10
    services.update_monitor(monitor, {"keyword": None})
    assert monitor.config["keyword"] is None


def test_update_refuses_contacts_and_non_objects():
    monitor = services.create_monitor(HTTP)
    for data, field in (({"contacts": []}, "contacts"), ("name=x", "body")):
        with pytest.raises(ServiceError) as caught:
            services.update_monitor(monitor, data)
        assert caught.value.status == 422 and caught.value.field == field


def test_changing_type_drops_the_old_fields_and_makes_a_token():
    monitor = services.create_monitor(HTTP)
    services.update_monitor(monitor, {"type": "heartbeat"})
    assert monitor.type == "heartbeat" and monitor.config == {"grace_seconds": 60}
    assert monitor.heartbeat_token
    services.update_monitor(monitor, {"type": "tcp", "host": "db.example.com", "port": 5432})
    assert monitor.heartbeat_token is None and monitor.config == {
        "host": "db.example.com",
        "port": 5432,
    }


def test_pausing_and_resuming_set_the_status():
    monitor = services.create_monitor({**HTTP, "paused": True})
    assert monitor.status == PAUSED
    monitor.consecutive_failures = 2
    monitor.next_check_at = None
    db.session.commit()
    services.update_monitor(monitor, {"paused": False})
    assert monitor.status == PENDING and monitor.consecutive_failures == 0 and monitor.next_check_at
    services.update_monitor(monitor, {"paused": True})
    assert monitor.status == PAUSED


def test_delete_removes_the_monitor_and_its_own_group():
    monitor = services.create_monitor(HTTP)
    services.add_contact(monitor, email="ops@example.com")
    keep = services.create_monitor({**HTTP, "name": "Other"})
    services.delete_monitor(monitor)
    assert db.session.get(Monitor, monitor.id) is None
    assert db.session.query(ContactGroup).count() == 0 and db.session.query(Contact).count() == 0
    assert db.session.get(Monitor, keep.id) is not None


# ---------------------------------------------------------------- contacts


def test_contacts_email_and_e164_phone(app):
    monitor = services.create_monitor(HTTP)
    first = services.add_contact(monitor, email="Ops@Example.com")
    second = services.add_contact(monitor, phone="07911 123456")
    assert first.email == "Ops@example.com"
    assert second.phone == "+447911123456"
    group = monitor.contact_group
    assert group is not None and group.name.startswith(f"Monitor #{monitor.id}:")
    assert [c.id for c in services.monitor_contacts(monitor)] == [first.id, second.id]
    services.remove_contact(monitor, first.id)
    assert [c.id for c in services.monitor_contacts(monitor)] == [second.id]


@pytest.mark.parametrize(
    "kwargs,field,status",
    [
        ({}, "email", 422),
        ({"email": "a@example.com", "phone": "+447911123456"}, "email", 422),
        ({"email": "not-an-address"}, "email", 422),
        ({"phone": "12"}, "phone", 422),
    ],
)
def test_bad_contacts_are_refused(kwargs, field, status):
    monitor = services.create_monitor(HTTP)
    with pytest.raises(ServiceError) as caught:
        services.add_contact(monitor, **kwargs)
    assert (caught.value.field, caught.value.status) == (field, status)


def test_duplicate_contact_is_a_conflict():
    monitor = services.create_monitor(HTTP)
    services.add_contact(monitor, phone="+44 7911 123456")
    with pytest.raises(ServiceError) as caught:
        services.add_contact(monitor, phone="07911123456")
    assert caught.value.status == 409


def test_removing_a_contact_of_another_monitor_is_404():
    one = services.create_monitor(HTTP)
    two = services.create_monitor({**HTTP, "name": "Two"})
    contact = services.add_contact(two, email="two@example.com")
    with pytest.raises(ServiceError) as caught:
        services.remove_contact(one, contact.id)
    assert caught.value.status == 404
    assert db.session.get(Contact, contact.id) is not None


# ---------------------------------------------------------------- export / import


def test_export_then_import_round_trips():
    services.create_monitor(
        {
            **HTTP,
            "tags": ["web"],
            "contacts": [{"email": "ops@example.com"}, {"phone": "+447911123456"}],
        }
    )
    services.create_monitor({"name": "hb", "type": "heartbeat", "interval": 3600})
    exported = services.export_monitors()
    assert exported[0]["contacts"] == [{"email": "ops@example.com"}, {"phone": "+447911123456"}]
    assert "id" not in exported[0] and "status" not in exported[0]
    created = services.import_monitors(exported)
    assert len(created) == 2 and db.session.query(Monitor).count() == 4
    again = services.export_monitors()
    assert again[2:] == exported
    assert (
        created[1].heartbeat_token
        != db.session.scalars(db.select(Monitor).where(Monitor.name == "hb").order_by(Monitor.id))
        .first()
        .heartbeat_token
    )


def test_import_is_all_or_nothing_with_per_item_errors():
    items = [HTTP, {**HTTP, "url": "gopher://x"}, {"name": "db", "type": "tcp", "host": "db"}]
    with pytest.raises(ServiceError) as caught:
        services.import_monitors(items)
    exc = caught.value
    assert exc.status == 422
    assert exc.errors["1.url"][0].startswith("Item 1:")
    assert exc.errors["2.port"][0].startswith("Item 2:")
    assert "nothing was imported" in exc.message
    assert db.session.query(Monitor).count() == 0


def test_import_refuses_a_bad_contact_and_rolls_back():
    items = [HTTP, {**HTTP, "name": "b", "contacts": [{"phone": "123"}]}]
    with pytest.raises(ServiceError) as caught:
        services.import_monitors(items)
    assert "1.contacts.0.phone" in caught.value.errors
    db.session.rollback()
    assert db.session.query(Monitor).count() == 0 and db.session.query(ContactGroup).count() == 0


@pytest.mark.parametrize("payload", [[], {"name": "x"}, "text"])
def test_import_needs_a_non_empty_list(payload):
    with pytest.raises(ServiceError) as caught:
        services.import_monitors(payload)
    assert caught.value.field == "body"
