"""Prebuilt statements run straight on the session's own DBAPI cursor.

``Session.execute`` spends ~100–130 µs of Python per statement (execution context, parameter
and result processing, events) around a call that costs the driver ~15–30 µs; the public form
runs four statements per submission. The hot path's statements — the code's read, the scan
upsert, the burst counts and the response INSERT — go through :func:`execute` instead: the same
Core statement, compiled once per database dialect, its parameters passed through SQLAlchemy's
own bind processors and its result rows through SQLAlchemy's own result processors (SQLite's
dates come back as text), on the connection (and so in the transaction) the session holds; the
session commits as before. Pending ORM changes are flushed first, as ``Session.execute`` would,
and a database error comes out as SQLAlchemy's exception (``IntegrityError`` …), as it would.

The first statement also gives a psycopg engine a leaner pre-ping (:func:`_lean_ping`): the
same round trip with an empty query on every checkout, without SQLAlchemy's two autocommit
switches and a cursor around it (~24 µs less Python per request).
"""

from __future__ import annotations

import psycopg
from psycopg.pq import ExecStatus
from sqlalchemy import exc

from ..extensions import db

_DIALECTS = ("postgresql", "sqlite")  # others (none configured) take Session.execute
_COMPILED: dict[tuple[int, str], _Compiled] = {}


class _Compiled:
    """A statement compiled for one dialect, with what running it needs."""

    def __init__(self, stmt, dialect):
        compiled = stmt.compile(dialect=dialect)
        self.stmt = stmt  # kept alive, so its id is never reused while cached
        self.sql = compiled.string
        self.processors = {name: process for name, process in compiled._bind_processors.items()
                           if process is not None}
        # The statement's own literal values (``scans + 1`` binds the 1).
        self.defaults = {name: bind.effective_value for bind, name in compiled.bind_names.items()
                         if not bind.required}
        self.positions = compiled.positiontup  # the order of the values for "?" placeholders
        self.names = [column[0] for column in compiled._result_columns]
        results = [column[3]._cached_result_processor(dialect, None)
                   for column in compiled._result_columns]
        self.results = results if any(results) else None


class Rows:
    """The rows of one statement, through SQLAlchemy's result processors."""

    def __init__(self, cursor, compiled: _Compiled):
        self._cursor, self._compiled = cursor, compiled

    def fetchone(self) -> tuple | None:
        """The first row (the cursor is closed then: every hot-path statement has one row)."""
        row = self._cursor.fetchone()
        self._cursor.close()
        processors = self._compiled.results
        if row is None or processors is None:
            return row
        return tuple(process(value) if process else value for process, value in zip(processors, row,
                                                                                      strict=True))

    def close(self) -> None:
        """Done with the statement (one without rows)."""
        self._cursor.close()

    def mapping(self) -> dict | None:
        """The first row as column name → value."""
        row = self.fetchone()
        return None if row is None else dict(zip(self._compiled.names, row, strict=True))


def execute(stmt, params: dict) -> Rows | None:
    """Run ``stmt`` with ``params`` on the session's DBAPI cursor: its :class:`Rows`, or None
    for a database this module does not know (then use ``db.session.execute``)."""
    session = db.session()
    if session.autoflush and (session.new or session.dirty or session.deleted):
        session.flush()
    conn = session.connection()
    dialect = conn.dialect
    if dialect.name not in _DIALECTS:
        return None
    if dialect.driver == "psycopg" and dialect.do_ping is not _lean_ping:
        dialect.do_ping = _lean_ping
    key = (id(stmt), dialect.name)
    compiled = _COMPILED.get(key)
    if compiled is None or compiled.stmt is not stmt:
        compiled = _COMPILED[key] = _Compiled(stmt, dialect)
    values = {**compiled.defaults, **params}
    for name, process in compiled.processors.items():
        if name in values:
            values[name] = process(values[name])
    args = values if compiled.positions is None else tuple(values[name] for name in compiled.positions)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        _send(cursor, compiled.sql, args)
    except dialect.loaded_dbapi.Error as error:
        cursor.close()
        raise exc.DBAPIError.instance(compiled.sql, args, error, dialect.loaded_dbapi.Error,
                                      dialect=dialect) from error
    return Rows(cursor, compiled)


def _send(cursor, sql: str, params) -> None:
    """The one place SQL leaves this module (tests wrap it to see the statements)."""
    cursor.execute(sql, params)


def _lean_ping(dbapi_connection) -> bool:
    """The pool's check of a psycopg connection on checkout (``pool_pre_ping``): an empty query
    straight through libpq, as SQLAlchemy's own ping sends, in one round trip.

    The connection is idle in the pool, so no transaction is open or started. A dead connection
    (a restarted server, a killed backend) fails here and leaves libpq's status BAD, which the
    dialect reads as a disconnect: the pool replaces the connection and the request goes on
    (``tests/web/test_db_reconnect.py``). Any other failure is raised, as SQLAlchemy's ping does.
    """
    result = dbapi_connection.pgconn.exec_(b";")
    if result.status != ExecStatus.EMPTY_QUERY:
        message = (result.error_message or b"").decode(errors="replace").strip()
        raise psycopg.OperationalError(f"connection check failed: {message or 'no answer'}")
    return True

