"""A small but real OpenID Connect provider for the tests, served on 127.0.0.1.

It implements Discovery (``/.well-known/openid-configuration``), the authorization endpoint
(auto-approving :attr:`OidcProvider.user`), the token endpoint (client authentication, the
authorization code, ``redirect_uri`` and the PKCE S256 check of RFC 7636), an RS256-signed ID
token (joserfc), the JWKS and the user-info endpoint. The app under test talks to it over
HTTP exactly as it would to a production provider.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from urllib.parse import urlencode

from flask import Flask, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server


class OidcProvider:
    """The provider; :meth:`start` serves it on a free port, :attr:`issuer` is its URL."""

    def __init__(self, client_id: str = "crm-test", client_secret: str = "crm-test-secret"):
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = RSAKey.generate_key(
            2048, parameters={"kid": "test-key-1", "use": "sig", "alg": "RS256"}
        )
        self.user: dict = {}
        self.codes: dict[str, dict] = {}
        self.access_tokens: dict[str, dict] = {}
        self.authorize_requests: list[dict] = []
        self.token_requests: list[dict] = []
        self.issuer = ""
        self.app = self._build_app()
        self._server = None
        self._thread = None

    # ------------------------------------------------------------------ life cycle
    def start(self) -> OidcProvider:
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)

    def set_user(
        self,
        sub: str,
        email: str | None,
        email_verified: bool | None = True,
        name: str = "Oidc Person",
    ) -> None:
        """The person who "logs in" at the provider on the next authorization."""
        self.user = {"sub": sub, "name": name}
        if email is not None:
            self.user["email"] = email
        if email_verified is not None:
            self.user["email_verified"] = email_verified

    # ------------------------------------------------------------------ endpoints
    def _build_app(self) -> Flask:
        app = Flask("oidc-test-provider")
        provider = self

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return jsonify(
                {
                    "issuer": provider.issuer,
                    "authorization_endpoint": provider.issuer + "/authorize",
                    "token_endpoint": provider.issuer + "/token",
                    "jwks_uri": provider.issuer + "/jwks",
                    "userinfo_endpoint": provider.issuer + "/userinfo",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256"],
                    "scopes_supported": ["openid", "email", "profile"],
                    "token_endpoint_auth_methods_supported": [
                        "client_secret_basic",
                        "client_secret_post",
                    ],
                }
            )

        @app.get("/authorize")
        def authorize():
            args = request.args.to_dict()
            provider.authorize_requests.append(args)
            if args.get("client_id") != provider.client_id or args.get("response_type") != "code":
                return "unknown client or response type", 400
            if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
                return "PKCE S256 required", 400
            if "openid" not in args.get("scope", "").split() or not args.get("state"):
                return "openid scope and state required", 400
            code = secrets.token_urlsafe(24)
            provider.codes[code] = {
                "redirect_uri": args["redirect_uri"],
                "challenge": args["code_challenge"],
                "nonce": args.get("nonce"),
                "user": dict(provider.user),
            }
            return redirect(
                args["redirect_uri"] + "?" + urlencode({"code": code, "state": args["state"]})
            )

        @app.post("/token")
        def token():
            form = request.form.to_dict()
            provider.token_requests.append(form)
            auth = request.authorization
            client_id, secret = (
                (auth.username, auth.password)
                if auth
                else (form.get("client_id"), form.get("client_secret"))
            )
            if client_id != provider.client_id or secret != provider.client_secret:
                return jsonify(error="invalid_client"), 401
            grant = provider.codes.pop(form.get("code", ""), None)
            if form.get("grant_type") != "authorization_code" or grant is None:
                return jsonify(error="invalid_grant"), 400
            if form.get("redirect_uri") != grant["redirect_uri"]:
                return jsonify(error="invalid_grant", error_description="redirect_uri"), 400
            verifier = form.get("code_verifier", "")
            digest = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                .rstrip(b"=")
                .decode()
            )
            if digest != grant["challenge"]:
                return jsonify(error="invalid_grant", error_description="PKCE"), 400
            now = int(time.time())
            claims = {
                "iss": provider.issuer,
                "aud": provider.client_id,
                "iat": now,
                "exp": now + 300,
                **grant["user"],
            }
            if grant["nonce"]:
                claims["nonce"] = grant["nonce"]
            id_token = jwt.encode({"alg": "RS256", "kid": "test-key-1"}, claims, provider.key)
            access = secrets.token_urlsafe(24)
            provider.access_tokens[access] = grant["user"]
            return jsonify(
                access_token=access,
                token_type="Bearer",
                expires_in=300,
                id_token=id_token,
                scope="openid email profile",
            )

        @app.get("/jwks")
        def jwks():
            return jsonify(keys=[provider.key.as_dict(private=False)])

        @app.get("/userinfo")
        def userinfo():
            header = request.headers.get("Authorization", "")
            user = provider.access_tokens.get(header.removeprefix("Bearer ").strip())
            if user is None:
                return jsonify(error="invalid_token"), 401
            return jsonify(user)

        return app
