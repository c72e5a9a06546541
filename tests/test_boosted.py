"""Boosted navigation gets whole pages; htmx's own requests get fragments.

The layout boosts every link and form (``hx-boost`` on ``<body>``), so a click sends
``HX-Request: true`` and ``HX-Boosted: true`` and htmx swaps the answer into the whole body:
a fragment there would replace the page, navigation included. :func:`crm.htmx.is_htmx_partial`
tells the two apart. Every console page walked from ``app.url_map`` must answer a boosted
request with the same whole page as a plain one; the views that serve fragments must still
answer an htmx request that is not boosted with the fragment alone.
"""
from __future__ import annotations

import inspect
import re

import pytest

from crm.auth.policy import POLICY, PUBLIC
from tests.helpers_matrix import (
    ANONYMOUS,
    ARG_VALUES,
    ROLES,
    act_as,
    build_world,
    collected_routes,
    collection_app,
    describe,
    fast_passwords,  # noqa: F401  (fixture)
    url_for_route,
)

BOOSTED = {"HX-Request": "true", "HX-Boosted": "true"}
PARTIAL = {"HX-Request": "true"}
LAYOUT = 'aria-label="Main navigation"'  # the base layout's navigation bar
PAGES = [r for r in collected_routes() if r.method == "GET" and not r.is_api]


def _serves_fragments(endpoint: str) -> bool:
    """Whether the view decides between page and fragment (``crm.htmx``'s helpers)."""
    source = inspect.getsource(collection_app().view_functions[endpoint])
    return bool(re.search(r"render_page_or_fragment|is_htmx_partial\(\)", source))


FRAGMENT_VIEWS = sorted(r.endpoint for r in PAGES if _serves_fragments(r.endpoint))


def _actor_role(endpoint: str, permission: str) -> str:
    """Who visits the page: anonymous for public pages, the customer in the portal, else an
    admin when admins hold the permission, else the first role that does."""
    if permission == PUBLIC:
        return ANONYMOUS
    holders = [role for role in ROLES if role in POLICY[permission]]
    if endpoint.startswith("portal.") and "customer" in holders:
        return "customer"
    return "admin" if "admin" in holders else holders[0]


def _title(body: str) -> str | None:
    match = re.search(r"<title>(.*?)</title>", body, re.S)
    return match and " ".join(match.group(1).split())


@pytest.fixture
def world(fast_passwords, make_user):  # noqa: F811
    return build_world(make_user)


def _visit(app, token_for, world, route, headers):
    """GET ``route`` as :func:`_actor_role` says, each role logged in once per test (kept in
    ``world.extra``; a GET changes nobody's session)."""
    permission = app.view_functions[route.endpoint].crm_permission
    role = _actor_role(route.endpoint, permission)
    actors = world.extra.setdefault("boosted_actors", {})
    if role not in actors:
        actors[role] = act_as(app, ANONYMOUS if role == ANONYMOUS else world.user(role),
                              api=False, token_for=token_for)
    return actors[role].send("GET", url_for_route(app, route, world), api=False, headers=headers)


def test_boosted_requests_get_the_whole_page(app, token_for, world):
    """For each console page that a plain request gets in the layout, the boosted request
    gets it in the layout too, with the same title."""
    failures, pages = [], 0
    for route in PAGES:
        if set(route.arguments) - set(ARG_VALUES) - {"action"}:
            continue  # the authorisation matrix fails until the argument is taught
        plain = _visit(app, token_for, world, route, {})
        body = plain.get_data(as_text=True)
        if plain.status_code != 200 or LAYOUT not in body:
            continue
        pages += 1
        boosted = _visit(app, token_for, world, route, BOOSTED)
        boosted_body = boosted.get_data(as_text=True)
        if boosted.status_code != 200 or LAYOUT not in boosted_body \
                or _title(boosted_body) != _title(body):
            failures.append(f"{route.id}: {describe(boosted, 120)}")
    assert pages >= 50, f"only {pages} console pages answered in the layout"
    assert not failures, "boosted requests that did not get the page:\n  " + "\n  ".join(failures)


def _fragment_problem(app, token_for, world, endpoint: str) -> str | None:
    """None when a non-boosted htmx request to ``endpoint`` gets the fragment alone (no
    layout): the element of the whole page that htmx swaps, found by its ``id``, and the
    boosted request gets the page; else what is wrong."""
    route = next(r for r in PAGES if r.endpoint == endpoint)
    partial = _visit(app, token_for, world, route, PARTIAL)
    body = partial.get_data(as_text=True)
    if partial.status_code != 200:
        return describe(partial)
    if LAYOUT in body or "<html" in body:
        return "a whole page"
    element = re.search(r'<\w+ id="([\w-]+)"', body)
    if not element:
        return "the fragment has no element with an id to swap"
    page = _visit(app, token_for, world, route, BOOSTED).get_data(as_text=True)
    if LAYOUT not in page:
        return "the boosted request got no layout"
    return None if f'id="{element.group(1)}"' in page else "the fragment is not part of the page"


def test_htmx_requests_get_the_fragment(app, token_for, world):
    failures = [f"{endpoint}: {problem}" for endpoint in FRAGMENT_VIEWS
                if (problem := _fragment_problem(app, token_for, world, endpoint))]
    assert not failures, "\n  ".join(["fragments not served alone:"] + failures)


@pytest.mark.only_backend("sqlite")  # reads the views' source only
def test_the_fragment_views_are_found():
    """The walk above finds the views known to serve fragments (lists, live parts, progress)."""
    assert {"tickets.index", "tickets.detail", "portal.ticket", "monitoring.index",
            "monitoring.detail", "reports.show", "broadcasts.show", "admin.users",
            "notifications.outbox", "sessions.all_sessions"} <= set(FRAGMENT_VIEWS)
