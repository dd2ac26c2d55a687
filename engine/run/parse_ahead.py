"""Parse mail in a worker process: the next batch while the poller applies this one (the machine's
second core), and each mail within its time budget (limits.message_seconds).

A mail that overruns the budget, or kills the worker, is given up: the worker is killed and
replaced, the rest of the work is handed to the new one, and that mail becomes an unreadable
Message, which evaluate() quarantines (F-FAIL-1). So no mail can stall the mail behind it.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

from engine.message import Message
from engine.parse import parse, unreadable_message

log = logging.getLogger("mailgate.parse")
MIN_BATCH = 8  # without a budget, smaller batches are parsed in line: a round trip would cost more
START_SECONDS = 60.0  # a new worker must be ready (and a job started) within this, else parse in line
_NOT_STARTED_POLL = 0.05  # seconds between looks at a job the worker has not started
_numbers = itertools.count(1)


@dataclass(frozen=True)
class ParseSettings:
    """How a mailbox's mail is parsed: the budget per mail (None: none) and the HTML option."""

    seconds: float | None = None
    keep_remote_images: bool = False

    @classmethod
    def of(cls, ruleset, mailbox) -> "ParseSettings":
        """The settings the config gives `mailbox` (limits.message_seconds, body.keep_remote_images)."""
        return cls(ruleset.knobs.limits.message_seconds, mailbox.policy.body.keep_remote_images)

    def parse(self, raw: bytes) -> Message:
        """Parse in this process (no budget): where no worker can run, and for dry runs."""
        return parse(raw, keep_remote_images=self.keep_remote_images)


# ---- in the worker process ----

_progress = None  # shared with the poller: [job number, index in the job, monotonic start]


def _start_worker(progress) -> None:
    global _progress
    _progress = progress
    # Ctrl-C or a service manager's SIGTERM to the whole group must reach the poller only:
    # it finishes the message in hand; the worker ends when the poller closes its pipe.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    # A poller that dies without a word (SIGKILL, the OOM killer) closes no pipe: the worker
    # would wait on its queue forever, and keep the forkserver alive with it.
    poller = multiprocessing.parent_process()
    if poller is not None:
        threading.Thread(target=_exit_with, args=(poller.sentinel,), daemon=True).start()


def _exit_with(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(0)


def _parse_job(number: int, raws: list[bytes], keep_remote_images: bool) -> tuple[list[Message], float]:
    """The job's Messages, and the CPU seconds they took (`poll --timings`)."""
    messages, cpu = [], time.process_time()
    for index, raw in enumerate(raws):
        with _progress.get_lock():  # CLOCK_MONOTONIC is one clock for every process of the machine
            _progress[:] = [number, index, time.monotonic()]
        messages.append(parse(raw, keep_remote_images=keep_remote_images))
    return messages, time.process_time() - cpu


# ---- in the poller ----

class _Worker:
    """The one worker process: a pool of one, its pid (to kill it) and the progress it reports."""

    def __init__(self) -> None:
        # forkserver: workers never inherit the poller's threads, locks or database connections.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["engine.message"])
        self.progress = context.Array("d", 3)
        self.pool = ProcessPoolExecutor(1, mp_context=context, initializer=_start_worker, initargs=(self.progress,))
        try:
            self.pid = self.pool.submit(os.getpid).result(timeout=START_SECONDS)
        except BaseException:
            self.pool.shutdown(wait=False, cancel_futures=True)
            raise

    def where(self) -> tuple[int, int, float]:
        """(job number, index, start) of the mail the worker is on, or last was on."""
        lock = self.progress.get_lock()
        if not lock.acquire(timeout=1.0):  # held by a worker that died inside the update
            return 0, 0, 0.0
        try:
            number, index, started = self.progress[:]
        finally:
            lock.release()
        return int(number), int(index), started

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.pool.shutdown(wait=False, cancel_futures=True)


@dataclass(eq=False)
class _Job:
    """One batch's mail: what is still the worker's to parse, and what is settled."""

    raws: list[bytes]
    settings: ParseSettings
    settled: dict[int, Message] = field(default_factory=dict)  # index -> over budget or crashed
    todo: list[int] = field(default_factory=list)  # indexes handed to the current future, in order
    number: int = 0
    future: Future | None = None
    submitted: float = 0.0
    crashes: int = 0  # worker deaths not pinned on one mail: after 3, parse in line
    worker_seconds: float = 0.0  # CPU the worker spent on this job's mail


_worker: _Worker | None = None
_broken = False
_jobs: list[_Job] = []  # handed to the worker and not yet collected, oldest first


def shutdown() -> None:
    """Stop the worker (tests and the service call it at exit; atexit does otherwise)."""
    global _worker
    if _worker is not None:
        _worker.pool.shutdown(wait=False, cancel_futures=True)
        _worker = None
    _jobs.clear()


def _get_worker() -> _Worker | None:
    global _worker, _broken
    if _worker is None and not _broken:
        try:
            _worker = _Worker()
            atexit.register(shutdown)
        except Exception as err:  # noqa: BLE001 - no worker only costs the budget and speed: parse in line
            log.warning("cannot start the parse worker (%s: %s): parsing in line, without the time budget",
                        type(err).__name__, err)
            _broken = True
    return _worker


def _submit(job: _Job) -> None:
    """Hand the job's unsettled mail to the worker (a new future), or leave it to the caller."""
    job.todo = [i for i in range(len(job.raws)) if i not in job.settled]
    job.future = None
    worker = _get_worker() if job.todo else None
    if worker is None:
        return
    job.number, job.submitted = next(_numbers), time.monotonic()
    try:
        job.future = worker.pool.submit(_parse_job, job.number, [job.raws[i] for i in job.todo],
                                        job.settings.keep_remote_images)
    except Exception as err:  # noqa: BLE001 - a broken pool: replace it once, then parse in line
        _replace(f"the worker would not take mail ({type(err).__name__}: {err})")
        if _worker is not None:
            job.future = _worker.pool.submit(_parse_job, job.number, [job.raws[i] for i in job.todo],
                                             job.settings.keep_remote_images)
    if job.future is not None:
        _jobs.append(job)


def _replace(why: str) -> None:
    """Kill the worker and start another; every job it held goes to the new one."""
    global _worker
    log.warning("restarting the parse worker: %s", why)
    if _worker is not None:
        _worker.kill()
        _worker = None
    held, _jobs[:] = list(_jobs), []
    for job in held:
        _submit(job)


def _give_up(job: _Job, index: int, why: str) -> None:
    log.warning("giving up on mail %d of a batch: %s", index + 1, why)
    job.settled[index] = unreadable_message(job.raws[index], why)


def _collect(job: _Job) -> list[Message]:
    """The job's Messages in order; what no worker parsed is parsed here, without a budget."""
    while job.future is not None:
        try:
            parsed, seconds = job.future.result(timeout=_time_left(job))
        except FutureTimeout:
            _check_overrun(job)
            continue
        except Exception as err:  # noqa: BLE001 - the worker died (a crash, the kernel's OOM killer)
            _after_crash(job, err)
            continue
        _jobs.remove(job)
        job.worker_seconds += seconds
        job.settled.update(zip(job.todo, parsed))
        job.future = None
    return [job.settled.get(i) or job.settings.parse(raw) for i, raw in enumerate(job.raws)]


def _time_left(job: _Job) -> float | None:
    if job.settings.seconds is None:
        return None
    number, _, started = _worker.where()
    if number != job.number:  # not started yet (the worker is reading the job's mail): look again soon
        return _NOT_STARTED_POLL
    return max(0.0, started + job.settings.seconds - time.monotonic())


def _check_overrun(job: _Job) -> None:
    number, index, started = _worker.where()
    elapsed = time.monotonic() - started
    if number == job.number and elapsed >= job.settings.seconds:
        _give_up(job, job.todo[index], f"over budget: parsing took more than {job.settings.seconds:g} s "
                                        "(limits.message_seconds)")
        _replace("a mail overran its time budget")
    elif number != job.number and time.monotonic() - max(started, job.submitted) >= START_SECONDS:
        _replace(f"the worker did not start a batch in {START_SECONDS:g} s")


def _after_crash(job: _Job, err: Exception) -> None:
    global _broken
    number, index, _ = _worker.where() if _worker is not None else (0, 0, 0.0)
    if number == job.number:
        _give_up(job, job.todo[index], f"parsing this mail ended the parse worker ({type(err).__name__})")
    else:
        job.crashes += 1
        _broken = job.crashes >= 3  # a worker that cannot even start a job: parse in line from now on
    _replace(f"the worker ended ({type(err).__name__}: {err})")


def parse_bounded(raw: bytes, settings: ParseSettings) -> Message:
    """One mail parsed in the worker within the budget (replay, and mail retried alone)."""
    [(_, [message])] = parsed_ahead([[_Raw(raw)]], settings)
    return message


@dataclass(frozen=True)
class _Raw:
    raw: bytes


def parsed_ahead(batches: Iterable[list], settings: ParseSettings = ParseSettings(), stages=None
                 ) -> Iterator[tuple[list, list[Message]]]:
    """Yield (batch, messages): batch k+1 is fetched and handed to the worker before batch k is yielded.

    With a budget (settings.seconds), every batch goes to the worker and each mail gets that
    long; without one, only batches of MIN_BATCH or more on a machine with two cores do, and
    the rest are parsed here. Where no worker can run, mail is parsed here, without a budget.
    When fetching batch k+1 fails (a dropped connection), batch k is still yielded first,
    so a server that fails mid-poll every time cannot stop all progress. The worker's CPU
    seconds are added to `stages` (engine/run/stages.py) when one is given.
    """
    pending: tuple[list, _Job] | None = None
    iterator = iter(batches)
    try:
        while True:
            try:
                batch = next(iterator)
            except StopIteration:
                break
            except BaseException:
                if pending is not None:
                    yield _done(pending, stages)
                raise
            job = _Job([item.raw for item in batch], settings)
            if _wanted(batch, settings):
                _submit(job)
            if pending is not None:
                yield _done(pending, stages)
            pending = (batch, job)
        if pending is not None:
            yield _done(pending, stages)
    finally:
        _abandon()


def _done(pending: tuple[list, _Job], stages) -> tuple[list, list[Message]]:
    batch, job = pending
    messages = _collect(job)
    if stages is not None:
        stages.add("parse worker", job.worker_seconds)
    return batch, messages


def _wanted(batch: list, settings: ParseSettings) -> bool:
    if settings.seconds is not None:
        return True
    return len(batch) >= MIN_BATCH and (os.cpu_count() or 1) >= 2


def _abandon() -> None:
    """A poll that stops early leaves no work behind in the worker (it would eat the next poll's budget)."""
    global _worker
    cancelled = [job.future.cancel() for job in _jobs]
    if not all(cancelled) and _worker is not None:
        _worker.kill()  # a new one starts on first use
        _worker = None
    _jobs.clear()
