"""Monitor definitions without the database: how masked secrets sent back are restored (and
when they are refused), how validation errors are filed under the field to blame, which hosts
a monitor connects to, and the value rules the per-type table in ``test_services.py`` leaves
out (host and resolver forms, JSONPaths, assertion aliases, contacts).

Nothing here touches the database, so each test runs on one backend."""
from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from crm.monitoring.schemas import (
    ContactGroupIn,
    ContactSpec,
    error_list,
    keep_masked_secrets,
    mask_secrets,
    masked_leftovers,
    outbound_hosts,
    parse_expected_status,
    spec_to_columns,
    status_matches,
    validate_monitor,
)
from crm.net.redact import MASK

pytestmark = pytest.mark.only_backend("sqlite")

HTTP = {"name": "api", "type": "http", "url": "https://api.example.com/health"}


def _errors(data, prefix: str = "") -> dict[str, str]:
    """{field path: message} of the refusal of ``data``."""
    with pytest.raises(ValidationError) as refusal:
        validate_monitor(data)
    return dict(error_list(refusal.value, prefix))


def _round_trip(stored: dict, edit=None) -> dict:
    """What a client that read the masked definition sends back (after ``edit``), restored."""
    sent = json.loads(json.dumps(mask_secrets(stored)))
    if edit:
        edit(sent)
    return keep_masked_secrets(sent, stored)


# ---------------------------------------------------------------- secrets sent back masked

def test_every_kind_of_secret_is_masked_and_restored_unchanged():
    stored = {**HTTP, "url": "https://bot:hunter2@api.example.com/v1?api_key=k-123&page=2",
              "headers": {"Authorization": "Bearer abc", "Accept": "application/json"},
              "body": json.dumps({"user": "bot", "password": "p4ss", "nested": {"token": "t"}}),
              "password": "ftp-secret"}
    masked = mask_secrets(stored)
    text = json.dumps(masked)
    for secret in ("hunter2", "k-123", "Bearer abc", "p4ss", "ftp-secret", '"t"'):
        assert secret not in text, secret
    assert masked["headers"]["Accept"] == "application/json"
    assert "page=2" in masked["url"]
    assert _round_trip(stored) == stored


def test_a_changed_neighbour_keeps_the_masked_secret_beside_it():
    stored = {**HTTP, "url": "https://api.example.com/v1?api_key=k-123&page=2",
              "headers": {"X-Api-Key": "key-1"},
              "body": json.dumps({"password": "p4ss", "user": "bot"})}

    def edit(sent):
        sent["url"] = sent["url"].replace("page=2", "page=3")
        sent["headers"]["x-api-key"] = sent["headers"].pop("X-Api-Key")  # another case
        sent["headers"]["X-Trace"] = "on"
        body = json.loads(sent["body"])
        body["user"] = "robot"
        sent["body"] = json.dumps(body)

    restored = _round_trip(stored, edit)
    assert "api_key=k-123" in restored["url"] and "page=3" in restored["url"]
    assert restored["headers"] == {"x-api-key": "key-1", "X-Trace": "on"}
    assert json.loads(restored["body"]) == {"password": "p4ss", "user": "robot"}


def test_a_url_password_is_kept_only_for_the_same_user():
    stored = {**HTTP, "url": "https://bot:hunter2@api.example.com/v1"}

    def new_host(sent):
        sent["url"] = sent["url"].replace("api.example.com", "api2.example.com")

    def new_user(sent):
        sent["url"] = sent["url"].replace("bot:", "other:")

    assert _round_trip(stored, new_host)["url"] == "https://bot:hunter2@api2.example.com/v1"
    assert _round_trip(stored, new_user)["url"] == f"https://other:{MASK}@api.example.com/v1"


def test_a_form_body_keeps_its_masked_members():
    stored = {**HTTP, "method": "POST", "body": "user=bot&password=p4ss"}

    def edit(sent):
        sent["body"] = sent["body"].replace("user=bot", "user=robot")

    assert mask_secrets(stored)["body"] == f"user=bot&password={MASK}"
    assert _round_trip(stored, edit)["body"] == "user=robot&password=p4ss"


def test_synthetic_steps_get_their_secrets_back_by_name_then_by_place():
    stored = {"name": "flow", "type": "synthetic", "steps": [
        {"name": "log in", "url": "https://shop.example/login",
         "headers": {"Authorization": "Basic Ym90OnB3"}},
        {"name": "cart", "url": "https://shop.example/cart", "headers": {"Cookie": "s=1"}}]}

    def reorder_and_rename(sent):
        sent["steps"].reverse()  # by name: each keeps its own secret
        sent["steps"].append({"name": "new", "url": "https://shop.example/x",
                              "headers": {"Cookie": MASK}})

    restored = _round_trip(stored, reorder_and_rename)
    assert [s["headers"] for s in restored["steps"]] == [
        {"Cookie": "s=1"}, {"Authorization": "Basic Ym90OnB3"}, {"Cookie": MASK}]
    assert masked_leftovers(restored) == [
        ("steps.2.headers", "header Cookie is the masked placeholder: type its value")]

    def rename(sent):
        sent["steps"][0]["name"] = "sign in"  # unknown name: the step at the same place

    assert _round_trip(stored, rename)["steps"][0]["headers"] == {
        "Authorization": "Basic Ym90OnB3"}


def test_a_mask_with_nothing_behind_it_is_named_field_by_field():
    spec = {**HTTP, "url": f"https://api.example.com/?token={MASK}", "password": MASK,
            "body": f"secret={MASK}", "headers": {"Authorization": f"Bearer {MASK}"}}
    assert [path for path, _ in masked_leftovers(spec)] == ["password", "headers", "url", "body"]
    assert masked_leftovers(HTTP) == []
    assert keep_masked_secrets({"password": MASK}, {}) == {"password": MASK}


def test_text_that_is_not_json_or_a_form_is_left_as_sent():
    stored = {**HTTP, "body": "plain text"}
    assert keep_masked_secrets({"body": f"plain {MASK}"}, stored)["body"] == f"plain {MASK}"
    assert keep_masked_secrets({"body": "new text"}, stored)["body"] == "new text"
    assert keep_masked_secrets({"url": "http://[broken"}, HTTP)["url"] == "http://[broken"


# ---------------------------------------------------------------- where errors are filed

def test_whole_model_rules_are_filed_under_the_field_they_name():
    assert _errors({**HTTP, "interval": 30, "timeout": 30}) == {
        "timeout": "timeout must be less than interval"}
    assert set(_errors({**HTTP, "escalation_group_id": 3})) == {"escalate_after_minutes"}
    assert set(_errors({**HTTP, "contact_group_id": 3, "escalation_group_id": 3,
                        "escalate_after_minutes": 5})) == {"escalation_group_id"}
    assert set(_errors({**HTTP, "contact_group_id": 3,
                        "contacts": [{"email": "a@example.com"}]})) == {"contacts"}


def test_union_tags_are_dropped_from_paths_and_a_prefix_is_added():
    step = {"name": "a", "url": "https://a.example",
            "assertions": [{"type": "status"}, {"type": "header", "name": "X",
                                                "expected": "a", "contains": "b"}]}
    errors = _errors({"name": "flow", "type": "synthetic", "steps": [step]}, prefix="4")
    assert errors == {  # a rule naming a field is filed under it
        "4.steps.0.assertions.1.expected": "expected and contains differ: give one of them"}
    assert _errors({"name": "x"}, prefix="2") == {"2.type": "Field required"}
    assert set(_errors({"name": "flow", "type": "synthetic", "steps": [
        {"name": "a", "url": "https://a.example", "assertions": [{"max_ms": 5}]}]})) == {
        "steps.0.assertions.0.type"}


def test_assertion_aliases_store_both_names():
    spec = validate_monitor({"name": "flow", "type": "synthetic", "steps": [
        {"name": "a", "url": "https://a.example", "assertions": [
            {"type": "header", "name": "Content-Type", "contains": "json"},
            {"type": "body_contains", "text": "ok"},
            {"type": "json_path", "path": "data.id"}]}]})
    header, body, path = spec.steps[0].assertions
    assert (header.expected, header.contains) == ("json", "json")
    assert (body.expected, body.text) == ("ok", "ok")
    assert path.path == "$.data.id"


# ---------------------------------------------------------------- value forms

@pytest.mark.parametrize("host,stored", [
    ("DB.Example.COM.", "db.example.com"), ("[2001:db8::1]", "2001:db8::1"),
    ("10.0.0.1", "10.0.0.1"), ("_sip._tcp.example.com", "_sip._tcp.example.com")])
def test_host_forms_accepted(host, stored):
    spec = validate_monitor({"name": "db", "type": "tcp", "host": host, "port": 5432})
    assert spec.host == stored


def test_host_and_url_forms_refused():
    bad_hosts = ["-db.example.com", "db_.example.com.-", "a" * 64 + ".example.com", ".", ""]
    for host in bad_hosts:
        assert "host" in _errors({"name": "db", "type": "tcp", "host": host, "port": 1}), host
    for url in ["https://api.example.com:0/", "https://api.example.com:99999/",
                "https://api.example.com/a b", "//api.example.com/"]:
        assert "url" in _errors({**HTTP, "url": url}), url


def test_resolver_forms():
    def resolver(value):
        return {"name": "dns", "type": "dns", "host": "example.com", "resolver": value}
    for good in ("9.9.9.9", "9.9.9.9:53", "[2620:fe::fe]:53", "2620:fe::fe"):
        assert validate_monitor(resolver(good)).resolver == good
    assert _errors(resolver("dns.example:53")) == {
        "resolver": "enter the resolver's IP address, optionally with :port"}
    assert _errors(resolver("[2620:fe::fe]:0")) == {
        "resolver": "the resolver's port must be 1-65535"}


def test_dns_expected_addresses_are_normalised_per_record_type():
    spec = validate_monitor({"name": "dns", "type": "dns", "host": "example.com",
                             "record_type": "AAAA", "expected_address": "2001:DB8:0::1"})
    assert spec.expected_address == "2001:db8::1"
    assert set(_errors({"name": "dns", "type": "dns", "host": "example.com",
                        "record_type": "AAAA", "expected_address": "10.0.0.1"})) == {
        "expected_address"}


def test_headers_limits():
    many = {f"X-H{n}": "v" for n in range(60)}
    assert _errors({**HTTP, "headers": many})["headers"].startswith("at most")
    assert _errors({**HTTP, "headers": {"X-Long": "v" * 8193}}) == {
        "headers.X-Long": "String should have at most 8192 characters"}


def test_tags_are_trimmed_and_deduplicated():
    spec = validate_monitor({**HTTP, "tags": [" prod ", "prod", "eu"]})
    assert spec.tags == ["prod", "eu"]


def test_text_fields_refuse_nul_characters():
    assert _errors({**HTTP, "name": "api\x00"}) == {"name": "must not contain NUL characters"}


def test_expected_status_lists():
    assert parse_expected_status(" 200 - 204 , 301,302-302 ") == [(200, 204), (301, 301),
                                                                   (302, 302)]
    assert status_matches(204, "200-204,301") and status_matches(301, "200-204,301")
    assert not status_matches(None, "200-299") and not status_matches(302, "200-204,301")
    with pytest.raises(ValueError, match="100-599"):
        parse_expected_status(" , ")


# ---------------------------------------------------------------- columns and destinations

def test_columns_and_config_of_each_type():
    columns, config = spec_to_columns(validate_monitor(
        {"name": "mx", "type": "smtp", "host": "mx.example.com", "retries": 0, "tags": ["mail"],
         "interval": 120, "timeout": 5}))
    assert columns["retries"] == 1 and columns["interval_seconds"] == 120
    assert columns["tags"] == ["mail"] and columns["timeout_seconds"] == 5
    assert config == {"host": "mx.example.com", "port": 25, "starttls": False}
    _, config = spec_to_columns(validate_monitor({"name": "hb", "type": "heartbeat"}))
    assert config == {"grace_seconds": 60}


def test_outbound_hosts_of_each_type():
    def hosts(data):
        return outbound_hosts(validate_monitor(data))
    assert hosts(HTTP) == [("url", "api.example.com")]
    assert hosts({"name": "c", "type": "tls", "host": "Example.com"}) == [("host", "example.com")]
    assert hosts({"name": "d", "type": "dns", "host": "example.com"}) == []
    assert hosts({"name": "d", "type": "dns", "host": "example.com",
                  "resolver": "9.9.9.9:53"}) == [("resolver", "9.9.9.9")]
    assert hosts({"name": "d", "type": "dns", "host": "example.com",
                  "resolver": "[2620:fe::fe]:53"}) == [("resolver", "2620:fe::fe")]
    assert hosts({"name": "hb", "type": "heartbeat"}) == []
    assert hosts({"name": "flow", "type": "synthetic", "steps": [
        {"name": "a", "url": "https://shop.example/login", "extract": {"next": "$.next"}},
        {"name": "b", "url": "https://{{next}}/cart"}]}) == [("steps.0.url", "shop.example")]


# ---------------------------------------------------------------- contacts

def test_contact_and_group_models():
    with pytest.raises(ValidationError, match="give exactly one of email or phone"):
        ContactSpec()
    with pytest.raises(ValidationError, match="give exactly one of email or phone"):
        ContactSpec(email="a@example.com", phone="+447911123456")
    assert ContactSpec(phone="+447911123456").email is None
    group = ContactGroupIn(name="ops", emails=["a@example.com"])
    assert group.phones == []
    with pytest.raises(ValidationError):
        ContactGroupIn(name="", emails=[])
    with pytest.raises(ValidationError):
        ContactGroupIn(name="ops", emails=["a@example.com"] * 1000)
