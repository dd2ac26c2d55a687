"""The realistic mailbox: N mails in three phases with ground truth, deterministic for (n, seed, end).

Phase 1 is a backlog that arrived over three days (requests, follow-ups, colleagues, forwards with a
vendor's tag, out-of-office, newsletters, backscatter, spam and its copies, a looping script). Phase 2
arrives after the first poll: customers answer our auto-replies, with our tag, with References only,
or with the tag only; out-of-office replies and bounces about our mail. Phase 3 is the store = decision
sample: one mail per sender, none depending on another. Phases 2 and 3 read ticket numbers and our
auto-replies from Facts (what the store holds), as a customer reads them from the mail we sent.

    box = Mailbox(n=2000, seed=9, end=now)
    first = box.phase(1)                     # load, poll
    second = box.phase(2, facts_from_store)  # load, poll; then phase(3, ...)

A speed benchmark that wants all N mails in one go, without a store in between, takes
`Mailbox(n).backlog()`: replies then answer the request itself (no ticket number is known yet).
Render each phase of one Mailbox once: indexes count on across calls.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone

from tests.realistic.plan import Planner
from tests.realistic.render import render
from tests.realistic.truth import Delivery, Facts

DEFAULT_END = datetime(2026, 1, 15, 17, 0, tzinfo=timezone.utc)


class Mailbox:
    """The plan of one mailbox; phase(k, facts) renders its mails in arrival order."""

    def __init__(self, n: int = 2000, seed: int = 9, end: datetime | None = None, senders: int = 400):
        self.n, self.seed = n, seed
        self.end = (end or DEFAULT_END).replace(microsecond=0)
        self.planner = Planner(n, seed, self.end, senders)
        self.items = self.planner.build()
        self._next_index = 0

    def phase(self, number: int, facts: Facts | None = None) -> list[Delivery]:
        """Every delivery of phase `number` (copies included), oldest arrival first, indexed globally."""
        deliveries: list[Delivery] = []
        for item in (i for i in self.items if i.phase == number):
            deliveries += render(item, random.Random(f"{self.seed}:{item.id}"), facts or Facts())
        deliveries.sort(key=lambda d: (d.arrival, d.truth.item, d.truth.variant == "copy"))
        first: dict[str, int] = {}
        for delivery in deliveries:
            delivery.truth.index = self._next_index
            self._next_index += 1
            if delivery.truth.variant == "copy":
                delivery.truth.copy_of = first[delivery.truth.item]
            else:
                first[delivery.truth.item] = delivery.truth.index
        return deliveries

    def backlog(self) -> list[Delivery]:
        """All three phases rendered without a store, in arrival order: N mails for a speed benchmark."""
        return sorted(self.phase(1) + self.phase(2) + self.phase(3), key=lambda d: d.arrival)

    def senders(self) -> int:
        return len({i.sender for i in self.items})
