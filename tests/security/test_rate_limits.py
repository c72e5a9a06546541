"""Rate limits (Flask-Limiter on the app's Redis): the API per user or per IP, sign-in
endpoints per IP and per account; 429 + Retry-After as problem+json or an HTML page."""
from __future__ import annotations

import pytest
from redis import Redis

from crm.security.limits import KEY_PREFIX, storage_uri_for
from tests.conftest import PASSWORD


@pytest.fixture
def limited(app_with):
    """An app with rate limiting on: API 5/minute, sign-in 3/minute."""
    return app_with(
        RATELIMIT_ENABLED=True, API_RATE_LIMIT="5 per minute", AUTH_RATE_LIMIT="3 per minute"
    )


def _client(application, ip):
    client = application.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def _assert_api_429(resp):
    assert resp.status_code == 429
    assert resp.mimetype == "application/problem+json"
    assert resp.json["status"] == 429 and resp.json["title"] == "Too Many Requests"
    assert 1 <= int(resp.headers["Retry-After"]) <= 60


def test_the_api_is_limited_per_ip_for_anonymous_callers(limited):
    client = _client(limited, "203.0.113.1")
    for _ in range(5):
        assert client.get("/api/v1/openapi.json").status_code == 200
    _assert_api_429(client.get("/api/v1/openapi.json"))
    _assert_api_429(client.get("/api/v1/tickets"))  # one budget for the whole API
    assert _client(limited, "203.0.113.2").get("/api/v1/openapi.json").status_code == 200
    # the counters live in the app's Redis
    keys = Redis.from_url(limited.config["REDIS_URL"]).keys(f"*{KEY_PREFIX}*")
    assert any(b"203.0.113.1" in k for k in keys)


def test_the_api_is_limited_per_user_when_authenticated(limited, make_user, token_for):
    alice, bob = make_user("customer"), make_user("customer")
    alice_token, bob_token = token_for(alice), token_for(bob)  # from the unlimited app
    client = _client(limited, "203.0.113.10")  # everyone behind one address (an office NAT)
    as_alice = {"Authorization": f"Bearer {alice_token}"}
    for _ in range(5):
        assert client.get("/api/v1/tickets", headers=as_alice).status_code == 200
    _assert_api_429(client.get("/api/v1/tickets", headers=as_alice))
    # bob and anonymous callers from the same address have budgets of their own
    assert (
        client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {bob_token}"}).status_code
        == 200
    )
    assert client.get("/api/v1/openapi.json").status_code == 200
    # alice from another address is still alice
    _assert_api_429(_client(limited, "203.0.113.11").get("/api/v1/tickets", headers=as_alice))


def test_console_log_in_is_limited_per_ip_with_a_friendly_page(limited, make_user):
    client = _client(limited, "203.0.113.20")
    for n in range(3):
        resp = client.post(
            "/auth/login", data={"email": f"nobody{n}@example.com", "password": "wrong-password"}
        )
        assert resp.status_code in (401, 422)
    resp = client.post(
        "/auth/login", data={"email": "nobody9@example.com", "password": "wrong-password"}
    )
    assert resp.status_code == 429 and resp.mimetype == "text/html"
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    page = resp.get_data(as_text=True)
    assert "Too many requests" in page and "try again in" in page
    assert client.get("/auth/login").status_code == 200  # reading the form is not limited
    assert client.get("/healthz").status_code == 200
    assert client.get("/static/js/app.js").status_code == 200


def test_console_log_in_is_limited_per_account_across_addresses(limited, make_user):
    user = make_user("customer", email="target@example.com")
    for n in range(3):
        resp = _client(limited, f"203.0.113.{30 + n}").post(
            "/auth/login", data={"email": "Target@example.com", "password": "wrong-password"}
        )
        assert resp.status_code == 401
    resp = _client(limited, "203.0.113.40").post(
        "/auth/login", data={"email": user.email, "password": PASSWORD}
    )
    assert resp.status_code == 429
    # another account from a fresh address is unaffected
    other = make_user("customer")
    assert (
        _client(limited, "203.0.113.41")
        .post("/auth/login", data={"email": other.email, "password": PASSWORD})
        .status_code
        == 302
    )


def test_every_post_of_the_auth_blueprint_is_limited(limited):
    client = _client(limited, "203.0.113.50")
    # registration, password reset and log-in share the per-address budget
    client.post("/auth/register", data={"email": "x1@example.com"})
    client.post("/auth/reset", data={"email": "x2@example.com"})
    client.post("/auth/login", data={"email": "x3@example.com", "password": "nope-nope"})
    assert client.post("/auth/register", data={"email": "x4@example.com"}).status_code == 429


def test_api_sign_in_and_password_reset_are_limited(limited, make_user):
    client = _client(limited, "203.0.113.60")
    for _ in range(3):
        resp = client.post(
            "/api/v1/auth/token", json={"email": "ghost@example.com", "password": "wrong-pass"}
        )
        assert resp.status_code == 401
    _assert_api_429(
        client.post("/api/v1/auth/password-reset", json={"email": "ghost2@example.com"})
    )
    # per account: the same email from another address
    other = _client(limited, "203.0.113.61")
    _assert_api_429(
        other.post("/api/v1/auth/token", json={"email": "GHOST@example.com", "password": "x-x-x-x"})
    )
    # the non-auth API budget of that address is untouched
    assert other.get("/api/v1/openapi.json").status_code == 200


def test_limits_are_off_in_the_test_config(client):
    for n in range(15):
        resp = client.post(
            "/auth/login", data={"email": f"a{n}@example.com", "password": "wrong-password"}
        )
        assert resp.status_code == 401 and "X-RateLimit-Limit" not in resp.headers
    for _ in range(120):
        assert client.get("/api/v1/openapi.json").status_code == 200


@pytest.mark.parametrize(
    ("redis_url", "expected"),
    [
        (None, "memory://"),
        ("redis://127.0.0.1:6379/3", "redis://127.0.0.1:6379/3"),
        ("unix:///srv/instance/redis.sock?db=0", "redis+unix:///srv/instance/redis.sock?db=0"),
    ],
)
def test_the_storage_follows_redis_url_including_make_runs_embedded_socket(redis_url, expected):
    assert storage_uri_for(redis_url) == expected


def test_an_explicit_storage_uri_wins(app_with):
    application = app_with(RATELIMIT_STORAGE_URI="memory://")
    assert application.config["RATELIMIT_STORAGE_URI"] == "memory://"
    default = app_with()
    assert default.config["RATELIMIT_STORAGE_URI"] == default.config["REDIS_URL"]


def test_behind_a_trusted_proxy_clients_are_told_apart_by_x_forwarded_for(app_with):
    application = app_with(RATELIMIT_ENABLED=True, API_RATE_LIMIT="2 per minute", PROXY_FIX_HOPS=1)
    proxy = _client(application, "127.0.0.1")
    first = {"X-Forwarded-For": "198.51.100.7"}
    for _ in range(2):
        assert proxy.get("/api/v1/openapi.json", headers=first).status_code == 200
    _assert_api_429(proxy.get("/api/v1/openapi.json", headers=first))
    assert (
        proxy.get("/api/v1/openapi.json", headers={"X-Forwarded-For": "198.51.100.8"}).status_code
        == 200
    )
