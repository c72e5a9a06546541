"""Fixtures of the ticket console tests: people and tickets made through the services."""
from __future__ import annotations

import pytest

from crm.tickets import services


@pytest.fixture
def engineer(make_user):
    return make_user("engineer", name="Erin Fixwell")


@pytest.fixture
def customer(make_user):
    return make_user("customer", name="Carla Buyer", email="carla.buyer@example.com")


@pytest.fixture
def make_ticket():
    """``make_ticket(customer, subject=..., priority=...)`` through the service (auto-assigned)."""
    def make(requester, subject: str = "Printer on fire", description: str = "Smoke everywhere",
             priority: str = "normal"):
        return services.create_ticket(requester, subject, description, priority)
    return make


HTMX_BOOSTED = {"HX-Request": "true", "HX-Boosted": "true"}
HTMX_PARTIAL = {"HX-Request": "true"}
