"""Sign-in with OpenID Connect against a real provider on 127.0.0.1 (tests/sso/provider.py):
discovery, authorization code + PKCE + state + nonce, RS256 ID token checked by Authlib."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import requests
from sqlalchemy import func, select

from crm import clock
from crm.auth.models import CUSTOMER, User
from crm.extensions import db
from crm.sessions.models import UserSession
from crm.sso.models import OidcIdentity
from tests.conftest import _app_with
from tests.sso.provider import OidcProvider


@pytest.fixture(scope="module")
def provider():
    prov = OidcProvider().start()
    yield prov
    prov.stop()


@pytest.fixture
def sso_app(app_config, provider):
    application = _app_with(
        {
            **app_config,
            "OIDC_ISSUER": provider.issuer,
            "OIDC_CLIENT_ID": provider.client_id,
            "OIDC_CLIENT_SECRET": provider.client_secret,
            "OIDC_PROVIDER_NAME": "Test IdP",
        }
    )
    yield application
    with application.app_context():
        db.engine.dispose()


def sign_in(sso_app, provider):
    """Walk the redirects: our /auth/sso/login → the provider → our callback. Returns the
    test client and the callback's response."""
    client = sso_app.test_client()
    start = client.get("/auth/sso/login")
    assert start.status_code == 302
    authorize_url = start.headers["Location"]
    assert authorize_url.startswith(provider.issuer + "/authorize?")
    at_provider = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert at_provider.status_code == 302, at_provider.text
    back = urlsplit(at_provider.headers["Location"])
    assert back.path == "/auth/sso/callback"
    return client, client.get(f"{back.path}?{back.query}")


def _users(email):
    return db.session.scalars(select(User).where(func.lower(User.email) == email)).all()


def test_login_page_shows_the_provider_button_only_when_configured(sso_app, client):
    page = sso_app.test_client().get("/auth/login").get_data(as_text=True)
    assert "Sign in with Test IdP" in page and "/auth/sso/login" in page
    assert "/auth/sso/login" not in client.get("/auth/login").get_data(as_text=True)
    assert client.get("/auth/sso/login").status_code == 404  # not configured: no such page


def test_first_sign_in_creates_a_verified_customer_and_the_second_signs_in(sso_app, provider):
    provider.set_user("sub-new-1", "New.Person@Example.com", email_verified=True, name="New Person")
    client, resp = sign_in(sso_app, provider)
    assert resp.status_code == 302 and urlsplit(resp.headers["Location"]).path == "/dashboard"
    # the request we sent carried PKCE S256, a state and a nonce, and the code exchange the verifier
    sent = provider.authorize_requests[-1]
    assert sent["code_challenge_method"] == "S256" and sent["state"] and sent["nonce"]
    assert sent["redirect_uri"] == "http://crm.test/auth/sso/callback"
    assert provider.token_requests[-1]["code_verifier"]

    db.session.expire_all()
    [user] = _users("new.person@example.com")
    assert user.role == CUSTOMER and user.status == "active" and user.name == "New Person"
    assert user.email_verified_at is not None
    identity = db.session.scalar(select(OidcIdentity))
    assert (identity.issuer, identity.subject, identity.user_id) == (
        provider.issuer,
        "sub-new-1",
        user.id,
    )
    assert (
        db.session.scalar(select(UserSession.method).where(UserSession.user_id == user.id))
        == "oidc"
    )
    assert "New Person" in client.get("/", follow_redirects=True).get_data(as_text=True)

    # a second sign-in (another browser) logs the same account in; nothing new is created
    client2, resp2 = sign_in(sso_app, provider)
    assert resp2.status_code == 302
    db.session.expire_all()
    assert len(_users("new.person@example.com")) == 1
    assert db.session.scalar(select(func.count()).select_from(OidcIdentity)) == 1
    assert (
        db.session.scalar(
            select(func.count()).select_from(UserSession).where(UserSession.user_id == user.id)
        )
        == 2
    )
    assert client2.get("/portal/").status_code == 200


def test_a_verified_provider_email_links_the_existing_account(sso_app, provider, make_user):
    existing = make_user("customer", email="linked@example.com", verified=False)
    provider.set_user("sub-link-1", "Linked@example.com", email_verified=True)
    client, resp = sign_in(sso_app, provider)
    assert resp.status_code == 302 and urlsplit(resp.headers["Location"]).path == "/dashboard"
    db.session.expire_all()
    assert len(_users("linked@example.com")) == 1
    identity = db.session.scalar(select(OidcIdentity))
    assert identity.user_id == existing.id
    assert (
        db.session.get(User, existing.id).email_verified_at is not None
    )  # the provider vouched for it
    assert (
        db.session.scalar(select(UserSession.method).where(UserSession.user_id == existing.id))
        == "oidc"
    )


def test_an_unverified_provider_email_does_not_link_an_existing_account(
    sso_app, provider, make_user
):
    existing = make_user("admin", email="victim@example.com")
    provider.set_user("attacker-1", "victim@example.com", email_verified=False)
    client, resp = sign_in(sso_app, provider)
    assert resp.status_code == 302 and urlsplit(resp.headers["Location"]).path == "/auth/login"
    page = client.get("/auth/login").get_data(as_text=True)
    assert "has not verified" in page
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(OidcIdentity)) == 0
    assert (
        db.session.scalar(
            select(func.count()).select_from(UserSession).where(UserSession.user_id == existing.id)
        )
        == 0
    )
    assert client.get("/admin/users").status_code == 302  # not logged in
    # a missing email_verified claim counts as unverified too
    provider.set_user("attacker-2", "victim@example.com", email_verified=None)
    _, resp = sign_in(sso_app, provider)
    assert urlsplit(resp.headers["Location"]).path == "/auth/login"
    assert db.session.scalar(select(func.count()).select_from(OidcIdentity)) == 0


def test_an_unverified_email_of_nobody_creates_an_unverified_customer(
    sso_app, provider, run_jobs, smtp_server
):
    provider.set_user("sub-unverified", "fresh@example.com", email_verified=False)
    _, resp = sign_in(sso_app, provider)
    assert urlsplit(resp.headers["Location"]).path == "/dashboard"
    db.session.expire_all()
    [user] = _users("fresh@example.com")
    assert user.email_verified_at is None  # we verify it ourselves


def test_a_forged_state_or_code_signs_nobody_in(sso_app, provider):
    provider.set_user("sub-forged", "forged@example.com")
    client = sso_app.test_client()
    start = client.get("/auth/sso/login")
    at_provider = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    query = parse_qs(urlsplit(at_provider.headers["Location"]).query)
    resp = client.get(
        "/auth/sso/callback", query_string={"code": query["code"][0], "state": "forged"}
    )
    assert urlsplit(resp.headers["Location"]).path == "/auth/login"
    # the state is fine but the code was already used (or never issued): refused by the provider
    resp = client.get(
        "/auth/sso/callback", query_string={"code": "made-up", "state": query["state"][0]}
    )
    assert urlsplit(resp.headers["Location"]).path == "/auth/login"
    db.session.expire_all()
    assert _users("forged@example.com") == []


def test_an_unverified_sso_account_gets_the_verify_popup_once_per_sign_in(sso_app, provider):
    provider.set_user("sub-popup", "popup@example.com", email_verified=False)
    for _ in range(2):  # creating the account, then signing in to it again
        client, resp = sign_in(sso_app, provider)
        assert urlsplit(resp.headers["Location"]).path == "/dashboard"
        body = client.get("/dashboard", follow_redirects=True).get_data(as_text=True)
        assert body.count('id="verify-email-modal"') == 1 and "popup@example.com" in body
        assert "Resend the verification email" in body
        assert 'id="verify-email-modal"' not in client.get("/portal/").get_data(
            as_text=True
        )  # once
    db.session.expire_all()
    [user] = _users("popup@example.com")
    assert user.email_verified_at is None
    assert (
        db.session.scalars(select(UserSession.method).where(UserSession.user_id == user.id)).all()
        == ["oidc"] * 2
    )


def test_a_provider_verified_sso_account_gets_no_popup(sso_app, provider, make_user):
    make_user("customer", email="was-unverified@example.com", verified=False)
    provider.set_user("sub-no-popup", "was-unverified@example.com", email_verified=True)
    client, resp = sign_in(sso_app, provider)
    assert urlsplit(resp.headers["Location"]).path == "/dashboard"
    body = client.get("/dashboard", follow_redirects=True).get_data(as_text=True)
    assert "Welcome back" in body and 'id="verify-email-modal"' not in body


def test_sso_two_factor_step_is_timed_with_the_product_clock(sso_app, provider, make_user):
    """The pending TOTP step started by an OIDC sign-in is stamped with crm.clock, the clock
    /auth/2fa/verify measures its five minutes with (a wall-clock stamp would look an hour
    old here and send the user back to the log-in page)."""
    secret = pyotp.random_base32()
    user = make_user("agent", email="sso-2fa@example.com")
    user.totp_secret, user.totp_enabled_at = secret, clock.utcnow()
    db.session.commit()
    clock.set_offset(timedelta(hours=1))
    provider.set_user("sub-2fa", "sso-2fa@example.com", email_verified=True)
    client, resp = sign_in(sso_app, provider)
    assert urlsplit(resp.headers["Location"]).path == "/auth/2fa/verify"
    assert client.get("/auth/2fa/verify").status_code == 200
    resp = client.post("/auth/2fa/verify", data={"code": pyotp.TOTP(secret).at(clock.utcnow())})
    assert resp.status_code == 302 and urlsplit(resp.headers["Location"]).path == "/dashboard"
    db.session.expire_all()
    assert (
        db.session.scalar(select(UserSession.method).where(UserSession.user_id == user.id))
        == "totp"
    )

    clock.set_offset(timedelta(hours=1, seconds=301))  # the step still expires after five minutes
    other, resp = sign_in(sso_app, provider)
    clock.set_offset(timedelta(hours=1, seconds=602))
    assert urlsplit(other.get("/auth/2fa/verify").headers["Location"]).path == "/auth/login"
