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
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from engine.message import Message
from engine.parse import parse, unreadable_message
from engine.run.parse_worker import DEFAULT_INITIALIZER, Job, WorkerGone, WorkerProcess

log = logging.getLogger("mailgate.parse")
MIN_BATCH = 8  # without a budget, smaller batches are parsed in line: a round trip would cost more
START_SECONDS = 60.0  # a worker must start a job (and hand one back) within this, else it is replaced
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


# ---- the worker (engine/run/parse_worker.py) and its jobs ----

WORKER_INITIALIZER = DEFAULT_INITIALIZER  # "module:function" the worker calls first (tests: tests/slow_parse.py)
_Worker = WorkerProcess


@dataclass(eq=False)
class _Job:
    """One batch's mail: what is still the worker's to parse, and what is settled."""

    raws: list[bytes]
    settings: ParseSettings
    settled: dict[int, Message] = field(default_factory=dict)  # index -> over budget or crashed
    todo: list[int] = field(default_factory=list)  # indexes handed to the worker under `number`, in order
    number: int = 0  # 0: not with a worker
    submitted: float = 0.0
    crashes: int = 0  # worker deaths not pinned on one mail: after 3, parse in line
    worker_seconds: float = 0.0  # CPU the worker spent on this job's mail


_worker: WorkerProcess | None = None
_broken = False
_jobs: list[_Job] = []  # handed to the worker and not yet collected, oldest first


def shutdown() -> None:
    """Stop the worker (tests and the service call it at exit; atexit does otherwise)."""
    global _worker
    if _worker is not None:
        _worker.kill()
        _worker = None
    _jobs.clear()


def _get_worker() -> WorkerProcess | None:
    global _worker, _broken
    if _worker is None and not _broken:
        try:
            _worker = _Worker(WORKER_INITIALIZER)
        except Exception as err:  # noqa: BLE001 - no worker only costs the budget and speed: parse in line
            log.warning("cannot start the parse worker (%s: %s): parsing in line, without the time budget",
                        type(err).__name__, err)
            _broken = True
    return _worker


atexit.register(shutdown)


def _submit(job: _Job) -> None:
    """Hand the job's unsettled mail to the worker, or leave it to the caller."""
    job.todo = [i for i in range(len(job.raws)) if i not in job.settled]
    job.number = 0
    worker = _get_worker() if job.todo else None
    if worker is None:
        return
    job.number, job.submitted = next(_numbers), time.monotonic()
    worker.send(Job(job.number, [job.raws[i] for i in job.todo], job.settings.keep_remote_images))
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
    while job.number:
        parsed = _worker.results.pop(job.number, None)
        if parsed is not None:
            _jobs.remove(job)
            job.worker_seconds += parsed.seconds
            job.settled.update(zip(job.todo, parsed.messages))
            job.number = 0
            break
        try:
            if not _worker.wait(_time_left(job)):
                _check_overrun(job)
        except WorkerGone as err:  # a crash, the kernel's OOM killer, or it never started
            _after_crash(job, err)
    return [job.settled.get(i) or job.settings.parse(raw) for i, raw in enumerate(job.raws)]


def _time_left(job: _Job) -> float | None:
    if job.settings.seconds is None:
        return None
    number, index, started = _worker.where()
    if number != job.number or index >= len(job.todo):  # not started yet, or handing back: look again soon
        return _NOT_STARTED_POLL
    return max(0.0, started + job.settings.seconds - time.monotonic())


def _check_overrun(job: _Job) -> None:
    number, index, started = _worker.where()
    now = time.monotonic()
    if number == job.number and index < len(job.todo) and now - started >= job.settings.seconds:
        _give_up(job, job.todo[index], f"over budget: parsing took more than {job.settings.seconds:g} s "
                                        "(limits.message_seconds)")
        _replace("a mail overran its time budget")
    elif (number != job.number or index >= len(job.todo)) and now - max(started, job.submitted) >= START_SECONDS:
        _replace(f"the worker did not start or hand back a batch in {START_SECONDS:g} s")


def _after_crash(job: _Job, err: Exception) -> None:
    global _broken
    number, index, _ = _worker.where()
    if number == job.number and index < len(job.todo):
        _give_up(job, job.todo[index], f"parsing this mail ended the parse worker ({err})")
    else:
        job.crashes += 1
        _broken = job.crashes >= 3  # a worker that cannot even start a job: parse in line from now on
    _replace(f"the worker ended ({err})")


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
    if _jobs and _worker is not None:
        _worker.kill()  # what it was sent cannot be taken back; a new one starts on first use
        _worker = None
    _jobs.clear()
