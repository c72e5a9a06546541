"""WSGI entry point: ``gunicorn wsgi:app`` or ``flask --app wsgi …``."""
import sys

from crm import ConfigError, create_app

try:
    app = create_app()
except ConfigError as exc:  # one clear line, no traceback
    sys.exit(f"configuration error: {exc}")
