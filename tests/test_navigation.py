"""The navigation bar: grouped menus built from the policy table, per role.

Customers get only what they use on the bar (their tickets, a new ticket); staff get the
Helpdesk, Customers, Monitoring and Admin menus they hold permissions for; everyone's account
menu holds the profile, sessions, API docs and "Log out". Every entry shown opens for that
role (no link to a 403), and a role holding a permission sees its entry.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from crm.auth.policy import has_permission
from crm.navigation import ACCOUNT, GROUPS, LINKS


class NavParser(HTMLParser):
    """Reads the ``Main navigation`` landmark: direct links, dropdown menus (toggle button
    label → [(item label, href)]) and the account menu."""

    def __init__(self):
        super().__init__()
        self.in_nav = 0
        self.links: list[tuple[str, str]] = []
        self.menus: dict[str, list[tuple[str, str]]] = {}
        self.toggle_attrs: dict[str, dict] = {}
        self._stack: list[str] = []
        self._text: list[str] | None = None
        self._href: str | None = None
        self._menu: str | None = None
        self._button: dict | None = None
        self.menu_attrs: dict[str, dict] = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "nav" and a.get("aria-label") == "Main navigation":
            self.in_nav = 1
            return
        if not self.in_nav:
            return
        if tag == "button" and a.get("data-bs-toggle") == "dropdown":
            self._button, self._text = a, []
        elif tag == "ul" and "dropdown-menu" in a.get("class", ""):
            self._menu = a.get("aria-labelledby")
            self.menu_attrs[self._menu] = a
        elif tag == "a":
            self._href, self._text = a.get("href"), []

    def handle_endtag(self, tag):
        if not self.in_nav:
            return
        if tag == "nav":
            self.in_nav = 0
        elif tag == "button" and self._button is not None:
            label = " ".join("".join(self._text).split())
            self.toggle_attrs[self._button["id"]] = {**self._button, "label": label}
            self.menus.setdefault(label, [])
            self._button, self._text = None, None
        elif tag == "ul" and self._menu is not None:
            self._menu = None
        elif tag == "a" and self._href is not None:
            label = " ".join("".join(self._text).split())
            if self._menu is not None:
                self.menus[self.toggle_attrs[self._menu]["label"]].append((label, self._href))
            elif label != "CR Tracker":  # the brand
                self.links.append((label, self._href))
            self._href, self._text = None, None

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


def nav_of(client, path: str = "/dashboard") -> NavParser:
    resp = client.get(path, follow_redirects=True)
    assert resp.status_code == 200
    parser = NavParser()
    parser.feed(resp.get_data(as_text=True))
    return parser


def account_menu(nav: NavParser) -> list[str]:
    """Labels in the account menu (the one toggled by the user's name)."""
    return [label for label, _href in nav.menus[nav.toggle_attrs["menu-account"]["label"]]]


EXPECTED_BAR = {
    "customer": {"links": ["My tickets", "New ticket", "My orders", "My monitors"], "menus": []},
    "engineer": {"links": [], "menus": ["Helpdesk", "Monitoring"]},
    "agent": {"links": [], "menus": ["Helpdesk", "Customers", "Monitoring"]},
    "manager": {
        "links": ["Users"],
        "menus": ["Helpdesk", "Customers", "Monitoring"],
    },  # one Admin entry
    "admin": {"links": [], "menus": ["Helpdesk", "Customers", "Monitoring", "Admin"]},
}


@pytest.mark.parametrize("role", sorted(EXPECTED_BAR))
def test_the_bar_is_grouped_into_menus_per_role(client, make_user, login, role):
    user = make_user(role, name="Nav Person")
    login(user)
    nav = nav_of(client)
    menus = [label for label in nav.menus if label != nav.toggle_attrs["menu-account"]["label"]]
    links = [label for label, _ in nav.links]
    expected = EXPECTED_BAR[role]
    assert (menus, links) == (expected["menus"], expected["links"])
    assert nav.toggle_attrs["menu-account"]["label"].startswith("Nav Person")
    assert account_menu(nav) == [
        "Profile",
        "Mobile number",
        "Two-factor log-in",
        "Your sessions",
        "API docs",
    ]


def test_a_customer_bar_holds_their_tickets_a_new_ticket_their_orders_and_monitors(
        client, make_user, login):
    login(make_user("customer"))
    nav = nav_of(client, "/portal/")
    assert [label for label, _ in nav.links] == ["My tickets", "New ticket", "My orders",
                                                 "My monitors"]
    assert list(nav.menus) == [nav.toggle_attrs["menu-account"]["label"]]  # no staff menus
    assert ("API docs", "/docs") not in nav.links and "API docs" in account_menu(nav)
    assert "Your sessions" in account_menu(nav)


@pytest.mark.parametrize("role", sorted(EXPECTED_BAR))
def test_every_entry_shown_opens_for_that_role(client, make_user, login, role):
    login(make_user(role))
    nav = nav_of(client)
    hrefs = [href for _, href in nav.links] + [
        href for items in nav.menus.values() for _, href in items
    ]
    assert hrefs
    for href in hrefs:
        assert client.get(href).status_code == 200, f"{role}: {href}"


@pytest.mark.parametrize("role", sorted(EXPECTED_BAR))
def test_every_entry_whose_permission_the_role_holds_is_shown(client, make_user, login, role):
    from flask import url_for

    user = make_user(role)
    login(user)
    nav = nav_of(client)
    shown = {href for _, href in nav.links} | {
        href for items in nav.menus.values() for _, href in items
    }
    entries = [*LINKS, *ACCOUNT, *(e for g in GROUPS for e in g.entries)]
    with client.application.test_request_context():
        expected = {url_for(e.endpoint) for e in entries if has_permission(user, e.permission)}
    assert shown == expected


def test_menus_are_keyboard_operable_buttons_labelled_by_their_toggle(client, make_user, login):
    login(make_user("admin"))
    page = client.get("/dashboard").get_data(as_text=True)
    nav = NavParser()
    nav.feed(page)
    assert len(nav.toggle_attrs) == 5  # four menus + the account menu
    for toggle_id, attrs in nav.toggle_attrs.items():
        assert attrs["type"] == "button" and attrs["aria-expanded"] == "false"
        assert nav.menu_attrs[toggle_id]["aria-labelledby"] == toggle_id
    # the toggler that opens the collapsed bar on a phone names what it controls
    assert re.search(r'class="navbar-toggler"[^>]*aria-controls="nav"[^>]*aria-label="Menu"', page)
    # the menu holding the current page is marked, and so is the page's entry
    page = client.get("/admin/users").get_data(as_text=True)
    assert re.search(r'id="menu-admin"', page)
    assert re.search(r'class="nav-link dropdown-toggle active"[^>]*id="menu-admin"', page)
    assert re.search(r'class="dropdown-item active" aria-current="page" href="/admin/users"', page)
