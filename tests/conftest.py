"""Shared pytest fixtures: paths to the repository, the shipped config and the vendored corpus; an SMTP sink."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "corpus"  # vendored with each source's licence: the repository tests itself alone


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (the shipped config lives here)."""
    return REPO


@pytest.fixture(scope="session")
def corpus() -> Path:
    """tests/corpus: public test mail from other projects (see its README)."""
    return CORPUS


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path: Path) -> str:
    """A URL to an empty store on each backend: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def clock():
    """A FakeClock at T0 (tests/fakeclock.py) that the test moves by hand."""
    from tests.fakeclock import FakeClock

    return FakeClock()


@pytest.fixture
def store(store_url: str, clock):
    """An empty store on each backend, on the test's clock."""
    from engine.store import Store

    opened = Store.open(store_url, clock=clock)
    yield opened
    opened.close()


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) on loopback that keeps what it accepts, stopped after the test."""
    from tests.polltools import start_smtp

    sink, controller = start_smtp()
    try:
        yield sink
    finally:
        controller.stop()


# Real servers started on loopback by the integration tests (Dovecot for the mail sources).
pytest_plugins = ["tests.secretwatch"]  # first: the servers register their passwords with it
pytest_plugins = [*pytest_plugins, "tests.servers.dovecot"]
pytest_plugins = [*pytest_plugins, "tests.servers.postgres"]  # PostgreSQL for the store tests
