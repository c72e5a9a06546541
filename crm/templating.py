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
    """Register globals: ``can(permission)``, ``navigation()`` (:mod:`crm.navigation`),
    ``page_url(**args)`` and the ``utc`` / ``ago`` / ``mask_tokens`` filters."""
    from crm import navigation
    navigation.init_app(app)

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

    @app.template_filter("utc")
    def utc_filter(value: datetime | None) -> str:
        return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"

    @app.template_filter("status_label")
    def status_label_filter(value: str | None) -> str:
        from crm.tickets.models import STATUS_LABELS
        return STATUS_LABELS.get(value, value or "—")

    @app.template_filter("mask_tokens")
    def mask_tokens_filter(value: str | None) -> str:
        """Token-bearing links with the secret hidden
        (:func:`crm.notifications.masking.mask_tokens`)."""
        from crm.notifications.masking import mask_tokens

        return mask_tokens(value)

    @app.template_filter("iso")
    def iso_filter(value: datetime | None) -> str:
        return value.isoformat() if value else ""
