"""What one poll fetches: the same skip, budget and batching for every source."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Optional

from engine.sources.base import Fetched, Source, batched


@dataclass
class FetchPlan:
    """The keys of one poll: new ones to fetch (at most the budget) and ones logged before.

    A logged key is still on the server only when its acknowledgement was lost
    (a crash between commit and ack, a failed move): the poller acknowledges it
    again instead of fetching it.
    """

    new: list[str] = field(default_factory=list)
    logged: list[str] = field(default_factory=list)


def plan(keys: Iterable[str], budget: int, is_logged: Callable[[str], bool]) -> FetchPlan:
    """Walk the listing oldest first, skipping logged keys, until `budget` new keys are found.

    Skipping before counting is what keeps a mailbox moving when it holds many
    processed messages (fetch: all with mark_read, POP3, a lost acknowledgement).
    """
    found = FetchPlan()
    for key in keys:
        if len(found.new) >= budget:
            break
        (found.logged if is_logged(key) else found.new).append(key)
    return found


def logged_lookup(keys: list[str], logged_among: Callable[[list[str]], set[str]],
                  chunk: int = 500) -> Callable[[str], bool]:
    """`is_logged` for plan(): asks the store about `chunk` listed keys at a time, not one by one
    (a query per key, each in its own transaction, was ~4% of a poll)."""
    position = {key: index for index, key in enumerate(keys)}
    logged: set[str] = set()
    asked: set[int] = set()

    def is_logged(key: str) -> bool:
        part = position[key] // chunk
        if part not in asked:
            asked.add(part)
            logged.update(logged_among(keys[part * chunk:(part + 1) * chunk]))
        return key in logged

    return is_logged


def batches(source: Source, keys: list[str], batch_size: int,
            max_size: Optional[int] = None) -> Iterator[list[Fetched]]:
    """Fetch `keys` in batches of `batch_size`, each only when the one before was handled."""
    for chunk in batched(keys, batch_size):
        fetched = source.fetch(list(chunk), max_size)
        if fetched:
            yield fetched


def fetch_all(source: Source, budget: int, batch_size: int, is_logged: Callable[[str], bool] = lambda key: False,
              max_size: Optional[int] = None) -> tuple[FetchPlan, Iterator[list[Fetched]]]:
    """The plan and its batches in one call (tests, benchmarks, replay tools)."""
    found = plan(source.list_keys(), budget, is_logged)
    return found, batches(source, found.new, batch_size, max_size)
