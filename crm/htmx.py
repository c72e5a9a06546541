"""htmx helpers: decide full page or fragment (as netbox's ``htmx_partial``)."""
from __future__ import annotations

from flask import render_template, request


def is_htmx_partial() -> bool:
    """True for an htmx request that wants a fragment (HX-Request, not a boosted navigation)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def render_page_or_fragment(page: str, fragment: str, **context) -> str:
    """Render ``fragment`` alone for htmx partial requests, else the full ``page``.

    :param page: template of the full page (which includes ``fragment``).
    :param fragment: template of the part htmx swaps (``_thing.html``).
    """
    return render_template(fragment if is_htmx_partial() else page, **context)


def poll_unchanged(version: str) -> bool:
    """True for an htmx poll whose ``?since=`` equals ``version`` (e.g. the ticket's
    ``updated_at`` in ISO 8601): the view answers 204 and htmx leaves the page alone."""
    since = request.args.get("since")
    return bool(since) and is_htmx_partial() and since == version
