"""Bearer access tokens for the API: short-lived JWTs (RFC 7519) signed HS256 with SECRET_KEY.

Claims: ``sub`` (user id, string), ``role``, ``iat``, ``exp`` (``JWT_ACCESS_TTL_SECONDS``,
default 900 s), ``typ`` = ``access``, ``jti`` (random id of this token) and ``sid`` (the id
of the refresh-token family, i.e. the API log-in, it belongs to: see :mod:`crm.api.tokens`).
A token is accepted only while its family is not revoked, so log-out, refresh-token reuse,
a password change or deactivation stop it before it expires.
"""
from __future__ import annotations

import secrets
from datetime import timedelta

import jwt
from flask import current_app, g, request

from crm.auth.models import ACTIVE, User
from crm.clock import utcnow
from crm.extensions import db


def issue_access_token(user: User, family_id: int) -> tuple[str, int]:
    """Sign an access token for ``user`` in the refresh-token family ``family_id``.

    :returns: (signed JWT, lifetime in seconds).
    """
    ttl = current_app.config["JWT_ACCESS_TTL_SECONDS"]
    now = utcnow()
    claims = {"sub": str(user.id), "role": user.role, "typ": "access", "sid": str(family_id),
              "jti": secrets.token_urlsafe(12),
              "iat": int(now.timestamp()), "exp": int((now + timedelta(seconds=ttl)).timestamp())}
    return jwt.encode(claims, current_app.config["SECRET_KEY"], algorithm="HS256"), ttl


def decode_access_token(token: str) -> dict | None:
    """Return the claims of a valid, unexpired access token, else None (signature, ``typ``
    and ``exp`` are checked; the family is checked by :func:`authenticate_bearer`)."""
    try:
        claims = jwt.decode(token, current_app.config["SECRET_KEY"], algorithms=["HS256"],
                            options={"require": ["exp", "iat", "sub", "sid"], "verify_exp": False,
                                     "verify_iat": False, "verify_nbf": False})
    except jwt.PyJWTError:
        return None
    if claims.get("typ") != "access":
        return None
    # Time claims are checked against the product clock (crm.clock, which tests move), not
    # PyJWT's wall clock: expired at ``exp``, and not issued in the future.
    now = int(utcnow().timestamp())
    if not isinstance(claims["exp"], int) or not isinstance(claims["iat"], int):
        return None
    if claims["exp"] <= now or claims["iat"] > now + 60:
        return None
    return claims


def authenticate_bearer() -> User | None:
    """The active user named by the request's ``Authorization: Bearer`` token, or None.

    Refuses tokens whose family (``sid``) was revoked. Sets ``g.api_token_family`` to the
    family id for :func:`crm.api.accounts.logout`.
    """
    from crm.api.tokens import family_is_live

    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    claims = decode_access_token(token.strip())
    if claims is None:
        return None
    try:
        user_id, family_id = int(claims["sub"]), int(claims["sid"])
    except (TypeError, ValueError):
        return None
    if not family_is_live(family_id, user_id):
        return None
    user = db.session.get(User, user_id)
    if user is None or user.status != ACTIVE:
        return None
    g.api_token_family = family_id
    return user
