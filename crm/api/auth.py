"""Bearer access tokens for the API: short-lived JWTs (RFC 7519) signed HS256 with SECRET_KEY.

Claims: ``sub`` (user id, string), ``role``, ``iat``, ``exp`` (``JWT_ACCESS_TTL_SECONDS``,
default 900 s), ``typ`` = ``access``.
"""
from __future__ import annotations

from datetime import timedelta

import jwt
from flask import current_app, request

from crm.auth.models import ACTIVE, User
from crm.clock import utcnow
from crm.extensions import db


def issue_access_token(user: User) -> tuple[str, int]:
    """Return (signed JWT, lifetime in seconds) for ``user``."""
    ttl = current_app.config["JWT_ACCESS_TTL_SECONDS"]
    now = utcnow()
    claims = {"sub": str(user.id), "role": user.role, "typ": "access",
              "iat": int(now.timestamp()), "exp": int((now + timedelta(seconds=ttl)).timestamp())}
    return jwt.encode(claims, current_app.config["SECRET_KEY"], algorithm="HS256"), ttl


def decode_access_token(token: str) -> dict | None:
    """Return the claims of a valid, unexpired access token, else None."""
    try:
        claims = jwt.decode(token, current_app.config["SECRET_KEY"], algorithms=["HS256"],
                            options={"require": ["exp", "sub"]},
                            leeway=0)
    except jwt.PyJWTError:
        return None
    if claims.get("typ") != "access":
        return None
    # PyJWT checks exp against the wall clock; honour the product clock too (tests move it).
    if claims["exp"] <= int(utcnow().timestamp()):
        return None
    return claims


def authenticate_bearer() -> User | None:
    """The active user named by the request's ``Authorization: Bearer`` token, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    claims = decode_access_token(token.strip())
    if claims is None:
        return None
    try:
        user = db.session.get(User, int(claims["sub"]))
    except (TypeError, ValueError):
        return None
    if user is None or user.status != ACTIVE:
        return None
    return user
