"""Store URLs: parsed with SQLAlchemy's URL tools, and never shown with their password."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from engine.errors import StoreError

HIDDEN = "<store url hidden>"
_SECRET_PARAMETERS = ("pass", "secret", "token", "key")  # query parameters whose values are hidden too


def parse_store_url(url: str) -> URL:
    """The parsed URL; StoreError (naming no part of it) when it cannot be read unambiguously."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError, TypeError):
        raise StoreError(f"the store URL {HIDDEN} cannot be read: write sqlite:///PATH or "
                         "postgresql+psycopg://USER:PASSWORD@HOST/DATABASE") from None
    if _netloc(url).count("@") > 1:
        # SQLAlchemy splits at the first '@': the rest of the password would become the host.
        raise StoreError(f"the store URL {HIDDEN} has more than one '@' before the host: "
                         "write an '@' in the user name or password as %40")
    return parsed


def safe_url(url: str | URL) -> str:
    """The URL fit to print: password and secret query values as ***, or HIDDEN when unreadable."""
    try:
        parsed = url if isinstance(url, URL) else parse_store_url(url)
        query = {k: ("***" if any(s in k.lower() for s in _SECRET_PARAMETERS) else v) for k, v in parsed.query.items()}
        return parsed.set(query=query).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - whatever goes wrong, the URL itself is never shown
        return HIDDEN


def _netloc(url: str) -> str:
    rest = url.partition("://")[2]
    return rest.split("/", 1)[0].split("?", 1)[0]
