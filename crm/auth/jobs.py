"""Periodic jobs of the accounts feature."""
from __future__ import annotations

import logging

from flask import current_app

from crm.workers_app import with_app_context

log = logging.getLogger(__name__)


@with_app_context
def purge_tokens() -> int:
    """Periodic job: delete expired and used emailed account tokens (verification, reset).

    Used tokens are kept until they expire (at most ``VERIFY_TOKEN_TTL_SECONDS``), so a
    verification link clicked twice still answers "already verified".

    :returns: how many tokens were deleted.
    """
    from crm.auth import tokens
    deleted = tokens.purge(keep_used_seconds=current_app.config["VERIFY_TOKEN_TTL_SECONDS"])
    if deleted:
        log.info("purged %d expired or used account tokens", deleted)
    return deleted
