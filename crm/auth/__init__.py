"""Accounts: log-in, log-out, registration (blueprint ``auth``)."""
from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/auth")

from crm.auth import (  # noqa: E402,F401  (password reset, phone verification)
    phone,
    reset,
    routes,  # noqa: E402,F401
)
