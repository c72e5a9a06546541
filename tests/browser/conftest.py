"""Fixtures for the browser tests: the app served from a thread, a headless Chromium, and
browser contexts ("one person each") that keep screenshots and traces as test artefacts.

Playwright's Python package drives Debian's ``/usr/bin/chromium``; nothing is downloaded
(no ``playwright install``, no pytest-playwright plugin).

Artefacts go to ``test-artifacts/browser/`` at the repository root: the screenshots a test
takes on purpose, plus a full-page screenshot and a Playwright trace of every open page when
a test fails (open a trace with ``playwright show-trace <file>.zip``).
"""
from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
VIEWPORT = {"width": 1280, "height": 900}


# ------------------------------------------------------------------ failure reports

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item so fixtures can tell a failed test at teardown."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _failed(request) -> bool:
    return any(getattr(getattr(request.node, f"rep_{w}", None), "failed", False)
               for w in ("setup", "call"))


# ------------------------------------------------------------------ the live server

@dataclass
class LiveServer:
    """The app served over real HTTP from a thread (``url``: ``http://127.0.0.1:<port>``)."""

    url: str
    app: object


@pytest.fixture(scope="module")
def live_server(app) -> Iterator[LiveServer]:
    """Serve the session ``app`` from a werkzeug thread, with CSRF protection ON.

    The plain test client runs with CSRF off (TestingConfig); real browser forms post the
    token and htmx sends ``X-CSRFToken`` from ``<body hx-headers>``, so this module turns
    ``WTF_CSRF_ENABLED`` on and restores the previous value afterwards.
    """
    saved = app.config.get("WTF_CSRF_ENABLED")
    app.config["WTF_CSRF_ENABLED"] = True
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", app=app)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        app.config["WTF_CSRF_ENABLED"] = saved


# ------------------------------------------------------------------ the browser

@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Debian Chromium for the whole session."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """``test-artifacts/browser/`` emptied once per session (so old screenshots don't linger)."""
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@dataclass
class Person:
    """One browser context (its own cookies: one logged-in person) and its page.

    ``errors`` collects uncaught JavaScript errors; ``bad_responses`` the (status, method, url)
    of every HTTP response >= 400, so a test can assert that only the expected ones happened.
    """

    name: str
    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)
    bad_responses: list[tuple[int, str, str]] = field(default_factory=list)


# Chromium asks for /favicon.ico on every full page load; the app has none yet (a known
# defect: add <link rel="icon"> in base.html), so that 404 is not counted as a failure.
IGNORED_404 = {"/favicon.ico"}


def _record_bad(person: Person, response, base_url: str) -> None:
    path = response.url.removeprefix(base_url)
    if response.status >= 400 and not (response.status == 404 and path in IGNORED_404):
        person.bad_responses.append((response.status, response.request.method, path))


@pytest.fixture
def people(browser, live_server, artifacts_dir, request):
    """Factory: ``people("customer")`` → a :class:`Person` with a fresh context on the live
    server. All contexts close at teardown (before the database is cleaned); on failure each
    page leaves a full-page screenshot and a trace in the artefacts folder."""
    opened: list[Person] = []
    test_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)

    def open_person(name: str) -> Person:
        context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT, locale="en-GB",
                                      timezone_id="UTC")
        context.set_default_timeout(10_000)
        context.tracing.start(screenshots=True, snapshots=True, sources=False)
        page = context.new_page()
        person = Person(name, context, page)
        page.on("pageerror", lambda exc: person.errors.append(str(exc)))
        page.on("response", lambda r: _record_bad(person, r, live_server.url))
        opened.append(person)
        return person

    yield open_person

    failed = _failed(request)
    for person in opened:
        try:
            if failed:
                stem = artifacts_dir / f"FAILED-{test_name}-{person.name}"
                person.page.screenshot(path=f"{stem}.png", full_page=True)
                person.context.tracing.stop(path=f"{stem}-trace.zip")
            else:
                person.context.tracing.stop()
        finally:
            person.context.close()


def nav_to(page: Page, menu: str | re.Pattern | None, entry: str) -> None:
    """Follow ``entry`` of the main navigation, opening its dropdown ``menu`` first (None:
    a direct link on the bar). Menus: Helpdesk, Customers, Monitoring, Admin, and the
    account menu named after the user (pass a regex such as ``re.compile("^Ada Admin")``).
    A group with one entry for a role is a direct link (a manager's "Users")."""
    nav = page.get_by_role("navigation", name="Main navigation")
    if menu is not None:
        nav.get_by_role("button", name=menu, exact=isinstance(menu, str)).click()
    nav.get_by_role("link", name=entry, exact=True).click()


@pytest.fixture
def snap(artifacts_dir):
    """``snap(page, "03-customer-ticket")`` saves a full-page PNG into the artefacts folder,
    numbered in the order taken; returns the path."""
    count = {"n": 0}

    def take(page: Page, label: str) -> Path:
        count["n"] += 1
        path = artifacts_dir / f"{count['n']:02d}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        return path
    return take
