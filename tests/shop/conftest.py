"""Fixtures of the shop tests: the app served on 127.0.0.1 by a real threaded werkzeug
server (webhook signatures are checked over the raw bytes a real client sends; the fixture
is the error tracker's), and a Shopify connection."""
from __future__ import annotations

import pytest

from tests.observability.conftest import live_server  # noqa: F401  (fixture)
from tests.shop import factories


@pytest.fixture
def connection(app):
    """A Shopify connection signed with :data:`factories.SECRET`."""
    return factories.make_connection()
