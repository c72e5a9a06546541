"""Redirect targets taken from the request (``Referer``, ``next``) restricted to this site.

An open redirect lets a link on our domain send a user to an attacker's page (OWASP
Unvalidated Redirects and Forwards Cheat Sheet). Only a path on this host is accepted, and it
is returned without scheme and host, so the redirect can only stay here.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import request


def internal_path(target: str | None, prefix: str = "/") -> str | None:
    """The path (with query) of ``target`` when it points at this host under ``prefix``, else
    None.

    :param target: an absolute URL (a ``Referer``) or a path.
    :param prefix: the path must start with it (e.g. ``/admin/outbox``).
    """
    if not target or "\\" in target or any(ord(c) < 32 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme not in ("", "http", "https"):
        return None
    if parts.netloc and parts.netloc.lower() != request.host.lower():
        return None
    path = parts.path or "/"
    if not path.startswith("/") or path.startswith("//") or not path.startswith(prefix):
        return None
    return path + (f"?{parts.query}" if parts.query else "")


def back_to_referrer(default: str, prefix: str = "/") -> str:
    """Where to send the user back to: the ``Referer`` when :func:`internal_path` accepts it,
    else ``default``."""
    return internal_path(request.referrer, prefix) or default
