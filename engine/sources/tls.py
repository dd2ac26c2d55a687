"""TLS contexts for mail servers: verification on by default, an admin's CA file, pinned versions, clear errors."""

from __future__ import annotations

import ssl
from typing import Optional, Union

from engine.errors import SourceError
from engine.sources.base import TLS_MODES

CERT_HINT = ("the server's certificate is not trusted here: set ca_file to the CA that signed it, "
             "or (only on a network you trust) verify_certificate: false")
# The versions an admin may pin (F-MB-15). Older ones are broken and refused by the schema.
VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
DEFAULT_MIN_VERSION = "1.2"
VERSION_HINT = ("the server does not speak a TLS version between tls_min_version and tls_max_version: "
                "widen them (1.2 is the oldest allowed) or upgrade the server")


def check_mode(tls: str) -> str:
    """Reject a TLS mode that is not `implicit`, `starttls` or `none`."""
    if tls not in TLS_MODES:
        raise SourceError(f"unknown tls mode {tls!r}; use one of {', '.join(TLS_MODES)}")
    return tls


def version_name(value: Union[str, float, None]) -> Optional[str]:
    """'1.2' for a YAML `1.2` (read as a number) or "1.2"; None stays None."""
    if value is None:
        return None
    name = f"{value:.1f}" if isinstance(value, float) else str(value)
    if name not in VERSIONS:
        raise SourceError(f"unknown TLS version {value!r}; use one of {', '.join(VERSIONS)}")
    return name


def context(verify_certificate: bool = True, ca_file: Optional[str] = None,
            min_version: Union[str, float, None] = DEFAULT_MIN_VERSION,
            max_version: Union[str, float, None] = None) -> ssl.SSLContext:
    """A client context: system CAs (or only `ca_file`), hostname checked unless switched off,
    TLS versions between `min_version` (default 1.2) and `max_version` (default: the newest)."""
    try:
        ctx = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise SourceError(f"cannot read ca_file {ca_file!r}: {exc}") from exc
    ctx.minimum_version = VERSIONS[version_name(min_version) or DEFAULT_MIN_VERSION]
    if max_version is not None:
        ctx.maximum_version = VERSIONS[version_name(max_version)]
    if not verify_certificate:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def pool_versions(min_version: Union[str, float, None] = DEFAULT_MIN_VERSION,
                  max_version: Union[str, float, None] = None) -> dict:
    """The urllib3 pool arguments that pin the TLS versions of HTTPS requests (EWS, Graph)."""
    pins = {"ssl_minimum_version": VERSIONS[version_name(min_version) or DEFAULT_MIN_VERSION]}
    if max_version is not None:
        pins["ssl_maximum_version"] = VERSIONS[version_name(max_version)]
    return pins


def negotiated(sock: object) -> Optional[str]:
    """The TLS version a connected socket speaks ('TLSv1.3'), or None without TLS."""
    version = getattr(sock, "version", None)
    return version() if callable(version) else None


def https_error(where: str, exc: Exception, versions_pinned: bool = False) -> SourceError:
    """A failed HTTPS handshake (EWS, Graph): requests' SSLError carries OpenSSL's words only as text."""
    words = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in words:
        return SourceError(f"{where}: TLS certificate rejected", words, CERT_HINT)
    if _version_trouble(words, versions_pinned):
        return SourceError(f"{where}: no TLS version both sides accept", words, VERSION_HINT)
    return SourceError(f"{where}: TLS handshake failed", words, "check the URL and the server's TLS setup")


def _version_trouble(words: str, versions_pinned: bool) -> bool:
    upper = words.upper()
    return "VERSION" in upper or "PROTOCOL_VERSION" in upper or (versions_pinned and "EOF" in upper)


def pinned(min_version: Optional[str], max_version: Optional[str]) -> bool:
    """True when an admin narrowed the TLS versions from the default (1.2 and newer)."""
    return (version_name(min_version) or DEFAULT_MIN_VERSION) != DEFAULT_MIN_VERSION or max_version is not None


def tls_error(server: str, exc: ssl.SSLError, versions_pinned: bool = False) -> SourceError:
    """A SourceError for a failed handshake, with the certificate or version hint when that is the cause.

    A server that knows none of our versions may say so (an alert) or just hang up: when the
    admin pinned the versions, a hang-up during the handshake gets the version hint too.
    """
    if isinstance(exc, ssl.SSLCertVerificationError):
        words = getattr(exc, "verify_message", "") or str(exc)
        return SourceError(f"{server}: TLS certificate rejected", words, CERT_HINT)
    if _version_trouble(getattr(exc, "reason", "") or "", versions_pinned):
        return SourceError(f"{server}: no TLS version both sides accept", str(exc), VERSION_HINT)
    return SourceError(f"{server}: TLS handshake failed", str(exc),
                       "check that the port and tls mode match (993/995 implicit, 143/110 starttls)")
