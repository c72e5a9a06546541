"""Status-page objects for the authorisation matrix and bad-input tests
(``tests/helpers_matrix.py`` ARG_VALUES ``page_id``, ``slug``): created on first use and
kept in ``world.extra``. Rows are inserted directly (no services), like ``build_world``."""
from __future__ import annotations

from crm.extensions import db


def status_page(world):
    """A public status page showing the matrix monitor."""
    from crm.monitoring.models import StatusPage
    from tests.monitoring import api_matrix_objects

    if "status_page" not in world.extra:
        page = StatusPage(slug="matrix-status", title="Matrix status", description="")
        page.monitors = [api_matrix_objects.monitor(world)]
        db.session.add(page)
        db.session.commit()
        world.extra["status_page"] = page
    return world.extra["status_page"]
