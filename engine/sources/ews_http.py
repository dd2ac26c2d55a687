"""Per-server TLS and NTLM policy for exchangelib's HTTP sessions (exchangelib only offers one global adapter)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from engine.errors import NtlmRefused


@dataclass(frozen=True)
class HostPolicy:
    """What one mailbox allows towards its Exchange hosts: the CA to trust, and NTLM or not."""

    verify: Any = True
    allow_ntlm: bool = False
    tls_pins: tuple = ()  # urllib3 pool arguments pinning the TLS versions (F-MB-15)


_by_host: dict[str, HostPolicy] = {}
_current = threading.local()
_lock = threading.Lock()


def register(url: str, policy: HostPolicy) -> None:
    """Apply `policy` to every request exchangelib sends to `url`'s host and port."""
    with _lock:
        _by_host[urlsplit(url).netloc.lower()] = policy


def set_current(policy: Optional[HostPolicy]) -> None:
    """The policy for hosts not registered yet (autodiscover probes) in this thread."""
    _current.policy = policy


def policy_for(url: str) -> Optional[HostPolicy]:
    with _lock:
        found = _by_host.get(urlsplit(url).netloc.lower())
    return found or getattr(_current, "policy", None)


class PolicyAdapter(HTTPAdapter):
    """Sends with the host's CA file (beating REQUESTS_CA_BUNDLE) and never lets NTLM out when refused."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        policy = policy_for(request.url or "")
        if policy is not None:
            kwargs["verify"] = policy.verify
            auth = (request.headers.get("Authorization") or "").split(" ", 1)[0].lower()
            if auth in ("ntlm", "negotiate") and not policy.allow_ntlm:
                raise NtlmRefused(f"{urlsplit(request.url or '').netloc}: refusing to log in with NTLM "
                                  "(allow_ntlm is false); use basic over TLS or OAuth")
        return super().send(request, **kwargs)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        policy = policy_for(request.url or "")
        return host_params, {**pool_kwargs, **dict(policy.tls_pins)} if policy else pool_kwargs


def install() -> None:
    """Make exchangelib build its sessions with PolicyAdapter (idempotent)."""
    from exchangelib.protocol import BaseProtocol

    BaseProtocol.HTTP_ADAPTER_CLS = PolicyAdapter
