"""Password rules: length, and no password that is common, breached or trivially guessable.

NIST SP 800-63B §5.1.1.2 asks verifiers to compare a new password against "values known to
be commonly-used, expected, or compromised" (breach corpuses, dictionary words, repetitive or
sequential characters, context-specific words such as the service or user name) and to say
why a password was refused, while imposing no composition rules. Two checks do that, both
offline, with the data the ``zxcvbn`` package ships:

* the password (lower-cased) is in zxcvbn's list of the 30,000 most common passwords from
  breach corpuses (``frequency_lists.FREQUENCY_LISTS["passwords"]``);
* zxcvbn's estimate, which also knows English words, names, keyboard patterns, repeats,
  sequences, dates and the user's own email address and name, scores it below
  :data:`MIN_SCORE` (score 2 means about 10^6 guesses or more).

Every door that sets a password calls :func:`check` through
:func:`crm.auth.services.validate_password`: registration, reset by email link or SMS code,
change, admin-created users and ``flask create-admin``; console forms and API alike.
"""
from __future__ import annotations

from functools import lru_cache

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from crm.errors import ServiceError

MIN_LENGTH = 8
MAX_LENGTH = 128
#: lowest zxcvbn score (0–4) accepted: 2 = "somewhat guessable" (>= 10^6 guesses).
MIN_SCORE = 2


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def is_common(password: str) -> bool:
    """True when ``password`` (any case) is one of the 30,000 most common breached passwords."""
    return password.lower() in _common()


def problem_with(password: str, user_inputs: tuple[str, ...] = ()) -> str | None:
    """Why ``password`` may not be used, as a sentence for the user, or None when it may.

    :param user_inputs: context words the password must not be built from (the account's
        email address and name).
    """
    if not isinstance(password, str) or not (MIN_LENGTH <= len(password) <= MAX_LENGTH):
        return f"Use {MIN_LENGTH} to {MAX_LENGTH} characters."
    if is_common(password):
        return ("This password is on a list of common passwords found in data breaches, so "
                "attackers try it first. Choose another one.")
    inputs = [part for value in user_inputs if value for part in _words(value)]
    result = zxcvbn(password, user_inputs=inputs)
    if result["score"] < MIN_SCORE:
        hint = (result.get("feedback") or {}).get("warning") or ""
        reason = f" ({hint.rstrip('.')})" if hint else ""
        return ("This password is too easy to guess" + reason + ". Try a longer one, e.g. "
                "a few unrelated words.")
    return None


def _words(value: str) -> list[str]:
    parts = [value]
    if "@" in value:
        local, _, domain = value.partition("@")
        parts += [local, domain.split(".")[0]]
    parts += value.replace("@", " ").replace(".", " ").split()
    return [p for p in parts if p]


def check(password: str, user_inputs: tuple[str, ...] = (), field: str = "password") -> None:
    """Refuse a password that :func:`problem_with` objects to.

    :raises ServiceError: 422 naming ``field``, with the reason as the message.
    """
    reason = problem_with(password, user_inputs)
    if reason:
        raise ServiceError(reason, field=field, status=422)
