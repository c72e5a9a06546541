"""The monitoring console: blueprint ``monitoring`` (``/monitors``: monitors, contact groups,
dashboards, status-page settings) plus the ``maintenance``, ``reports`` and public
``status_pages`` blueprints, each in its own module."""
from flask import Blueprint

bp = Blueprint("monitoring", __name__, url_prefix="/monitors")

from crm.monitoring.pages import monitors  # noqa: E402,F401  (views on bp)
