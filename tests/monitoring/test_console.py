"""Monitoring console: overview (filters, empty state, polling), create/edit forms for every
type with validation errors re-rendered (422), pause/resume, delete, run now against a real
local HTTP server, contacts, and the synthetic editor's parsers."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.clock import utcnow
from crm.extensions import db
from crm.monitoring import services
from crm.monitoring.models import HOUR, Monitor, Rollup
from crm.monitoring.pages.forms import (
    FormInputError,
    format_assertions,
    parse_assertions,
    parse_extractions,
    parse_headers,
)
from tests.helpers_matrix import visible_text
from tests.monitoring.peers import Route


@pytest.fixture
def engineer(make_user, login):
    user = make_user("engineer")
    login(user)
    return user


def _create(name: str, type_: str = "http", **fields) -> Monitor:
    data = {"name": name, "type": type_, "interval": 60, "timeout": 5, **fields}
    if type_ == "http":
        data.setdefault("url", "http://127.0.0.1:9/health")
    return services.create_monitor(data)


def _has(assertions: list[dict], **expected) -> bool:
    """True when one stored assertion has all of ``expected``'s items (the schema may add
    defaults)."""
    return any(all(a.get(k) == v for k, v in expected.items()) for a in assertions)


BASE = {"interval": "60", "timeout": "5", "retries": "1", "expected_status": "200-299",
        "method": "GET", "follow_redirects": "y", "days_before": "14", "grace_seconds": "60",
        "record_type": "A", "steps-0-method": "GET"}


# ---------------------------------------------------------------- overview

def test_overview_empty_state_offers_to_create_the_first_monitor(client, engineer):
    resp = client.get("/monitors/")
    assert resp.status_code == 200
    assert "Create your first monitor" in visible_text(resp)
    assert 'href="/monitors/new"' in resp.get_data(as_text=True)


def test_agent_sees_monitors_but_no_create_button(client, make_user, login):
    _create("Shop")
    login(make_user("agent"))
    resp = client.get("/monitors/")
    assert resp.status_code == 200 and "Shop" in visible_text(resp)
    assert "New monitor" not in visible_text(resp)
    assert client.get("/monitors/new").status_code == 403


def test_overview_filters_by_status_type_tag_and_name(client, engineer):
    shop = _create("Shop front", tags=["prod", "shop"])
    _create("Mail relay", "tcp", host="127.0.0.1", port=25, tags=["prod"])
    api = _create("Billing API", tags=["billing"])
    api.status = "down"
    db.session.commit()

    def names(**query):
        resp = client.get("/monitors/", query_string=query)
        assert resp.status_code == 200
        text = visible_text(resp)
        return {n for n in ("Shop front", "Mail relay", "Billing API") if n in text}

    assert names() == {"Shop front", "Mail relay", "Billing API"}
    assert names(status="down") == {"Billing API"}
    assert names(type="tcp") == {"Mail relay"}
    assert names(tag="prod") == {"Shop front", "Mail relay"}
    assert names(tag="shop") == {"Shop front"}
    assert names(q="front") == {"Shop front"}
    assert names(q="%") == set()  # LIKE wildcards are escaped
    empty = client.get("/monitors/", query_string={"q": "nothing like it"})
    assert "No monitors match these filters." in visible_text(empty)
    # htmx filter requests get the table fragment only
    frag = client.get("/monitors/", query_string={"tag": "billing"}, headers={"HX-Request": "true"})
    body = frag.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="monitor-table"') and "<html" not in body
    assert "Billing API" in body and shop.name not in body


def test_overview_shows_uptime_from_rollups_and_a_sparkline(client, engineer):
    monitor = _create("Shop")
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    hist = [0] * 23
    hist[6] = 4  # 4 responses in the 75 ms bucket
    db.session.add_all(
        [
            Rollup(
                monitor_id=monitor.id,
                period=HOUR,
                bucket_start=now - timedelta(hours=2),
                count_up=3,
                count_down=1,
                errors=0,
                sum_ms=240.0,
                histogram=hist,
                status_codes={"200": 3, "500": 1},
                protocol="http",
            ),
            Rollup(
                monitor_id=monitor.id,
                period=HOUR,
                bucket_start=now - timedelta(hours=1),
                count_up=4,
                count_down=0,
                errors=0,
                sum_ms=400.0,
                histogram=hist,
                status_codes={"200": 4},
                protocol="http",
            ),
            Rollup(
                monitor_id=monitor.id,
                period="day",
                bucket_start=now.replace(hour=0) - timedelta(days=3),
                count_up=9,
                count_down=1,
                errors=1,
                sum_ms=0.0,
                histogram=[],
                status_codes={},
                protocol="http",
            ),
        ]
    )
    db.session.commit()
    resp = client.get("/monitors/")
    text = visible_text(resp)
    assert "87.50 %" in text  # 7 of 8 hourly checks
    assert "90.00 %" in text  # 9 of 10 daily checks (30 days)
    assert 'class="sparkline"' in resp.get_data(as_text=True)


def test_overview_poll_answers_204_until_something_changes(client, engineer):
    monitor = _create("Shop")
    page = client.get("/monitors/", headers={"HX-Request": "true"}).get_data(as_text=True)
    since = page.split("since=", 1)[1].split('"', 1)[0]
    from html import unescape
    from urllib.parse import unquote

    since = unquote(unescape(since))
    headers = {"HX-Request": "true"}
    assert (
        client.get("/monitors/", query_string={"since": since}, headers=headers).status_code == 204
    )
    monitor.last_checked_at = utcnow()
    db.session.commit()
    changed = client.get("/monitors/", query_string={"since": since}, headers=headers)
    assert changed.status_code == 200 and "Shop" in changed.get_data(as_text=True)


# ---------------------------------------------------------------- create / edit

CASES = {
    "http": {
        "url": "https://shop.example.com/health",
        "keyword": "ok",
        "headers": "Accept: application/json\nX-Probe: 1",
    },
    "tcp": {"host": "db.example.com", "port": "5432"},
    "smtp": {"host": "mail.example.com", "port": "587", "starttls": "y"},
    "ftp": {"host": "ftp.example.com", "port": "21", "username": "probe", "password": "s3cret"},
    "dns": {"host": "example.com", "expected_address": "93.184.216.34", "resolver": "1.1.1.1"},
    "tls": {"host": "example.com", "port": "443", "days_before": "21"},
    "heartbeat": {"grace_seconds": "120"},
    "synthetic": {
        "steps-0-name": "log in",
        "steps-0-method": "POST",
        "steps-0-url": "https://shop.example.com/api/login",
        "steps-0-headers": "Content-Type: application/json",
        "steps-0-body": '{"user": "probe"}',
        "steps-0-assertions": "status == 200\nbody contains token",
        "steps-0-extract": "token = json data.token",
        "steps-1-name": "cart",
        "steps-1-method": "GET",
        "steps-1-url": "https://shop.example.com/api/cart",
        "steps-1-headers": "Authorization: Bearer {{token}}",
        "steps-1-assertions": "json $.items exists\ntime < 800",
    },
}


@pytest.mark.parametrize("kind", list(CASES))
def test_create_each_type_through_the_form(client, engineer, kind):
    form = client.get(f"/monitors/new?type={kind}")
    assert form.status_code == 200
    resp = client.post(
        "/monitors/new",
        data={**BASE, "name": f"My {kind}", "type": kind, "tags": "prod, edge", **CASES[kind]},
    )
    assert resp.status_code == 302, visible_text(resp)[:600]
    monitor = db.session.scalar(select(Monitor).where(Monitor.name == f"My {kind}"))
    assert monitor.type == kind and monitor.tags == ["prod", "edge"]
    assert monitor.created_by_id == engineer.id
    assert resp.headers["Location"].endswith(f"/monitors/{monitor.id}")
    config = monitor.config
    if kind == "http":
        assert config["headers"] == {"Accept": "application/json", "X-Probe": "1"}
        assert config["keyword"] == "ok" and config["follow_redirects"] is True
    elif kind == "smtp":
        assert (config["port"], config["starttls"]) == (587, True)
    elif kind == "ftp":
        assert config["password"] == "s3cret"
    elif kind == "heartbeat":
        assert monitor.heartbeat_token and config["grace_seconds"] == 120
    elif kind == "synthetic":
        first, second = config["steps"]
        assert first["method"] == "POST" and first["extract"] == {"token": "$.data.token"}
        assert _has(first["assertions"], type="status", expected="200")
        assert _has(first["assertions"], type="body_contains", text="token")
        assert second["headers"] == {"Authorization": "Bearer {{token}}"}
        assert _has(second["assertions"], type="json_path", path="$.items")
        assert _has(second["assertions"], type="response_time", max_ms=800)
    page = client.get(f"/monitors/{monitor.id}")
    assert page.status_code == 200 and f"My {kind}" in visible_text(page)


@pytest.mark.parametrize(
    "data, field_id, message",
    [
        ({"type": "http", "url": "ftp://nope"}, "url", "http"),
        ({"type": "http", "url": ""}, "url", ""),
        ({"type": "tcp", "host": "bad host!", "port": "80"}, "host", "host name"),
        ({"type": "tcp", "host": "db.example.com", "port": "70000"}, "port", ""),
        ({"type": "http", "url": "https://x.example", "interval": "5"}, "interval", "at least"),
        (
            {"type": "http", "url": "https://x.example", "headers": "no colon here"},
            "headers",
            "Name: value",
        ),
        (
            {
                "type": "synthetic",
                "steps-0-url": "https://x.example",
                "steps-0-assertions": "frobnicate",
            },
            "steps-0-assertions",
            "not an assertion",
        ),
        (
            {"type": "synthetic", "steps-0-url": "https://x.example/{{token}}"},
            "steps-0-url",
            "token",
        ),
        ({"type": "http", "url": "https://x.example", "name": ""}, "name", "required"),
    ],
)
def test_invalid_form_rerenders_with_422_and_the_field_message(
    client, engineer, data, field_id, message
):
    payload = {**BASE, "name": "Broken", **data}
    resp = client.post("/monitors/new", data=payload)
    assert resp.status_code == 422, resp.status_code
    html = resp.get_data(as_text=True)
    assert f'id="{field_id}-errors"' in html, visible_text(resp)[:800]
    errors = html.split(f'id="{field_id}-errors">', 1)[1].split("</div>", 1)[0]
    assert message.lower() in errors.lower()
    assert f'id="{field_id}"' in html and 'aria-invalid="true"' in html
    assert db.session.scalar(select(Monitor.id)) is None
    # what was typed is kept
    if data.get("url"):
        assert data["url"].replace("&", "&amp;") in html


def test_edit_changes_settings_and_keeps_the_ftp_password(client, engineer):
    monitor = _create("Files", "ftp", host="ftp.example.com", port=21, username="u", password="pw")
    form = client.get(f"/monitors/{monitor.id}/edit")
    assert form.status_code == 200
    html = form.get_data(as_text=True)
    assert 'value="ftp.example.com"' in html and "pw" not in html.split('id="password"', 1)[1][:80]
    resp = client.post(
        f"/monitors/{monitor.id}/edit",
        data={
            **BASE,
            "name": "Files (EU)",
            "type": "ftp",
            "host": "ftp.eu.example.com",
            "port": "2121",
            "username": "u",
            "password": "",
            "interval": "120",
        },
    )
    assert resp.status_code == 302, visible_text(resp)[:500]
    db.session.refresh(monitor)
    assert monitor.name == "Files (EU)" and monitor.interval_seconds == 120
    assert monitor.config["host"] == "ftp.eu.example.com" and monitor.config["port"] == 2121
    assert monitor.config["password"] == "pw"
    bad = client.post(
        f"/monitors/{monitor.id}/edit",
        data={**BASE, "name": "Files", "type": "ftp", "host": "ftp.example.com", "port": "0"},
    )
    assert bad.status_code == 422


def test_edit_form_round_trips_a_synthetic_monitor(client, engineer):
    monitor = _create(
        "Checkout",
        "synthetic",
        steps=[
            {
                "name": "home",
                "url": "https://shop.example.com/",
                "assertions": [
                    {"type": "status", "expected": "200"},
                    {"type": "header", "name": "Content-Type", "contains": "html"},
                    {"type": "json_path", "path": "$.a", "expected": "ok"},
                ],
                "extract": {"sid": "$.session"},
            }
        ],
    )
    html = client.get(f"/monitors/{monitor.id}/edit").get_data(as_text=True)
    assert "status == 200" in html and "header Content-Type contains html" in html
    assert "sid = json $.session" in html
    resp = client.post(
        f"/monitors/{monitor.id}/edit",
        data={
            **BASE,
            "name": "Checkout",
            "type": "synthetic",
            "steps-0-name": "home",
            "steps-0-url": "https://shop.example.com/",
            "steps-0-assertions": 'status == 200\njson $.a == "ok"',
            "steps-0-extract": "sid = json $.session",
        },
    )
    assert resp.status_code == 302
    db.session.refresh(monitor)
    assertions = monitor.config["steps"][0]["assertions"]
    assert len(assertions) == 2 and _has(assertions, type="status", expected="200")
    assert _has(assertions, type="json_path", path="$.a", expected="ok")


def test_pause_resume_and_delete(client, engineer):
    monitor = _create("Shop")
    assert client.post(f"/monitors/{monitor.id}/pause").status_code == 302
    db.session.refresh(monitor)
    assert monitor.paused and monitor.status == "paused"
    assert "Resume" in visible_text(client.get(f"/monitors/{monitor.id}"))
    assert client.post(f"/monitors/{monitor.id}/resume").status_code == 302
    db.session.refresh(monitor)
    assert not monitor.paused and monitor.status == "pending"
    confirm = client.get(f"/monitors/{monitor.id}/delete")
    assert confirm.status_code == 200 and "Delete monitor Shop?" in visible_text(confirm)
    assert db.session.get(Monitor, monitor.id) is not None  # GET only asks
    resp = client.post(f"/monitors/{monitor.id}/delete")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/monitors/")
    db.session.expire_all()
    assert db.session.get(Monitor, monitor.id) is None
    assert client.get(f"/monitors/{monitor.id}").status_code == 404


def test_run_now_checks_a_real_http_server(client, engineer, http_peer):
    http_peer.routes["/health"] = Route(200, {"status": "ok"})
    http_peer.routes["/broken"] = Route(503, "maintenance")
    good = _create(
        "Healthy", url=http_peer.url("/health"), json_path="$.status", json_expected="ok"
    )
    bad = _create("Broken", url=http_peer.url("/broken"))
    resp = client.post(f"/monitors/{good.id}/run", headers={"HX-Request": "true"})
    assert resp.status_code == 200
    text = visible_text(resp)
    assert "Check passed" in text and "code 200" in text
    assert "<html" not in resp.get_data(as_text=True)
    full = client.post(f"/monitors/{bad.id}/run")  # without htmx: the whole page
    assert full.status_code == 200
    assert "Check failed" in visible_text(full) and "503" in visible_text(full)
    assert any(r["path"] == "/health" for r in http_peer.requests)


def test_run_now_shows_each_synthetic_step_and_assertion(client, engineer, http_peer):
    http_peer.routes["/login"] = Route(200, {"data": {"token": "t-123"}})
    http_peer.routes["/cart"] = lambda method, path, headers, body: Route(
        200 if headers.get("Authorization") == "Bearer t-123" else 401, {"items": []}
    )
    monitor = _create(
        "Checkout",
        "synthetic",
        steps=[
            {
                "name": "log in",
                "method": "POST",
                "url": http_peer.url("/login"),
                "assertions": parse_assertions('status == 200\njson data.token == "t-123"'),
                "extract": parse_extractions("token = json data.token"),
            },
            {
                "name": "cart",
                "url": http_peer.url("/cart"),
                "headers": {"Authorization": "Bearer {{token}}"},
                "assertions": parse_assertions("status == 200\nbody contains missing-word"),
            },
        ],
    )
    resp = client.post(f"/monitors/{monitor.id}/run", headers={"HX-Request": "true"})
    text = visible_text(resp)
    assert "Check failed" in text
    assert "log in" in text and "cart" in text
    assert text.count("passed:") >= 3 and "failed: " in text  # the body assertion of step 2


def test_contacts_are_added_and_removed_on_the_monitor_page(client, engineer):
    monitor = _create("Shop")
    resp = client.post(
        f"/monitors/{monitor.id}/contacts", data={"kind": "email", "value": "ops@example.com"}
    )
    assert resp.status_code == 302
    bad = client.post(
        f"/monitors/{monitor.id}/contacts", data={"kind": "email", "value": "not-an-email"}
    )
    assert bad.status_code == 422 and "valid email" in visible_text(bad)
    phone = client.post(
        f"/monitors/{monitor.id}/contacts", data={"kind": "phone", "value": "+44 20 7946 0958"}
    )
    assert phone.status_code == 302
    page = visible_text(client.get(f"/monitors/{monitor.id}"))
    assert "ops@example.com" in page and "+442079460958" in page
    contact = services.monitor_contacts(monitor)[0]
    assert client.post(f"/monitors/{monitor.id}/contacts/{contact.id}/delete").status_code == 302
    db.session.expire_all()
    assert [c.phone for c in services.monitor_contacts(db.session.get(Monitor, monitor.id))] == [
        "+442079460958"
    ]
    assert client.post(f"/monitors/{monitor.id}/contacts/999999/delete").status_code == 404


def test_monitor_page_shows_chart_incidents_and_results(client, engineer):
    from crm.monitoring.models import CheckResult, Incident

    monitor = _create("Shop")
    now = utcnow()
    db.session.add_all(
        [
            Incident(
                monitor_id=monitor.id,
                opened_at=now - timedelta(hours=3),
                closed_at=now - timedelta(hours=2),
                duration_seconds=3600,
                cause="HTTP 503",
            ),
            Incident(
                monitor_id=monitor.id, opened_at=now - timedelta(minutes=5), cause="timed out"
            ),
            CheckResult(
                monitor_id=monitor.id,
                checked_at=now,
                status="down",
                response_time_ms=None,
                error="timed out after 5 s",
                protocol="http",
            ),
            Rollup(
                monitor_id=monitor.id,
                period=HOUR,
                bucket_start=now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1),
                count_up=1,
                count_down=0,
                errors=0,
                sum_ms=120.0,
                histogram=[0] * 6 + [1] + [0] * 16,
                status_codes={"200": 1},
                protocol="http",
            ),
        ]
    )
    db.session.commit()
    resp = client.get(f"/monitors/{monitor.id}?range=7d")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    text = visible_text(resp)
    assert "data-figure=" in html
    src = re.search(r'data-plotly-src="([^"]+)"', html).group(1)
    js = client.get(src)
    assert js.status_code == 200 and js.mimetype == "text/javascript"
    assert b"plotly" in js.get_data()[:2000] and js.cache_control.max_age >= 86400
    assert "1 h" in text and "HTTP 503" in text and "Open" in text and "so far" in text
    assert "timed out after 5 s" in text
    assert "<script>" not in html  # no inline scripts (CSP)


# ---------------------------------------------------------------- parsers


def test_synthetic_editor_parsers():
    assert parse_headers("Accept: text/html\n\nX-A:  b: c ") == {
        "Accept": "text/html",
        "X-A": "b: c",
    }
    with pytest.raises(FormInputError) as err:
        parse_headers("ok: 1\nbroken", "steps-2-headers")
    assert err.value.field == "steps-2-headers" and "Line 2" in err.value.message
    parsed = parse_assertions("""status == 200
        status in 200-299, 301
        header Content-Type contains json
        header X-Request-Id exists
        body contains ok
        json $.data.id exists
        json data.status == "ok"
        time < 500""")
    assert parsed == [
        {"type": "status", "expected": "200"},
        {"type": "status", "expected": "200-299,301"},
        {"type": "header", "name": "Content-Type", "contains": "json"},
        {"type": "header", "name": "X-Request-Id"},
        {"type": "body_contains", "text": "ok"},
        {"type": "json_path", "path": "$.data.id"},
        {"type": "json_path", "path": "data.status", "expected": "ok"},
        {"type": "response_time", "max_ms": 500},
    ]
    assert parse_assertions(format_assertions(parsed)) == parsed
    with pytest.raises(FormInputError, match="Line 1"):
        parse_assertions("status is great")
    assert parse_extractions("token = json data.token\nid=$.id") == {
        "token": "data.token",
        "id": "$.id",
    }
    with pytest.raises(FormInputError):
        parse_extractions("= json x")
