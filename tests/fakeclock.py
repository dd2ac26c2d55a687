"""A clock tests move by hand, passed to Store.open(clock=...) and the poll's clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)  # the store tests' "now" until they move it


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
