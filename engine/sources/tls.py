"""TLS contexts for mail sources: verification on by default, an admin's CA file, clear errors."""

from __future__ import annotations

import ssl
from typing import Optional

from engine.errors import SourceError
from engine.sources.base import TLS_MODES

CERT_HINT = ("the server's certificate is not trusted here: set ca_file to the CA that signed it, "
             "or (only on a network you trust) verify_certificate: false")


def check_mode(tls: str) -> str:
    """Reject a TLS mode that is not `implicit`, `starttls` or `none`."""
    if tls not in TLS_MODES:
        raise SourceError(f"unknown tls mode {tls!r}; use one of {', '.join(TLS_MODES)}")
    return tls


def context(verify_certificate: bool = True, ca_file: Optional[str] = None) -> ssl.SSLContext:
    """A client context: system CAs (or only `ca_file`), hostname checked unless switched off."""
    try:
        ctx = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise SourceError(f"cannot read ca_file {ca_file!r}: {exc}") from exc
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify_certificate:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def tls_error(server: str, exc: ssl.SSLError) -> SourceError:
    """A SourceError for a failed handshake, with the certificate hint when that is the cause."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        words = getattr(exc, "verify_message", "") or str(exc)
        return SourceError(f"{server}: TLS certificate rejected", words, CERT_HINT)
    return SourceError(f"{server}: TLS handshake failed", str(exc),
                       "check that the port and tls mode match (993/995 implicit, 143/110 starttls)")
