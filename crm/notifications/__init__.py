"""The notification outbox and the dev mailbox in the console (blueprint ``notifications``)."""
from flask import Blueprint

bp = Blueprint("notifications", __name__, url_prefix="/admin")

from crm.notifications import routes  # noqa: E402,F401
