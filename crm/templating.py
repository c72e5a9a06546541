"""Template globals and filters shared by every page."""
from __future__ import annotations

from datetime import datetime

from flask import Flask, request, url_for
from flask_login import current_user

from crm.auth.policy import has_permission


def _me():
    """The real user object behind ``current_user`` (resolving the proxy once)."""
    return current_user._get_current_object()


def init_app(app: Flask) -> None:
    """Register globals: ``can(permission)``, ``nav_items()``, ``page_url(**args)`` and the
    ``utc`` / ``ago`` filters."""

    @app.template_global()
    def can(permission: str) -> bool:
        return has_permission(_me(), permission)

    @app.template_global()
    def page_url(**changes) -> str:
        """The current URL with query arguments replaced (None removes one)."""
        args = request.args.to_dict()
        for key, value in changes.items():
            if value is None:
                args.pop(key, None)
            else:
                args[key] = value
        return url_for(request.endpoint, **(request.view_args or {}), **args)

    @app.template_global()
    def nav_items() -> list[tuple[str, str, str]]:
        """(label, endpoint, permission) entries the current user may see, in menu order."""
        items = [
            ("Dashboard", "dashboard.home", "authenticated"),
            ("My tickets", "portal.index", "portal.use"),
            ("New ticket", "portal.new_ticket", "ticket.create"),
            ("Tickets", "tickets.index", "ticket.list_staff"),
            ("Customers", "admin.customers", "customer.list"),
            ("Registrations", "admin.registrations", "registration.decide"),
            ("Users", "admin.users", "user.administer"),
            ("All sessions", "sessions.all_sessions", "session.manage"),
            ("Outbox", "notifications.outbox", "notification.manage"),
            ("Mailbox", "notifications.mailbox", "mailbox.view"),
            ("SMS", "notifications.sms", "sms.view"),
            ("Email templates", "notifications.email_templates", "template.manage"),
            ("Security", "security.admin", "security.manage"),
            ("Two-factor policy", "auth.totp_policy", "security.manage"),
            ("Sessions", "sessions.mine", "authenticated"),
            ("Monitors", "monitoring.index", "monitor.view"),
            ("Uptime dashboard", "monitoring.dashboard", "monitor.view"),
            ("Maintenance", "maintenance.index", "maintenance.manage"),
            ("Reports", "reports.index", "report.view"),
            ("Broadcasts", "broadcasts.index", "broadcast.send"),
            ("API docs", "api.docs", "public"),
        ]
        me = _me()  # one proxy lookup, not three per entry (it showed in the profile)
        return [i for i in items if has_permission(me, i[2])]

    @app.template_filter("utc")
    def utc_filter(value: datetime | None) -> str:
        return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"

    @app.template_filter("status_label")
    def status_label_filter(value: str | None) -> str:
        from crm.tickets.models import STATUS_LABELS
        return STATUS_LABELS.get(value, value or "—")

    @app.template_filter("iso")
    def iso_filter(value: datetime | None) -> str:
        return value.isoformat() if value else ""
