"""Accounts: log-in, log-out, registration (blueprint ``auth``)."""
from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/auth")

from crm.auth import routes  # noqa: E402,F401
from crm.auth import phone, reset  # noqa: E402,F401  (password reset, phone verification)
