"""Network failures said in words: "cannot resolve host imap.acme.example", not "[Errno -2]"."""

from __future__ import annotations

import errno
import socket
from urllib.parse import urlsplit

from engine.errors import SourceError

_UNREACHABLE = {errno.ENETUNREACH: "the network is unreachable", errno.EHOSTUNREACH: "no route to the host"}


def root_cause(exc: BaseException) -> BaseException:
    """The innermost OSError under `exc` (requests and urllib3 wrap the socket's own error), else `exc`."""
    seen, current, found = set(), exc, exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError):
            found = current
        current = current.__cause__ or current.__context__ or _first_arg_error(current)
    return found


def _first_arg_error(exc: BaseException) -> BaseException | None:
    # urllib3's MaxRetryError keeps its cause in `reason`; requests passes it as the first argument.
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        return reason
    first = exc.args[0] if exc.args else None
    return first if isinstance(first, BaseException) else None


def connect_failure(host: str, port: int, exc: BaseException, timeout: float | None = None) -> SourceError | None:
    """A SourceError naming what went wrong reaching host:port, or None when it was no network failure."""
    cause = root_cause(exc)
    if isinstance(cause, socket.gaierror):
        return SourceError(f"cannot resolve host {host}",
                           hint="check the host name for typos, and that this machine's DNS can resolve it")
    if isinstance(cause, ConnectionRefusedError):
        return SourceError(f"{host} refused the connection on port {port}",
                           hint="nothing listens there: check the port and that the mail server runs")
    if isinstance(cause, (TimeoutError, socket.timeout)):
        within = f" within {timeout:g} s" if timeout else ""
        return SourceError(f"no answer from {host} on port {port}{within}",
                           hint="a firewall may drop the connection, or the host is down: check host, port and firewall")
    if isinstance(cause, OSError) and cause.errno in _UNREACHABLE:
        return SourceError(f"cannot reach {host}: {_UNREACHABLE[cause.errno]}",
                           hint="check this machine's network and routes to the server")
    if isinstance(cause, (ConnectionResetError, ConnectionAbortedError)):
        return SourceError(f"{host} closed the connection on port {port}",
                           hint="check that port and tls mode match (993/995 implicit, 143/110 starttls)")
    return None


def url_failure(url: str, exc: BaseException, timeout: float | None = None) -> SourceError | None:
    """connect_failure for a web API's URL (EWS, Graph)."""
    parts = urlsplit(url)
    return connect_failure(parts.hostname or url, parts.port or (443 if parts.scheme == "https" else 80), exc, timeout)
