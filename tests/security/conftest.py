"""Fixtures for the security tests: apps built with extra settings on the session's
database (the tables exist already), e.g. with rate limiting switched on."""
from __future__ import annotations

import pytest

from crm.extensions import db
from tests.conftest import _app_with


@pytest.fixture
def app_with(app_config):
    """``app_with(**overrides)`` → a new app on this backend's database with ``overrides``
    (engines are disposed afterwards)."""
    made = []

    def build(**overrides):
        application = _app_with({**app_config, **overrides})
        made.append(application)
        return application

    yield build
    for application in made:
        with application.app_context():
            db.engine.dispose()
