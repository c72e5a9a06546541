"""Staff ticket console (blueprint ``tickets``)."""
from flask import Blueprint

bp = Blueprint("tickets", __name__, url_prefix="/tickets")

from crm.tickets import routes  # noqa: E402,F401
