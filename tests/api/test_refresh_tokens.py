"""API log-ins: access tokens (JWT, 15 min) plus rotating refresh tokens (30 days) in families.

Refresh token rotation with reuse detection follows OAuth 2.0 Security BCP, RFC 9700
§4.14.2: presenting an already rotated refresh token revokes its whole family.
"""
from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from sqlalchemy import func, select

from crm import clock, events
from crm.api.tokens import RefreshToken, TokenFamily, hash_token, purge_expired
from crm.auth.models import User
from crm.extensions import db
from tests.api.conftest import assert_problem
from tests.conftest import PASSWORD

TOKEN_KEYS = {"access_token", "token_type", "expires_in", "refresh_token", "refresh_expires_in"}


def log_in(client, user) -> dict:
    resp = client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.json


def refresh(client, refresh_token: str):
    return client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})


def bearer(access_token: str) -> dict:
    return {"Authorization": f"Bearer {access_token}"}


def works(client, access_token: str) -> bool:
    resp = client.get("/api/v1/auth/me", headers=bearer(access_token))
    assert resp.status_code in (200, 401), resp.get_data(as_text=True)
    return resp.status_code == 200


def families(user) -> list[TokenFamily]:
    db.session.expire_all()
    return list(db.session.scalars(select(TokenFamily).where(TokenFamily.user_id == user.id)
                                   .order_by(TokenFamily.id)))


def test_log_in_returns_access_and_refresh_token(client, make_user, app):
    user = make_user("customer")
    pair = log_in(client, user)
    assert set(pair) == TOKEN_KEYS
    assert pair["token_type"] == "Bearer"
    assert pair["expires_in"] == app.config["JWT_ACCESS_TTL_SECONDS"] == 900
    assert pair["refresh_expires_in"] == app.config["REFRESH_TOKEN_TTL_SECONDS"] == 30 * 86400
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    family = families(user)[0]
    assert claims["sid"] == str(family.id) and claims["sub"] == str(user.id) and claims["jti"]
    # the refresh token is opaque and stored only as its SHA-256
    stored = db.session.scalar(select(RefreshToken).where(RefreshToken.family_id == family.id))
    assert stored.token_hash == hash_token(pair["refresh_token"]) != pair["refresh_token"]
    assert pair["refresh_token"] not in str(
        db.session.execute(select(RefreshToken.__table__)).all()
    )
    assert "." not in pair["refresh_token"] and len(pair["refresh_token"]) >= 43


def test_each_log_in_is_its_own_family(client, make_user):
    user = make_user("agent")
    log_in(client, user), log_in(client, user)
    assert len(families(user)) == 2


def test_refresh_rotates_the_pair(client, make_user):
    user = make_user("engineer")
    first = log_in(client, user)
    resp = refresh(client, first["refresh_token"])
    assert resp.status_code == 200
    second = resp.json
    assert set(second) == TOKEN_KEYS
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert works(client, second["access_token"]) and works(client, first["access_token"])
    rows = db.session.scalars(select(RefreshToken).order_by(RefreshToken.id)).all()
    assert len(rows) == 2 and rows[0].rotated_at is not None and rows[1].rotated_at is None
    assert rows[0].family_id == rows[1].family_id
    third = refresh(client, second["refresh_token"]).json
    assert works(client, third["access_token"])


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(client, make_user):
    user = make_user("customer")
    other_login = log_in(client, user)  # a second device: must survive
    first = log_in(client, user)
    second = refresh(client, first["refresh_token"]).json
    # an attacker replays the stolen first token
    body = assert_problem(refresh(client, first["refresh_token"]), 401)
    assert "already used" in body["detail"]
    fam = [f for f in families(user) if f.id != families(user)[0].id][0]
    assert fam.revoked_at is not None and fam.revoke_reason == "reuse_detected"
    # everything of that log-in is dead: the legitimate newest refresh token and the access tokens
    assert_problem(refresh(client, second["refresh_token"]), 401)
    assert not works(client, second["access_token"])
    assert not works(client, first["access_token"])
    # the other log-in is untouched
    assert works(client, other_login["access_token"])
    assert refresh(client, other_login["refresh_token"]).status_code == 200


def test_unknown_refresh_token_is_401_problem(client, make_user):
    make_user("customer")
    body = assert_problem(refresh(client, "not-a-token"), 401)
    assert body["detail"] == "Unknown refresh token."


@pytest.mark.parametrize(
    "payload, field",
    [
        ({}, "refresh_token"),
        ({"refresh_token": ""}, "refresh_token"),
        ({"refresh_token": 5}, "refresh_token"),
        ({"refresh_token": "x" * 201}, "refresh_token"),
        ({"refresh_token": "a", "extra": 1}, "extra"),
    ],
)
def test_refresh_validation_is_422(client, payload, field):
    body = assert_problem(client.post("/api/v1/auth/refresh", json=payload), 422)
    assert field in body["errors"]


def test_refresh_token_expires_after_30_days(client, make_user, app):
    user = make_user("customer")
    pair = log_in(client, user)
    ttl = app.config["REFRESH_TOKEN_TTL_SECONDS"]
    clock.set_offset(timedelta(seconds=ttl - 60))
    still = refresh(client, pair["refresh_token"])
    assert still.status_code == 200  # rotation gives the new token a fresh 30 days
    clock.set_offset(timedelta(seconds=2 * ttl - 120))
    assert refresh(client, still.json["refresh_token"]).status_code == 200
    pair = log_in(client, user)
    clock.set_offset(timedelta(seconds=2 * ttl - 120 + ttl + 1))
    body = assert_problem(refresh(client, pair["refresh_token"]), 401)
    assert "expired" in body["detail"]


def test_access_token_expires_after_15_minutes(client, make_user, app):
    user = make_user("customer")
    pair = log_in(client, user)
    clock.set_offset(timedelta(seconds=app.config["JWT_ACCESS_TTL_SECONDS"] - 5))
    assert works(client, pair["access_token"])
    clock.set_offset(timedelta(seconds=app.config["JWT_ACCESS_TTL_SECONDS"]))
    resp = client.get("/api/v1/auth/me", headers=bearer(pair["access_token"]))
    assert_problem(resp, 401)
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    fresh = refresh(client, pair["refresh_token"]).json  # the refresh token still works
    assert works(client, fresh["access_token"])


def test_logout_revokes_the_family_and_its_access_token(client, make_user):
    user = make_user("agent")
    other = log_in(client, user)
    pair = log_in(client, user)
    rotated = refresh(client, pair["refresh_token"]).json
    resp = client.post("/api/v1/auth/logout", headers=bearer(rotated["access_token"]), json={})
    assert resp.status_code == 204 and resp.get_data() == b""
    assert not works(client, rotated["access_token"])
    assert not works(client, pair["access_token"])  # the same log-in's older access token too
    assert_problem(refresh(client, rotated["refresh_token"]), 401)
    assert [f.revoke_reason for f in families(user)] == [None, "logout"]
    assert works(client, other["access_token"])


def test_logout_with_a_refresh_token_ends_that_log_in_too_but_only_if_it_is_yours(
    client, make_user
):
    user, stranger = make_user("customer"), make_user("customer")
    a, b = log_in(client, user), log_in(client, user)
    theirs = log_in(client, stranger)
    resp = client.post(
        "/api/v1/auth/logout",
        headers=bearer(a["access_token"]),
        json={"refresh_token": b["refresh_token"]},
    )
    assert resp.status_code == 204
    assert not works(client, b["access_token"])
    assert_problem(refresh(client, b["refresh_token"]), 401)
    resp = client.post(
        "/api/v1/auth/logout",
        headers=bearer(log_in(client, user)["access_token"]),
        json={"refresh_token": theirs["refresh_token"]},
    )
    assert resp.status_code == 204
    assert works(client, theirs["access_token"])  # a stranger's token is ignored
    assert refresh(client, theirs["refresh_token"]).status_code == 200


def test_logout_needs_a_valid_access_token(client, make_user):
    pair = log_in(client, make_user("customer"))
    assert_problem(client.post("/api/v1/auth/logout", json={}), 401)
    assert_problem(
        client.post("/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]}), 401
    )
    assert refresh(client, pair["refresh_token"]).status_code == 200


def test_me_returns_the_user_and_verification_state(client, make_user):
    user = make_user("engineer", verified=False, name="Eve Engineer")
    user.phone = "+447700900123"
    db.session.commit()
    resp = client.get("/api/v1/auth/me", headers=bearer(log_in(client, user)["access_token"]))
    assert resp.status_code == 200
    me = resp.json
    assert (me["id"], me["email"], me["name"], me["role"], me["status"]) == (
        user.id,
        user.email,
        "Eve Engineer",
        "engineer",
        "active",
    )
    assert me["email_verified"] is False and me["email_verified_at"] is None
    assert me["phone"] == "+447700900123" and me["phone_verified"] is False
    assert me["totp_enabled"] is False
    verified = make_user("customer")
    me = client.get(
        "/api/v1/auth/me", headers=bearer(log_in(client, verified)["access_token"])
    ).json
    assert me["email_verified"] is True and me["email_verified_at"].startswith(
        str(verified.email_verified_at.year)
    )
    assert_problem(client.get("/api/v1/auth/me"), 401)


def test_password_change_revokes_every_family(client, make_user):
    user = make_user("customer")
    a, b = log_in(client, user), log_in(client, user)
    user.set_password("a-brand-new-password")
    events.publish(
        db.session, "user.credentials_changed", user_id=user.id, reason="password_changed"
    )
    db.session.commit()
    for pair in (a, b):
        assert not works(client, pair["access_token"])
        assert_problem(refresh(client, pair["refresh_token"]), 401)
    assert {f.revoke_reason for f in families(user)} == {"password_changed"}
    fresh = client.post(
        "/api/v1/auth/token", json={"email": user.email, "password": "a-brand-new-password"}
    )
    assert works(client, fresh.json["access_token"])


def test_deactivation_revokes_every_family(api, client, make_user):
    admin, user = make_user("admin"), make_user("agent")
    pair = log_in(client, user)
    resp = api.patch(f"/users/{user.id}", admin, json={"status": "disabled"})
    assert resp.status_code == 200
    assert {f.revoke_reason for f in families(user)} == {"account_disabled"}
    assert not works(client, pair["access_token"])
    assert_problem(refresh(client, pair["refresh_token"]), 401)
    # re-activated: the old tokens stay dead, a new log-in works
    assert api.patch(f"/users/{user.id}", admin, json={"status": "active"}).status_code == 200
    assert not works(client, pair["access_token"])
    assert_problem(refresh(client, pair["refresh_token"]), 401)
    assert works(client, log_in(client, user)["access_token"])


def test_token_without_family_or_with_a_forged_family_is_refused(client, make_user, app):
    user = make_user("admin")
    pair = log_in(client, user)
    now = int(clock.utcnow().timestamp())
    base = {"sub": str(user.id), "role": "admin", "typ": "access", "iat": now, "exp": now + 600}
    key = app.config["SECRET_KEY"]
    no_sid = jwt.encode(base, key, algorithm="HS256")
    assert not works(client, no_sid)
    theirs = log_in(client, make_user("customer"))
    sid_of_other = jwt.decode(theirs["access_token"], options={"verify_signature": False})["sid"]
    forged = jwt.encode({**base, "sid": sid_of_other}, key, algorithm="HS256")
    assert not works(client, forged)  # a family of another user
    assert works(client, pair["access_token"])


def test_purge_deletes_long_expired_tokens(client, make_user, app):
    user = make_user("customer")
    old = log_in(client, user)
    clock.set_offset(timedelta(seconds=app.config["REFRESH_TOKEN_TTL_SECONDS"] + 8 * 86400))
    new = log_in(client, user)
    assert purge_expired() == 1
    assert db.session.scalar(select(func.count(RefreshToken.id))) == 1
    assert len(families(user)) == 1
    assert_problem(refresh(client, old["refresh_token"]), 401)
    assert refresh(client, new["refresh_token"]).status_code == 200


def test_refresh_for_an_account_disabled_behind_our_back_is_refused(client, make_user):
    user = make_user("customer")
    pair = log_in(client, user)
    db.session.get(User, user.id).status = "disabled"  # no event: e.g. a direct database change
    db.session.commit()
    body = assert_problem(refresh(client, pair["refresh_token"]), 401)
    assert "no longer" in body["detail"]


def test_two_concurrent_refreshes_with_one_token_one_wins_and_the_family_is_revoked(
    app, client, make_user
):
    """Two requests race with the same refresh token (separate threads, connections and
    transactions): the guarded UPDATE lets exactly one rotate it; the other counts as reuse."""
    import threading

    user = make_user("customer")
    user_id = user.id
    pair = log_in(client, user)
    db.session.remove()  # this thread holds no transaction while the requests run
    barrier = threading.Barrier(2)
    results: list[int] = []

    def race():
        with app.app_context():
            c = app.test_client()
            barrier.wait()
            results.append(
                c.post(
                    "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
                ).status_code
            )
            db.session.remove()

    threads = [threading.Thread(target=race) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == [200, 401]
    assert db.session.scalars(
        select(TokenFamily.revoke_reason).where(TokenFamily.user_id == user_id)
    ).all() == ["reuse_detected"]
