"""Reading the times operators and golden cases give: ISO 8601 (dry-run --now, a case's `now`) and durations (7d)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

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


_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(value: str, where: str) -> timedelta:
    """A duration such as 30m, 12h, 7d or 2w."""
    text = value.strip().lower()
    if len(text) < 2 or text[-1] not in _UNITS or not text[:-1].isdigit():
        raise UsageError(f"{where} {value!r} is not a duration such as 30m, 12h, 7d or 2w")
    return timedelta(**{_UNITS[text[-1]]: int(text[:-1])})


def parse_since(value: str, where: str, now: datetime) -> datetime:
    """An ISO 8601 time, or a duration back from `now` (2h: two hours ago)."""
    if value.strip()[-1:].lower() in _UNITS and value.strip()[:-1].isdigit():
        return now - parse_age(value, where)
    try:
        return parse_moment(value, where)
    except UsageError:
        raise UsageError(f"{where} {value!r} is neither an ISO 8601 time (2026-01-15T12:00:00Z) "
                         f"nor a duration back from now (30m, 12h, 7d, 2w)") from None
