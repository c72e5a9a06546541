"""Error tracker housekeeping (RQ jobs, declared in :mod:`crm.schedule`)."""
from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app

from crm.clock import utcnow
from crm.observability.errors.models import ErrorEvent
from crm.retention import delete_older_than
from crm.workers_app import with_app_context

log = logging.getLogger(__name__)

#: events deleted per transaction (keeps locks and WAL growth short)
PRUNE_BATCH = 5000


@with_app_context
def prune_events() -> int:
    """Delete events older than ``ERROR_EVENT_RETENTION_DAYS`` (issues keep their counts and
    first/last seen); idempotent.

    :returns: how many events were deleted.
    """
    cutoff = utcnow() - timedelta(days=current_app.config["ERROR_EVENT_RETENTION_DAYS"])
    total = delete_older_than(ErrorEvent, ErrorEvent.received_at, cutoff, PRUNE_BATCH)
    if total:
        log.info("pruned %d error events older than %s", total, cutoff.isoformat())
    return total
