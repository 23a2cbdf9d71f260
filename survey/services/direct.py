"""Prebuilt statements run straight on the session's own DBAPI cursor (PostgreSQL).

``Session.execute`` spends ~130 µs of Python per statement (execution context, parameter and
result processing, events) around a round trip that costs psycopg ~15 µs; the public form runs
four statements per submission. On PostgreSQL the hot path's statements — the code's read, the
scan upsert, the burst counts and the response INSERT — go through :func:`execute` instead: the
same Core statement, compiled once to SQL, its parameters passed through SQLAlchemy's own bind
processors, on the connection (and so in the transaction) the session holds; the session
commits as before. Pending ORM changes are flushed first, as ``Session.execute`` would, and a
database error comes out as SQLAlchemy's exception (``IntegrityError`` …), as it would.

Other databases (SQLite: dates come back as text and need SQLAlchemy's result processing)
take ``Session.execute``: :func:`execute` returns None there and the caller does that.
"""

from __future__ import annotations

from sqlalchemy import exc

from ..extensions import db

_COMPILED: dict[int, tuple[object, str, dict, list[str], dict]] = {}


def execute(stmt, params: dict):
    """Run ``stmt`` with ``params`` on the session's psycopg cursor: the cursor, or None when
    the session's database is not PostgreSQL (then use ``db.session.execute``)."""
    session = db.session()
    if session.autoflush and (session.new or session.dirty or session.deleted):
        session.flush()
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return None
    sql, processors, defaults = _compiled(stmt, conn.dialect)
    params = {**defaults, **params}
    for name, process in processors.items():
        if name in params:
            params[name] = process(params[name])
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        _send(cursor, sql, params)
    except conn.dialect.loaded_dbapi.Error as error:
        raise exc.DBAPIError.instance(sql, params, error, conn.dialect.loaded_dbapi.Error,
                                      dialect=conn.dialect) from error
    return cursor


def columns(stmt) -> list[str]:
    """The result column names of a statement already run through :func:`execute`."""
    return _COMPILED[id(stmt)][3]


def _compiled(stmt, dialect) -> tuple[str, dict, dict]:
    """SQL text, bind processors and the values of the statement's own literals (``scans + 1``
    binds the 1) of ``stmt``, compiled once per process."""
    found = _COMPILED.get(id(stmt))
    if found is None or found[0] is not stmt:
        compiled = stmt.compile(dialect=dialect)
        processors = {name: process for name, process in compiled._bind_processors.items()
                      if process is not None}
        defaults = {name: bind.effective_value for bind, name in compiled.bind_names.items()
                    if not bind.required}
        names = [column[0] for column in compiled._result_columns]
        found = _COMPILED[id(stmt)] = (stmt, compiled.string, processors, names, defaults)
    return found[1], found[2], found[4]


def _send(cursor, sql: str, params: dict) -> None:
    """The one place SQL leaves this module (tests wrap it to see the statements)."""
    cursor.execute(sql, params)
