"""Shop subscribers to domain events (registered when :mod:`crm.shop` is imported)."""
from __future__ import annotations

from crm import events
from crm.extensions import db


@events.in_transaction("user.email_verified")
def _link_verified_customer(ev: events.DomainEvent) -> None:
    """A customer who verifies their email sees the shop orders bought with it: link the
    shop customers with that email, in the verifying transaction."""
    from crm.auth.models import User
    from crm.shop.services import link_customers_of

    user = db.session.get(User, ev.payload.get("user_id"))
    if user is not None:
        link_customers_of(user)
