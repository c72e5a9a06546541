"""RQ jobs of the API domain."""
from __future__ import annotations

import logging

from crm.api.tokens import purge_expired
from crm.workers_app import with_app_context

log = logging.getLogger(__name__)


@with_app_context
def purge_refresh_tokens() -> int:
    """Delete refresh tokens that expired over a week ago (and their empty families).

    :returns: how many refresh tokens were deleted.
    """
    n = purge_expired()
    if n:
        log.info("purged %d expired refresh tokens", n)
    return n
