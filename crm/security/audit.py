"""Security events: one structured log line per event, on the ``crm.security`` logger.

Every line is a JSON object (OWASP Logging Cheat Sheet, "Which events to log"; NIST SP
800-92): ``ts`` (UTC, ISO 8601), ``event``, ``outcome``, ``user_id`` and ``user`` (email)
when known, ``ip`` and ``user_agent`` of the request, ``method`` and ``path``, plus the
event's own fields. Secrets (passwords, codes, tokens) are never passed in. Ship the logger to
the SIEM like any other (its records' message is the JSON text; ``record.security_event``
holds the dict).

Events written:

=========================  =============================================================
``login.failed``           wrong email or password (console, API, SSO-less log-in)
``login.refused``          right password, account pending/rejected/disabled
``login.succeeded``        password step passed (a TOTP step may follow)
``login.locked``           an attempt while the account (or unknown address) is locked
``account.locked``         a failure started a lock (``seconds``)
``totp.failed``            wrong, reused or stale TOTP code (``reason``)
``access.denied``          any 403 answer, console or API
``refresh_token.reused``   a rotated refresh token came back: its log-in was revoked
``user.role_changed``      an admin/manager changed a role (``old_role``, ``new_role``)
``password.changed``       a password change or reset (``reason``)
=========================  =============================================================
"""
from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, has_request_context, request

from crm import events
from crm.clock import utcnow

log = logging.getLogger("crm.security")

#: longest user agent kept in a line (they are attacker-controlled text).
MAX_USER_AGENT = 256


def _request_fields() -> dict[str, Any]:
    if not has_request_context():
        return {}
    from crm.security.limits import client_ip
    return {"ip": client_ip(), "user_agent": (request.user_agent.string or "")[:MAX_USER_AGENT],
            "method": request.method, "path": request.path}


def _user_fields(user) -> dict[str, Any]:
    if user is None:
        return {}
    return {"user_id": getattr(user, "id", None), "user": getattr(user, "email", None)}


def security_event(name: str, user=None, outcome: str = "failure", **fields: Any) -> dict:
    """Write one security event as a JSON line on the ``crm.security`` logger.

    :param name: event name, ``noun.verb`` (see the module's table).
    :param user: the account concerned (a :class:`~crm.auth.models.User`), when known; for
        attempts on unknown accounts pass ``email=...`` in ``fields`` instead.
    :param outcome: ``failure`` (default), ``success`` or ``denied``.
    :param fields: extra JSON-serialisable members (no secrets).
    :returns: the logged dict (for callers that want to attach it elsewhere).
    """
    entry: dict[str, Any] = {"ts": utcnow().isoformat(), "event": name, "outcome": outcome}
    entry.update(_user_fields(user))
    entry.update(_request_fields())
    entry.update(fields)
    level = logging.INFO if outcome == "success" else logging.WARNING
    log.log(level, json.dumps(entry, default=str, sort_keys=True), extra={"security_event": entry})
    return entry


def _log_forbidden(resp: Response) -> Response:
    if resp.status_code == 403:
        from crm.auth.policy import acting_user
        try:
            user = acting_user()
            user = user if getattr(user, "is_authenticated", False) else None
        except Exception:  # noqa: BLE001 - logging must never break the answer
            user = None
        security_event("access.denied", user=user, outcome="denied", endpoint=request.endpoint)
    return resp


@events.after_commit("user.credentials_changed")
def _password_changed(ev: events.DomainEvent) -> None:
    """A password change or reset committed."""
    from crm.auth.models import User
    from crm.extensions import db
    user = db.session.get(User, ev.payload["user_id"])
    security_event("password.changed", user=user, outcome="success",
                   reason=ev.payload.get("reason", "password_changed"))


def init_app(app: Flask) -> None:
    """Log every 403 answer (``access.denied``)."""
    app.after_request(_log_forbidden)
