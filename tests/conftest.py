"""Shared pytest fixtures: paths to the repository, the shipped config and ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (the shipped config lives here)."""
    return REPO


@pytest.fixture(scope="session")
def corpus() -> Path:
    """../shared/corpus, read in place, never copied."""
    if not CORPUS.is_dir():
        pytest.fail(f"the shared corpus is missing at {CORPUS}")
    return CORPUS

# Real servers started on loopback by the integration tests (Dovecot for the mail sources).
pytest_plugins = ["tests.servers.dovecot"]
pytest_plugins = [*pytest_plugins, "tests.servers.postgres"]  # PostgreSQL for the store tests
