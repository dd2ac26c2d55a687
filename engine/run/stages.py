"""Where a poll's time goes: seconds per stage, for `mailgate poll --once --timings` and bench/bench_poll.py."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

# In the order a message meets them. "parse" is the time the poller waited for parsed mail (or
# parsed in line); "parse worker" is the CPU the worker spent meanwhile, overlapped with the rest.
STAGES = ("fetch", "parse", "evaluate", "apply", "commit", "ack", "parse worker")


class Stages:
    """Seconds spent per stage in one poll of one mailbox (wall clock in the poller)."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)

    @contextmanager
    def timing(self, stage: str) -> Iterator[None]:
        begin = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - begin

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] += seconds

    def timed(self, stage: str, items: Iterable) -> Iterator:
        """`items` as they come, the time spent producing each counted to `stage`."""
        iterator = iter(items)
        while True:
            begin = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                return
            finally:
                self.seconds[stage] += time.perf_counter() - begin
            yield item

    def summary(self) -> str:
        return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in self.seconds.items())
