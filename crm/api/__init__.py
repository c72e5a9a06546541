"""The JSON API under ``/api/v1`` (blueprint ``api``) and the ``/docs`` page.

Handlers only authorise (``@requires(..., api=True)``), validate with the pydantic schemas in
:mod:`crm.api.schemas`, call a service and serialise. Errors are problem+json (RFC 9457).
"""
from flask import Blueprint

bp = Blueprint("api", __name__)

from crm.api import routes  # noqa: E402,F401
