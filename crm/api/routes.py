"""API routes: the resources under ``/api/v1``, the OpenAPI document and the ``/docs`` page.

The resource modules register their operations with :func:`crm.api.openapi.api_operation`
when imported here. The API authenticates with bearer tokens, never cookies, so the
blueprint is exempt from CSRF protection.
"""
from flask import current_app, jsonify, render_template

from crm.api import bp
from crm.api.openapi import api_operation, build_document
from crm.auth.policy import public
from crm.extensions import csrf

csrf.exempt(bp)

from crm.api import (  # noqa: E402,F401  (register operations)
    accounts,
    monitors,
    notifications,
    observability,
    password_reset,  # noqa: E402,F401  (register operations)
    shop,
    tickets,
)


@bp.route("/docs")
@public
def docs():
    """Browsable API documentation (Swagger UI, served locally)."""
    return render_template("api/docs.html")


@api_operation("GET", "/openapi.json", tag="Meta", summary="This OpenAPI document")
@public
def openapi_document():
    """The OpenAPI 3.1 document of this API, generated from the routes and their models."""
    from crm import __version__

    doc = current_app.extensions.get("crm_openapi")
    if doc is None:
        doc = current_app.extensions["crm_openapi"] = build_document("CR Tracker API", __version__)
    return jsonify(doc)
