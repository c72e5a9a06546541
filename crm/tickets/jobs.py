"""RQ jobs of the ticket domain."""
from __future__ import annotations

import logging

from crm.tickets.services import assign_waiting_tickets
from crm.workers_app import with_app_context

log = logging.getLogger(__name__)


@with_app_context
def assign_waiting() -> int:
    """Safety net: assign active unassigned tickets (e.g. after a crash between creation and
    assignment). :returns: how many were assigned."""
    n = assign_waiting_tickets()
    if n:
        log.info("assigned %d waiting tickets", n)
    return n
