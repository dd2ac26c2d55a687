"""Reading the ISO 8601 times operators and golden cases give (dry-run --now, a case's `now`)."""

from __future__ import annotations

from datetime import datetime, timezone

from engine.errors import UsageError


def parse_moment(value: str | datetime, where: str) -> datetime:
    """An aware datetime from ISO 8601 text ('Z' allowed); a time without a zone is UTC."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"{where} {value!r} is not an ISO 8601 time such as 2026-01-15T12:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
