"""The poller fetches the next batch in a thread while it applies this one (engine/run/fetch_ahead.py).

SPEC IDs proved here: F-MB-9 (nothing acknowledged out of turn: the source's calls never interleave).
"""

from __future__ import annotations

import threading

import pytest

from engine.errors import SourceError
from engine.run.fetch_ahead import LockedSource, fetched_ahead

WAIT = 30  # seconds: an upper bound for a thread to get going on a busy machine, never a speed goal


def test_batches_come_in_order_and_the_next_is_fetched_while_this_one_is_worked_on():
    fetched_second = threading.Event()

    def batches():
        yield [1]
        yield [2]
        fetched_second.set()
        yield [3]

    ahead = fetched_ahead(batches())
    assert next(ahead) == [1]
    assert fetched_second.wait(WAIT)  # while the caller still holds batch 1
    assert list(ahead) == [[2], [3]]


def test_a_failed_fetch_is_raised_after_the_batches_before_it():
    def batches():
        yield [1]
        raise SourceError("imap://host: the connection dropped")

    ahead = fetched_ahead(batches())
    assert next(ahead) == [1]
    with pytest.raises(SourceError, match="dropped"):
        next(ahead)


def test_stopping_early_ends_the_thread_without_fetching_everything():
    asked = []

    def batches():
        for number in range(100):
            asked.append(number)
            yield [number]

    ahead = fetched_ahead(batches())
    assert next(ahead) == [0]
    ahead.close()
    assert not any(t.name == "mailgate-fetch" and t.is_alive() for t in threading.enumerate())
    assert len(asked) <= 3  # the batch in hand, the one waiting, the one being fetched


class _Source:
    """Records whether two calls ever overlapped."""

    def __init__(self):
        self.busy, self.overlaps, self.started = False, 0, threading.Event()
        self.release = threading.Event()

    def fetch(self, keys):
        self._enter()
        self.started.set()
        self.release.wait(WAIT)
        self.busy = False
        return keys

    def ack(self, keys):
        self._enter()
        self.busy = False
        return keys

    def _enter(self):
        self.overlaps += self.busy
        self.busy = True


def test_an_acknowledgement_waits_for_the_fetch_in_progress_on_the_same_connection():
    raw = _Source()
    source = LockedSource(raw)
    fetcher = threading.Thread(target=source.fetch, args=(["a"],))
    fetcher.start()
    assert raw.started.wait(WAIT)
    acker = threading.Thread(target=source.ack, args=(["b"],))
    acker.start()
    raw.release.set()
    fetcher.join(WAIT)
    acker.join(WAIT)
    assert raw.overlaps == 0
