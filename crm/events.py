"""Domain events: services announce what happened; subscribers do the side work.

A service calls :func:`publish` inside its transaction. Two kinds of subscriber run:

* ``in_transaction`` handlers run just before the commit, in the same transaction, so rows
  they add (outbox notifications, audit) commit or roll back with the change itself;
* ``after_commit`` handlers run once the commit succeeded (enqueue jobs, live pushes), so
  nobody is told about a change that rolled back.

Event names are ``noun.verb`` strings: ``ticket.created``, ``ticket.assigned``,
``ticket.accepted``, ``ticket.status_changed``, ``comment.added``, ``user.registered``,
``user.approved``, ``user.rejected`` …
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

Handler = Callable[["DomainEvent"], None]
_in_tx: dict[str, list[Handler]] = defaultdict(list)
_after: dict[str, list[Handler]] = defaultdict(list)
_PENDING_KEY = "crm_pending_events"
_POST_KEY = "crm_post_commit_events"


@dataclass
class DomainEvent:
    """Something that happened: ``name`` plus a payload of ids and values (no ORM objects
    needed by after-commit handlers, which run outside the transaction)."""

    name: str
    payload: dict = field(default_factory=dict)


def in_transaction(name: str) -> Callable[[Handler], Handler]:
    """Decorator: run the handler inside the publishing transaction, before commit."""
    def register(fn: Handler) -> Handler:
        _in_tx[name].append(fn)
        return fn
    return register


def after_commit(name: str) -> Callable[[Handler], Handler]:
    """Decorator: run the handler after the publishing transaction commits."""
    def register(fn: Handler) -> Handler:
        _after[name].append(fn)
        return fn
    return register


def publish(session: Session, name: str, **payload) -> None:
    """Record an event on ``session``; handlers run at its next commit (see module doc)."""
    session.info.setdefault(_PENDING_KEY, []).append(DomainEvent(name, payload))


def install(session_factory) -> None:
    """Attach the commit hooks to a session class or sessionmaker (done by ``create_app``)."""
    if getattr(session_factory, "_crm_events_installed", False):
        return
    sa_event.listen(session_factory, "before_commit", _before_commit)
    sa_event.listen(session_factory, "after_commit", _after_commit)
    sa_event.listen(session_factory, "after_soft_rollback", _after_rollback)
    session_factory._crm_events_installed = True


def _before_commit(session: Session) -> None:
    # Handlers may publish further events; loop until the queue is drained.
    done: list[DomainEvent] = session.info.setdefault(_POST_KEY, [])
    while session.info.get(_PENDING_KEY):
        batch = session.info.pop(_PENDING_KEY)
        for ev in batch:
            for handler in _in_tx.get(ev.name, ()):
                handler(ev)
            done.append(ev)
    session.flush()


def _after_commit(session: Session) -> None:
    events = session.info.pop(_POST_KEY, [])
    for ev in events:
        for handler in _after.get(ev.name, ()):
            try:
                handler(ev)
            except Exception:  # a failed side effect must not fail the committed request
                log.exception("after-commit handler for %s failed", ev.name)


def _after_rollback(session: Session, previous_transaction) -> None:
    session.info.pop(_PENDING_KEY, None)
    session.info.pop(_POST_KEY, None)
