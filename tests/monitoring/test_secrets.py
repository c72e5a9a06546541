"""Monitor request secrets are write-only: masked in every read for every role (API, console
list, page and edit form, export, ``crm-monitor list``), kept when a client sends the mask
back (API PATCH, the console's edit form saved as rendered), exported only with
``include_secrets=true`` by ``monitor.manage``, and still sent by the checks."""

from __future__ import annotations

import pytest

from crm.extensions import db
from crm.monitoring import services
from crm.monitoring.engine.runner import run_now
from crm.monitoring.models import Monitor
from tests.api.conftest import assert_problem
from tests.monitoring.forms_html import form_fields
from tests.monitoring.peers import Route
from tests.monitoring.test_cli_tool import live_url, run_cli  # noqa: F401 - the live-server fixture

MASK = "********"
SECRETS = (
    "pa55word",
    "K3Y-123",
    "SECRET-TOKEN",
    "abc123xyz",
    "hunter2",
    "ftp-s3cret",
    "STEP-TOKEN",
    "CL-SECRET",
)
ROLES = ("engineer", "agent", "manager", "admin")
HTTP = {
    "name": "Shop API",
    "type": "http",
    "url": "https://probe:pa55word@shop.example.com/health?api_key=K3Y-123&page=2",
    "headers": {
        "Authorization": "Bearer SECRET-TOKEN",
        "X-Api-Key": "abc123xyz",
        "Accept": "application/json",
    },
    "method": "POST",
    "body": '{"username": "probe", "password": "hunter2"}',
}
FTP = {
    "name": "Files",
    "type": "ftp",
    "host": "ftp.example.com",
    "username": "probe",
    "password": "ftp-s3cret",
}
SYNTHETIC = {
    "name": "Checkout",
    "type": "synthetic",
    "steps": [
        {
            "name": "token",
            "method": "POST",
            "url": "https://shop.example.com/oauth/token",
            "headers": {
                "Authorization": "Basic STEP-TOKEN",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            "body": "grant_type=client_credentials&client_secret=CL-SECRET",
            "extract": {"token": "$.access_token"},
        },
        {
            "name": "cart",
            "url": "https://shop.example.com/cart",
            "headers": {"Authorization": "Bearer {{token}}"},
        },
    ],
}


@pytest.fixture
def monitors(app) -> dict[str, Monitor]:
    """One monitor of each kind that stores secrets."""
    return {
        kind: services.create_monitor(body)
        for kind, body in (("http", HTTP), ("ftp", FTP), ("synthetic", SYNTHETIC))
    }


def _no_secret(text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, leaked


def _stored(monitor_id: int) -> dict:
    db.session.expire_all()
    return dict(db.session.get(Monitor, monitor_id).config)


# ---------------------------------------------------------------- API reads


@pytest.mark.parametrize("role", ROLES)
def test_api_reads_mask_secrets_for_every_role(api, make_user, monitors, role):
    user = make_user(role)
    listed = api.get("/monitors", user)
    assert listed.status_code == 200
    _no_secret(listed.get_data(as_text=True))
    http = api.get(f"/monitors/{monitors['http'].id}", user).json
    assert http["headers"] == {
        "Authorization": MASK,
        "X-Api-Key": MASK,
        "Accept": "application/json",
    }
    assert http["url"] == f"https://probe:{MASK}@shop.example.com/health?api_key={MASK}&page=2"
    assert http["body"] == f'{{"username": "probe", "password": "{MASK}"}}'
    ftp = api.get(f"/monitors/{monitors['ftp'].id}", user).json
    assert "password" not in ftp and ftp["password_set"] is True
    steps = api.get(f"/monitors/{monitors['synthetic'].id}", user).json["steps"]
    assert steps[0]["headers"]["Authorization"] == MASK
    assert steps[0]["body"] == f"grant_type=client_credentials&client_secret={MASK}"
    assert steps[1]["headers"]["Authorization"] == "Bearer {{token}}"  # a reference, not a secret
    for monitor in monitors.values():
        _no_secret(api.get(f"/monitors/{monitor.id}", user).get_data(as_text=True))
    assert _stored(monitors["http"].id)["headers"]["Authorization"] == "Bearer SECRET-TOKEN"


# ---------------------------------------------------------------- console reads


@pytest.mark.parametrize("role", ROLES)
def test_console_list_and_pages_mask_secrets_for_every_role(
    client, make_user, login, monitors, role
):
    login(make_user(role))
    _no_secret(client.get("/monitors/").get_data(as_text=True))
    for monitor in monitors.values():
        page = client.get(f"/monitors/{monitor.id}")
        assert page.status_code == 200
        _no_secret(page.get_data(as_text=True))


def test_console_edit_form_shows_no_secret_and_saving_it_unchanged_keeps_them(
    client, make_user, login, monitors
):
    login(make_user("engineer"))
    before = {kind: _stored(m.id) for kind, m in monitors.items()}
    for kind, monitor in monitors.items():
        url = f"/monitors/{monitor.id}/edit"
        page = client.get(url).get_data(as_text=True)
        _no_secret(page)
        resp = client.post(url, data=form_fields(page, url))
        assert resp.status_code == 302, (kind, resp.status_code)
        assert _stored(monitor.id) == before[kind], kind


# ---------------------------------------------------------------- writes keep masked values


def test_patch_with_the_masked_values_keeps_the_stored_secrets(api, engineer, monitors):
    http = api.get(f"/monitors/{monitors['http'].id}", engineer).json
    resp = api.patch(
        f"/monitors/{http['id']}",
        engineer,
        json={
            "headers": {**http["headers"], "Accept": "text/plain"},
            "url": http["url"],
            "body": http["body"],
            "name": "Shop API v2",
        },
    )
    assert resp.status_code == 200, resp.json
    stored = _stored(http["id"])
    assert stored["headers"] == {**HTTP["headers"], "Accept": "text/plain"}
    assert (stored["url"], stored["body"]) == (HTTP["url"], HTTP["body"])
    # a masked header sent under another case, and an edited JSON body keeping the masked member
    resp = api.patch(
        f"/monitors/{http['id']}",
        engineer,
        json={
            "headers": {"authorization": MASK, "X-Api-Key": "new-key"},
            "body": f'{{"username": "probe2", "password": "{MASK}"}}',
        },
    )
    assert resp.status_code == 200, resp.json
    stored = _stored(http["id"])
    assert stored["headers"] == {"authorization": "Bearer SECRET-TOKEN", "X-Api-Key": "new-key"}
    assert stored["body"] == '{"username": "probe2", "password": "hunter2"}'
    synthetic = api.get(f"/monitors/{monitors['synthetic'].id}", engineer).json
    assert (
        api.patch(
            f"/monitors/{synthetic['id']}", engineer, json={"steps": synthetic["steps"]}
        ).status_code
        == 200
    )
    assert _stored(synthetic["id"])["steps"][0]["headers"] == SYNTHETIC["steps"][0]["headers"]
    assert _stored(synthetic["id"])["steps"][0]["body"] == SYNTHETIC["steps"][0]["body"]
    ftp = monitors["ftp"]
    assert (
        api.patch(
            f"/monitors/{ftp.id}", engineer, json={"password": MASK, "port": 2121}
        ).status_code
        == 200
    )
    assert _stored(ftp.id)["password"] == "ftp-s3cret"


def test_a_mask_with_nothing_stored_behind_it_is_refused(api, engineer, monitors):
    problem = assert_problem(
        api.post(
            "/monitors", engineer, json={**HTTP, "name": "copy", "headers": {"Authorization": MASK}}
        ),
        422,
    )
    assert "headers" in problem["errors"]
    problem = assert_problem(
        api.patch(
            f"/monitors/{monitors['http'].id}", engineer, json={"headers": {"X-New-Token": MASK}}
        ),
        422,
    )
    assert "masked placeholder" in problem["errors"]["headers"][0]


def test_checks_send_the_stored_secret_after_a_masked_round_trip(api, engineer, http_peer):
    http_peer.routes["/me"] = Route(200, "ok")
    created = api.post(
        "/monitors",
        engineer,
        json={
            "name": "me",
            "type": "http",
            "url": http_peer.url("/me"),
            "headers": {"Authorization": "Bearer SECRET-TOKEN"},
        },
    ).json
    assert created["headers"] == {"Authorization": MASK}
    assert (
        api.patch(
            f"/monitors/{created['id']}", engineer, json={"headers": created["headers"]}
        ).status_code
        == 200
    )
    assert run_now(db.session.get(Monitor, created["id"])).status == "up"
    assert http_peer.requests[-1]["headers"]["Authorization"] == "Bearer SECRET-TOKEN"


# ---------------------------------------------------------------- export


@pytest.mark.parametrize("role", ["engineer", "manager", "admin"])
def test_export_masks_secrets_unless_asked_for_them(api, make_user, monitors, role):
    user = make_user(role)
    masked = api.get("/monitors/export", user)
    assert masked.status_code == 200
    _no_secret(masked.get_data(as_text=True))
    full = api.get("/monitors/export?include_secrets=true", user)
    text = full.get_data(as_text=True)
    assert all(secret in text for secret in SECRETS)
    by_name = {m["name"]: m for m in full.json}
    assert (
        by_name["Shop API"]["headers"] == HTTP["headers"]
        and by_name["Files"]["password"] == "ftp-s3cret"
    )
    assert_problem(api.get("/monitors/export?include_secrets=maybe", user), 422)


def test_agents_cannot_export_with_or_without_secrets(api, agent, monitors):
    assert api.get("/monitors/export", agent).status_code == 403
    assert api.get("/monitors/export?include_secrets=true", agent).status_code == 403


def test_importing_a_masked_export_is_refused_naming_the_secrets(api, make_user, monitors):
    admin = make_user("admin")
    masked = api.get("/monitors/export", admin).json
    problem = assert_problem(api.post("/monitors/import", admin, json=masked), 422)
    assert {"0.headers", "1.password", "2.steps.0.headers"} <= set(problem["errors"]), problem[
        "errors"
    ]
    assert db.session.query(Monitor).count() == 3


# ------------------------------------------------------ crm-monitor (the API from outside)


@pytest.mark.parametrize("role", ["agent", "admin"])
def test_crm_monitor_list_shows_no_secret(live_url, make_user, token_for, monitors, role):  # noqa: F811
    code, output = run_cli("list", "--server", live_url, "--token", token_for(make_user(role)))
    assert code == 0 and "Shop API" in output and f"probe:{MASK}@shop.example.com" in output
    _no_secret(output)
