"""The floor for ``benchmarks/load.py --floors``: SIPAS's own database work in the ceiling's app.

The ceiling (``_ceiling_app.py``) is the least a Flask app can do for a submission; SIPAS is
everything it really does. This sits between them and answers "how far could a leaner request
path get with this database work?": a minimal Flask app, served like the other two, that does
only what every submission must cost the database, with SIPAS's own statements, and nothing of
the web layer (no rate limits, cookies, language, security headers, ORM session, pre-ping):

- ``GET /s/<code>``: the code's joined read and the scan upsert (two statements), a fresh
  signed token, and the real form page (``SIPAS_FLOOR_PAGE``: a page SIPAS served, ~26 KB).
- ``POST /s/<code>``: the token's check, the code's read, the answers checked with
  ``clean_answers``, the three burst counts (one statement) and the response INSERT with its
  answers (one statement), then a receipt.

Every statement runs on one psycopg connection per process in autocommit (each is its own
transaction), so a submission costs the server four statements and no BEGIN, COMMIT or ping.

``SIPAS_FLOOR_SHAPE`` picks where the answers go:

- ``rows``: the shape before migration 0011, one ``answers`` row per answer (about 28 per
  response; the table as the model ``Answer`` defines it), inserted from ``unnest`` in a CTE
  of the response's INSERT, as SIPAS did until then.
- ``wide``: SIPAS's shape and statement since 0011, one ``response_answers`` row per response
  (the eight answer columns as arrays, with its CHECK) in a CTE of the response's INSERT.

Both write into a schema ``floor`` of their own (copies of ``responses``, the answers' table and
``scan_counts`` with their indexes and checks, first on the connection's ``search_path``), so
SIPAS's tables, and the benchmark's check that every receipt is a stored response, are
untouched; codes, campaigns and questionnaires are read from SIPAS's tables.

    SIPAS_FLOOR_PAGE=page.html SIPAS_FLOOR_SHAPE=wide gunicorn -c deploy/gunicorn.conf.py \\
        'benchmarks._floor_app:create_app()'
"""

from __future__ import annotations

import os
import random
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from flask import Flask, abort, request
from sqlalchemy import func, select, true
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.schema import CreateTable

from survey.models import Answer
from survey.public.tokens import _Keyed
from survey.questionnaires import load_questionnaire
from survey.services.answer_store import ARRAY_NAMES, ARRAY_PARAMS, answer_arrays
from survey.services.answers import clean_answers
from survey.services.entry_points import CODE_ALPHABET, LOCAL, _entry_statement
from survey.services.integrity import _count_statement, answer_pattern, keyed_hash
from survey.services.responses import _answer_row, _insert_statement
from survey.services.scans import SCAN_SHARDS, _upsert

SCHEMA = "floor"
SECRET = "floor-" + "x" * 32
BURST_MINUTES = 10


def _sql(stmt) -> str:
    """A SIPAS Core statement as psycopg SQL (``%(name)s`` placeholders)."""
    return stmt.compile(dialect=postgresql.psycopg.dialect(paramstyle="pyformat")).string


def _rows_insert() -> str:
    """INSERT of one response with its answers as rows, from the same array parameters
    (``WITH ins AS (INSERT INTO responses …), ans AS (INSERT INTO answers SELECT ins.id, a.*
    FROM ins JOIN unnest(…) AS a ON true) …``), as SIPAS wrote them before migration 0011."""
    ins = _insert_statement("postgresql", False).cte("ins")
    given = func.unnest(*ARRAY_PARAMS).table_valued(*ARRAY_NAMES).render_derived(name="a")
    rows = select(ins.c.id, *(given.c[name] for name in ARRAY_NAMES)).select_from(ins).join(given, true())
    answers = Answer.__table__.insert().from_select(["response_id", *ARRAY_NAMES], rows).cte("ans")
    return _sql(select(ins.c.id, ins.c.field_id).add_cte(answers))


def _prepare(conninfo: str, shape: str) -> None:
    """The schema ``floor`` with empty copies of the written tables (made once per database)."""
    with psycopg.connect(conninfo, autocommit=True,
                         options=f"-c search_path={SCHEMA},public") as conn:
        conn.execute("SELECT pg_advisory_lock(4242)")  # workers start together
        try:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            for table in ("responses", "scan_counts"):
                conn.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{table} "
                             f"(LIKE public.{table} INCLUDING ALL)")
            if shape == "rows":  # the model's table, its foreign key to floor.responses
                conn.execute(str(CreateTable(Answer.__table__, if_not_exists=True)
                                 .compile(dialect=postgresql.psycopg.dialect())))
            else:
                conn.execute(f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.response_answers
                                 (LIKE public.response_answers INCLUDING ALL)""")
                conn.execute(f"""DO $$ BEGIN
                    ALTER TABLE {SCHEMA}.response_answers ADD CONSTRAINT floor_answers_response
                      FOREIGN KEY (response_id) REFERENCES {SCHEMA}.responses (id);
                  EXCEPTION WHEN duplicate_object THEN NULL; END $$""")
        finally:
            conn.execute("SELECT pg_advisory_unlock(4242)")


def create_app() -> Flask:
    """The floor app for the database in ``SIPAS_DATABASE_URL`` (PostgreSQL)."""
    url = make_url(os.environ["SIPAS_DATABASE_URL"])
    shape = os.environ.get("SIPAS_FLOOR_SHAPE", "rows")
    if shape not in ("rows", "wide"):
        raise SystemExit("SIPAS_FLOOR_SHAPE is rows or wide")
    conninfo = psycopg.conninfo.make_conninfo(
        host=url.host, port=url.port, user=url.username, password=url.password or None,
        dbname=url.database)
    _prepare(conninfo, shape)
    entry_sql, scan_sql = _sql(_entry_statement()), _sql(_upsert("postgresql"))
    counts_sql = _sql(_count_statement(False))
    insert_sql = _sql(_insert_statement("postgresql", False, True)) if shape == "wide" else _rows_insert()
    with open(os.environ["SIPAS_FLOOR_PAGE"], encoding="utf-8") as f:
        before, _token, after = f.read().partition("\ue000token\ue000")
    if not _token:
        raise SystemExit("SIPAS_FLOOR_PAGE has no token stand-in")
    keyed = _Keyed(SECRET)
    questionnaire = load_questionnaire("sipas-counter")
    connections: dict[int, psycopg.Connection] = {}

    def connection() -> psycopg.Connection:
        """This process's connection (made after the fork), in autocommit, floor tables first."""
        conn = connections.get(os.getpid())
        if conn is None:
            conn = connections[os.getpid()] = psycopg.connect(
                conninfo, autocommit=True, options=f"-c search_path={SCHEMA},public")
        return conn

    def entry(conn, code: str):
        """The code's row (id, campaign, unit, counter, field first), or 404."""
        row = conn.execute(entry_sql, {"code": code}).fetchone()
        if row is None:
            abort(404)
        return row

    app = Flask(__name__)

    @app.get("/s/<code>")
    def form(code: str):
        """The code's read, the scan, a signed token in the real page."""
        conn = connection()
        row = entry(conn, code)
        now = datetime.now(UTC)
        conn.execute(scan_sql, {"entry_point_id": row[0], "day": now.astimezone(LOCAL).date(),
                                "shard": random.randrange(SCAN_SHARDS), "scans": 1, "scans_1": 1})
        submission = str(uuid.uuid4())
        return before + keyed.sign({"u": submission, "c": code, "t": int(now.timestamp())},
                                   int(now.timestamp())) + after

    @app.post("/s/<code>")
    def submit(code: str):
        """Token, code, answers, burst counts, INSERT; a receipt."""
        form = request.form
        payload = keyed.fresh(form.get("token", ""), 3600)
        if payload is None or payload.get("c") != code:
            abort(400)
        conn = connection()
        row = entry(conn, code)
        answers, errors = clean_answers(questionnaire, form.to_dict(flat=False))
        if errors:
            abort(422)
        now = datetime.now(UTC)
        pattern = answer_pattern(answers)
        ip_hash = keyed_hash(SECRET, "ip", request.remote_addr or "", 16)
        counts = {"device": ip_hash, "entry": row[0], "pattern": pattern, "unit": row[4], "at": now,
                  "exclude": 0}
        for check in ("burst_device", "burst_entry", "repeated_pattern"):
            counts[f"{check}_since"] = now - timedelta(minutes=BURST_MINUTES)
            counts[f"{check}_cap"] = 21
        conn.execute(counts_sql, counts).fetchone()
        receipt = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
        values = {"submission_uuid": payload["u"], "receipt": receipt,
                  "entry_point_id": row[0], "campaign_id": row[3],
                  "questionnaire_version_id": row[13], "questionnaire_id": row[14],
                  "questionnaire_version": row[15], "content_hash": row[16], "unit_id": row[4],
                  "counter_id": row[5], "field_id": row[6], "channel": "qr", "language": "vi",
                  "submitted_at": now, "form_seconds": 30, "flags": "[]", "excluded": False,
                  "device_hash": None, "ip_hash": ip_hash, "answer_pattern": pattern,
                  "exclusion_reason": None}
        values.update(answer_arrays([_answer_row(questionnaire, item, value)
                                      for item, value in answers.items()]))
        if conn.execute(insert_sql, values).fetchone() is None:
            abort(409)
        return f'<p class="receipt">{receipt[:4]}-{receipt[4:]}</p>'

    return app
