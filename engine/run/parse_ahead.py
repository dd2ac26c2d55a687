"""Parse the next batch in a worker process while the poller applies this one (the machine's second core)."""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import signal
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from engine.message import Message
from engine.parse import parse

log = logging.getLogger("mailgate.parse")
MIN_BATCH = 8  # smaller batches are parsed in line: a round trip to the worker would cost more
_pool: ProcessPoolExecutor | None = None
_broken = False


def _quiet_worker() -> None:
    # Ctrl-C or a service manager's SIGTERM to the whole group must reach the poller only:
    # it finishes the message in hand; the worker ends when the poller closes its pipe.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)


def _parse_all(raws: list[bytes]) -> list[Message]:
    return [parse(raw) for raw in raws]


def _executor() -> ProcessPoolExecutor | None:
    """The one worker of this process, started on first use; None on a single core or after a failure."""
    global _pool
    if _broken or (os.cpu_count() or 1) < 2:
        return None
    if _pool is None:
        # forkserver: workers never inherit the poller's threads, locks or database connections.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["engine.message"])
        _pool = ProcessPoolExecutor(1, mp_context=context, initializer=_quiet_worker)
        atexit.register(shutdown)
    return _pool


def shutdown() -> None:
    """Stop the worker (tests and the service call it at exit; atexit does otherwise)."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


def _submit(batch: list) -> Future | None:
    if len(batch) < MIN_BATCH:
        return None
    executor = _executor()
    if executor is None:
        return None
    try:
        return executor.submit(_parse_all, [item.raw for item in batch])
    except Exception as err:  # noqa: BLE001 - a broken pool only costs speed: parse in line
        _give_up(err)
        return None


def _result(future: Future | None, size: int) -> list[Message | None]:
    if future is not None:
        try:
            return future.result()
        except Exception as err:  # noqa: BLE001 - the poller parses in line (and quarantines if it must)
            _give_up(err)
    return [None] * size


def _give_up(err: Exception) -> None:
    global _broken
    log.warning("parsing in a worker process failed (%s: %s); parsing in line from now on", type(err).__name__, err)
    _broken = True
    shutdown()


def parsed_ahead(batches: Iterable[list]) -> Iterator[tuple[list, list[Message | None]]]:
    """Yield (batch, messages): batch k+1 is fetched and handed to the worker before batch k is yielded.

    A message is None where the worker could not parse it: the caller parses it itself.
    When fetching batch k+1 fails (a dropped connection), batch k is still yielded first,
    so a server that fails mid-poll every time cannot stop all progress.
    """
    pending: tuple[list, Future | None] | None = None
    iterator = iter(batches)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            break
        except BaseException:
            if pending is not None:
                yield pending[0], _result(pending[1], len(pending[0]))
            raise
        future = _submit(batch)
        if pending is not None:
            yield pending[0], _result(pending[1], len(pending[0]))
        pending = (batch, future)
    if pending is not None:
        yield pending[0], _result(pending[1], len(pending[0]))
