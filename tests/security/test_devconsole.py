"""The developer-console warning: a script on every page, and the admin's message served as
JSON (never written into the page) and edited on /admin/security by admins only."""
from __future__ import annotations

from pathlib import Path

from crm.security import DEVCONSOLE_SETTING
from crm.settings import get_setting

SCRIPT = Path(__file__).resolve().parents[2] / "crm" / "static" / "js" / "devconsole.js"
EVIL = '</script><script>alert(1)</script> "><img src=x onerror=alert(1)> %c%s'


def test_every_page_loads_the_devconsole_script_without_inline_code(client, make_user, login):
    for path in ("/auth/login", "/docs"):
        page = client.get(path).get_data(as_text=True)
        assert '<script src="/static/js/devconsole.js" defer></script>' in page
        assert '<meta name="crm-devconsole-url" content="/security/devconsole.json">' in page
    login(make_user("customer"))
    assert "/static/js/devconsole.js" in client.get("/portal/").get_data(as_text=True)
    assert client.get("/static/js/devconsole.js").status_code == 200
    source = SCRIPT.read_text()
    assert "Stop!" in source and "paste" in source
    assert "innerHTML" not in source and "document.write" not in source  # console text only


def test_the_message_is_empty_until_an_admin_sets_it(client):
    resp = client.get("/security/devconsole.json")
    assert resp.status_code == 200 and resp.json == {"message": ""}
    assert "max-age" in resp.headers["Cache-Control"]


def test_an_admin_sets_the_message_and_it_is_served_as_json_only(client, make_user, login):
    login(make_user("admin"))
    page = client.get("/admin/security")
    assert page.status_code == 200 and "Developer-console message" in page.get_data(as_text=True)
    resp = client.post(
        "/admin/security",
        data={"message": f"We are hiring! Send your CV to jobs@example.com {EVIL}"},
    )
    assert resp.status_code == 302
    assert get_setting(DEVCONSOLE_SETTING).startswith("We are hiring!")
    data = client.get("/security/devconsole.json")
    assert data.mimetype == "application/json"
    assert data.json["message"].endswith(EVIL)
    # the message is shown escaped in the admin's form and appears in no other page
    edit = client.get("/admin/security").get_data(as_text=True)
    assert (
        "<script>alert(1)</script>" not in edit and "&lt;script&gt;alert(1)&lt;/script&gt;" in edit
    )
    assert "We are hiring" not in client.get("/dashboard").get_data(as_text=True)


def test_the_message_length_is_bounded(client, make_user, login):
    login(make_user("admin"))
    resp = client.post("/admin/security", data={"message": "x" * 1001})
    assert resp.status_code == 422
    assert get_setting(DEVCONSOLE_SETTING) is None


def test_only_admins_may_edit_the_message(client, make_user, login):
    assert client.get("/admin/security").status_code == 302  # anonymous: to the log-in page
    for role in ("customer", "engineer", "agent", "manager"):
        client.post("/auth/logout")
        from flask import g

        g.pop("_login_user", None)
        login(make_user(role))
        assert client.get("/admin/security").status_code == 403
        assert client.post("/admin/security", data={"message": "pwned"}).status_code == 403
    assert get_setting(DEVCONSOLE_SETTING) is None


def test_the_security_entry_is_in_the_admins_navigation(client, make_user, login):
    login(make_user("admin"))
    assert 'href="/admin/security"' in client.get("/dashboard").get_data(as_text=True)
