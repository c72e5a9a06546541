"""Email verification: the emailed link (2 h, single use, stored hashed), the Welcome page,
second clicks, expiry with a new link, resend cooldown, the log-in pop-up, and unverified
customers barred from services on the console and the API."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from crm import clock
from crm.auth import tokens
from crm.auth.models import User
from crm.extensions import db
from crm.schedule import PERIODIC_JOBS
from crm.tickets import services as tickets
from crm.tickets.models import Comment, Ticket
from tests.accounts.helpers import VERIFY_LINK, outbox, verify_path
from tests.conftest import PASSWORD

PROBLEM = "application/problem+json"


def text(resp) -> str:
    return resp.get_data(as_text=True)


def register(client, email="cara@example.com", role="customer"):
    resp = client.post(
        "/auth/register",
        data={
            "name": "Cara Client",
            "email": email,
            "password": PASSWORD,
            "confirm": PASSWORD,
            "role": role,
        },
    )
    assert resp.status_code == 302, text(resp)[:500]
    return db.session.scalar(select(User).where(User.email == email))


def fresh(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


# ---------------------------------------------------------------- the link


def test_registration_emails_a_link_that_verifies_once(client, run_jobs, smtp_server):
    user = register(client)
    assert user.email_verified_at is None

    run_jobs()
    [mail] = smtp_server.wait_for(
        lambda msgs: [m for m in msgs if "cara@example.com" in m["_rcpt"]]
    )
    assert mail["Subject"] == "Verify your email address for CR Tracker"
    body = mail.get_body(("plain",)).get_content()
    assert "valid for 2 hours" in body
    path = VERIFY_LINK.search(body).group(1)

    resp = client.get(path)
    assert resp.status_code == 200
    assert "Welcome to CR Tracker!" in text(resp)
    assert fresh(user).email_verified_at is not None
    assert [n.to for n in outbox("email_verified")] == [["cara@example.com"]]
    run_jobs()
    smtp_server.wait_for(
        lambda msgs: [m for m in msgs if m["Subject"] == "Your email address is verified"]
    )

    again = client.get(path)
    assert again.status_code == 200
    assert "Your email is already verified." in text(again)
    assert "Welcome to CR Tracker!" not in text(again)
    assert len(outbox("email_verified")) == 1


def test_token_is_stored_only_as_its_hash(client):
    user = register(client)
    raw = verify_path(user.email).rsplit("/", 1)[1]
    rows = db.session.scalars(select(tokens.AccountToken)).all()
    assert len(rows) == 1
    row = rows[0]
    assert (row.user_id, row.purpose, row.email) == (user.id, tokens.VERIFY_EMAIL, user.email)
    assert row.token_hash == tokens.hash_token(raw) and raw not in row.token_hash
    assert (row.expires_at - row.created_at) == timedelta(hours=2)


def test_link_works_just_before_two_hours_and_expires_after(client, app):
    api = app.test_client()
    for email in ("early@example.com", "late@example.com"):
        assert (
            api.post(
                "/api/v1/auth/register",
                json={"email": email, "password": PASSWORD, "name": "N", "role": "customer"},
            ).status_code
            == 201
        )
    early, late = verify_path("early@example.com"), verify_path("late@example.com")

    clock.set_offset(timedelta(hours=2) - timedelta(seconds=30))
    assert "Welcome to CR Tracker!" in text(client.get(early))

    clock.set_offset(timedelta(hours=2, seconds=1))
    resp = client.get(late)
    assert resp.status_code == 410
    assert "This verification link has expired" in text(resp)
    assert "Send me a new link" in text(resp)
    token = re.search(r'name="token" value="([^"]+)"', text(resp)).group(1)

    # the "send me a new link" button works without being logged in
    resent = client.post("/auth/verify/resend", data={"token": token})
    assert (
        resent.status_code == 200
        and "We sent a new verification link to late@example.com" in text(resent)
    )
    new = verify_path("late@example.com")
    assert new != late
    assert "Welcome to CR Tracker!" in text(client.get(new))
    assert db.session.scalar(select(User.email_verified_at).where(User.email == "late@example.com"))
    # the expired link now says the address is verified
    assert "Your email is already verified." in text(client.get(late))


def test_invalid_link_says_so(client):
    resp = client.get("/auth/verify/" + "x" * 43)
    assert resp.status_code == 404
    assert "This verification link is not valid" in text(resp)


def test_resend_without_login_or_token_asks_to_log_in(client):
    resp = client.post("/auth/verify/resend", data={"token": "nope"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/auth/login")


def test_staff_registering_verify_their_email_too(client):
    user = register(client, email="erin@example.com", role="engineer")
    assert user.status == "pending"
    assert "Welcome to CR Tracker!" in text(client.get(verify_path("erin@example.com")))
    assert fresh(user).email_verified_at is not None


def test_api_registration_sends_the_verification_email(client):
    resp = client.post(
        "/api/v1/auth/register",
        json={"email": "api@example.com", "password": PASSWORD, "name": "Api", "role": "customer"},
    )
    assert resp.status_code == 201
    assert [n.to for n in outbox("verify_email")] == [["api@example.com"]]


# ---------------------------------------------------------------- resend and cooldown


def test_resend_has_a_cooldown_and_replaces_the_old_link(client, login, make_user, app):
    user = make_user("customer", verified=False)
    login(user)
    assert client.post("/auth/verify/resend").status_code == 200
    first = verify_path(user.email)

    resp = client.post("/auth/verify/resend")
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == str(app.config["VERIFY_RESEND_COOLDOWN_SECONDS"])
    assert "You can ask for another in 60 seconds" in text(resp)
    assert len(outbox("verify_email")) == 1

    clock.set_offset(timedelta(seconds=45))
    resp = client.post("/auth/verify/resend")
    assert resp.status_code == 429 and "in 15 seconds" in text(resp)

    clock.set_offset(timedelta(seconds=61))
    assert client.post("/auth/verify/resend").status_code == 200
    second = verify_path(user.email)
    assert second != first and len(outbox("verify_email")) == 2
    old = client.get(first)
    assert old.status_code == 410 and "replaced by a newer one" in text(old)
    assert "Welcome" in text(client.get(second))


def test_resend_for_a_verified_user_says_already_verified(client, login, make_user):
    login(make_user("customer"))
    resp = client.post("/auth/verify/resend")
    assert resp.status_code == 409 and "already verified" in text(resp)
    assert outbox("verify_email") == []


# ---------------------------------------------------------------- the log-in pop-up


def test_every_login_of_an_unverified_user_shows_the_popup_once(client, make_user):
    user = make_user("customer", verified=False)
    for _ in range(2):
        page = client.post(
            "/auth/login", data={"email": user.email, "password": PASSWORD}, follow_redirects=True
        )
        body = text(page)
        assert body.count('id="verify-email-modal"') == 1
        assert "Resend the verification email" in body
        assert 'src="/static/js/verify_modal.js"' in body and "<script>" not in body
        assert 'id="verify-email-modal"' not in text(client.get("/dashboard"))  # once per log-in
        client.post("/auth/logout")


def test_verified_user_sees_no_popup(client, make_user):
    user = make_user("customer")
    page = client.post(
        "/auth/login", data={"email": user.email, "password": PASSWORD}, follow_redirects=True
    )
    assert 'id="verify-email-modal"' not in text(page)


# ---------------------------------------------------------------- barred from services


def test_unverified_customer_is_barred_from_tickets_in_the_console(client, login, make_user):
    user = make_user("customer", verified=False)
    ticket = tickets.create_ticket(make_user("customer"), "Other", "x")
    ticket.requester_id = user.id  # their own ticket, so only verification stands in the way
    db.session.commit()
    login(user)
    for method, path, data in [
        ("GET", "/portal/tickets/new", None),
        ("POST", "/portal/tickets/new", {"subject": "S", "description": "D", "priority": "normal"}),
        ("POST", f"/portal/tickets/{ticket.id}/comments", {"body": "Hello"}),
        ("POST", f"/portal/tickets/{ticket.id}/edit", {"subject": "New", "description": "D"}),
    ]:
        resp = client.open(path, method=method, data=data)
        assert resp.status_code == 403, (method, path)
        assert "Verify your email address to use this." in text(resp)
        assert "Resend the verification email" in text(resp)
    assert db.session.scalar(select(db.func.count(Ticket.id))) == 1
    assert db.session.scalar(select(db.func.count(Comment.id))) == 0
    assert client.get("/portal/").status_code == 200  # looking around is fine

    client.get(verify_path_for(client, user))
    resp = client.post(
        "/portal/tickets/new", data={"subject": "S", "description": "D", "priority": "normal"}
    )
    assert resp.status_code == 302


def verify_path_for(client, user) -> str:
    """Ask for a link (logged in) and return its path."""
    assert client.post("/auth/verify/resend").status_code == 200
    return verify_path(user.email)


def test_unverified_customer_is_barred_in_the_api(client, make_user, token_for):
    user = make_user("customer", verified=False)
    headers = {"Authorization": f"Bearer {token_for(user)}"}
    resp = client.post(
        "/api/v1/tickets", json={"subject": "S", "description": "D"}, headers=headers
    )
    assert resp.status_code == 403 and resp.content_type.startswith(PROBLEM)
    assert resp.json["detail"] == "Verify your email address to use this."
    assert client.get("/api/v1/tickets", headers=headers).status_code == 200

    user.email_verified_at = clock.utcnow()
    db.session.commit()
    resp = client.post(
        "/api/v1/tickets", json={"subject": "S", "description": "D"}, headers=headers
    )
    assert resp.status_code == 201


def test_unverified_staff_keep_working(client, login, make_user):
    engineer = make_user("engineer", verified=False)
    ticket = tickets.create_ticket(make_user("customer"), "Help", "x")
    login(engineer)
    resp = client.post(f"/tickets/{ticket.id}/comments", data={"body": "On it", "internal": "y"})
    assert resp.status_code == 302


# ---------------------------------------------------------------- clean-up job


def test_purge_job_deletes_expired_and_used_tokens_and_is_scheduled(client, make_user, app):
    from crm.auth.jobs import purge_tokens

    assert ("auth.purge_tokens", 900, "crm.auth.jobs.purge_tokens") in PERIODIC_JOBS
    used, fresh_user, expired = (make_user("customer", verified=False) for _ in range(3))
    for u in (used, fresh_user):
        tokens.issue(u, tokens.VERIFY_EMAIL, 7200)
    raw_used = tokens.issue(used, tokens.VERIFY_EMAIL, 7200)
    tokens.issue(expired, tokens.VERIFY_EMAIL, 60)
    db.session.commit()
    tokens.consume(raw_used, tokens.VERIFY_EMAIL)
    db.session.commit()

    clock.set_offset(timedelta(seconds=61))
    assert purge_tokens() == 1  # the expired one; the used one is kept until it expires
    clock.set_offset(timedelta(hours=2, seconds=1))
    assert purge_tokens() == 3
    assert db.session.scalar(select(db.func.count(tokens.AccountToken.id))) == 0
