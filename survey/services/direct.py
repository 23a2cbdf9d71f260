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

**A statement on its own** (``execute(…, alone=True)``, PostgreSQL through psycopg): when the
session has no transaction open, the statement runs as a transaction of its own on a pooled
connection in autocommit, and its one row is read at once: one round trip, where the session
costs a pre-ping, a BEGIN and a COMMIT around it (four). A session with a transaction open
(uncommitted changes a separate connection could not see, or writes that must commit together)
always gets the statement in that transaction, and other databases always take the session
path. That pool (:func:`_alone_lane`, one per engine and process, disposed with the engine)
does not ping on checkout, and a connection stays out of it between statements (:class:`_Lane`):
a connection found dead (a restarted server, a killed backend) is dropped and the statement
sent once more on a fresh one. Only statements that may be sent twice
use this: reads, the scan upsert (a lost answer could count a scan twice) and the response
INSERT, whose ``ON CONFLICT DO NOTHING`` on the submission UUID makes a resend harmless.
"""

from __future__ import annotations

import atexit
import os
import threading

import psycopg
from psycopg.pq import ExecStatus
from sqlalchemy import create_engine, event, exc

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
        return self._processed(row)

    def _processed(self, row: tuple | None) -> tuple | None:
        """``row`` through SQLAlchemy's result processors."""
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


class Fetched(Rows):
    """The row of a statement run on its own (already read; the connection is back in its pool)."""

    def __init__(self, row: tuple | None, compiled: _Compiled):
        self._row, self._compiled = row, compiled

    def fetchone(self) -> tuple | None:
        """The row, through SQLAlchemy's result processors (None when there was none)."""
        return self._processed(self._row)

    def close(self) -> None:
        """Nothing to release."""


def execute(stmt, params: dict, *, alone: bool = False) -> Rows | None:
    """Run ``stmt`` with ``params`` on the session's DBAPI cursor: its :class:`Rows`, or None
    for a database this module does not know (then use ``db.session.execute``).

    ``alone``: the statement may run as a transaction of its own (see the module's notes) when
    the session has none open; its :class:`Fetched` row is returned then.
    """
    if alone and not in_transaction():
        engine = db.engine
        if engine.dialect.driver == "psycopg":
            return _run_alone(engine, _compiled(stmt, engine.dialect), params)
    session = db.session()
    if session.autoflush and (session.new or session.dirty or session.deleted):
        session.flush()
    conn = session.connection()
    dialect = conn.dialect
    if dialect.name not in _DIALECTS:
        return None
    if dialect.driver == "psycopg" and dialect.do_ping is not _lean_ping:
        dialect.do_ping = _lean_ping
    compiled = _compiled(stmt, dialect)
    args = _arguments(compiled, params)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        _send(cursor, compiled.sql, args)
    except dialect.loaded_dbapi.Error as error:
        cursor.close()
        raise exc.DBAPIError.instance(compiled.sql, args, error, dialect.loaded_dbapi.Error,
                                      dialect=dialect) from error
    return Rows(cursor, compiled)


def in_transaction() -> bool:
    """Whether this request's session has a transaction open (without making a session: the
    public form on PostgreSQL never needs one)."""
    registry = db.session.registry
    return registry.has() and registry().in_transaction()


def _compiled(stmt, dialect) -> _Compiled:
    """``stmt`` compiled for ``dialect``, once."""
    key = (id(stmt), dialect.name)
    compiled = _COMPILED.get(key)
    if compiled is None or compiled.stmt is not stmt:
        compiled = _COMPILED[key] = _Compiled(stmt, dialect)
    return compiled


def _arguments(compiled: _Compiled, params: dict):
    """The DBAPI parameters: the statement's own values and ``params``, through the bind
    processors, by name or in placeholder order."""
    values = {**compiled.defaults, **params}
    for name, process in compiled.processors.items():
        if name in values:
            values[name] = process(values[name])
    return values if compiled.positions is None else tuple(values[name] for name in compiled.positions)


def _run_alone(engine, compiled: _Compiled, params: dict) -> Fetched:
    """One statement in autocommit on a connection of the engine's own-transaction pool; sent
    once more on a fresh connection when the held one turns out dead."""
    lane = _alone_lane(engine)
    args = _arguments(compiled, params)
    error_class = lane.engine.dialect.loaded_dbapi.Error
    for attempt in (1, 2):
        fairy, cursor = lane.take()
        try:
            _send(cursor, compiled.sql, args)
            # pgresult, not cursor.description: that builds a Column object per result column.
            result = cursor.pgresult
            row = cursor.fetchone() if result is not None and result.nfields else None
        except error_class as error:
            if attempt == 1 and lane.engine.dialect.is_disconnect(error, fairy.dbapi_connection, None):
                lane.drop(fairy, error)  # with every idle one, as old: a fresh one is made
                continue
            lane.give(fairy, cursor)
            raise exc.DBAPIError.instance(compiled.sql, args, error, error_class,
                                          dialect=lane.engine.dialect) from error
        lane.give(fairy, cursor)
        return Fetched(row, compiled)
    raise AssertionError("unreachable")  # pragma: no cover


class _Lane:
    """The autocommit engine (no pre-ping) beside an engine, and the connections taken from its
    pool and kept between statements, each with a cursor of its own.

    Checking a connection out of SQLAlchemy's pool and back in costs more Python than the
    statement's own round trip; a statement here takes an idle connection from this list (or a
    new one from the pool) and puts it back after its row is read. ``list.pop`` and ``append``
    are atomic, so threads never share a connection at the same time. When all the connections
    the pool allows are out, one given back goes to the pool instead, so that a thread waiting
    there gets it (40 threads scanning one poster at once: ``tests/services/test_entry_points.py``).
    """

    MAX_OVERFLOW = 10  # SQLAlchemy's default, set here so the lane knows its pool's limit

    def __init__(self, engine, pid: int):
        self.source, self.pid = engine, pid
        size = engine.pool.size() if hasattr(engine.pool, "size") else 5
        self.engine = create_engine(engine.url, isolation_level="AUTOCOMMIT", pool_pre_ping=False,
                                    pool_size=size, max_overflow=self.MAX_OVERFLOW)
        self.limit = size + self.MAX_OVERFLOW
        self.idle: list[tuple[object, object]] = []

    def take(self):
        """An idle (connection, cursor), or a new one from the pool."""
        try:
            return self.idle.pop()
        except IndexError:
            fairy = self.engine.raw_connection()
            return fairy, fairy.dbapi_connection.cursor()

    def give(self, fairy, cursor) -> None:
        """Back to the idle list, ready for the next statement; or back to the pool when every
        connection it may open is out (threads may be waiting in it for one)."""
        if self.engine.pool.checkedout() >= self.limit:
            cursor.close()
            fairy.close()
        else:
            self.idle.append((fairy, cursor))

    def drop(self, fairy, error) -> None:
        """``fairy`` is dead: dropped, and every idle one and the pool's with it (as old)."""
        fairy.invalidate(error)
        self.release()
        self.engine.dispose()

    def release(self) -> None:
        """Every idle connection back to the pool."""
        while self.idle:
            fairy, cursor = self.idle.pop()
            cursor.close()
            fairy.close()

    def dispose(self, close: bool) -> None:
        """Done with: idle connections closed (``close``), or left alone (another process's:
        kept referenced for good, since SQLAlchemy closes a checked-out connection it finds
        garbage, and closing would end the parent's session on the shared socket)."""
        if close:
            self.release()
        else:
            _FOREIGN.extend(self.idle)
            self.idle = []
        self.engine.dispose(close=close)


_FOREIGN: list = []  # a parent process's held connections, inherited over a fork: never touched


_ALONE: dict[int, _Lane] = {}  # id(engine) → its lane in the process that made it
_ALONE_LOCK = threading.Lock()


def _alone_lane(engine) -> _Lane:
    """The :class:`_Lane` beside ``engine``, for this process.

    Made on first use in each process (never shared across a fork: a child's first use makes
    its own, and the parent's connections are left alone), and disposed when ``engine`` is.
    """
    found = _ALONE.get(id(engine))
    if found is not None and found.source is engine and found.pid == os.getpid():
        return found
    with _ALONE_LOCK:
        found = _ALONE.get(id(engine))
        if found is not None and found.source is engine and found.pid == os.getpid():
            return found
        if found is not None and found.pid != os.getpid():
            found.dispose(close=False)  # the parent's sockets: not ours to close
        lane = _Lane(engine, os.getpid())
        if found is None or found.source is not engine:
            event.listen(engine, "engine_disposed", _dispose_alone)
        _ALONE[id(engine)] = lane
        return lane


@atexit.register
def _release_at_exit() -> None:
    """Held connections go back to their pools when the process ends (not left as garbage)."""
    for lane in list(_ALONE.values()):
        if lane.pid == os.getpid():
            lane.release()


def _dispose_alone(engine) -> None:
    """``engine`` was disposed: so is its lane (in the process that made it)."""
    with _ALONE_LOCK:
        found = _ALONE.pop(id(engine), None)
    if found is not None:
        found.dispose(close=found.pid == os.getpid())


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

