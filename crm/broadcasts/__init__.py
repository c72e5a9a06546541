"""Maintenance broadcasts (blueprint ``broadcasts`` at ``/broadcasts``): announce a
maintenance window to customers by email and/or SMS through the outbox, with one-click
unsubscribe (RFC 8058) for the announcement emails."""
from flask import Blueprint

bp = Blueprint("broadcasts", __name__, url_prefix="/broadcasts")

from crm.broadcasts import models, routes  # noqa: E402,F401
