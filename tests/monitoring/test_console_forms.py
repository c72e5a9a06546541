"""Console forms submitted back exactly as rendered: every monitor type's edit form, the
contact-group and maintenance forms save unchanged (no "field required" on a value the page
itself filled in), and a failed form re-renders at the page's own address, so reloading it
is a GET that works (no 405).

The forms are read from the HTML with :func:`tests.monitoring.forms_html.form_fields`, which
collects what a browser would submit (values, selected options, checked boxes, textareas).
"""
from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.clock import utcnow
from crm.extensions import db
from crm.monitoring import services
from crm.monitoring.models import MaintenanceWindow, Monitor
from crm.monitoring.schemas import monitor_to_spec_dict
from tests.helpers_matrix import visible_text
from tests.monitoring.forms_html import form_fields


@pytest.fixture
def staff(make_user, login):
    """A logged-in admin (manages monitors, maintenance and reports)."""
    user = make_user("admin")
    login(user)
    return user


COMMON = {"interval": 120, "timeout": 7.5, "retries": 3, "tags": ["prod", "shop front"],
          "remind_every_minutes": 30}
MONITORS = {
    "http": {"url": "https://shop.example.com/health?x=1&y=2", "method": "POST",
             "headers": {"Accept": "application/json", "X-Probe": "a <b> & \"c\"",
                         "Authorization": "Bearer s3cret-token"},
             "body": '{"ping": true}\nsecond line', "expected_status": "200-299,301",
             "keyword": "ok", "keyword_absent": True, "json_path": "$.status",
             "json_expected": "green", "max_response_ms": 900, "follow_redirects": False},
    "tcp": {"host": "db.example.com", "port": 5432},
    "smtp": {"host": "mail.example.com", "port": 587, "starttls": True},
    "ftp": {"host": "ftp.example.com", "port": 2121, "username": "probe", "password": "s3cret"},
    "dns": {"host": "example.com", "expected_address": "2001:db8::1", "resolver": "192.0.2.53:5353",
            "record_type": "AAAA"},
    "tls": {"host": "example.com", "port": 8443, "days_before": 30},
    "heartbeat": {"grace_seconds": 45},
    "synthetic": {"steps": [
        {"name": "log in", "method": "POST", "url": "https://shop.example.com/api/login",
         "headers": {"Content-Type": "application/json"}, "body": '{"user": "probe"}',
         "assertions": [{"type": "status", "expected": "200"},
                        {"type": "body_contains", "text": "token"},
                        {"type": "header", "name": "X-Request-Id"},
                        {"type": "header", "name": "Content-Type", "contains": "json"}],
         "extract": {"token": "$.data.token"}},
        {"name": "cart", "method": "GET", "url": "https://shop.example.com/api/cart?id={{token}}",
         "headers": {"Authorization": "Bearer {{token}}", "X-Api-Key": "k3y-value"},
         "assertions": [{"type": "status", "expected": "200-299,304"},
                        {"type": "json_path", "path": "$.items", "expected": "3"},
                        {"type": "json_path", "path": "$.total"},
                        {"type": "response_time", "max_ms": 800}]},
    ]},
}


def _round_trip(client, url: str, action: str | None = None):
    """GET ``url``, submit its form (``action``, default ``url``; ``""``: the form without an
    action, which posts to the page's own address) exactly as rendered."""
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    data = form_fields(page.get_data(as_text=True), url if action is None else action)
    return client.post(action or url, data=data)


@pytest.mark.parametrize("kind", list(MONITORS))
def test_edit_form_saves_unchanged_for_every_type(client, staff, make_group, kind):
    on_call = make_group("On-call", emails=["oncall@example.com"])
    managers = make_group("Managers", emails=["boss@example.com"])
    monitor = services.create_monitor({
        "name": f"Shop {kind} — a long name that someone typed in full", "type": kind, **COMMON,
        "contact_group_id": on_call.id, "escalation_group_id": managers.id,
        "escalate_after_minutes": 15, **MONITORS[kind]})
    before = monitor_to_spec_dict(monitor)
    stored = copy.deepcopy(monitor.config)  # with the secrets the pages may mask

    resp = _round_trip(client, f"/monitors/{monitor.id}/edit")

    assert resp.status_code == 302, visible_text(resp)[:800]
    assert resp.headers["Location"].endswith(f"/monitors/{monitor.id}")
    db.session.expire_all()
    monitor = db.session.get(Monitor, monitor.id)
    assert monitor_to_spec_dict(monitor) == before
    assert monitor.config == stored


def test_edit_form_saves_a_paused_monitor_with_its_own_contacts_unchanged(client, staff):
    monitor = services.create_monitor(
        {
            "name": "Paused one",
            "type": "tcp",
            "host": "db.example.com",
            "port": 5432,
            "interval": 60,
            "timeout": 2,
            "paused": True,
            "contacts": [{"email": "me@example.com"}],
        }
    )
    before = monitor_to_spec_dict(monitor)
    resp = _round_trip(client, f"/monitors/{monitor.id}/edit")
    assert resp.status_code == 302, visible_text(resp)[:800]
    db.session.expire_all()
    monitor = db.session.get(Monitor, monitor.id)
    assert monitor_to_spec_dict(monitor) == before and monitor.paused
    assert [c.email for c in services.monitor_contacts(monitor)] == ["me@example.com"]


def test_edit_form_shows_a_fractional_timeout_as_typed_and_whole_seconds_without_decimals(
    client, staff
):
    whole = services.create_monitor(
        {
            "name": "Whole",
            "type": "tcp",
            "host": "db.example.com",
            "port": 1,
            "interval": 60,
            "timeout": 5,
        }
    )
    half = services.create_monitor(
        {
            "name": "Half",
            "type": "tcp",
            "host": "db.example.com",
            "port": 1,
            "interval": 60,
            "timeout": 2.5,
        }
    )
    for monitor, shown in ((whole, "5"), (half, "2.5")):
        page = client.get(f"/monitors/{monitor.id}/edit").get_data(as_text=True)
        assert form_fields(page, f"/monitors/{monitor.id}/edit")["timeout"] == shown


def test_contact_group_rename_form_saves_unchanged(client, staff, make_group):
    group = make_group("Night shift & weekend", emails=["night@example.com"])
    resp = _round_trip(
        client,
        f"/monitors/contact-groups/{group.id}",
        f"/monitors/contact-groups/{group.id}/rename",
    )
    assert resp.status_code == 302, visible_text(resp)[:800]
    db.session.expire_all()
    assert db.session.get(type(group), group.id).name == "Night shift & weekend"


def test_maintenance_form_saves_unchanged(client, staff, make_monitor):
    a, b = (
        make_monitor("tcp", name="Alpha", host="a.example.com", port=1),
        make_monitor("tcp", name="Beta"),
    )
    start = utcnow().replace(second=0, microsecond=0) + timedelta(days=1)
    window = MaintenanceWindow(
        title="Upgrade <db>",
        description="Two lines\nof text",
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        recurrence="weekly",
        recurrence_until=start + timedelta(days=60),
        all_monitors=False,
        announced=False,
        monitors=[a, b],
        created_by_id=staff.id,
    )
    db.session.add(window)
    db.session.commit()
    fields = (
        "title",
        "description",
        "starts_at",
        "ends_at",
        "recurrence",
        "recurrence_until",
        "all_monitors",
        "announced",
    )
    before = {f: getattr(window, f) for f in fields}
    resp = _round_trip(client, f"/maintenance/{window.id}", "")
    assert resp.status_code == 302, visible_text(resp)[:800]
    db.session.expire_all()
    window = db.session.get(MaintenanceWindow, window.id)
    assert {f: getattr(window, f) for f in fields} == before
    assert sorted(m.name for m in window.monitors) == ["Alpha", "Beta"]


def test_status_page_form_saves_unchanged(client, staff, make_monitor):
    from crm.monitoring.models import StatusPage
    from crm.monitoring.pages.status_pages import save_status_page

    a, b = make_monitor("tcp", name="Alpha"), make_monitor("tcp", name="Beta")
    make_monitor("tcp", name="Gamma")
    page = save_status_page(
        None,
        slug="shop",
        title="Shop status",
        description="All <our> systems",
        monitor_ids=[a.id, b.id],
    )
    resp = _round_trip(client, f"/monitors/status-pages/{page.id}/edit", "")
    assert resp.status_code == 302, visible_text(resp)[:800]
    db.session.expire_all()
    page = db.session.get(StatusPage, page.id)
    assert (page.slug, page.title, page.description) == ("shop", "Shop status", "All <our> systems")
    assert sorted(m.name for m in page.monitors) == ["Alpha", "Beta"]


def test_report_subscriptions_form_saves_unchanged(client, staff, make_group):
    group = make_group("Ops", emails=["ops@example.com"])
    group.report_periods = ["daily", "monthly"]
    db.session.commit()
    resp = _round_trip(client, "/reports/subscriptions", "")
    assert resp.status_code == 302, visible_text(resp)[:800]
    db.session.expire_all()
    assert db.session.get(type(group), group.id).report_periods == ["daily", "monthly"]


def test_unchanged_monitor_list_is_kept_by_select_multiple(client, staff):
    # a control: the helper submits every selected option of a multiple select
    html = (
        '<form action="/x"><select name="m" multiple><option value="1" selected>a</option>'
        '<option value="2">b</option><option value="3" selected>c</option></select>'
        '<textarea name="t">\nline</textarea><template><input name="ghost" value="1"></template>'
        '<input type="checkbox" name="c" value="y"><input name="d" value="1" disabled></form>'
    )
    assert form_fields(html, "/x").to_dict(flat=False) == {"m": ["1", "3"], "t": ["line"]}
    assert db.session.scalar(select(Monitor.id)) is None


# ---------------------------------------------------------------- failed forms stay at the page

BOOSTED = {"HX-Request": "true", "HX-Boosted": "true"}


def _post_only_cases(group, monitor, in_use) -> list[tuple[str, dict, str, int]]:
    """(POST-only address, refused form data, the page's own address, status)."""
    future = (utcnow() + timedelta(days=3)).date().isoformat()
    return [
        (
            "/reports/generate",
            {"group": str(group.id), "period": "daily", "day": future},
            "/reports/",
            422,
        ),
        ("/reports/generate", {"group": str(group.id), "period": "hourly"}, "/reports/", 422),
        ("/monitors/contact-groups/new", {"name": ""}, "/monitors/contact-groups", 422),
        (
            f"/monitors/contact-groups/{group.id}/rename",
            {"group-name": ""},
            f"/monitors/contact-groups/{group.id}",
            422,
        ),
        (
            f"/monitors/contact-groups/{group.id}/contacts",
            {"kind": "email", "value": "not an address"},
            f"/monitors/contact-groups/{group.id}",
            422,
        ),
        (
            f"/monitors/contact-groups/{in_use.id}/delete",
            {},
            f"/monitors/contact-groups/{in_use.id}",
            409,
        ),
        (
            f"/monitors/{monitor.id}/contacts",
            {"kind": "email", "value": "nope@"},
            f"/monitors/{monitor.id}",
            422,
        ),
    ]


def test_refused_forms_of_post_only_addresses_put_the_page_address_in_the_address_bar(
    client, staff, make_group, make_monitor
):
    group = make_group("Ops", emails=["ops@example.com"])
    in_use = make_group("Used", emails=["used@example.com"])
    monitor = make_monitor("tcp", name="Db", host="db.example.com", port=5432, contact_group=in_use)
    for action, data, page, status in _post_only_cases(group, monitor, in_use):
        resp = client.post(action, data=data, headers=BOOSTED)
        assert resp.status_code == status, (action, resp.status_code)
        # htmx shows the page's own address: reloading it is a GET that works (no 405)
        assert resp.headers.get("HX-Replace-Url") == page, action
        assert client.get(page).status_code == 200
        assert client.get(action).status_code == 405  # what the address bar held before the fix
        # without htmx (a plain form post) nothing changes
        assert "HX-Replace-Url" not in client.post(action, data=data).headers


def test_reports_page_after_a_refused_request_pages_through_the_list_at_its_own_address(
    client, staff, make_group
):
    from crm.monitoring import reports

    group = make_group("Ops", emails=["ops@example.com"])
    for day in range(30):  # more than a page
        reports.request_report(
            group,
            "daily",
            by=staff,
            period_start=utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
            - timedelta(days=day + 2),
        )
    resp = client.post("/reports/generate", data={"group": str(group.id), "period": "hourly"})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert 'href="/reports/?before=' in html and "/reports/generate?" not in html
