"""Security headers on every kind of response; HSTS only in production; cookie flags; and
no inline script or style in the console's templates (so the strict CSP holds)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from crm.config import ProductionConfig
from crm.extensions import db
from tests.conftest import PASSWORD

TEMPLATES = Path(__file__).resolve().parents[2] / "crm" / "templates"


def assert_security_headers(resp):
    csp = resp.headers.get("Content-Security-Policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in (p.strip() for p in csp.split(";")) if d}
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert resp.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(("path", "status"), [
    ("/auth/login", 200),            # console page
    ("/api/v1/openapi.json", 200),   # API JSON
    ("/api/v1/tickets", 401),        # API error (problem+json)
    ("/no-such-page", 404),          # console error page
    ("/api/v1/no-such-thing", 404),  # API 404
    ("/static/js/app.js", 200),      # static file
    ("/healthz", 200),
    ("/docs", 200),
])
def test_every_response_carries_the_security_headers_and_no_hsts_outside_production(
    client, path, status
):
    for base in ("http://localhost", "https://localhost"):
        resp = client.get(path, base_url=base)
        assert resp.status_code == status
        assert_security_headers(resp)
        assert "Strict-Transport-Security" not in resp.headers


def test_logged_in_pages_and_forms_carry_them_too(client, make_user, login):
    login(make_user("admin"))
    for path in ("/dashboard", "/admin/users", "/admin/security"):
        resp = client.get(path)
        assert resp.status_code == 200
        assert_security_headers(resp)
    resp = client.post("/tickets/999999/comments", data={"body": "x"})
    assert resp.status_code in (403, 404)
    assert_security_headers(resp)


def test_cookies_are_httponly_and_samesite_lax_and_not_secure_in_development(client, make_user):
    user = make_user("customer")
    resp = client.post(
        "/auth/login", data={"email": user.email, "password": PASSWORD, "remember": "y"}
    )
    cookies = resp.headers.getlist("Set-Cookie")
    assert cookies
    for cookie in cookies:
        if cookie.startswith(("session=", "remember_token=")):
            assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


@pytest.fixture
def production_app(app_config, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "a-production-secret-of-enough-length")

    class _Prod(ProductionConfig):
        @classmethod
        def load(cls, instance_path):
            cfg = super().load(instance_path)
            cfg.update(app_config)
            cfg.update(
                {
                    "WTF_CSRF_ENABLED": False,
                    "RATELIMIT_ENABLED": False,
                    "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
                }
            )
            return cfg

    from crm import create_app

    application = create_app(_Prod)
    yield application
    with application.app_context():
        db.engine.dispose()


def test_production_sends_hsts_over_https_and_does_not_force_redirects(production_app):
    client = production_app.test_client()
    https = client.get("/auth/login", base_url="https://crm.example")
    assert https.status_code == 200
    assert https.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert_security_headers(https)
    # behind a TLS-terminating proxy
    proxied = client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in proxied.headers
    # plain HTTP is answered (the proxy decides about redirects) and gets no HSTS (RFC 6797 §7.2)
    plain = client.get("/auth/login")
    assert plain.status_code == 200 and "Strict-Transport-Security" not in plain.headers


def test_production_cookies_are_secure(production_app, make_user):
    user = make_user("customer")
    client = production_app.test_client()
    resp = client.post(
        "/auth/login",
        base_url="https://crm.example",
        data={"email": user.email, "password": PASSWORD, "remember": "y"},
    )
    assert resp.status_code == 302
    cookies = [
        c
        for c in resp.headers.getlist("Set-Cookie")
        if c.startswith(("session=", "remember_token="))
    ]
    assert cookies
    for cookie in cookies:
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_force_https_redirects_only_when_configured(app_with):
    application = app_with(FORCE_HTTPS=True)
    resp = application.test_client().get("/auth/login")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("https://")


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
STYLE_ATTR = re.compile(r"<[^>]+\sstyle\s*=", re.I)
JS_URL = re.compile(r"""href\s*=\s*["']\s*javascript:""", re.I)


def test_console_templates_have_no_inline_script_handler_or_style():
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        if "email" in path.relative_to(TEMPLATES).parts:
            continue  # emails are not served under our CSP
        text = path.read_text()
        for name, pattern in (
            ("inline <script>", INLINE_SCRIPT),
            ("event handler", EVENT_HANDLER),
            ("style attribute", STYLE_ATTR),
            ("<style>", re.compile(r"<style", re.I)),
            ("javascript: URL", JS_URL),
        ):
            if pattern.search(text):
                offenders.append(f"{path.relative_to(TEMPLATES)}: {name}")
    assert offenders == []
