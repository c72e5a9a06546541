"""htmx helpers: decide full page or fragment (as netbox's ``htmx_partial``)."""
from __future__ import annotations

from flask import make_response, render_template, request


def is_htmx_partial() -> bool:
    """True for an htmx request that wants a fragment (HX-Request, not a boosted navigation)."""
    return (
        request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"
    )


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


def rerender_at(url: str, body: str, status: int = 422):
    """A form posted to a POST-only address that failed: answer its page (``body``, with
    ``status``) as the page at ``url``, the address it lives at.

    A boosted htmx form pushes the address it posted to into the history, so reloading the
    re-rendered page would GET the POST-only address (405). ``HX-Replace-Url`` makes htmx put
    ``url`` in the address bar instead, in place of the entry the form was on (a failed
    submission adds no history entry). Requests without htmx get the body unchanged.
    """
    response = make_response(body, status)
    if request.headers.get("HX-Request") == "true":
        response.headers["HX-Replace-Url"] = url
    return response
