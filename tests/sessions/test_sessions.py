"""Sessions as a "server task manager": a user's own sessions and the admins' list of all.

A revoked session is logged out on its next request, remember-me cookie included.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from crm import clock
from crm.extensions import db
from crm.sessions.models import UserSession
from crm.sessions.services import describe_user_agent
from tests.sessions.conftest import CHROME_UA, IPHONE_UA, is_login_redirect


def _sessions(user) -> list[UserSession]:
    db.session.expire_all()
    return list(db.session.scalars(select(UserSession).where(UserSession.user_id == user.id)
                                   .order_by(UserSession.id)))


def _rows(body: str) -> int:
    return len(re.findall(r"<tr>", body.split("<tbody>", 1)[1])) if "<tbody>" in body else 0


# ------------------------------------------------------------------ admins: every session

def test_admin_sees_every_users_sessions_with_readable_browser(browser, make_user):
    admin, alice, bob = make_user("admin"), make_user("customer"), make_user("engineer")
    browser(ip="203.0.113.9", user_agent=IPHONE_UA).log_in(alice)
    browser(ip="198.51.100.20", user_agent=CHROME_UA).log_in(bob)
    me = browser().log_in(admin)
    resp = me.get("/sessions/all")
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    for text in (alice.email, bob.email, admin.email, "203.0.113.9", "198.51.100.20",
                 "Mobile Safari 17.1 on iOS 17.1 (iPhone)", "Chrome 120 on Windows 10", "UTC",
                 "this browser"):
        assert text in body, text
    assert _rows(body) == 3


def test_admin_filters_sessions_by_email_state_ip_and_dates(browser, make_user):
    admin, alice, bob = (
        make_user("admin"),
        make_user("customer", email="alice@example.com"),
        make_user("agent"),
    )
    clock.set_offset(timedelta(days=-10))
    old = browser(ip="203.0.113.9").log_in(alice)
    old.post("/auth/logout")  # ended
    clock.set_offset(timedelta(0))
    browser(ip="203.0.113.10").log_in(alice)
    browser(ip="198.51.100.20").log_in(bob)
    me = browser(ip="192.0.2.1").log_in(admin)
    today = clock.utcnow().date()

    def listed(**query) -> str:
        resp = me.get("/sessions/all", query_string=query)
        assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
        return resp.get_data(as_text=True)

    body = listed(email="ALICE@")
    assert _rows(body) == 2 and bob.email not in body.split("<tbody>")[1]
    body = listed(state="ended")
    assert _rows(body) == 1 and "203.0.113.9" in body and "logout" in body
    assert _rows(listed(state="active")) == 3
    body = listed(ip="203.0.113.")
    assert _rows(body) == 2 and "198.51.100.20" not in body
    assert _rows(listed(ip="203.0.113.10")) == 1
    assert _rows(listed(created_from=today.isoformat())) == 3
    assert _rows(listed(created_to=(today - timedelta(days=5)).isoformat())) == 1
    assert (
        _rows(
            listed(
                created_from=(today - timedelta(days=10)).isoformat(),
                created_to=(today - timedelta(days=10)).isoformat(),
            )
        )
        == 1
    )
    assert (
        _rows(
            listed(
                email="alice",
                state="active",
                ip="203.0.113.10",
                created_from=today.isoformat(),
                created_to=today.isoformat(),
            )
        )
        == 1
    )
    assert "No sessions match" in listed(email="nobody@")


@pytest.mark.parametrize(
    "query, field",
    [
        ({"state": "sleeping"}, "state"),
        ({"ip": "10.0.0.%"}, "ip"),
        ({"created_from": "yesterday"}, "created_from"),
        ({"created_to": "2026-13-40"}, "created_to"),
        ({"created_from": "2026-05-02", "created_to": "2026-05-01"}, "created_to"),
        ({"email": "x" * 300}, "email"),
    ],
)
def test_bad_filters_re_render_with_the_field_message(browser, make_user, query, field):
    me = browser().log_in(make_user("admin"))
    resp = me.get("/sessions/all", query_string=query)
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert f'id="{field}-errors"' in body
    assert f'id="{field}"' in body and 'aria-invalid="true"' in body


def test_htmx_filter_request_gets_only_the_table(browser, make_user):
    me = browser().log_in(make_user("admin"))
    resp = me.get("/sessions/all?state=active", headers={"HX-Request": "true"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert body.lstrip().startswith('<div id="sessions-table">') and "<html" not in body
    full = me.get("/sessions/all").get_data(as_text=True)
    assert 'hx-get="/sessions/all"' in full and 'hx-target="#sessions-table"' in full


def test_session_list_pages_by_keyset(browser, make_user):
    admin, user = make_user("admin"), make_user("customer")
    now = clock.utcnow()
    db.session.add_all(
        [
            UserSession(
                user_id=user.id,
                key_hash=f"{n:064x}",
                ip="192.0.2.50",
                user_agent="curl/8.5.0",
                created_at=now,
                last_seen_at=now,
            )
            for n in range(30)
        ]
    )
    db.session.commit()
    me = browser().log_in(admin)
    first = me.get("/sessions/all").get_data(as_text=True)
    assert _rows(first) == 25
    link = re.search(r'href="(/sessions/all\?before=\d+)"', first)
    assert link, "no next-page link"
    second = me.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert _rows(second) == 6  # 30 + the admin's own
    assert "Next page" not in second
    assert "curl/8.5.0" in second
    assert me.get("/sessions/all?before=abc").status_code == 400


def test_admin_revokes_a_session_after_confirmation_and_it_is_logged_out(browser, make_user):
    admin, victim = make_user("admin"), make_user("customer")
    theirs = browser(ip="203.0.113.77").log_in(victim)
    assert theirs.get("/portal/").status_code == 200
    me = browser().log_in(admin)
    row = _sessions(victim)[0]
    confirm = me.get(f"/sessions/all/{row.id}/revoke")
    assert confirm.status_code == 200
    text = confirm.get_data(as_text=True)
    assert "Revoke this session?" in text and victim.email in text and "203.0.113.77" in text
    assert _sessions(victim)[0].ended_at is None  # asking changes nothing
    resp = me.post(f"/sessions/all/{row.id}/revoke", data={"next": "/sessions/all?state=active"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(
        "/sessions/all?state=active"
    )
    ended = _sessions(victim)[0]
    assert (
        ended.ended_at is not None
        and ended.end_reason == "revoked"
        and ended.ended_by_id == admin.id
    )
    assert is_login_redirect(theirs.get("/portal/"))
    assert me.get("/sessions/all").status_code == 200  # the admin's own session is untouched
    again = me.post(f"/sessions/all/{row.id}/revoke", follow_redirects=True)
    assert "already ended" in again.get_data(as_text=True)
    assert me.get("/sessions/all/999999/revoke").status_code == 404


def test_revoked_remember_me_session_cannot_come_back_through_the_remember_cookie(
    browser, make_user
):
    admin, victim = make_user("admin"), make_user("agent")
    theirs = browser().log_in(victim, remember=True)
    assert theirs.client.get_cookie("remember_token") is not None
    theirs.client.delete_cookie(
        "session"
    )  # the browser was closed: only the remember cookie is left
    assert theirs.get("/tickets/").status_code == 200  # remembered
    row = _sessions(victim)[0]
    assert row.remember
    me = browser().log_in(admin)
    assert me.post(f"/sessions/all/{row.id}/revoke").status_code == 302
    theirs.client.delete_cookie("session")
    assert is_login_redirect(theirs.get("/tickets/"))
    assert _sessions(victim)[0].end_reason == "revoked"


def test_deactivating_a_user_logs_out_every_browser(browser, make_user):
    from crm.admin import services as user_admin

    admin, victim = make_user("admin"), make_user("engineer")
    one, two = browser().log_in(victim), browser().log_in(victim, remember=True)
    user_admin.deactivate_user(admin, victim)
    assert is_login_redirect(one.get("/tickets/"))
    two.client.delete_cookie("session")
    assert is_login_redirect(two.get("/tickets/"))
    assert {s.end_reason for s in _sessions(victim)} == {"account_disabled"}


# ------------------------------------------------------------------ users: their own sessions


def test_user_sees_and_revokes_own_sessions_only(browser, make_user):
    alice, bob = make_user("customer"), make_user("customer")
    laptop = browser(user_agent=CHROME_UA).log_in(alice)
    phone = browser(user_agent=IPHONE_UA, ip="203.0.113.5").log_in(alice)
    other = browser().log_in(bob)
    page = laptop.get("/sessions/").get_data(as_text=True)
    assert "Chrome 120 on Windows 10" in page and "Mobile Safari 17.1 on iOS 17.1 (iPhone)" in page
    assert "this browser" in page and "Log out all other sessions" in page
    phone_row = [s for s in _sessions(alice) if s.ip == "203.0.113.5"][0]
    bob_row = _sessions(bob)[0]
    assert laptop.post(f"/sessions/{bob_row.id}/revoke").status_code == 404
    assert _sessions(bob)[0].ended_at is None
    assert laptop.post(f"/sessions/{phone_row.id}/revoke").status_code == 302
    assert is_login_redirect(phone.get("/portal/"))
    assert laptop.get("/portal/").status_code == 200
    assert other.get("/portal/").status_code == 200


def test_log_out_all_other_sessions_keeps_this_one(browser, make_user):
    alice, bob = make_user("customer"), make_user("customer")
    here = browser().log_in(alice)
    others = [browser().log_in(alice), browser().log_in(alice, remember=True)]
    bobs = browser().log_in(bob)
    resp = here.post("/sessions/revoke-others", follow_redirects=True)
    assert "Logged out 2 other sessions." in resp.get_data(as_text=True)
    assert here.get("/portal/").status_code == 200
    for b in others:
        b.client.delete_cookie("session")
        assert is_login_redirect(b.get("/portal/"))
    assert bobs.get("/portal/").status_code == 200
    states = sorted((s.ended_at is None, s.end_reason or "") for s in _sessions(alice))
    assert states == [(False, "revoked"), (False, "revoked"), (True, "")]
    page = here.get("/sessions/").get_data(as_text=True)
    assert "Log out all other sessions" not in page  # nothing left to log out
    assert "No other session was active." in here.post(
        "/sessions/revoke-others", follow_redirects=True
    ).get_data(as_text=True)


@pytest.mark.parametrize(
    "role, sees_all",
    [
        ("customer", False),
        ("engineer", False),
        ("agent", False),
        ("manager", False),
        ("admin", True),
    ],
)
def test_navigation_offers_sessions_to_everyone_and_all_sessions_to_admins(
    browser, make_user, role, sees_all
):
    me = browser().log_in(make_user(role))
    body = me.get("/sessions/").get_data(as_text=True)
    nav = body.split('aria-label="Main navigation"', 1)[1].split("</nav>", 1)[0]
    assert 'href="/sessions/"' in nav
    assert ('href="/sessions/all"' in nav) is sees_all
    assert me.get("/sessions/all").status_code == (200 if sees_all else 403)


@pytest.mark.parametrize(
    "ua, summary",
    [
        (CHROME_UA, "Chrome 120 on Windows 10"),
        (IPHONE_UA, "Mobile Safari 17.1 on iOS 17.1 (iPhone)"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0",
            "Firefox 121 on Mac OS X 10.15",
        ),
        ("python-httpx/0.27.0", "python-httpx/0.27.0"),
        (None, "Unknown"),
        ("", "Unknown"),
    ],
)
def test_user_agent_summary(ua, summary):
    assert describe_user_agent(ua) == summary
