"""Google's OAuth 2.0 token endpoint played on MsFake from the recorded responses in tests/fixtures/google.

It checks what Google checks: a service account's RFC 7523 assertion (signature with the
account's key, `iss`, `aud`, the Gmail scope, and `sub` among the users delegated to it),
or an installed app's client id, secret and refresh token. Each token it issues is handed
to `on_issue(user, token)`, so a real server (Dovecot's token check, aiosmtpd) accepts it.
"""

from __future__ import annotations

import json
import secrets
from typing import Callable, Optional
from urllib.parse import parse_qs, urlsplit

from tests.servers.msfake import MsFake, Reply, Request, fixture_json

SERVICE_ACCOUNT = "mailgate-reader@helpdesk-project.iam.gserviceaccount.com"
APP_CLIENT_ID = "402917355120-q1w2e3r4t5y6u7i8o9p0.apps.googleusercontent.com"
APP_CLIENT_SECRET = "GOCSPX-fakeDesktopClientSecret1"
MAIL_SCOPE = "https://mail.google.com/"


class GoogleOAuth:
    """The token endpoint at `token_url`; `delegated` users the service account may act for."""

    def __init__(self, server: MsFake, on_issue: Callable[[str, str], None] = lambda user, token: None) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.server, self.on_issue = server, on_issue
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = secrets.token_hex(20)
        self.delegated: set[str] = set()
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> the user who consented
        self.grants: list[dict] = []  # what each request asked for (decoded claims or form)
        server.on(self.handle)

    @property
    def token_url(self) -> str:
        return f"{self.server.url}/token"

    def key_json(self) -> str:
        """The service account's JSON key file, as the Cloud console downloads it."""
        from cryptography.hazmat.primitives import serialization

        pem = self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()
        return json.dumps({"type": "service_account", "project_id": "helpdesk-project",
                           "private_key_id": self.key_id, "private_key": pem, "client_email": SERVICE_ACCOUNT,
                           "client_id": "104729384756102938475", "token_uri": self.token_url})

    def consent(self, user: str) -> str:
        """A refresh token an installed app got when `user` consented once."""
        token = f"1//0g{secrets.token_urlsafe(24)}"
        self.refresh_tokens[token] = user
        return token

    def handle(self, req: Request) -> Optional[Reply]:
        if urlsplit(req.path).path != "/token" or req.method != "POST":
            return None
        form = {k: v[0] for k, v in parse_qs(req.text).items()}
        if form.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self._service_account(form.get("assertion", ""))
        if form.get("grant_type") == "refresh_token":
            return self._refresh(form)
        return Reply(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type: "})

    def _service_account(self, assertion: str) -> Reply:
        import jwt

        try:
            claims = jwt.decode(assertion, self._key.public_key(), algorithms=["RS256"], audience=self.token_url)
        except jwt.PyJWTError as exc:
            return Reply(400, {"error": "invalid_grant", "error_description": f"Invalid JWT Signature. ({exc})"})
        self.grants.append(claims)
        if claims.get("iss") != SERVICE_ACCOUNT or MAIL_SCOPE not in claims.get("scope", "").split():
            return Reply(400, {"error": "invalid_scope", "error_description": "Invalid OAuth scope or ID token audience provided."})
        if claims.get("sub") not in self.delegated:
            return Reply(401, fixture_json("google", "error-unauthorized-client.json"))
        return self._issue(claims["sub"])

    def _refresh(self, form: dict) -> Reply:
        self.grants.append({k: v for k, v in form.items() if k != "client_secret"})
        if form.get("client_id") != APP_CLIENT_ID or form.get("client_secret") != APP_CLIENT_SECRET:
            return Reply(401, fixture_json("google", "error-invalid-client.json"))
        user = self.refresh_tokens.get(form.get("refresh_token", ""))
        if user is None:
            return Reply(400, fixture_json("google", "error-invalid-grant.json"))
        return self._issue(user)

    def _issue(self, user: str) -> Reply:
        token = f"ya29.fake-{secrets.token_urlsafe(20)}"
        self.on_issue(user, token)
        body = json.loads(json.dumps(fixture_json("google", "token-ok.json", access_token=token)))
        return Reply(200, body)
