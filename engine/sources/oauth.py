"""OAuth 2.0 client-credentials tokens for Exchange, Graph, IMAP and POP3, cached in memory and refreshed early."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from collections.abc import Mapping
from typing import Any, Callable, Optional

import requests
from requests.adapters import HTTPAdapter

from engine.errors import AuthError, SourceError

# Login host, Graph host and Exchange Online host of each Microsoft national cloud.
CLOUDS = {
    "global": ("https://login.microsoftonline.com", "https://graph.microsoft.com",
               "https://outlook.office365.com"),
    "usgov": ("https://login.microsoftonline.us", "https://graph.microsoft.us",
              "https://outlook.office365.us"),
    "usgov-dod": ("https://login.microsoftonline.us", "https://dod-graph.microsoft.us",
                  "https://outlook-dod.office365.us"),
    "china": ("https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn",
              "https://partner.outlook.cn"),
}
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
GOOGLE_MAIL_SCOPE = "https://mail.google.com/"

# What to tell an admin for the Entra ID errors seen most (AADSTS codes).
AADSTS_HINTS = {
    7000222: "the client secret has expired: add a new one under App registrations > Certificates & secrets "
             "and point client_secret at it",
    7000215: "the client secret is wrong: give the secret's Value, not its Secret ID",
    700016: "no application with this client_id in the tenant: check client_id and tenant_id",
    90002: "the tenant does not exist: check tenant_id (and cloud for a national cloud)",
    700027: "the certificate assertion was refused: check that the certificate with this thumbprint "
            "is uploaded to the app registration and has not expired",
    1002012: "a scope was refused: client credentials need <resource>/.default",
}


# RFC 6749 5.2 error codes as Google's token endpoint uses them.
OAUTH_ERROR_HINTS = {
    "unauthorized_client": "the service account may not act for this user: in the Google Admin console "
                           "(Security > API controls > Domain-wide delegation) add its numeric client ID "
                           "with the scope https://mail.google.com/",
    "invalid_grant": "the grant was refused: an installed app's refresh token was revoked or has expired "
                     "(apps left in 'Testing' get 7-day refresh tokens) - consent again and store the new one; "
                     "for a service account check the key, this machine's clock and that the mailbox is a user "
                     "of the delegating domain",
    "invalid_client": "client_id or client_secret is wrong (an installed app needs its Desktop OAuth client's)",
}


class VersionPinAdapter(HTTPAdapter):
    """HTTPS with the TLS versions an admin pinned (F-MB-15): urllib3 pools keyed by them."""

    def __init__(self, pins: Mapping[str, Any]) -> None:
        self.pins = dict(pins)
        super().__init__()

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        return host_params, {**pool_kwargs, **self.pins}


class PinnedSession(requests.Session):
    """A requests session whose `verify` wins over REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE.

    requests lets those variables replace a session's CA file, so an admin's ca_file would be
    ignored on hosts that set them; passing verify per request keeps it. `tls_pins`
    (tls.pool_versions) pins the TLS versions of every HTTPS request.
    """

    def __init__(self, verify: Any = True, tls_pins: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__()
        self.verify = verify
        if tls_pins:
            self.mount("https://", VersionPinAdapter(tls_pins))

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("verify", self.verify)
        return super().request(method, url, *args, **kwargs)


def default_scopes(provider: str, cloud: str, protocol: str) -> tuple[str, ...]:
    """The scopes to ask for when the config names none: `.default` of the resource the protocol talks to."""
    if provider == "google":
        return (GOOGLE_MAIL_SCOPE,)
    if provider != "microsoft":
        return ()
    _, graph, outlook = CLOUDS[cloud]
    return (f"{graph}/.default",) if protocol == "graph" else (f"{outlook}/.default",)


@dataclass(frozen=True)
class OAuthSettings:
    """One app registration's client credentials, secrets resolved (the config factory maps YAML to this).

    `authority_host` and `token_url` override the provider's endpoints (a sovereign deployment, or the
    tests' local server); `subject` is the mailbox a Google service account acts for.
    """

    client_id: str
    provider: str = "microsoft"
    tenant_id: str = ""
    client_secret: Optional[str] = field(default=None, repr=False)
    private_key: Optional[str] = field(default=None, repr=False)
    refresh_token: Optional[str] = field(default=None, repr=False)  # an installed app's lasting consent (Google)
    thumbprint: Optional[str] = None
    cloud: str = "global"
    token_url: Optional[str] = None
    scopes: tuple[str, ...] = ()
    subject: Optional[str] = None
    authority_host: Optional[str] = None
    ca_file: Optional[str] = None
    verify_certificate: bool = True
    refresh_margin: float = 300.0
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.provider not in ("microsoft", "google", "generic"):
            raise SourceError(f"unknown OAuth provider {self.provider!r}; use microsoft, google or generic")
        if self.cloud not in CLOUDS:
            raise SourceError(f"unknown cloud {self.cloud!r}; use one of {', '.join(CLOUDS)}")
        if not self.client_secret and not self.private_key:
            raise SourceError("OAuth needs client_secret or certificate.private_key")
        if self.provider == "google" and not self.private_key and not self.refresh_token:
            raise SourceError("provider google needs a service account key, or an installed app's refresh_token",
                              hint="Google gives no token for client credentials alone (docs/google.md)")
        if self.provider == "microsoft" and not self.tenant_id:
            raise SourceError("OAuth provider microsoft needs tenant_id")
        if self.provider == "generic" and not self.token_url:
            raise SourceError("OAuth provider generic needs token_url")

    @property
    def verify(self) -> Any:
        """What requests' `verify` takes: the CA file, True, or False."""
        if not self.verify_certificate:
            return False
        return self.ca_file or True

    @property
    def authority(self) -> str:
        """The Entra ID authority URL for this tenant and cloud."""
        host = (self.authority_host or CLOUDS[self.cloud][0]).rstrip("/")
        return f"{host}/{self.tenant_id}"


@dataclass(frozen=True)
class Token:
    """An access token and when it stops working; repr never shows the token."""

    value: str = field(repr=False)
    expires_at: float
    token_type: str = "Bearer"
    issued_at: float = 0.0

    def stale(self, now: float, margin: float) -> bool:
        """True once less than `margin` is left (at most half the lifetime, so short tokens are still reused)."""
        lifetime = self.expires_at - (self.issued_at or self.expires_at - 2 * margin)
        return now >= self.expires_at - min(margin, lifetime / 2)

    def __str__(self) -> str:
        return f"<{self.token_type} token until {_iso(self.expires_at)}>"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")


def provider_error(what: str, body: dict) -> AuthError:
    """An AuthError carrying the provider's own words (`AADSTS7000222: …`) and a hint (by AADSTS or RFC 6749 code)."""
    text = body.get("error_description") or body.get("error") or "no reason given"
    codes = body.get("error_codes") or []
    hint = next((AADSTS_HINTS[c] for c in codes if c in AADSTS_HINTS), "") or OAUTH_ERROR_HINTS.get(body.get("error"), "")
    return AuthError(what, str(text).splitlines()[0], hint)


class TokenProvider:
    """Client-credentials tokens for one app; call it (or `.token()`) for the current access token string.

    Tokens live only in memory and are fetched again `refresh_margin` seconds before they expire, so a
    request never leaves with a token that runs out in flight. `invalidate()` drops the cached token
    after the server refused it (revoked, rotated secret), so the next call fetches a new one.
    """

    def __init__(self, settings: OAuthSettings, protocol: str = "imap",
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.protocol = protocol
        self.clock = clock
        self._lock = threading.Lock()
        self._token: Optional[Token] = None
        self._msal = None
        self.fetches = 0

    def __repr__(self) -> str:
        s = self.settings
        return f"TokenProvider({s.provider}, client_id={s.client_id!r}, tenant={s.tenant_id!r})"

    __str__ = __repr__

    def __call__(self) -> str:
        return self.token().value

    @property
    def expires_at(self) -> Optional[float]:
        """Epoch seconds when the cached token expires, or None before the first fetch."""
        return self._token.expires_at if self._token else None

    def token(self) -> Token:
        """The cached token while it has more than `refresh_margin` left, else a freshly fetched one."""
        with self._lock:
            now = self.clock()
            if self._token is None or self._token.stale(now, self.settings.refresh_margin):
                self._token = self._fetch(now)
                self.fetches += 1
            return self._token

    def invalidate(self) -> None:
        """Forget the cached token (the server said it is no longer good)."""
        with self._lock:
            self._token = None

    def _fetch(self, now: float) -> Token:
        s = self.settings
        if s.provider == "microsoft":
            body = self._fetch_msal()
        elif s.provider == "google" and s.private_key:
            body = self._post(s.token_url or GOOGLE_TOKEN_URL, self._jwt_grant(now))
        elif s.refresh_token:
            body = self._post(s.token_url or GOOGLE_TOKEN_URL, self._refresh_grant())
        else:
            body = self._post(s.token_url or GOOGLE_TOKEN_URL, self._secret_grant())
        if "access_token" not in body:
            raise provider_error(f"{s.provider}: no token for client {s.client_id!r}", body)
        return Token(body["access_token"], now + float(body.get("expires_in", 3600)),
                     body.get("token_type", "Bearer"), issued_at=now)

    def _scopes(self) -> list[str]:
        s = self.settings
        return list(s.scopes or default_scopes(s.provider, s.cloud, self.protocol))

    def _fetch_msal(self) -> dict:
        import msal

        s = self.settings
        if self._msal is None:
            credential: Any = s.client_secret
            if s.private_key:
                credential = {"private_key": s.private_key, "thumbprint": s.thumbprint or ""}
            http = PinnedSession(s.verify)
            try:
                self._msal = msal.ConfidentialClientApplication(
                    s.client_id, client_credential=credential, authority=s.authority,
                    http_client=http, timeout=s.timeout,
                    validate_authority=s.authority_host is None,
                    instance_discovery=False if s.authority_host else None)
            except ValueError as exc:  # msal says "Unable to get authority configuration …"
                raise SourceError(f"microsoft: cannot reach the authority {s.authority}",
                                  str(exc), "check tenant_id and cloud") from exc
            except requests.RequestException as exc:
                raise _network_error(s.authority, exc) from exc
        # Our cache decides when to refresh; msal's own would hand back the token we mean to replace.
        cache = self._msal.token_cache
        for item in list(cache.search(cache.CredentialType.ACCESS_TOKEN)):
            cache.remove_at(item)
        try:
            return self._msal.acquire_token_for_client(scopes=self._scopes())
        except requests.RequestException as exc:
            raise _network_error(s.authority, exc) from exc

    def _secret_grant(self) -> dict:
        s = self.settings
        form = {"grant_type": "client_credentials", "client_id": s.client_id,
                "client_secret": s.client_secret or ""}
        if self._scopes():
            form["scope"] = " ".join(self._scopes())
        return form

    def _refresh_grant(self) -> dict:
        """RFC 6749 6: an installed app's refresh token for a new access token (Google's installed-app flow)."""
        s = self.settings
        return {"grant_type": "refresh_token", "client_id": s.client_id, "client_secret": s.client_secret or "",
                "refresh_token": s.refresh_token}

    def _jwt_grant(self, now: float) -> dict:
        """RFC 7523 assertion signed with a Google service account key (domain-wide delegation)."""
        import jwt

        s = self.settings
        claims = {"iss": s.client_id, "scope": " ".join(self._scopes()),
                  "aud": s.token_url or GOOGLE_TOKEN_URL, "iat": int(now), "exp": int(now) + 3600,
                  "jti": uuid.uuid4().hex}
        if s.subject:
            claims["sub"] = s.subject
        headers = {"kid": s.thumbprint} if s.thumbprint else None
        assertion = jwt.encode(claims, s.private_key, algorithm="RS256", headers=headers)
        return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}

    def _post(self, url: str, form: dict) -> dict:
        try:
            resp = PinnedSession(self.settings.verify).post(url, data=form, timeout=self.settings.timeout,
                                 headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise _network_error(url, exc) from exc
        try:
            body = resp.json()
        except ValueError:
            body = {"error": f"HTTP {resp.status_code}", "error_description": resp.text[:300]}
        if resp.status_code >= 500:
            raise SourceError(f"token endpoint {url} failed (HTTP {resp.status_code})",
                              body.get("error_description") or body.get("error", ""))
        return body

    def health(self) -> dict:
        """What test-connection shows about the credentials: token and certificate expiry, when knowable."""
        info: dict[str, Any] = {"oauth_provider": self.settings.provider,
                                "oauth_client_id": self.settings.client_id}
        if self._token is not None:
            info["token_expires_at"] = _iso(self._token.expires_at)
            info["token_valid_seconds"] = max(0, int(self._token.expires_at - self.clock()))
        not_after = certificate_expiry(self.settings.private_key)
        if not_after is not None:
            info["certificate_expires_at"] = not_after.isoformat(timespec="seconds")
            info["certificate_valid_days"] = (not_after - datetime.fromtimestamp(self.clock(), timezone.utc)).days
        elif self.settings.client_secret:
            info["secret_expiry"] = ("not told by the token endpoint; Graph shows it with "
                                     "Application.Read.All (see docs/exchange-m365.md)")
        return info


def _network_error(where: str, exc: Exception) -> SourceError:
    return SourceError(f"cannot reach the token endpoint {where}", str(exc),
                       "a network or TLS problem, not a credential one; the next poll retries")


def certificate_expiry(pem: Optional[str]) -> Optional[datetime]:
    """notAfter of the certificate kept in the same PEM as the private key, if there is one."""
    if not pem or "BEGIN CERTIFICATE" not in pem:
        return None
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(pem[pem.index("-----BEGIN CERTIFICATE"):].encode())
    except ValueError:
        return None
    return cert.not_valid_after_utc


def credential_expiry(provider: TokenProvider, graph_base: str, session: Optional[requests.Session] = None) -> dict:
    """Ask Graph when the app's secrets and certificates expire (needs Application.Read.All).

    Returns {"secrets": [...], "certificates": [...]} with ISO end dates, or {"unknown": reason}
    when Graph refuses (the usual case: the mail app has no directory permission).
    """
    s = provider.settings
    url = f"{graph_base.rstrip('/')}/applications(appId='{s.client_id}')"
    http = session or PinnedSession(s.verify)
    try:
        resp = http.get(url, params={"$select": "passwordCredentials,keyCredentials"},
                        headers={"Authorization": f"Bearer {provider()}"}, timeout=s.timeout)
    except requests.RequestException as exc:
        return {"unknown": f"Graph not reachable: {exc}"}
    if resp.status_code != 200:
        try:
            err = resp.json().get("error", {})
        except ValueError:
            err = {}
        return {"unknown": f"{err.get('code', resp.status_code)}: {err.get('message', '')} "
                           "(the app needs Application.Read.All to read its own credential dates)"}
    body = resp.json()

    def ends(items: list) -> list[dict]:
        return [{"name": i.get("displayName") or i.get("keyId"), "ends": i.get("endDateTime")} for i in items]
    return {"secrets": ends(body.get("passwordCredentials", [])),
            "certificates": ends(body.get("keyCredentials", []))}


def provider_for(oauth: Mapping, config_dir: str, protocol: str, subject: Optional[str] = None) -> TokenProvider:
    """A TokenProvider from a mailbox's `auth.oauth` mapping; secrets are resolved now, never stored in config."""
    from engine.config.secrets import resolve_secret

    def secret(value: Any) -> Optional[str]:
        return resolve_secret(value, config_dir) if value else None

    cert = oauth.get("certificate") or {}
    key = service_account_key(secret(oauth.get("service_account_key")))
    settings = OAuthSettings(
        client_id=key.get("client_email") or oauth.get("client_id", ""), provider=oauth.get("provider", "microsoft"),
        tenant_id=oauth.get("tenant_id", ""), cloud=oauth.get("cloud", "global"),
        client_secret=secret(oauth.get("client_secret")),
        private_key=key.get("private_key") or secret(cert.get("private_key")),
        refresh_token=secret(oauth.get("refresh_token")),
        thumbprint=key.get("private_key_id") or cert.get("thumbprint"),
        token_url=oauth.get("token_url") or key.get("token_uri"),
        scopes=tuple(oauth.get("scopes") or ()), subject=subject,
        authority_host=oauth.get("authority_host"), ca_file=oauth.get("ca_file"))
    return TokenProvider(settings, protocol=protocol)


def service_account_key(text: Optional[str]) -> dict:
    """The fields of a Google service account key file (JSON, as the Cloud console downloads it), or {}."""
    if not text:
        return {}
    try:
        key = json.loads(text)
    except ValueError:
        key = None
    if not isinstance(key, dict) or key.get("type") != "service_account" or not key.get("private_key") \
            or not key.get("client_email"):
        raise SourceError("service_account_key is not a Google service account key",
                          hint="give the JSON key file the Cloud console downloads (type service_account, "
                               "with client_email and private_key)")
    return key
