"""Uptime monitoring (blueprint ``monitoring``): monitors and their checks, incidents,
alerts, dashboards, status pages, synthetic transactions and health reports."""
from flask import Blueprint

bp = Blueprint("monitoring", __name__, url_prefix="/monitors")

from crm.monitoring import models, routes  # noqa: E402,F401  (models; console views on bp)
