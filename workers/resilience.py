"""Workers and schedulers outlive a Redis outage of any length.

RQ's worker retries a lost connection only while it waits for a job; a Redis error anywhere
else (maintenance, heartbeat, registries) makes ``Worker.work()`` log "found an unhandled
exception, quitting" and return. rq-scheduler's loop has no retry at all. Both entry points
therefore run their loop inside :func:`run_until_stopped`: when the loop ends without a stop
request, they wait for Redis with exponential back-off (one log line per attempt, not a
traceback storm) and start the loop again with fresh state: a new worker record (a stale one
of the same name is cleared), the periodic schedules registered again (a restarted Redis may
have lost them). Work queued meanwhile is not lost: it is in the outbox, and the sweeper
re-queues it once the schedules run again.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable

import redis

log = logging.getLogger(__name__)

#: errors that mean "Redis is unreachable", not "the job failed"
REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
#: first and longest wait between attempts to reach Redis (seconds); each wait doubles
FIRST_WAIT_SECONDS = 0.5
MAX_WAIT_SECONDS = 30.0


class StopFlag:
    """A stop request from SIGTERM or SIGINT while no loop (with its own handlers) runs.

    :meth:`listen` installs handlers that set the flag; waits use :meth:`wait` so a stop
    ends them at once.
    """

    def __init__(self) -> None:
        self.event = threading.Event()

    def listen(self) -> None:
        """Route SIGTERM and SIGINT to this flag (replacing the loop's handlers)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.event.set())

    @property
    def requested(self) -> bool:
        """Whether a stop was requested."""
        return self.event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; :returns: True when a stop was requested meanwhile."""
        return self.event.wait(seconds)


def wait_for_redis(conn: redis.Redis, stop: StopFlag, *, what: str,
                   first: float = FIRST_WAIT_SECONDS, maximum: float = MAX_WAIT_SECONDS) -> bool:
    """Ping ``conn`` until it answers, waiting ``first`` seconds, then twice as long each
    time up to ``maximum``; one warning line per failed attempt.

    :param what: the process, for the log (``worker w1``, ``scheduler``).
    :returns: True once Redis answers, False when a stop was requested first.
    """
    delay, attempt = first, 0
    while not stop.requested:
        try:
            conn.ping()
        except REDIS_ERRORS as exc:
            attempt += 1
            log.warning("%s: Redis unreachable (attempt %d: %s); next attempt in %.1f s",
                        what, attempt, exc, delay)
            if stop.wait(delay):
                return False
            delay = min(delay * 2, maximum)
            continue
        if attempt:
            log.warning("%s: Redis is back after %d failed attempts; resuming", what, attempt)
        return True
    return False


def run_until_stopped(run_once: Callable[[], bool], conn: redis.Redis, *, what: str) -> None:
    """Run ``run_once()`` again after every Redis outage until it finishes on purpose.

    :param run_once: one run of the loop; returns True when it ended on purpose (a stop
        request, a finished burst) and False when it gave up (Redis lost). A Redis error it
        raises counts as giving up.
    :param what: the process, for the log.
    """
    stop = StopFlag()
    pause = FIRST_WAIT_SECONDS
    while True:
        started = time.monotonic()
        try:
            if run_once():
                return
        except REDIS_ERRORS as exc:
            log.warning("%s: lost Redis (%s)", what, exc)
        if time.monotonic() - started > 2 * MAX_WAIT_SECONDS:
            pause = FIRST_WAIT_SECONDS  # it had run well: this is a new fault, not a spin
        stop.listen()
        if not wait_for_redis(conn, stop, what=what):
            log.info("%s: stop requested while waiting for Redis", what)
            return
        # A loop that gives up while Redis answers (another fault) must not spin: back off.
        if stop.wait(pause):
            return
        pause = min(pause * 2, MAX_WAIT_SECONDS)
