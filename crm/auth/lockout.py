"""Account lockout with a growing delay after repeated failed log-ins.

After ``LOCKOUT_THRESHOLD`` consecutive failures the account is locked for
``LOCKOUT_BASE_SECONDS``; every further failure doubles the lock, up to
``LOCKOUT_MAX_SECONDS``. A successful log-in resets the count (OWASP Authentication Cheat
Sheet, "Account lockout"; NIST SP 800-63B §5.2.2 rate limiting).

While locked, every attempt gets the same answer whether or not the password was right.
So that the answer does not reveal whether an account exists, failures for unknown email
addresses are counted the same way in Redis (keyed by a SHA-256 of the address); without
Redis those are not counted, and only real accounts lock.
"""
from __future__ import annotations

import hashlib
import logging
import math
from datetime import datetime, timedelta

from flask import current_app
from redis.exceptions import RedisError

from crm.auth.models import User, normalise_email
from crm.clock import utcnow
from crm.errors import ServiceError
from crm.extensions import db
from crm.security.audit import security_event

log = logging.getLogger(__name__)

#: Redis key prefix for failure counts of unknown addresses.
_UNKNOWN_PREFIX = "crm:login-failures:"


class LockedOut(ServiceError):
    """Log-in refused because of too many failed attempts (HTTP 429).

    :param retry_after: whole seconds until the next attempt may succeed (>= 1).
    """

    def __init__(self, retry_after: int):
        self.retry_after = max(1, int(retry_after))
        super().__init__(lock_message(self.retry_after), field="email", status=429)


def lock_message(seconds: int) -> str:
    """The sentence shown while an account is locked, e.g. "… Try again in 2 minutes."."""
    if seconds < 60:
        wait = f"{seconds} second{'s' if seconds != 1 else ''}"
    else:
        minutes = math.ceil(seconds / 60)
        wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"Too many failed log-in attempts. Try again in {wait}."


def lock_seconds(failures: int) -> int:
    """Lock duration in seconds after ``failures`` consecutive failures: 0 below the
    threshold, then base × 2^(failures − threshold), capped at the maximum."""
    cfg = current_app.config
    threshold, base, cap = (
        cfg["LOCKOUT_THRESHOLD"],
        cfg["LOCKOUT_BASE_SECONDS"],
        cfg["LOCKOUT_MAX_SECONDS"],
    )
    if failures < threshold:
        return 0
    exponent = min(failures - threshold, 32)  # 2**32 × base is past any sane maximum
    return min(base * 2**exponent, cap)


def _remaining(until: datetime | None, now: datetime) -> int:
    if until is None or until <= now:
        return 0
    return math.ceil((until - now).total_seconds())


def _unknown_key(email: str) -> str:
    return _UNKNOWN_PREFIX + hashlib.sha256(normalise_email(email or "").encode()).hexdigest()


def _redis():
    from crm.queue import redis_conn

    return redis_conn()


def check(email: str, user: User | None) -> None:
    """Refuse the attempt while the account (or unknown address) is locked.

    :raises LockedOut: locked now; ``retry_after`` says for how long.
    """
    now = utcnow()
    if user is not None:
        remaining = _remaining(user.locked_until, now)
    else:
        remaining = 0
        conn = _redis()
        if conn is not None:
            try:
                until = conn.hget(_unknown_key(email), "until")
            except RedisError as exc:
                log.warning("lockout: Redis unavailable (%s)", exc)
                until = None
            if until:
                remaining = math.ceil(float(until) - now.timestamp())
    if remaining > 0:
        security_event(
            "login.locked",
            user=user,
            email=None if user else normalise_email(email or ""),
            retry_after=remaining,
        )
        raise LockedOut(remaining)


def record_failure(email: str, user: User | None) -> int:
    """Count one failed attempt and lock when the threshold is reached; commits.

    :returns: the lock duration just started, in seconds (0 when not locked).
    """
    now = utcnow()
    if user is not None:
        user.failed_logins = (user.failed_logins or 0) + 1
        seconds = lock_seconds(user.failed_logins)
        if seconds:
            user.locked_until = now + timedelta(seconds=seconds)
        db.session.commit()
        if seconds:
            security_event(
                "account.locked", user=user, seconds=seconds, failures=user.failed_logins
            )
        return seconds
    conn = _redis()
    if conn is None:
        return 0
    key = _unknown_key(email)
    try:
        failures = conn.hincrby(key, "failures", 1)
        seconds = lock_seconds(failures)
        if seconds:
            conn.hset(key, "until", str(now.timestamp() + seconds))
        conn.expire(key, current_app.config["LOCKOUT_MAX_SECONDS"] + 86400)
    except RedisError as exc:
        log.warning("lockout: Redis unavailable (%s)", exc)
        return 0
    if seconds:
        security_event(
            "account.locked",
            email=normalise_email(email or ""),
            known_account=False,
            seconds=seconds,
            failures=failures,
        )
    return seconds


def record_success(user: User) -> None:
    """Reset the failure count after a successful log-in (the caller commits)."""
    user.failed_logins = 0
    user.locked_until = None
