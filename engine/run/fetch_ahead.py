"""Fetch the next batch in a thread while the poller applies this one: the server's time and the network overlap.

A poll fetched batch k+1 only after batch k was applied, so the poller sat idle for every round
trip and for the server's own work (Dovecot's, reading the mail). Here one thread runs the
source's fetches one batch ahead; the poller's acknowledgements go through the same lock, so the
source's one connection still carries one command at a time. At most one fetched batch waits
beside the one being parsed and the one being applied, so memory stays bounded by the batch size.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

_DONE = object()


class LockedSource:
    """A source whose calls take one lock: the fetch thread's and the poller's never interleave."""

    def __init__(self, source: Any):
        self._source = source
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._source, name)
        if not callable(attribute):
            return attribute

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return locked


def fetched_ahead(batches: Iterable[list]) -> Iterator[list]:
    """`batches` in order, the next one fetched by a thread while the caller works on this one.

    An exception from fetching is raised where that batch would have come, after every batch
    fetched before it. When the caller stops early, the thread finishes the fetch in hand and ends.
    """
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    thread = threading.Thread(target=_fetch, args=(iter(batches), ready, stop), name="mailgate-fetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = ready.get()
            if kind is _DONE:
                return
            if kind is BaseException:
                raise value
            yield value
    finally:
        stop.set()
        _drain(ready)
        thread.join()


def _fetch(iterator: Iterator[list], ready: queue.Queue, stop: threading.Event) -> None:
    try:
        for batch in iterator:
            if stop.is_set():
                return
            ready.put((list, batch))
            if stop.is_set():
                return
    except BaseException as err:  # noqa: BLE001 - handed to the poller, which raises it in order
        ready.put((BaseException, err))
        return
    ready.put((_DONE, None))


def _drain(ready: queue.Queue) -> None:
    """Take what the thread left, so a thread blocked on a full queue can see the stop and end."""
    while True:
        try:
            ready.get_nowait()
        except queue.Empty:
            return
