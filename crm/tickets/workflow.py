"""The ticket status workflow.

open → in_progress (accept) → pending (waiting on customer) → resolved → closed, with
reopening from resolved/closed back to open. The table is the single source for the console,
the API and the workers.
"""
from __future__ import annotations

from crm.tickets.models import CLOSED, IN_PROGRESS, OPEN, PENDING, RESOLVED, STATUS_LABELS

#: status -> statuses that may follow it
TRANSITIONS: dict[str, frozenset[str]] = {
    OPEN: frozenset({IN_PROGRESS, RESOLVED, CLOSED}),
    IN_PROGRESS: frozenset({PENDING, RESOLVED, OPEN}),
    PENDING: frozenset({IN_PROGRESS, RESOLVED}),
    RESOLVED: frozenset({CLOSED, OPEN}),
    CLOSED: frozenset({OPEN}),
}


class TransitionError(ValueError):
    """A status change the workflow does not allow; the message says why, for the user."""


def check_transition(current: str, new: str) -> None:
    """Raise :class:`TransitionError` unless ``current`` → ``new`` is allowed.

    :raises TransitionError: unknown status, no-op, or a transition outside :data:`TRANSITIONS`.
    """
    if new not in TRANSITIONS:
        raise TransitionError(f"Unknown status {new!r}.")
    if new == current:
        raise TransitionError(f"The ticket is already {STATUS_LABELS[current].lower()}.")
    if new not in TRANSITIONS[current]:
        allowed = ", ".join(STATUS_LABELS[s].lower() for s in sorted(TRANSITIONS[current]))
        raise TransitionError(
            f"A ticket that is {STATUS_LABELS[current].lower()} cannot become "
            f"{STATUS_LABELS[new].lower()} (allowed: {allowed})."
        )


def allowed_next(current: str) -> list[str]:
    """Statuses that may follow ``current``, in workflow order."""
    order = [OPEN, IN_PROGRESS, PENDING, RESOLVED, CLOSED]
    return [s for s in order if s in TRANSITIONS.get(current, ())]
