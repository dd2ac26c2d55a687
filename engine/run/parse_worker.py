"""The parse worker process and the poller's handle on it: jobs down one pipe, results up another, progress in shared memory.

A plain child process, not a multiprocessing pool: no forkserver, no resource tracker and no
manager thread, so nothing of it can keep the poller from exiting. The poller never blocks on
the worker: jobs go down through a daemon thread, results are read with a timeout, and killing
the worker (a mail over its budget) ends both pipes at once. The worker ignores SIGINT, SIGTERM
and SIGHUP (only the poller decides when to stop) and ends when the job pipe closes: the poller
exited, was killed, or dropped it.
"""

from __future__ import annotations

import importlib
import mmap
import os
import pickle
import queue
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace

from engine.message import Message
from engine.packed import pack
from engine.parse import parse

DEFAULT_INITIALIZER = "engine.run.parse_worker:start_worker"
_FRAME = struct.Struct("!Q")  # the length of the pickle that follows
_READ = 1 << 20
# Run in the new interpreter: signals first, before the imports, so a Ctrl-C to the group never kills it.
_BOOT = ("import signal\n"
         "for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP): signal.signal(s, signal.SIG_IGN)\n"
         "from engine.run.parse_worker import serve\n"
         "serve()\n")


class WorkerGone(Exception):
    """The worker process ended (killed, crashed, or it could not start)."""


@dataclass(frozen=True)
class Job:
    """Mail for the worker: `number` tells its result apart."""

    number: int
    raws: list[bytes]
    keep_remote_images: bool


@dataclass(frozen=True)
class Parsed:
    """What the worker hands back for a job: a field added here reaches the poller as it is."""

    number: int
    messages: list[Message]
    seconds: float  # CPU the worker spent on the job (`poll --timings`)


class Progress:
    """(job number, index in the job, monotonic start) of the mail the worker is on, in shared memory.

    A sequence number, odd while the worker writes, lets the poller read a consistent triple
    without a lock that a killed worker could leave held. CLOCK_MONOTONIC is one clock for every
    process of the machine, so the poller can compare the start with its own time.
    """

    LAYOUT = struct.Struct("=qqqd")  # sequence, job number, index, start

    def __init__(self, fd: int | None = None):
        if fd is None:
            fd = _shared_file()
            os.ftruncate(fd, self.LAYOUT.size)
        self.fd = fd
        self.memory = mmap.mmap(fd, self.LAYOUT.size)

    def set(self, number: int, index: int, started: float) -> None:
        sequence = self.LAYOUT.unpack_from(self.memory)[0]
        struct.pack_into("=q", self.memory, 0, sequence + 1)
        self.LAYOUT.pack_into(self.memory, 0, sequence + 1, number, index, started)
        struct.pack_into("=q", self.memory, 0, sequence + 2)

    def get(self) -> tuple[int, int, float]:
        for _ in range(10_000):
            first = self.LAYOUT.unpack_from(self.memory)
            if first[0] % 2 == 0 and self.LAYOUT.unpack_from(self.memory) == first:
                return first[1], first[2], first[3]
        return 0, 0, 0.0  # a worker killed inside a write: it is being replaced anyway

    def close(self) -> None:
        self.memory.close()
        os.close(self.fd)


def _shared_file() -> int:
    if hasattr(os, "memfd_create"):
        return os.memfd_create("mailgate-parse-progress", os.MFD_CLOEXEC)
    with tempfile.TemporaryFile() as file:  # elsewhere: an unlinked file, its own descriptor kept
        return os.dup(file.fileno())


# ---- in the worker process ----

progress: Progress | None = None


def start_worker(shared: Progress) -> None:
    """The default initializer: keep the progress record (tests wrap this one)."""
    global progress
    progress = shared


def serve() -> None:
    """The worker's life: parse each job that arrives, hand back its result, end when the job pipe closes."""
    module, _, name = sys.argv[1].partition(":")
    jobs_fd, results_fd, progress_fd = (int(a) for a in sys.argv[2:5])
    getattr(importlib.import_module(module), name)(Progress(progress_fd))
    jobs: queue.SimpleQueue = queue.SimpleQueue()
    # A thread reads the jobs, so the end of the pipe is seen even while a mail is being parsed.
    threading.Thread(target=_read_jobs, args=(jobs_fd, jobs), daemon=True).start()
    while True:
        _write_frame(results_fd, _parse_job(jobs.get()))


def _read_jobs(fd: int, jobs: queue.SimpleQueue) -> None:
    with os.fdopen(fd, "rb") as pipe:
        while header := pipe.read(_FRAME.size):
            if len(header) < _FRAME.size:
                break
            body = pipe.read(_FRAME.unpack(header)[0])
            jobs.put(pickle.loads(body))
    os._exit(0)  # the poller is gone, or let the worker go


def _parse_job(job: Job) -> Parsed:
    messages, cpu = [], time.process_time()
    for index, raw in enumerate(job.raws):
        progress.set(job.number, index, time.monotonic())
        message = parse(raw, keep_remote_images=job.keep_remote_images)  # tests/slow_parse.py wraps it
        # The store's SHA-256 and compression of the raw mail are done here too, on the worker's core
        # (engine/packed.py): the poller's core only inserts them.
        messages.append(replace(message, packed=pack(raw)))
    progress.set(job.number, len(job.raws), time.monotonic())  # handing back: no mail's time counts
    return Parsed(job.number, messages, time.process_time() - cpu)


def _write_frame(fd: int, value) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_FRAME.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


# ---- in the poller ----

def _environment() -> dict[str, str]:
    """The poller's environment, and its import path: the worker imports what the poller can
    (the engine from a source checkout, an initializer module of the tests), whatever its cwd."""
    path = [entry for entry in sys.path if entry and os.path.isdir(entry)]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


class WorkerProcess:
    """The poller's handle: send jobs, collect Parsed results with a timeout, read progress, kill."""

    def __init__(self, initializer: str = DEFAULT_INITIALIZER):
        self.progress = Progress()
        jobs_read, self._jobs = os.pipe()
        self._results, results_write = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, initializer, str(jobs_read), str(results_write), str(self.progress.fd)],
                pass_fds=(jobs_read, results_write, self.progress.fd), stdin=subprocess.DEVNULL, env=_environment())
        except BaseException:
            for fd in (self._jobs, self._results):
                os.close(fd)
            self.progress.close()
            raise
        finally:
            os.close(jobs_read)
            os.close(results_write)
        self.pid = self.process.pid
        os.set_blocking(self._results, False)
        self._incoming = bytearray()
        self.results: dict[int, Parsed] = {}
        # Jobs (a batch of raw mail, often more than a pipe holds) go down from a thread, so the
        # poller applies the last batch while the worker takes in the next; a worker that is
        # killed or hangs costs that thread only.
        self._outgoing: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._send_jobs, name="mailgate-parse-jobs", daemon=True).start()

    def send(self, job: Job) -> None:
        self._outgoing.put(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))

    def _send_jobs(self) -> None:
        try:
            while (data := self._outgoing.get()) is not None:
                view = memoryview(_FRAME.pack(len(data)) + data)
                while view:
                    view = view[os.write(self._jobs, view):]
        except OSError:
            pass  # the worker died: collecting its results says so
        finally:
            os.close(self._jobs)

    def wait(self, timeout: float | None) -> bool:
        """Read what the worker handed back, for at most `timeout` seconds (None: until a result comes).

        True when a whole result came in; WorkerGone when the worker ended.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if select.select([self._results], [], [], left)[0]:
                chunk = self._read()
                self._incoming += chunk
                if self._take_results():
                    return True
            elif deadline is not None:
                return False

    def _read(self) -> bytes:
        try:
            chunk = os.read(self._results, _READ)
        except BlockingIOError:
            return b""
        if not chunk:
            raise WorkerGone(self._ending())
        return chunk

    def _take_results(self) -> bool:
        took = False
        while len(self._incoming) >= _FRAME.size:
            size = _FRAME.unpack_from(self._incoming)[0]
            if len(self._incoming) < _FRAME.size + size:
                break
            parsed = pickle.loads(self._incoming[_FRAME.size:_FRAME.size + size])
            del self._incoming[:_FRAME.size + size]
            self.results[parsed.number] = parsed
            took = True
        return took

    def _ending(self) -> str:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "it closed its pipe"
        return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"

    def where(self) -> tuple[int, int, float]:
        return self.progress.get()

    def kill(self) -> None:
        """End the worker now; nothing waits for it beyond the kernel's reaping."""
        try:
            self.process.kill()
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self._outgoing.put(None)
        os.close(self._results)
        self.progress.close()
