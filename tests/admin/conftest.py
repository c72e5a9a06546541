"""Fixtures of the user-management tests (the multi-browser helper of tests/sessions)."""
from tests.sessions.conftest import browser  # noqa: F401  (fixture)
