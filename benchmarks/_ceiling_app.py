"""The ceiling for ``benchmarks/load.py``: the least a Flask app can do for one submission.

The same two requests a citizen's phone makes, served by gunicorn with the same settings as
SIPAS: ``GET /s/<code>`` returns a fixed little form with a hidden token (no database), and
``POST /s/<code>`` does one INSERT into the same database and answers with a receipt. Whatever
SIPAS does beyond that (finding the code, rendering 22 questions, checking answers, storing
them) is what the ratio in the benchmark's table measures.

    gunicorn -c deploy/gunicorn.conf.py 'benchmarks._ceiling_app:create_app()'
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

from flask import Flask, request
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, create_engine, event

METADATA = MetaData()
SUBMISSIONS = Table(
    "ceiling_submissions", METADATA,
    Column("id", Integer, primary_key=True),
    Column("submission_uuid", String(36), nullable=False, unique=True),
    Column("code", String(16), nullable=False),
    Column("body", Text, nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
)

PAGE = ('<!doctype html><html lang="vi"><meta charset="utf-8"><title>Phiếu</title>'
        '<form method="post"><input type="hidden" name="token" value="{token}">'
        '<button>Gửi</button></form></html>')


def create_app() -> Flask:
    """A Flask app with one engine (same options as SIPAS: pre-ping; SQLite in WAL mode)."""
    app = Flask(__name__)
    engine = create_engine(os.environ["SIPAS_DATABASE_URL"], pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)

    @app.get("/s/<code>")
    def form(code: str):
        """A fixed form page with a fresh token."""
        return PAGE.format(token=uuid.uuid4())

    @app.post("/s/<code>")
    def submit(code: str):
        """One INSERT, one commit."""
        body = request.get_data(as_text=True)  # read before .form, which would consume it
        with engine.begin() as conn:
            conn.execute(SUBMISSIONS.insert().values(
                submission_uuid=request.form["token"], code=code, body=body,
                submitted_at=datetime.now(UTC)))
        return '<p class="receipt">OK</p>'

    return app


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """The pragmas SIPAS sets on SQLite connections."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
