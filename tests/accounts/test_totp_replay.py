"""A TOTP code works once (RFC 6238 §5.2): the time step it was accepted for, and every
earlier one, is refused afterwards, through the API and the console alike; one step of drift
either way is still accepted for clock skew."""
from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

from crm import clock
from crm.auth import totp
from crm.auth.models import User
from crm.extensions import db
from tests.accounts.test_totp import code, enable_totp, fresh, password_step, text
from tests.conftest import PASSWORD
from tests.helpers_matrix import fresh_request_state


def pin_mid_step() -> None:
    """Put the product clock 15 s into a fresh 30-second step, so the test's "now" and the
    server's "now" fall in the same step."""
    now = datetime.now(UTC).timestamp() + clock._offset.total_seconds()
    target = math.floor(now / 30) * 30 + 30 + 15
    clock.set_offset(clock._offset + timedelta(seconds=target - now))


def totp_user(client, login, make_user, role: str = "agent") -> tuple[User, str]:
    user = make_user(role)
    login(user)
    secret = enable_totp(client, user)
    client.post("/auth/logout")
    pin_mid_step()
    return user, secret


def api_token(client, user: User, totp_code: str):
    fresh_request_state()
    return client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD,
                                                   "totp_code": totp_code})


def test_one_code_gives_one_api_token_and_no_console_login(client, login, make_user):
    user, secret = totp_user(client, login, make_user)
    now = code(secret)
    assert api_token(client, user, now).status_code == 200
    again = api_token(client, user, now)
    assert again.status_code == 401 and again.json["detail"] == "The two-factor code is not right."
    assert password_step(client, user).status_code == 302
    fresh_request_state()
    resp = client.post("/auth/2fa/verify", data={"code": now})
    assert resp.status_code == 422 and "That code is not right." in text(resp)
    assert fresh(user).totp_last_step == totp.current_step()


def test_the_previous_steps_code_is_refused_once_a_newer_one_was_used(client, login, make_user):
    user, secret = totp_user(client, login, make_user)
    assert api_token(client, user, code(secret)).status_code == 200
    assert api_token(client, user, code(secret, -1)).status_code == 401
    clock.set_offset(clock._offset + timedelta(seconds=30))
    assert api_token(client, user, code(secret)).status_code == 200  # the next step's code works


def test_one_step_of_drift_is_accepted_but_not_twice(client, login, make_user):
    user, secret = totp_user(client, login, make_user)
    assert api_token(client, user, code(secret, -1)).status_code == 200  # a slow phone
    assert api_token(client, user, code(secret, -1)).status_code == 401
    assert api_token(client, user, code(secret, -2)).status_code == 401  # outside the window
    assert api_token(client, user, code(secret)).status_code == 200
    assert api_token(client, user, code(secret, 1)).status_code == 200  # a fast phone
    assert api_token(client, user, code(secret)).status_code == 401  # older than one used


def test_the_set_up_code_cannot_log_in(client, login, make_user):
    user = make_user("engineer")
    login(user)
    page = text(client.get("/auth/2fa"))
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page).group(1)
    pin_mid_step()
    setup_code = code(secret)
    assert client.post("/auth/2fa", data={"code": setup_code}).status_code == 302
    client.post("/auth/logout")
    assert api_token(client, user, setup_code).status_code == 401


def test_replay_through_the_console_after_a_console_login(app, client, login, make_user):
    user, secret = totp_user(client, login, make_user)
    now = code(secret)
    password_step(client, user)
    fresh_request_state()
    assert client.post("/auth/2fa/verify", data={"code": now}).status_code == 302
    other = app.test_client()
    password_step(other, user)
    fresh_request_state()
    assert other.post("/auth/2fa/verify", data={"code": now}).status_code == 422
    db.session.expire_all()


def test_parallel_requests_with_one_code_get_one_token(app, make_user, monkeypatch):
    """The step is claimed with a guarded UPDATE: of eight simultaneous token requests with
    the same code, against a real threaded server, exactly one succeeds. (The lockout is
    raised out of the way: seven refused replays would otherwise lock the account, and the
    last answers would be 429 or 401 depending on the threads' order.)"""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import requests
    from werkzeug.serving import make_server

    monkeypatch.setitem(app.config, "LOCKOUT_THRESHOLD", 50)
    user = make_user("agent")
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    user.totp_secret, user.totp_enabled_at = secret, clock.utcnow()
    db.session.commit()
    pin_mid_step()
    now, email = code(secret), user.email
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    start = threading.Barrier(8)

    def ask(_):
        start.wait()
        body = {"email": email, "password": PASSWORD, "totp_code": now}
        url = f"http://127.0.0.1:{server.server_port}/api/v1/auth/token"
        return requests.post(url, timeout=30, json=body).status_code

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = sorted(pool.map(ask, range(8)))
    finally:
        server.shutdown()
        thread.join(5)
    assert statuses == [200] + [401] * 7, statuses
