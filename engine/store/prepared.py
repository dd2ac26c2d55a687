"""Hot-path statements compiled once per dialect and run on the driver's cursor, without SQLAlchemy's per-call work.

A poll runs ~15 statements per mail. Through SQLAlchemy Core each one paid for a cache-key
walk, an execution context, parameter construction and a result proxy: ~80 % of the time a
statement took, the database's own work the rest. A Prepared statement keeps SQLAlchemy for
what it is good at, once: the SQL text of the dialect (casts, RETURNING, ON CONFLICT), the
order of the parameters, the columns' Python defaults, and the bind and result processors of
the column types (SafeText, UTCDateTime, SQLite's DATETIME strings and booleans), so the values
written and read are exactly those SQLAlchemy would write and read. Driver errors go through
SQLAlchemy's own handler, so they are wrapped (and a dead connection invalidated) as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from engine.errors import StoreError


class Row(tuple):
    """A result row: by position, by column name as an attribute, and as `_mapping` (records.from_row)."""

    __slots__ = ()
    _keys: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        try:
            return self[self._keys[name]]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def _mapping(self) -> dict[str, Any]:
        return {key: self[index] for key, index in self._keys.items()}


@dataclass(frozen=True)
class _Form:
    """One statement compiled for one dialect (and, for an INSERT, one set of columns)."""

    sql: str
    positional: bool
    binds: tuple[tuple[str, str, Any, Callable | None, bool], ...]  # key, name, fixed value, processor, given
    results: tuple[Callable | None, ...]
    row: type[Row]

    def parameters(self, params: dict[str, Any]) -> Any:
        try:
            values = [(params[key] if given else fixed) if process is None else
                      process(params[key] if given else fixed) for key, _, fixed, process, given in self.binds]
        except KeyError as err:
            raise StoreError(f"statement parameter {err.args[0]!r} missing") from None
        if self.positional:
            return values
        return dict(zip((bind[1] for bind in self.binds), values))

    def rows(self, raw: list[tuple]) -> list[Row]:
        results, row = self.results, self.row
        if not any(results):
            return [row(item) for item in raw]
        return [row(value if process is None else process(value) for process, value in zip(results, item))
                for item in raw]


class Prepared:
    """A Core statement, compiled the first time a dialect runs it with a given set of parameter keys."""

    def __init__(self, stmt: Any):
        self.stmt = stmt
        self._forms: dict[tuple[str, frozenset[str]], _Form] = {}

    def form(self, dialect, params: dict[str, Any]) -> _Form:
        key = (dialect.name, frozenset(params))
        form = self._forms.get(key)
        if form is None:
            form = self._forms[key] = _compile(self.stmt, dialect, list(params))
        return form


def _compile(stmt: Any, dialect, keys: list[str]) -> _Form:
    compiled = stmt.compile(dialect=dialect, column_keys=keys)
    processors = _processors(compiled, dialect)
    by_name = {name: bind for bind, name in compiled.bind_names.items()}
    defaults = {column.key: column.default for column in getattr(compiled, "insert_prefetch", ())}
    order = compiled.positiontup if compiled.positional else list(by_name)
    binds = []
    for name in order:
        if name in defaults:  # a column's Python default, for a column the parameters leave out
            default = defaults[name]
            if not default.is_scalar:
                raise StoreError(f"column {name}: only scalar defaults can be prepared")
            binds.append((name, name, default.arg, processors.get(name), False))
            continue
        bind = by_name[name]
        if getattr(bind, "expanding", False):
            raise StoreError(f"parameter {bind.key}: an expanding IN list cannot be prepared")
        given = bind.key in keys
        binds.append((bind.key, name, None if given else bind.effective_value, processors.get(name), given))
    columns = compiled._result_columns
    results = tuple(column.type._cached_result_processor(dialect, None) for column in columns)
    row = type("Row", (Row,), {"__slots__": (), "_keys": {c.keyname: i for i, c in enumerate(columns)}})
    return _Form(compiled.string, compiled.positional, tuple(binds), results, row)


def _processors(compiled, dialect) -> dict[str, Callable]:
    """The bind processors SQLAlchemy would run; a type with a fast_bind_processor (engine/store/schema.py)
    gives the same values in one call instead of TypeDecorator's chain (~8 % of a poll's statements' cost)."""
    found = dict(compiled._bind_processors)
    for name in found:
        bind = compiled.binds.get(name)
        fast = getattr(bind.type, "fast_bind_processor", None) if bind is not None else None
        if fast is not None:
            found[name] = fast(dialect)
    return found


def run(conn, prepared: Prepared, params: dict[str, Any] | None) -> tuple[Any, _Form]:
    """Execute on the connection's driver cursor; (cursor, form). Driver errors are SQLAlchemy's, as usual."""
    params = params or {}
    form = prepared.form(conn.dialect, params)
    parameters = form.parameters(params)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(form.sql, parameters)
    except Exception as err:  # noqa: BLE001 - SQLAlchemy wraps it (IntegrityError, OperationalError ...) and raises
        cursor.close()
        conn._handle_dbapi_exception(err, form.sql, parameters, cursor, None)
    return cursor, form


def run_many(conn, prepared: Prepared, rows: list[dict[str, Any]]) -> None:
    """One statement for many rows of the same keys (`executemany`: psycopg 3 pipelines it on PostgreSQL)."""
    form = prepared.form(conn.dialect, rows[0])
    parameters = [form.parameters(row) for row in rows]
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.executemany(form.sql, parameters)
    except Exception as err:  # noqa: BLE001 - wrapped by SQLAlchemy, as in run()
        conn._handle_dbapi_exception(err, form.sql, parameters, cursor, None)
    finally:
        cursor.close()


def execute(conn, sql: str) -> None:
    """A statement without parameters or rows (SAVEPOINT ...) on the connection's driver cursor."""
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(sql)
    except Exception as err:  # noqa: BLE001 - wrapped by SQLAlchemy, as in run()
        conn._handle_dbapi_exception(err, sql, (), cursor, None)
    finally:
        cursor.close()


def rows(conn, prepared: Prepared, params: dict[str, Any] | None) -> list[Row]:
    """Every row of a prepared SELECT (or of an INSERT/UPDATE ... RETURNING)."""
    cursor, form = run(conn, prepared, params)
    try:
        return form.rows(cursor.fetchall())
    finally:
        cursor.close()


def rowcount(conn, prepared: Prepared, params: dict[str, Any] | None) -> int:
    """The number of rows a prepared UPDATE or DELETE changed."""
    cursor, _ = run(conn, prepared, params)
    try:
        return cursor.rowcount
    finally:
        cursor.close()
