"""Every monitoring console page (blueprints ``monitoring``, ``maintenance``, ``reports`` and
``status_pages``, walked from ``app.url_map``) seen by each persona:

* the owner, the staff member who created the page's objects, gets the page with them on it;
* another role holding the view's permission gets the same page;
* outsiders (a customer, and staff whose role lacks the permission in
  :data:`crm.auth.policy.POLICY`) get 403;
* anonymous visitors are sent to the log-in page (``?next=`` the page).

Public views (the status page) answer everyone. The objects are the authorisation matrix's
(``tests/helpers_matrix.py`` :func:`build_world` and ARG_VALUES); the test only records who
created them. The matrix (``tests/test_authz_matrix.py``) checks every method's refusals;
this module checks what the allowed personas actually see.
"""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from crm.auth.policy import POLICY, PUBLIC
from crm.extensions import db
from tests.helpers_matrix import (
    ROLES,
    build_world,
    collected_routes,
    describe,
    fast_passwords,  # noqa: F401  (fixture)
    url_for_route,
    visible_text,
)

BLUEPRINTS = ("monitoring", "maintenance", "reports", "status_pages")
VIEWS = [r for r in collected_routes()
         if r.method == "GET" and not r.is_api and r.endpoint.split(".")[0] in BLUEPRINTS]

#: endpoint -> what the page shows of the world's objects (text after tags are stripped), or
#: a content type for downloads. A new view fails until it is listed here.
SHOWS = {
    "monitoring.index": "Matrix monitor",
    "monitoring.detail": "Matrix monitor",
    "monitoring.edit": "Edit Matrix monitor",
    "monitoring.delete": "Matrix monitor",
    "monitoring.create": "New monitor",
    "monitoring.dashboard": "Uptime dashboard",
    "monitoring.contact_groups": "Matrix shared group",
    "monitoring.contact_group": "Matrix shared group",
    "monitoring.status_page_list": "Matrix status",
    "monitoring.status_page_create": "New status page",
    "monitoring.status_page_edit": "matrix-status",
    "maintenance.index": "Matrix window",
    "maintenance.new": "New maintenance window",
    "maintenance.edit": "Matrix window",
    "reports.index": "Matrix group",
    "reports.show": "Matrix group",
    "reports.preview": "report",
    "reports.pdf": "application/pdf",
    "reports.subscriptions": "Matrix group",
    "status_pages.show": "Matrix status",
}

#: blueprint -> the role of the staff member who creates what its views show
OWNER_ROLE = {"monitoring": "engineer", "maintenance": "manager", "reports": "manager",
              "status_pages": "engineer"}


def _holders(permission: str) -> list[str]:
    return list(ROLES) if permission == PUBLIC else [r for r in ROLES if r in POLICY[permission]]


def _own_everything(world, owner) -> None:
    """Make the world's monitoring objects (the matrix makes them on first use) and record
    ``owner`` as the creator of those that keep one."""
    from tests.broadcasts import matrix_objects
    from tests.monitoring import api_matrix_objects, console_matrix_objects

    api_matrix_objects.contact_group(world)
    console_matrix_objects.status_page(world)
    for row in (api_matrix_objects.monitor(world), matrix_objects.maintenance_window(world),
                matrix_objects.health_report(world)):
        row.created_by_id = owner.id
    db.session.commit()


def _sees(resp, endpoint: str, what: str) -> str | None:
    """None when ``resp`` is the page (or download) showing ``what``, else why not."""
    if resp.status_code != 200:
        return f"expected 200, got {describe(resp)}"
    if "/" in what:
        return None if resp.mimetype == what else f"expected {what}, got {resp.mimetype}"
    body = resp.get_data(as_text=True)
    if endpoint != "reports.preview" and "</html>" not in body:
        return "not a whole page"
    shown = what in visible_text(resp) or f'value="{what}"' in body
    return None if shown else f"{what!r} not on the page"


@pytest.mark.only_backend("sqlite")  # reads the url_map only
def test_every_console_view_is_listed():
    """Each GET view of the four blueprints says what its personas should see."""
    assert sorted(r.endpoint for r in VIEWS) == sorted(SHOWS)


def _views(blueprint: str) -> list:
    return [v for v in VIEWS if v.endpoint.split(".")[0] == blueprint]


def _permission(app, view) -> str:
    return app.view_functions[view.endpoint].crm_permission


def _check_view(view, permission: str, path: str, personas: dict, anonymous) -> list[str]:
    """What went wrong for each persona on one view (empty: all as expected)."""
    what, problems = SHOWS[view.endpoint], []
    holders = _holders(permission)
    for name, persona in personas.items():
        resp = persona.get(path)
        if name == "owner" or name in holders:
            problem = _sees(resp, view.endpoint, what)
            if problem:
                problems.append(f"{name}: {problem}")
        elif resp.status_code != 403 or what in visible_text(resp):
            problems.append(f"outsider {name}: expected a bare 403, got {describe(resp)}")
    resp = anonymous.get(path)
    if permission == PUBLIC:
        problem = _sees(resp, view.endpoint, what)
        if problem:
            problems.append(f"anonymous: {problem}")
    else:
        location = urlsplit(resp.headers.get("Location", ""))
        if resp.status_code != 302 or location.path != "/auth/login" \
                or parse_qs(location.query).get("next") != [path]:
            problems.append(f"anonymous: expected the log-in redirect, got {describe(resp)}")
    return problems


@pytest.mark.parametrize("blueprint", BLUEPRINTS)
def test_personas_on_console_views(app, fast_passwords, make_user, login_as, blueprint):  # noqa: F811
    """Each persona logs in once and visits every GET view of ``blueprint`` (one test per
    blueprint: the per-test database clean-up is the dominant cost)."""
    world = build_world(make_user)
    owner = make_user(OWNER_ROLE[blueprint])
    _own_everything(world, owner)
    personas = {"owner": login_as(owner)}
    personas.update({role: login_as(world.user(role)) for role in ROLES})
    anonymous = login_as(None)
    failures = []
    for view in _views(blueprint):
        permission = _permission(app, view)
        path = url_for_route(app, view, world)
        failures += [f"GET {path}: {problem}"
                     for problem in _check_view(view, permission, path, personas, anonymous)]
    assert not failures, "\n  ".join([f"{blueprint}:"] + failures)
