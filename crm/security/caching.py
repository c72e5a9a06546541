"""Response fix-ups that must run last: ``Cache-Control: no-store`` on private answers, and a
``Retry-After`` that says what the view meant.

**No caching of private answers.** Pages for a logged-in user, every API answer (tokens and
refresh tokens included), and file downloads (exports, reports) carry
``Cache-Control: no-store``, so neither a shared proxy nor the browser's disk cache or
back button keeps them (OWASP Session Management Cheat Sheet, "Web content caching";
RFC 9111 §5.2.2.5). Static assets (``/static``, the plotly.js route, anything a view marked
``public``) keep their own caching.

**Retry-After.** Flask-Limiter writes ``Retry-After`` on every response it counted (the reset
of its own window, or the later of that and the view's value), so a locked account's 429 said
"590" while its body said 30 seconds, and 200 answers carried a meaningless ``Retry-After``.
Two hooks bracket the limiter's: one before it remembers the ``Retry-After`` the view or
error handler set; one after it puts that value back, or drops the header from answers that
had none and are not 429/503 (RFC 9110 §10.2.3: it belongs to 503, 429 and 3xx).
"""
from __future__ import annotations

from flask import Flask, Response, g, request

#: endpoints whose answers keep their own caching headers.
STATIC_ENDPOINTS = frozenset({"static", "assets.plotly_js", "security.devconsole"})
_STASH = "crm_view_retry_after"


def is_private(resp: Response) -> bool:
    """True when ``resp`` answers a private request: an API call, a logged-in user's page, a
    request with credentials, or a download (``Content-Disposition: attachment``)."""
    if request.path.startswith("/api/") or "Authorization" in request.headers:
        return True
    if resp.headers.get("Content-Disposition", "").lower().startswith("attachment"):
        return True
    from flask_login import current_user
    try:
        return bool(current_user and current_user.is_authenticated)
    except Exception:  # noqa: BLE001 - a broken session must not break the answer
        return True


def _remember_retry_after(resp: Response) -> Response:
    g.setdefault(_STASH, resp.headers.get("Retry-After"))
    return resp


def _finish(resp: Response) -> Response:
    intended = g.pop(_STASH, None)
    if intended is not None:
        resp.headers["Retry-After"] = intended
    elif resp.status_code not in (429, 503) and not 300 <= resp.status_code < 400:
        resp.headers.pop("Retry-After", None)
    if request.endpoint not in STATIC_ENDPOINTS and "public" not in resp.headers.get(
        "Cache-Control", ""
    ):
        if is_private(resp):
            resp.headers["Cache-Control"] = "no-store"
    return resp


def init_app(app: Flask) -> None:
    """Install :func:`_finish` now, to run after every hook registered later (Flask runs
    after-request hooks in reverse order), i.e. after the limiter's; call before
    ``limits.init_app``. :func:`install_after_limiter` adds the other half."""
    app.after_request(_finish)


def install_after_limiter(app: Flask) -> None:
    """Install the hook that remembers the view's ``Retry-After`` before the limiter's hook
    changes it; call right after ``limiter.init_app``."""
    app.after_request(_remember_retry_after)
