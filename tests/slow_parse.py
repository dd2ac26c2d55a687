"""A parse worker for the time-budget tests: mail marked `X-Test-Parse: sleep N` sleeps N seconds
before it is parsed, mail marked `X-Test-Parse: exit` ends the worker process.

Tests name it as the worker's initializer (engine.run.parse_ahead.WORKER_INITIALIZER); the worker
process imports this module by name, so the marks act in the worker only.
"""

from __future__ import annotations

import os
import re
import time

import engine.run.parse_worker as worker

NAME = "tests.slow_parse:start_worker"
_MARK = re.compile(rb"^X-Test-Parse: (sleep ([\d.]+)|exit)\r?$", re.M)


def start_worker(progress) -> None:
    worker.start_worker(progress)
    real = worker.parse

    def parse(raw: bytes, **options):
        mark = _MARK.search(raw[:4096])
        if mark and mark.group(1) == b"exit":
            os._exit(3)
        if mark:
            time.sleep(float(mark.group(2)))
        return real(raw, **options)

    worker.parse = parse
