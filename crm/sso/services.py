"""Signing in with an OpenID Connect identity: find the linked account, link an existing
account with the same verified email, or create a customer account."""
from __future__ import annotations

import secrets
from collections.abc import Mapping

from crm import events
from crm.auth.models import ACTIVE, CUSTOMER, User, find_user_by_email, normalise_email
from crm.clock import utcnow
from crm.errors import ServiceError
from crm.extensions import db
from crm.sso.models import OidcIdentity

#: longest ``sub`` / ``iss`` we store (OpenID Connect Core: ``sub`` ≤ 255 ASCII characters).
MAX_CLAIM_CHARS = 255


def email_is_verified(claims: Mapping) -> bool:
    """True only when the provider asserts ``email_verified`` (a JSON true; some providers
    send the string "true"). A missing claim means unverified."""
    value = claims.get("email_verified")
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _name_from(claims: Mapping, email: str) -> str:
    name = claims.get("name") or " ".join(
        str(p) for p in (claims.get("given_name"), claims.get("family_name")) if p)
    name = (str(name) if name else email.split("@", 1)[0]).replace("\x00", "").strip()
    return name[:120] or "Customer"


def _refuse_inactive(user: User) -> None:
    if user.status != ACTIVE:
        raise ServiceError("This account cannot sign in: it is not active. "
                           "Contact an administrator.", status=403)


def sign_in(issuer: str, claims: Mapping) -> tuple[User, bool]:
    """Resolve the account for a validated ID token's claims and commit any change.

    1. an identity already linked (``iss`` + ``sub``) signs in its account;
    2. else an account with the same email is linked, only when the provider verified the
       email (``email_verified``); an unverified email never takes over an account;
    3. else a new, active *customer* account is created, its email marked verified when the
       provider verified it (otherwise we send our own verification link).

    :param issuer: the provider's issuer identifier (``iss``).
    :param claims: the ID token's (and user-info) claims: ``sub``, ``email``,
        ``email_verified``, ``name`` …
    :returns: ``(user, created)``.
    :raises ServiceError: 422 without ``sub`` or usable email; 409 when the email belongs to
        an account but is not verified by the provider; 403 for an inactive account.
    """
    subject = str(claims.get("sub") or "")
    if not subject or len(subject) > MAX_CLAIM_CHARS or len(issuer) > MAX_CLAIM_CHARS:
        raise ServiceError("The sign-in provider did not identify you.", status=422)
    now = utcnow()
    identity = db.session.scalar(db.select(OidcIdentity).where(
        OidcIdentity.issuer == issuer, OidcIdentity.subject == subject))
    if identity is not None:
        _refuse_inactive(identity.user)
        identity.last_login_at = now
        db.session.commit()
        return identity.user, False

    email = normalise_email(str(claims.get("email") or ""))
    if not email or "@" not in email or len(email) > 254 or "\x00" in email:
        raise ServiceError("The sign-in provider did not share an email address; "
                           "allow it to, or register with a password.", status=422)
    verified = email_is_verified(claims)
    user = find_user_by_email(email)
    created = False
    if user is not None:
        if not verified:
            raise ServiceError("An account with this email address already exists, and the sign-in "
                               "provider has not verified that the address is yours. Log in with "
                               "your password instead.", status=409)
        _refuse_inactive(user)
        if user.email_verified_at is None:
            user.email_verified_at = now
    else:
        user = User(email=email, name=_name_from(claims, email), role=CUSTOMER, status=ACTIVE,
                    created_at=now, email_verified_at=now if verified else None)
        # No password yet: a random one nobody knows; "forgot password" sets a real one.
        user.set_password(secrets.token_urlsafe(32))
        db.session.add(user)
        db.session.flush()
        events.publish(db.session, "user.registered", user_id=user.id)
        if not verified:
            from crm.auth import verification
            verification.send_link(user)
        created = True
    db.session.add(OidcIdentity(issuer=issuer, subject=subject, user_id=user.id, email=email,
                                created_at=now, last_login_at=now))
    db.session.commit()
    return user, created
