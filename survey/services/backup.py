"""Backups: SQLite through its online backup API, PostgreSQL through pg_dump/pg_restore.

SQLite's backup API copies a consistent snapshot while the app keeps serving (WAL readers and
writers are not stopped). For PostgreSQL the custom-format ``pg_dump`` is the documented tool;
``backup_database`` runs it when it is on the PATH and otherwise says what to run.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import URL, Engine, make_url

from ..extensions import db


class BackupError(RuntimeError):
    """A backup or restore could not be made; the message says what to do."""


def table_counts(engine: Engine) -> dict[str, int]:
    """Rows per application table (the check after a restore)."""
    names = set(inspect(engine).get_table_names())
    counts = {}
    with engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            if table.name in names:
                counts[table.name] = conn.scalar(select(func.count()).select_from(table))
    return counts


def backup_database(url: str | URL, target: Path) -> None:
    """Write a consistent copy of the database at ``url`` to ``target`` (not overwritten)."""
    url = make_url(url)
    target = Path(target)
    if target.exists():
        raise BackupError(f"{target} exists; choose a new file name")
    if url.get_backend_name() == "sqlite":
        _sqlite_copy(_sqlite_path(url), target)
        _check_sqlite(target)
    elif url.get_backend_name() == "postgresql":
        _run(["pg_dump", "--format=custom", "--no-owner", f"--file={target}", _libpq(url)],
             "pg_dump")
    else:
        raise BackupError(f"no backup method for {url.get_backend_name()}")


def restore_database(url: str | URL, source: Path) -> None:
    """Replace the database at ``url`` with the backup ``source``."""
    url = make_url(url)
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"{source} is not a file")
    if url.get_backend_name() == "sqlite":
        _check_sqlite(source)
        _sqlite_copy(source, _sqlite_path(url))
    elif url.get_backend_name() == "postgresql":
        _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
              f"--dbname={_libpq(url)}", str(source)], "pg_restore")
    else:
        raise BackupError(f"no restore method for {url.get_backend_name()}")


def _sqlite_path(url: URL) -> Path:
    """The file behind a SQLite URL."""
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(url.database)


def _sqlite_copy(source: Path, target: Path) -> None:
    """Page-by-page online copy with sqlite3's backup API."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        dst.execute("PRAGMA busy_timeout=10000")
        src.backup(dst, pages=1024)
    finally:
        dst.close()
        src.close()


def _check_sqlite(path: Path) -> None:
    """The file is an intact SQLite database of this application."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a SQLite database: {exc}") from exc
    if ok != "ok" or "alembic_version" not in tables:
        raise BackupError(f"{path} is not an intact SIPAS database (integrity: {ok})")


def _libpq(url: URL) -> str:
    """The SQLAlchemy URL as a libpq connection string (no driver suffix)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _run(command: list[str], tool: str) -> None:
    """Run pg_dump/pg_restore; a missing tool or a failure becomes a clear BackupError."""
    if shutil.which(tool) is None:
        raise BackupError(f"{tool} is not installed; install the PostgreSQL client tools "
                          f"(Debian: apt-get install postgresql-client) or run it by hand")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{tool} failed: {done.stderr.strip()[:2000]}")
