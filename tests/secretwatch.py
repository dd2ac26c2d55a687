"""The test passwords, and a watch that fails a test whose output or log lines show one (issue 16).

A fixture that makes a password registers it with `secret()`; every log record of every
test, the output pytest captured, and the output of `polltools.cli()` are searched for all
of them. Failures name the password's place in the registry, never the password.
"""

from __future__ import annotations

import logging

import pytest

MIN_LENGTH = 8  # shorter test passwords ("p", "wrong") are words output may hold for other reasons
_SECRETS: list[str] = []


def secret(value: str) -> str:
    """Register a test password (and return it) so that showing it anywhere fails the test."""
    if len(value) >= MIN_LENGTH and value not in _SECRETS:
        _SECRETS.append(value)
    return value


def leaked(text: str) -> list[str]:
    """Which registered passwords `text` shows, as 'secret #N' (never the password itself)."""
    return [f"secret #{n}" for n, value in enumerate(_SECRETS) if value in text]


class _Watch(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = record.getMessage() + (logging.Formatter().formatException(record.exc_info)
                                          if record.exc_info else "")
        except Exception:  # noqa: BLE001 - a record that cannot be formatted shows nothing either
            return
        self.found += [f"{record.name}: {hit}" for hit in leaked(line)]


@pytest.fixture(autouse=True)
def _no_secret_in_log_lines():
    watch = _Watch()
    root = logging.getLogger()
    root.addHandler(watch)
    try:
        yield
    finally:
        root.removeHandler(watch)
    assert not watch.found, f"a test password was logged: {', '.join(watch.found)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    hits = leaked("".join(content for _, content in report.sections))
    if hits and report.passed:
        report.outcome = "failed"
        report.longrepr = f"a test password was printed ({', '.join(hits)}) in the captured output of {item.nodeid}"
