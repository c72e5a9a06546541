"""Password reset by emailed link: 10-minute single-use link read from the real SMTP server,
no account enumeration, every session of the user ended, lockout cleared, "password changed"
email; the same through the API (202 always, 204 / problem+json)."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from crm import clock
from crm.auth import tokens
from crm.auth.models import User
from crm.extensions import db
from crm.sessions.models import UserSession
from tests.accounts.helpers import outbox
from tests.conftest import PASSWORD
from tests.helpers_matrix import fresh_request_state

NEW_PASSWORD = "brand-new-Secret-77"
RESET_LINK = re.compile(r"https?://[^/\s]+(/auth/reset/[A-Za-z0-9_\-]+)")
PROBLEM = "application/problem+json"


def text(resp) -> str:
    return resp.get_data(as_text=True)


def fresh(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def emailed_reset_path(smtp_server, run_jobs, address: str, count: int = 1) -> str:
    """Run the send jobs and return the path of the newest reset link mailed to ``address``."""
    run_jobs()

    def reset_mails(msgs):
        hits = [
            m
            for m in msgs
            if address in m["_rcpt"] and m["Subject"] == "Reset your CR Tracker password"
        ]
        return hits if len(hits) >= count else None

    mails = smtp_server.wait_for(reset_mails)
    body = mails[-1].get_body(("plain",)).get_content()
    assert "10 minutes" in body
    return RESET_LINK.search(body).group(1)


def ask_link(client, email: str):
    resp = client.post("/auth/reset", data={"email": email})
    assert resp.status_code == 200, text(resp)[:500]
    return resp


# ---------------------------------------------------------------- the console flow


def test_login_page_links_to_password_reset(client):
    resp = client.get("/auth/login")
    assert 'href="/auth/reset"' in text(resp)
    assert "Forgot your password?" in text(resp)


def test_emailed_link_sets_a_new_password_once(client, make_user, run_jobs, smtp_server):
    user = make_user("customer", email="rita@example.com")
    user.failed_logins, user.locked_until = 4, clock.utcnow() + timedelta(minutes=30)
    db.session.commit()

    assert "Check your email" in text(ask_link(client, "Rita@Example.com"))
    path = emailed_reset_path(smtp_server, run_jobs, "rita@example.com")

    form = client.get(path)
    assert form.status_code == 200 and "Choose a new password" in text(form)
    resp = client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/auth/login")

    user = fresh(user)
    assert user.check_password(NEW_PASSWORD) and not user.check_password(PASSWORD)
    assert (user.failed_logins, user.locked_until) == (0, None)
    assert [n.to for n in outbox("password_changed")] == [["rita@example.com"]]
    run_jobs()
    smtp_server.wait_for(
        lambda msgs: [m for m in msgs if m["Subject"] == "Your CR Tracker password was changed"]
    )

    again = client.get(path)
    assert again.status_code == 410
    assert "already used" in text(again) and 'href="/auth/reset"' in text(again)
    # posting to a used link changes nothing
    client.post(path, data={"password": "another-Secret-88", "confirm": "another-Secret-88"})
    assert fresh(user).check_password(NEW_PASSWORD)
    # the new password logs in
    assert (
        client.post(
            "/auth/login", data={"email": "rita@example.com", "password": NEW_PASSWORD}
        ).status_code
        == 302
    )


def test_link_is_valid_for_ten_minutes(client, make_user, run_jobs, smtp_server):
    make_user("customer", email="tim@example.com")
    ask_link(client, "tim@example.com")
    path = emailed_reset_path(smtp_server, run_jobs, "tim@example.com")

    clock.set_offset(timedelta(minutes=9, seconds=50))
    assert client.get(path).status_code == 200
    clock.set_offset(timedelta(minutes=10, seconds=1))
    resp = client.get(path)
    assert resp.status_code == 410
    assert "expired" in text(resp) and "Ask for a new reset link" in text(resp)
    resp = client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert resp.status_code == 410
    assert not fresh(
        db.session.scalar(select(User).where(User.email == "tim@example.com"))
    ).check_password(NEW_PASSWORD)


def test_an_invalid_link_says_so_and_offers_to_start_again(client):
    resp = client.get("/auth/reset/this-is-not-a-token")
    assert resp.status_code == 404
    assert "not valid" in text(resp) and 'href="/auth/reset"' in text(resp)


def test_unknown_email_gets_the_same_answer_and_nothing_is_sent(
    client, make_user, run_jobs, smtp_server
):
    make_user("customer", email="known@example.com")
    known = ask_link(client, "known@example.com")
    unknown = ask_link(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    assert text(known).replace("known@example.com", "X") == text(unknown).replace(
        "nobody@example.com", "X"
    )

    assert [n.to for n in outbox("password_reset")] == [["known@example.com"]]
    assert db.session.scalar(select(db.func.count()).select_from(tokens.AccountToken)) == 1
    run_jobs()
    smtp_server.wait_for(lambda msgs: msgs)
    assert smtp_server.by_rcpt("nobody@example.com") == []


def test_a_bad_address_or_a_short_password_re_renders_with_a_message(
    client, make_user, run_jobs, smtp_server
):
    resp = client.post("/auth/reset", data={"email": "not-an-address"})
    assert resp.status_code == 422 and "Invalid email address" in text(resp)

    make_user("customer", email="sam@example.com")
    ask_link(client, "sam@example.com")
    path = emailed_reset_path(smtp_server, run_jobs, "sam@example.com")
    resp = client.post(path, data={"password": "short", "confirm": "short"})
    assert resp.status_code == 422 and "Use 8 to 128 characters." in text(resp)
    resp = client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "x"})
    assert resp.status_code == 422 and "Passwords do not match." in text(resp)
    # a typo does not burn the link
    assert (
        client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code
        == 302
    )


def test_reset_logs_out_every_session_of_the_user(
    app, client, make_user, login, run_jobs, smtp_server
):
    user = make_user("agent", email="ann@example.com")
    other_device = app.test_client()
    assert (
        other_device.post(
            "/auth/login", data={"email": user.email, "password": PASSWORD}
        ).status_code
        == 302
    )
    assert other_device.get("/dashboard").status_code == 200
    fresh_request_state()

    ask_link(client, user.email)
    path = emailed_reset_path(smtp_server, run_jobs, user.email)
    assert (
        client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code
        == 302
    )

    fresh_request_state()
    resp = other_device.get("/dashboard")
    assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]
    reasons = db.session.scalars(
        select(UserSession.end_reason).where(UserSession.user_id == user.id)
    ).all()
    assert reasons == ["password_reset"]


def test_a_reset_kills_the_other_links_and_verifies_the_address(
    client, make_user, run_jobs, smtp_server
):
    user = make_user("customer", email="uma@example.com", verified=False)
    ask_link(client, user.email)
    first = emailed_reset_path(smtp_server, run_jobs, user.email)
    ask_link(client, user.email)
    second = emailed_reset_path(smtp_server, run_jobs, user.email, count=2)
    assert first != second

    assert (
        client.post(second, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code
        == 302
    )
    assert client.get(first).status_code == 410
    assert fresh(user).email_verified_at is not None


def test_links_are_stored_hashed(client, make_user, run_jobs, smtp_server):
    make_user("customer", email="hal@example.com")
    ask_link(client, "hal@example.com")
    raw = emailed_reset_path(smtp_server, run_jobs, "hal@example.com").rsplit("/", 1)[1]
    row = db.session.scalar(select(tokens.AccountToken))
    assert row.purpose == tokens.RESET_PASSWORD and row.token_hash == tokens.hash_token(raw) != raw
    assert (row.expires_at - row.created_at) == timedelta(minutes=10)


# ---------------------------------------------------------------- the API


def test_api_reset_answers_202_alike_and_the_token_sets_the_password(
    client, make_user, run_jobs, smtp_server
):
    user = make_user("engineer", email="eve@example.com")
    known = client.post("/api/v1/auth/password-reset", json={"email": "eve@example.com"})
    unknown = client.post("/api/v1/auth/password-reset", json={"email": "ghost@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.get_data() == unknown.get_data() == b""

    token = emailed_reset_path(smtp_server, run_jobs, "eve@example.com").rsplit("/", 1)[1]
    short = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": "short"}
    )
    assert short.status_code == 422 and short.content_type.startswith(PROBLEM)
    assert "password" in short.json["errors"]

    done = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert done.status_code == 204
    assert fresh(user).check_password(NEW_PASSWORD)

    again = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert again.status_code == 410 and again.content_type.startswith(PROBLEM)
    assert "already used" in again.json["detail"]

    bogus = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": "nope", "password": NEW_PASSWORD}
    )
    assert bogus.status_code == 422 and bogus.json["errors"]["token"]


def test_api_token_expires_after_ten_minutes(client, make_user, run_jobs, smtp_server):
    make_user("customer", email="old@example.com")
    client.post("/api/v1/auth/password-reset", json={"email": "old@example.com"})
    token = emailed_reset_path(smtp_server, run_jobs, "old@example.com").rsplit("/", 1)[1]
    clock.set_offset(timedelta(minutes=11))
    resp = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert resp.status_code == 410 and "expired" in resp.json["detail"]


def test_api_reset_ends_api_access_tokens_sessions_and_old_password(
    client, make_user, token_for, run_jobs, smtp_server
):
    user = make_user("customer", email="api@example.com")
    pair = client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD}).json
    client.post("/api/v1/auth/password-reset", json={"email": user.email})
    token = emailed_reset_path(smtp_server, run_jobs, user.email).rsplit("/", 1)[1]
    assert (
        client.post(
            "/api/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
        ).status_code
        == 204
    )
    assert (
        client.post(
            "/api/v1/auth/token", json={"email": user.email, "password": PASSWORD}
        ).status_code
        == 401
    )
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        ).status_code
        == 401
    )
    assert token_for(user, NEW_PASSWORD)


def test_openapi_documents_the_reset_operations(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in (
        "/api/v1/auth/password-reset",
        "/api/v1/auth/password-reset/confirm",
        "/api/v1/auth/password-reset/sms",
        "/api/v1/auth/password-reset/sms/confirm",
    ):
        assert path in paths and paths[path]["post"]["security"] == []
    assert "202" in paths["/api/v1/auth/password-reset"]["post"]["responses"]
    assert {"204", "410", "422"} <= set(
        paths["/api/v1/auth/password-reset/sms/confirm"]["post"]["responses"]
    )


def test_admins_can_edit_the_reset_emails(client, make_user, login, run_jobs, smtp_server):
    login(make_user("admin"))
    for name in ("password_reset", "password_changed"):
        assert client.get(f"/admin/email-templates/{name}").status_code == 200
    resp = client.post(
        "/admin/email-templates/password_reset",
        data={
            "subject": "Your reset link",
            "body_text": "Go to {{ link }} within {{ ttl_minutes }} minutes",
            "body_html": '<p><a href="{{ link }}">Reset</a></p>',
            "save": "Save template",
        },
    )
    assert resp.status_code == 302
    make_user("customer", email="edit@example.com")
    ask_link(client, "edit@example.com")
    run_jobs()
    [mail] = smtp_server.wait_for(
        lambda msgs: [m for m in msgs if m["Subject"] == "Your reset link"]
    )
    assert RESET_LINK.search(mail.get_body(("plain",)).get_content())
