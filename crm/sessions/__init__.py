"""Log-in sessions: every console log-in is a recorded, revocable :class:`UserSession`
(blueprint ``sessions``, the "server task manager")."""
from flask import Blueprint

bp = Blueprint("sessions", __name__, url_prefix="/sessions")

from crm.sessions import routes  # noqa: E402,F401
