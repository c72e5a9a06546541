"""The console's navigation bar, built from the policy table.

The bar has a few direct links (what a customer uses: their tickets, a new ticket), grouped
menus for staff (Helpdesk, Customers, Monitoring, Admin) and an account menu (profile, phone,
two-factor, sessions, API docs, log out). Each entry names the permission it needs
(:data:`crm.auth.policy.POLICY`); a user sees only entries they hold, and a menu with no
visible entry is left out. A menu left with one entry is shown as a plain link: a dropdown
that opens onto a single choice is an extra click for nothing.

``base.html`` renders :func:`navigation` (a template global registered by :func:`init_app`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import Flask, request, url_for
from flask_login import current_user

from crm.auth.policy import has_permission


@dataclass(frozen=True)
class Entry:
    """One destination: ``label``, Flask ``endpoint``, the ``permission`` it needs and the
    endpoint prefixes (``section``) of pages that count as "inside" it for highlighting."""

    label: str
    endpoint: str
    permission: str
    section: tuple[str, ...] = ()


@dataclass(frozen=True)
class Group:
    """A dropdown menu: ``label`` and its entries, in order."""

    label: str
    entries: tuple[Entry, ...]

    @property
    def id(self) -> str:
        """A DOM id for the menu's toggle button (``menu-helpdesk``)."""
        return "menu-" + self.label.lower().replace(" ", "-")


#: Direct links on the bar (customers see only these).
LINKS: tuple[Entry, ...] = (
    Entry("My tickets", "portal.index", "portal.use", ("portal.",)),
    Entry("New ticket", "portal.new_ticket", "ticket.create"),
    Entry("My orders", "shop_portal.orders", "shop.order.own", ("shop_portal.",)),
    Entry("My monitors", "my_monitors.index", "monitor.own", ("my_monitors.",)),
)

#: The staff menus, in bar order.
GROUPS: tuple[Group, ...] = (
    Group(
        "Helpdesk",
        (
            Entry("Overview", "dashboard.home", "ticket.list_staff"),
            Entry("Tickets", "tickets.index", "ticket.list_staff", ("tickets.",)),
        ),
    ),
    Group(
        "Customers",
        (
            Entry("Customers", "admin.customers", "customer.list"),
            Entry(
                "Shop customers",
                "shop.customers",
                "shop.customer.view",
                ("shop.customer", "shop.new_customer", "shop.edit_customer"),
            ),
            Entry("Orders", "shop.orders", "shop.order.view", ("shop.order",)),
            Entry("Products", "shop.products", "shop.product.view"),
            Entry("Broadcasts", "broadcasts.index", "broadcast.send", ("broadcasts.",)),
        ),
    ),
    Group(
        "Monitoring",
        (
            Entry("Monitors", "monitoring.index", "monitor.view", ("monitoring.",)),
            Entry("Uptime dashboard", "monitoring.dashboard", "monitor.view"),
            Entry(
                "Status pages",
                "monitoring.status_page_list",
                "monitor.manage",
                ("monitoring.status_page",),
            ),
            Entry(
                "Contact groups",
                "monitoring.contact_groups",
                "monitor.view",
                ("monitoring.contact_group",),
            ),
            Entry("Maintenance", "maintenance.index", "maintenance.manage", ("maintenance.",)),
            Entry("Reports", "reports.index", "report.view", ("reports.",)),
            # the error tracker (crm/observability/errors)
            Entry("Errors", "errors.index", "error.view", ("errors.index", "errors.issue")),
            Entry("Error projects", "errors.projects", "error.manage", ("errors.projects",)),
        ),
    ),
    Group(
        "Admin",
        (
            Entry("Users", "admin.users", "user.administer", ("admin.user", "admin.new_user")),
            Entry(
                "Registrations",
                "admin.registrations",
                "registration.decide",
                ("admin.approve", "admin.reject"),
            ),
            Entry("All sessions", "sessions.all_sessions", "session.manage"),
            Entry(
                "Outbox",
                "notifications.outbox",
                "notification.manage",
                ("notifications.notification",),
            ),
            Entry("Mailbox", "notifications.mailbox", "mailbox.view", ("notifications.mail",)),
            Entry("SMS", "notifications.sms", "sms.view"),
            Entry(
                "Email templates",
                "notifications.email_templates",
                "template.manage",
                ("notifications.email_template",),
            ),
            Entry("Security", "security.admin", "security.manage"),
            Entry("Two-factor policy", "auth.totp_policy", "security.manage"),
        ),
    ),
)

#: The account menu (under the user's name); "Log out" is a form button after these.
ACCOUNT: tuple[Entry, ...] = (
    Entry("Profile", "auth.profile", "authenticated", ("auth.change_password",)),
    Entry("Mobile number", "auth.phone", "authenticated"),
    Entry("Two-factor log-in", "auth.totp_setup", "authenticated"),
    Entry("Your sessions", "sessions.mine", "authenticated", ("sessions.revoke",)),
    Entry("API docs", "api.docs", "public"),
)


@dataclass
class Item:
    """A rendered entry: ``label``, ``url`` and whether it is the current page."""

    label: str
    url: str
    current: bool = False


@dataclass
class Menu:
    """A rendered menu: ``label``, DOM ``id``, its items; ``current`` when it holds the page."""

    label: str
    id: str
    items: list[Item] = field(default_factory=list)

    @property
    def current(self) -> bool:
        return any(i.current for i in self.items)


@dataclass
class NavBar:
    """What ``base.html`` draws: direct ``links``, ``menus`` (a one-item menu arrives as a
    link instead) and the ``account`` menu's items."""

    links: list[Item]
    menus: list[Menu | Item]
    account: list[Item]


def _current_entry(entries: list[Entry], endpoint: str | None) -> Entry | None:
    """The entry the page ``endpoint`` belongs to: an exact match, else the entry with the
    longest matching section prefix."""
    if not endpoint:
        return None
    for entry in entries:
        if entry.endpoint == endpoint:
            return entry
    best, length = None, 0
    for entry in entries:
        for prefix in entry.section:
            if endpoint.startswith(prefix) and len(prefix) > length:
                best, length = entry, len(prefix)
    return best


def build(user, endpoint: str | None) -> NavBar:
    """The navigation bar for ``user`` (anonymous gets an empty bar) on page ``endpoint``.

    :returns: a :class:`NavBar` with only the entries ``user`` holds the permission for.
    """
    if not getattr(user, "is_authenticated", False):
        return NavBar([], [], [])
    allowed = {
        p
        for p in {e.permission for e in (*LINKS, *ACCOUNT, *(x for g in GROUPS for x in g.entries))}
        if has_permission(user, p)
    }
    visible_links = [e for e in LINKS if e.permission in allowed]
    visible_groups = [(g, [e for e in g.entries if e.permission in allowed]) for g in GROUPS]
    visible_account = [e for e in ACCOUNT if e.permission in allowed]
    current = _current_entry(
        visible_links + visible_account + [e for _g, entries in visible_groups for e in entries],
        endpoint,
    )

    def item(entry: Entry) -> Item:
        return Item(entry.label, url_for(entry.endpoint), entry is current)

    menus: list[Menu | Item] = []
    for group, entries in visible_groups:
        if len(entries) == 1:
            menus.append(item(entries[0]))
        elif entries:
            menus.append(Menu(group.label, group.id, [item(e) for e in entries]))
    return NavBar([item(e) for e in visible_links], menus, [item(e) for e in visible_account])


def init_app(app: Flask) -> None:
    """Register the ``navigation()`` template global (the bar of the current user and page)."""

    @app.template_global()
    def navigation() -> NavBar:
        return build(current_user._get_current_object(), request.endpoint)
