"""Home page per role, and the health check (blueprint ``dashboard``)."""
from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from crm.dashboard import routes  # noqa: E402,F401
