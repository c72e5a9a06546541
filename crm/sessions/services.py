"""Starting, checking and ending console sessions (see :class:`UserSession`).

Flask-Login integration ("alternative tokens", Flask-Login docs): the id Flask-Login keeps
in the session cookie and the remember cookie is ``"<user id>:<session key>"`` (see
``User.get_id``), and :func:`load_user_from_cookie_id` accepts it only while the session
record is active. So revoking a session logs that browser out on its next request, remember
cookie included. A "remember me" session also ends once it is older than
``REMEMBER_COOKIE_DURATION`` (:func:`remember_limit`), so a remember cookie that was copied
or kept past its expiry does not outlive the limit.

Every log-in goes through :func:`start_session` (password, registration, OIDC, 2FA).
"""
from __future__ import annotations

import functools
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, g, has_request_context, request
from flask_login import login_user, logout_user
from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError

from crm import events
from crm.auth.models import User
from crm.clock import utcnow
from crm.errors import ServiceError
from crm.extensions import db
from crm.sessions.models import UserSession

log = logging.getLogger(__name__)

#: how often last_seen_at is written (seconds): not on every request.
TOUCH_INTERVAL_SECONDS = 60


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def start_session(user: User, *, remember: bool = False, method: str = "password") -> UserSession:
    """Record a new session for ``user``, log them in with Flask-Login and commit.

    :param remember: "remember me": the remember cookie lasts ``REMEMBER_COOKIE_DURATION``.
    :param method: how they proved who they are (``password``, ``register``, ``oidc``, ``totp``).
    :returns: the new :class:`UserSession`.
    """
    key = secrets.token_urlsafe(32)
    now = utcnow()
    row = UserSession(
        user_id=user.id,
        key_hash=_hash(key),
        method=method,
        remember=remember,
        created_at=now,
        last_seen_at=now,
        ip=(request.remote_addr or "")[:45] if has_request_context() else None,
        user_agent=(request.user_agent.string or "")[:512] if has_request_context() else None,
    )
    db.session.add(row)
    user.last_login_at = now
    db.session.commit()
    user.session_key = key
    login_user(user, remember=remember, duration=None)
    g.user_session = row
    return row


def remember_limit() -> timedelta:
    """How long a "remember me" session may last: ``REMEMBER_COOKIE_DURATION``, which the
    config holds as whole seconds (an int) and Flask-Login also accepts as a timedelta."""
    duration = current_app.config["REMEMBER_COOKIE_DURATION"]
    return duration if isinstance(duration, timedelta) else timedelta(seconds=int(duration))


def load_user_from_cookie_id(cookie_id: str) -> User | None:
    """Flask-Login ``user_loader``: resolve ``"<user id>:<key>"`` to the user while the
    session is active and the account may hold a session; touch ``last_seen_at`` at most every
    :data:`TOUCH_INTERVAL_SECONDS`.

    A "remember me" session older than :func:`remember_limit` (measured with
    :func:`crm.clock.utcnow` from ``created_at``) is ended here with reason ``expired`` and
    commits: the browser's cookie should have expired by then, so one that still arrives was
    kept or copied past its lifetime.

    :returns: the user, or None (treated as logged out) for an old-style id, an unknown,
        ended, expired or foreign key.
    """
    user_id, sep, key = (cookie_id or "").partition(":")
    if not sep or not user_id.isdigit() or not key:
        return None
    row = db.session.scalar(select(UserSession).where(UserSession.key_hash == _hash(key)))
    if row is None or row.ended_at is not None or row.user_id != int(user_id):
        return None
    now = utcnow()
    if row.remember and now - row.created_at > remember_limit():
        _after_request(_end_statement(UserSession.id == row.id, "expired"))
        return None
    user = row.user
    if user is None or not user.is_active:
        return None
    if (now - row.last_seen_at).total_seconds() >= TOUCH_INTERVAL_SECONDS:
        _after_request(
            update(UserSession)
            .where(UserSession.id == row.id)
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )
    user.session_key = key
    g.user_session = row
    return user


def current_session() -> UserSession | None:
    """The :class:`UserSession` of this request, if the user is logged in to the console."""
    return g.get("user_session")


def _end_statement(stmt_filter, reason: str, by: User | None = None):
    """The UPDATE that ends every active session matching ``stmt_filter``."""
    return (
        update(UserSession)
        .where(stmt_filter, UserSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason, ended_by_id=by.id if by else None)
        .execution_options(synchronize_session=False)
    )


def end_sessions(stmt_filter, reason: str, by: User | None = None) -> int:
    """End every active session matching ``stmt_filter`` (a SQLAlchemy condition) in the
    current transaction (the caller commits).

    :returns: how many sessions were ended.
    """
    return db.session.execute(_end_statement(stmt_filter, reason, by)).rowcount or 0


_BOOKKEEPING_KEY = "crm_session_bookkeeping"


def _after_request(statement) -> None:
    """Queue a session-bookkeeping write (``last_seen_at``, ending an expired session) for
    :func:`write_bookkeeping` at the end of the request.

    The user loader runs whenever ``current_user`` is first read, which may be inside
    another unit of work: a template rendered by an in-transaction event subscriber, during
    that transaction's commit. Committing there raises ``IllegalStateChangeError``; writing
    through the request's session would mix bookkeeping into its transaction. So nothing is
    written here. Outside a request the statement runs at once on its own connection.
    """
    if has_request_context():
        g.setdefault(_BOOKKEEPING_KEY, []).append(statement)
    else:
        with db.engine.begin() as conn:
            conn.execute(statement)


def write_bookkeeping(exc: BaseException | None = None) -> None:
    """``teardown_request`` hook: run the queued bookkeeping writes in their own short
    transaction on their own connection, after the request's unit of work is over.

    A failure is logged, never raised: a missed ``last_seen_at`` is retried on the next
    request, and an expired session is refused on every request until it is written.
    """
    statements = g.pop(_BOOKKEEPING_KEY, None)
    if not statements:
        return
    try:
        with db.engine.begin() as conn:
            for statement in statements:
                conn.execute(statement)
    except SQLAlchemyError:
        log.warning(
            "session bookkeeping not written (%d statements)", len(statements), exc_info=True
        )


def revoke_session(session_row: UserSession, by: User, reason: str = "revoked") -> bool:
    """End one session (its browser is logged out on its next request) and commit.

    :returns: False when it had already ended.
    """
    ended = end_sessions(UserSession.id == session_row.id, reason, by) == 1
    db.session.commit()
    return ended


def revoke_all_for_user(
    user_id: int, reason: str, by: User | None = None, *, except_id: int | None = None
) -> int:
    """End all of a user's sessions in the current transaction (password reset, account
    disabled); the caller commits. ``except_id`` keeps one (the current) session.

    :returns: how many sessions were ended.
    """
    cond = UserSession.user_id == user_id
    if except_id is not None:
        cond = cond & (UserSession.id != except_id)
    return end_sessions(cond, reason, by)


def end_current_session() -> None:
    """Log out: end this request's session record and clear Flask-Login's cookies; commits."""
    row = current_session()
    if row is not None:
        end_sessions(UserSession.id == row.id, "logout")
        db.session.commit()
    logout_user()


@events.in_transaction("user.credentials_changed")
def _end_sessions_on_credentials_change(ev: events.DomainEvent) -> None:
    """A password reset (or other credential change) ends every session of the user except
    the one named ``keep_session_id`` in the payload, if any."""
    revoke_all_for_user(
        ev.payload["user_id"],
        ev.payload.get("reason", "password_changed"),
        except_id=ev.payload.get("keep_session_id"),
    )


@events.in_transaction("user.deactivated")
def _end_sessions_on_deactivation(ev: events.DomainEvent) -> None:
    """A disabled account loses every session."""
    revoke_all_for_user(ev.payload["user_id"], "account_disabled")


@dataclass
class SessionFilters:
    """Filters of the admins' session list; empty values mean "no filter".

    ``email``: text in the user's email (case-insensitive); ``state``: ``active`` or
    ``ended``; ``ip``: the start of the IP address; ``created_from``/``created_before``: UTC
    bounds of the start time (inclusive / exclusive).
    """

    email: str = ""
    state: str = ""
    ip: str = ""
    created_from: datetime | None = None
    created_before: datetime | None = None


SESSION_STATES = ("active", "ended")
_IP_PREFIX = re.compile(r"^[0-9A-Fa-f.:]{1,45}$")


def filters_from_args(args) -> SessionFilters:
    """Parse the session list's query arguments (``email``, ``state``, ``ip``,
    ``created_from``, ``created_to``; dates are ``YYYY-MM-DD`` UTC days, ``created_to``
    inclusive).

    :raises ServiceError: 422 naming the field at fault.
    """
    from crm.tickets.filters import parse_when

    email = (args.get("email") or "").strip().lower()
    if len(email) > 254:
        raise ServiceError("Email text is limited to 254 characters.", field="email", status=422)
    state = (args.get("state") or "").strip()
    if state and state not in SESSION_STATES:
        raise ServiceError("State must be active or ended.", field="state", status=422)
    ip = (args.get("ip") or "").strip()
    if ip and not _IP_PREFIX.match(ip):
        raise ServiceError(
            "Enter an IP address or its beginning (digits, letters a-f, '.' and ':').",
            field="ip",
            status=422,
        )
    start = (args.get("created_from") or "").strip()
    end = (args.get("created_to") or "").strip()
    filters = SessionFilters(
        email=email,
        state=state,
        ip=ip,
        created_from=parse_when(start, "created_from") if start else None,
        created_before=parse_when(end, "created_to", end_of_day=True) if end else None,
    )
    if (
        filters.created_from
        and filters.created_before
        and filters.created_from >= filters.created_before
    ):
        raise ServiceError(
            "'Created to' must not be before 'Created from'.", field="created_to", status=422
        )
    return filters


def sessions_query(filters: SessionFilters):
    """A ``select(UserSession)`` with ``filters`` applied (order and page: the caller)."""
    stmt = select(UserSession)
    if filters.email:
        like = (
            "%" + filters.email.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        stmt = stmt.where(
            UserSession.user_id.in_(
                select(User.id).where(func.lower(User.email).like(like, escape="\\"))
            )
        )
    if filters.state == "active":
        stmt = stmt.where(UserSession.ended_at.is_(None))
    elif filters.state == "ended":
        stmt = stmt.where(UserSession.ended_at.is_not(None))
    if filters.ip:
        stmt = stmt.where(UserSession.ip.like(filters.ip + "%"))  # checked: no LIKE wildcards
    if filters.created_from:
        stmt = stmt.where(UserSession.created_at >= filters.created_from)
    if filters.created_before:
        stmt = stmt.where(UserSession.created_at < filters.created_before)
    return stmt


@functools.lru_cache(maxsize=1024)
def describe_user_agent(user_agent: str | None) -> str:
    """A readable summary of a ``User-Agent`` header: "Chrome 131 on Windows 10",
    "Mobile Safari 17.1 on iOS 17.1 (iPhone)", or the product token for clients the
    ua-parser rules (uap-core) do not know ("python-httpx/0.27"), "Unknown" for none."""
    if not user_agent:
        return "Unknown"
    import ua_parser

    result = ua_parser.parse(user_agent)
    browser = os_name = ""
    if result.user_agent is not None:
        version = ".".join(
            p for p in (result.user_agent.major, result.user_agent.minor) if p and p != "0"
        )
        browser = f"{result.user_agent.family} {version}".strip()
    if result.os is not None and result.os.family != "Other":
        version = ".".join(p for p in (result.os.major, result.os.minor) if p)
        os_name = f"{result.os.family} {version}".strip()
    if not browser or browser.startswith("Other"):
        browser = user_agent.split(" ", 1)[0][:40]
    summary = f"{browser} on {os_name}" if os_name else browser
    device = result.device.family if result.device is not None else ""
    if device and device not in ("Other", "Spider") and device.lower() not in summary.lower():
        summary += f" ({device})"
    return summary


__all__ = [
    "start_session",
    "load_user_from_cookie_id",
    "write_bookkeeping",
    "current_session",
    "revoke_session",
    "revoke_all_for_user",
    "end_current_session",
    "remember_limit",
    "TOUCH_INTERVAL_SECONDS",
    "timedelta",
    "SessionFilters",
    "filters_from_args",
    "sessions_query",
    "describe_user_agent",
]
