"""The customer self-service portal (blueprint ``portal``)."""
from flask import Blueprint

bp = Blueprint("portal", __name__, url_prefix="/portal")

from crm.portal import routes  # noqa: E402,F401
