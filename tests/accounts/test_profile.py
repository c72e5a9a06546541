"""Profile (name, email → re-verification), password change (other sessions end), and the
30-day "remember me" cookie."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from crm import clock
from crm.auth.models import User
from crm.extensions import db
from crm.sessions.models import UserSession
from tests.accounts.helpers import outbox, verify_path
from tests.conftest import PASSWORD
from tests.helpers_matrix import fresh_request_state

NEW_PASSWORD = "battery-staple-99"


def text(resp) -> str:
    return resp.get_data(as_text=True)


def fresh(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def test_profile_page_shows_the_account_and_links(client, login, make_user):
    user = make_user("customer", name="Pat Profile")
    login(user)
    body = text(client.get("/auth/profile"))
    assert 'value="Pat Profile"' in body and f'value="{user.email}"' in body
    assert "Email verified" in body
    assert (
        'href="/auth/phone"' in body
        and 'href="/auth/password"' in body
        and 'href="/auth/2fa"' in body
    )


def test_changing_the_name_needs_no_password(client, login, make_user):
    user = make_user("customer")
    login(user)
    resp = client.post("/auth/profile", data={"name": "  New Name ", "email": user.email})
    assert resp.status_code == 302
    user = fresh(user)
    assert user.name == "New Name" and user.email_verified_at is not None
    assert outbox("verify_email") == []


def test_new_email_needs_the_password_and_is_verified_again(client, login, make_user):
    user = make_user("customer", email="old@example.com")
    login(user)
    resp = client.post("/auth/profile", data={"name": user.name, "email": "new@example.com"})
    assert resp.status_code == 422 and "Enter your current password to change your email" in text(
        resp
    )
    resp = client.post(
        "/auth/profile",
        data={"name": user.name, "email": "new@example.com", "current_password": "wrong-password"},
    )
    assert resp.status_code == 422
    assert fresh(user).email == "old@example.com"

    resp = client.post(
        "/auth/profile",
        data={"name": user.name, "email": "New@Example.com", "current_password": PASSWORD},
        follow_redirects=True,
    )
    assert "We sent a verification link to new@example.com" in text(resp)
    user = fresh(user)
    assert (user.email, user.email_verified_at) == ("new@example.com", None)
    assert [n.to for n in outbox("verify_email")] == [["new@example.com"]]
    # unverified again: barred from raising tickets until the new address is verified
    assert client.get("/portal/tickets/new").status_code == 403
    assert "Welcome" in text(client.get(verify_path("new@example.com")))
    assert client.get("/portal/tickets/new").status_code == 200


def test_a_link_sent_to_the_old_address_stops_working(client, login, make_user):
    user = make_user("customer", email="first@example.com", verified=False)
    login(user)
    client.post("/auth/verify/resend")
    old_link = verify_path("first@example.com")
    client.post(
        "/auth/profile",
        data={"name": user.name, "email": "second@example.com", "current_password": PASSWORD},
    )
    resp = client.get(old_link)
    assert resp.status_code == 404 and fresh(user).email_verified_at is None


def test_an_email_in_use_is_refused(client, login, make_user):
    make_user("customer", email="taken@example.com")
    user = make_user("customer")
    login(user)
    resp = client.post(
        "/auth/profile",
        data={"name": user.name, "email": "taken@example.com", "current_password": PASSWORD},
    )
    assert resp.status_code == 422 and "already exists" in text(resp)


def test_change_password_checks_the_current_one_and_ends_other_sessions(
    app, client, login, make_user
):
    user = make_user("customer")
    other = app.test_client()
    assert (
        other.post("/auth/login", data={"email": user.email, "password": PASSWORD}).status_code
        == 302
    )
    fresh_request_state()
    login(user)

    resp = client.post(
        "/auth/password",
        data={"current_password": "wrong-one", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert resp.status_code == 422 and "current password is not right" in text(resp)
    resp = client.post(
        "/auth/password",
        data={"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": "different-1234"},
    )
    assert resp.status_code == 422 and "Passwords do not match." in text(resp)

    resp = client.post(
        "/auth/password",
        data={"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        follow_redirects=True,
    )
    assert "Password changed" in text(resp)
    db.session.expire_all()
    sessions = db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id)
    ).all()
    assert [(s.ended_at is not None, s.end_reason) for s in sessions] == [
        (True, "password_changed"),
        (False, None),
    ]
    fresh_request_state()
    assert client.get("/auth/profile").status_code == 200  # this session stays
    fresh_request_state()
    assert other.get("/auth/profile").status_code == 302  # the other one was logged out

    fresh_request_state()
    assert (
        app.test_client()
        .post("/auth/login", data={"email": user.email, "password": PASSWORD})
        .status_code
        == 401
    )
    fresh_request_state()
    assert (
        app.test_client()
        .post("/auth/login", data={"email": user.email, "password": NEW_PASSWORD})
        .status_code
        == 302
    )


def test_remember_me_cookie_lasts_thirty_days(app, make_user):
    user = make_user("customer")
    browser = app.test_client()
    browser.post("/auth/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})
    cookie = browser.get_cookie("remember_token")
    assert cookie is not None and cookie.http_only
    expected = datetime.now(UTC) + timedelta(days=30)
    assert abs((cookie.expires - expected).total_seconds()) < 120

    fresh_request_state()
    forgetful = app.test_client()
    forgetful.post("/auth/login", data={"email": user.email, "password": PASSWORD})
    assert forgetful.get_cookie("remember_token") is None


def test_remember_cookie_alone_logs_the_browser_back_in(app, make_user):
    user = make_user("customer")
    browser = app.test_client()
    browser.post("/auth/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})
    remember = browser.get_cookie("remember_token").value
    returning = app.test_client()  # the session cookie is gone (browser restarted)
    returning.set_cookie("remember_token", remember)
    fresh_request_state()
    assert returning.get("/auth/profile").status_code == 200


def test_remembered_session_is_ended_server_side_after_thirty_days(app, make_user):
    """The remember cookie's 30 days are enforced on the server too: a cookie that still
    arrives after REMEMBER_COOKIE_DURATION (kept or copied past its expiry) is refused and its
    session record ended."""
    assert app.config["REMEMBER_COOKIE_DURATION"] == 30 * 86400
    user = make_user("customer")
    browser = app.test_client()
    browser.post("/auth/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})
    remember = browser.get_cookie("remember_token").value

    clock.set_offset(timedelta(days=29))
    fresh_request_state()
    returning = app.test_client()
    returning.set_cookie("remember_token", remember)
    assert returning.get("/auth/profile").status_code == 200
    row = db.session.scalar(select(UserSession).where(UserSession.user_id == user.id))
    assert row.ended_at is None

    clock.set_offset(timedelta(days=30, minutes=1))
    fresh_request_state()
    late = app.test_client()
    late.set_cookie("remember_token", remember)
    resp = late.get("/auth/profile")
    assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]
    fresh_request_state()
    assert returning.get("/auth/profile").status_code == 302  # its session cookie is refused too
    db.session.expire_all()
    row = db.session.scalar(select(UserSession).where(UserSession.user_id == user.id))
    assert row.end_reason == "expired"
    assert abs(row.ended_at - clock.utcnow()) < timedelta(minutes=1)


def test_session_without_remember_me_is_not_cut_at_thirty_days(app, client, login, make_user):
    """The limit is the remember cookie's: a plain log-in ends with the browser session."""
    user = make_user("customer")
    login(user)
    clock.set_offset(timedelta(days=31))
    fresh_request_state()
    assert client.get("/auth/profile").status_code == 200
