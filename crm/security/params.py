"""HTTP parameter pollution: a repeated query or form parameter is refused (400).

Frameworks disagree on which copy of ``?status=open&status=closed`` wins (Werkzeug takes the
first, others the last or a list), so a proxy, a WAF and the app could each see a different
value. Every parameter is single-valued unless the endpoint declares the names it accepts
several times: with :func:`multi_valued` on the view, in :data:`MULTI_VALUED`, or as a
multiple-choice field (``SelectMultipleField`` and subclasses, e.g. checkbox lists) of any
Flask-WTF form, which the check finds by itself.
"""
from __future__ import annotations

from collections.abc import Callable

from flask import Flask, abort, current_app, request

#: endpoint → parameter names it accepts more than once (for views in other packages).
MULTI_VALUED: dict[str, frozenset[str]] = {
    "auth.totp_policy": frozenset({"roles"}),  # checkboxes: staff roles that must use 2FA
}


def multi_valued(*names: str) -> Callable:
    """Decorator: the view accepts each of ``names`` more than once (a multiple choice)."""
    def decorate(view: Callable) -> Callable:
        view.crm_multi_valued = frozenset(names) | getattr(view, "crm_multi_valued", frozenset())
        return view
    return decorate


def form_multi_valued_names() -> frozenset[str]:
    """Names of the multiple-choice fields (``SelectMultipleField`` and subclasses) declared
    on any Flask-WTF form class defined so far: a browser sends each checked box or selected
    option as one more copy of the name."""
    from flask_wtf import FlaskForm
    from wtforms import SelectMultipleField
    from wtforms.fields.core import UnboundField

    names: set[str] = set()
    pending = [FlaskForm]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        for name, attr in vars(cls).items():
            if isinstance(attr, UnboundField) and issubclass(attr.field_class, SelectMultipleField):
                names.add(name)
    return frozenset(names)


def allowed_repeats(endpoint: str | None) -> frozenset[str]:
    """Parameter names ``endpoint`` accepts more than once (declared ones, plus every form's
    multiple-choice field names)."""
    view = current_app.view_functions.get(endpoint) if endpoint else None
    return (
        MULTI_VALUED.get(endpoint or "", frozenset())
        | getattr(view, "crm_multi_valued", frozenset())
        | form_multi_valued_names()
    )


def refuse_repeated_parameters() -> None:
    """``before_request``: abort 400 when a single-valued query or form parameter is repeated
    (the error handlers answer problem+json on the API and an error page on the console).

    :raises werkzeug.exceptions.BadRequest: naming the parameter.
    """
    sources = [("query", request.args)]
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        sources.append(("form", request.form))
    allowed = None
    for where, values in sources:
        for name, items in values.lists():
            if len(items) > 1:
                if allowed is None:
                    allowed = allowed_repeats(request.endpoint)
                if name not in allowed:
                    abort(
                        400,
                        f"The {where} parameter {name!r} was given more than once; give it once.",
                    )


def init_app(app: Flask) -> None:
    """Install :func:`refuse_repeated_parameters` as a ``before_request`` hook."""
    app.before_request(refuse_repeated_parameters)
