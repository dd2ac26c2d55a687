"""What validate checks of a mailbox's protocol settings beyond the schema (EWS, Graph, OAuth)."""

from __future__ import annotations

from collections.abc import Mapping

from engine.config.protocol_knobs import unread_knob_problems
from engine.config.shared_login import looks_shared, split_shared

AT_VALUE = {("ews", "autodiscover"), ("server", "tls_max_version")}  # the value itself is what is wrong, not the key


def config_problems(mailbox: Mapping) -> list[tuple[tuple, str, str]]:
    """What `validate` should report about a mailbox's OAuth/EWS/Graph settings: (key path, problem, hint).

    Paths are below `mailbox`, e.g. ("auth", "oauth", "tenant_id"); the caller turns them into file:line,
    pointing at the value when the path ends in one of AT_VALUE.
    """
    auth = mailbox.get("auth") or {}
    oauth = auth.get("oauth")
    protocol = mailbox.get("protocol")
    found: list[tuple[tuple, str, str]] = []
    method = auth.get("method", "auto")
    if protocol == "ews" and not isinstance(method, str) and "ntlm" in method and not auth.get("allow_ntlm"):
        found.append((("auth", "method"), "ntlm is listed but allow_ntlm is false",
                      "remove ntlm, or set auth.allow_ntlm: true if NTLM is really wanted"))
    if protocol == "graph" and not oauth:
        found.append((("auth",), "protocol graph needs auth.oauth (client credentials)",
                      "register an app in Entra ID and add auth.oauth (see docs/exchange-m365.md)"))
    if protocol == "ews" and not oauth and not auth.get("password"):
        found.append((("auth",), "protocol ews needs auth.password or auth.oauth", "add one of them"))
    ews = mailbox.get("ews") or {}
    if protocol == "ews" and ews.get("autodiscover", True) is False and not (ews.get("endpoint_url") or ews.get("server")):
        found.append((("ews", "autodiscover"), "autodiscover is off but no endpoint_url or server is given",
                      "set ews.endpoint_url (or ews.server), or turn autodiscover on"))
    if oauth:
        found += oauth_problems(oauth)
    found += tls_version_problems(mailbox.get("server") or {}, ("server",))
    found += shared_login_problems(mailbox)
    return found + unread_knob_problems(mailbox)


def shared_login_problems(mailbox: Mapping) -> list[tuple[tuple, str, str]]:
    """Seed 002's `Domain\\User\\SharedAlias` username: well formed, and not contradicted elsewhere (F-MB-18)."""
    auth, protocol = mailbox.get("auth") or {}, mailbox.get("protocol")
    username, where = auth.get("username"), ("auth", "username")
    if not looks_shared(username):
        return []
    shared = split_shared(username)
    form = "write Domain\\User\\SharedAlias (the delegate's login, then the shared mailbox), or a plain login"
    backslashes = username.count("\\")
    if backslashes > 2:
        return [(where, f"username '{username}' has {backslashes} backslashes; a shared mailbox login has two", form)]
    if shared is None:
        return [(where, f"username '{username}' has two backslashes but an empty part", form)]
    reading = f"read as login '{shared.login}' opening shared mailbox '{shared.shared}'"
    ews = mailbox.get("ews") or {}
    if protocol == "ews" and ews.get("shared_mailbox") and ews["shared_mailbox"].lower() != shared.address(
            mailbox.get("address", "")).lower():
        return [(where, f"username is {reading}, but ews.shared_mailbox names '{ews['shared_mailbox']}'",
                 "keep one of them: the username's alias or ews.shared_mailbox")]
    if protocol == "ews" and ews.get("domain") and ews["domain"].lower() != shared.domain.lower():
        return [(where, f"username is {reading}, but ews.domain is '{ews['domain']}'",
                 "drop ews.domain or make it the username's domain")]
    method = auth.get("method", "auto")
    if protocol in ("imap", "pop3") and not isinstance(method, str) and set(method) <= {"cram-md5"}:
        return [(("auth", "method"), f"username is {reading}, and CRAM-MD5 cannot name a shared mailbox",
                 "allow plain (over TLS) or scram-sha-256, which carry the shared mailbox as authorization identity")]
    return []


def tls_version_problems(server: Mapping, base: tuple) -> list[tuple[tuple, str, str]]:
    """tls_min_version above tls_max_version leaves no version to speak (F-MB-15)."""
    low, high = server.get("tls_min_version"), server.get("tls_max_version")
    if low is None or high is None or float(low) <= float(high):
        return []
    return [(base + ("tls_max_version",), f"tls_max_version {high} is older than tls_min_version {low}",
             "raise tls_max_version or lower tls_min_version (1.2 is the oldest allowed)")]


def oauth_problems(oauth: Mapping, base: tuple = ("auth", "oauth")) -> list[tuple[tuple, str, str]]:
    """What an auth.oauth (or settings.smtp.oauth, at `base`) lacks for its provider."""
    provider = oauth.get("provider", "microsoft")
    if provider == "google":
        return google_problems(oauth, base)
    cert = oauth.get("certificate") or {}
    found = []
    if not oauth.get("client_id"):
        found.append((base, "oauth needs client_id", "the application (client) id of the app registration"))
    if not oauth.get("client_secret") and not cert.get("private_key"):
        found.append((base, "oauth needs client_secret or certificate.private_key", "give one credential"))
    if provider == "microsoft" and not oauth.get("tenant_id"):
        found.append((base, "provider microsoft needs tenant_id", "the directory (tenant) id or domain"))
    if provider == "microsoft" and cert.get("private_key") and not cert.get("thumbprint"):
        found.append((base + ("certificate",), "a certificate credential needs its thumbprint",
                      "the SHA-1 thumbprint shown under Certificates & secrets"))
    if provider == "microsoft" and (oauth.get("refresh_token") or oauth.get("service_account_key")):
        found.append((base, "refresh_token and service_account_key are for provider google",
                      "Microsoft 365 uses client credentials: client_secret or certificate"))
    if provider == "generic" and not oauth.get("token_url"):
        found.append((base, "provider generic needs token_url", "the provider's token endpoint"))
    return found


GOOGLE_SHAPES = ("provider google needs a service account (service_account_key, or client_id + "
                 "certificate.private_key) or an installed app (client_id, client_secret, refresh_token)")


def google_problems(oauth: Mapping, base: tuple) -> list[tuple[tuple, str, str]]:
    """F-MB-13: a service account with domain-wide delegation, or an installed app's refresh token; nothing else."""
    cert = oauth.get("certificate") or {}
    key, refresh = oauth.get("service_account_key") or cert.get("private_key"), oauth.get("refresh_token")
    hint = "see docs/google.md for both set-ups"
    if not key and not refresh:
        return [(base, GOOGLE_SHAPES, hint)]
    if key and refresh:
        return [(base, "give a service account key or an installed app's refresh_token, not both", hint)]
    found = []
    if refresh and not (oauth.get("client_id") and oauth.get("client_secret")):
        found.append((base, "an installed app's refresh_token needs its client_id and client_secret",
                      "the Desktop OAuth client's id and secret from the Google Cloud console"))
    if cert.get("private_key") and not oauth.get("service_account_key") and "@" not in (oauth.get("client_id") or ""):
        found.append((base, "a service account's client_id is its e-mail (NAME@PROJECT.iam.gserviceaccount.com)",
                      "or give the whole JSON key as service_account_key"))
    for key in ("tenant_id", "cloud"):
        if oauth.get(key):
            found.append((base + (key,), f"{key} is Microsoft's: Google has none", f"drop {key}"))
    scopes = oauth.get("scopes")
    if scopes and "https://mail.google.com/" not in scopes:
        found.append((base + ("scopes",), "IMAP, POP3 and SMTP with Google need the scope https://mail.google.com/",
                      "add https://mail.google.com/ or drop scopes (it is the default)"))
    return found
