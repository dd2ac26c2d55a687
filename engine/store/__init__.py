"""The ticket store: one SQLAlchemy Core code path for SQLite and PostgreSQL."""

from engine.errors import DirectoryError, DuplicateMessage, SchemaTooNew, TransientStoreError
from engine.store.store import DEFAULT_URL, Reader, Store, Tx

__all__ = ["DEFAULT_URL", "DirectoryError", "DuplicateMessage", "Reader", "SchemaTooNew", "Store",
           "TransientStoreError", "Tx"]
