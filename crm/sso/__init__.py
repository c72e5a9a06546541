"""Sign-in with an OpenID Connect provider (blueprint ``sso``, Authlib client).

Any standards-compliant provider works: set ``OIDC_ISSUER`` (its metadata is read from
``<issuer>/.well-known/openid-configuration``, OpenID Connect Discovery 1.0),
``OIDC_CLIENT_ID``, ``OIDC_CLIENT_SECRET``, and optionally ``OIDC_PROVIDER_NAME`` (the button's
label) and ``OIDC_SCOPES`` (default ``openid email profile``). The flow is the authorization
code flow (RFC 6749 §4.1) with PKCE S256 (RFC 7636), ``state`` and ``nonce``; Authlib checks
the ID token's signature (the provider's JWKS), issuer, audience, expiry and nonce.
"""
from __future__ import annotations

from flask import Blueprint, Flask, current_app

bp = Blueprint("sso", __name__, url_prefix="/auth/sso")

#: ``app.extensions`` key of the Authlib OAuth registry of this app.
EXTENSION = "crm_oidc"


def configured(app: Flask | None = None) -> bool:
    """True when an OpenID Connect provider is configured (issuer and client id)."""
    cfg = (app or current_app).config
    return bool(cfg.get("OIDC_ISSUER") and cfg.get("OIDC_CLIENT_ID"))


def init_app(app: Flask) -> None:
    """Register the blueprint and, when configured, the Authlib client named ``oidc``.

    The provider's metadata is fetched on the first sign-in, not at start-up, so a provider
    that is down does not stop the app.
    """
    import crm.sso.models  # noqa: F401  (models)

    app.register_blueprint(bp)

    @app.context_processor
    def _sso_button():
        return {
            "sso_provider_name": app.config.get("OIDC_PROVIDER_NAME") if configured(app) else None
        }

    if not configured(app):
        return
    from authlib.integrations.flask_client import OAuth

    oauth = OAuth(app)
    issuer = app.config["OIDC_ISSUER"].rstrip("/")
    oauth.register(
        "oidc",
        client_id=app.config["OIDC_CLIENT_ID"],
        client_secret=app.config.get("OIDC_CLIENT_SECRET"),
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={
            "scope": app.config.get("OIDC_SCOPES") or "openid email profile",
            "code_challenge_method": "S256",
            "timeout": 10,
        },
    )
    app.extensions[EXTENSION] = oauth


from crm.sso import routes  # noqa: E402,F401
