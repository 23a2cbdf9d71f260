"""Migrations: ``sipas db upgrade`` from empty gives the models' schema; old data survives upgrades.

Both run the real command (a subprocess with ``SIPAS_DATABASE_URL``) on a database of their own:
a new SQLite file, and a new database on the test PostgreSQL server. They hold for whatever the
head revision is, so later migrations are checked by the same tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from survey import ROOT, create_app
from survey.extensions import db
from survey.models import Response
from survey.questionnaires import NOT_APPLICABLE, load_questionnaire
from survey.services.responses import answers_of

from .factories import form_token, receipt

POSTGRES_URL = os.environ.get("SIPAS_TEST_POSTGRES_URL")
FIRST_RELEASE = "0002"  # the revision the first release (issues 2 and 3) shipped with
SIPAS = Path(sys.executable).with_name("sipas")


def _head() -> str:
    """The newest revision."""
    return ScriptDirectory(str(ROOT / "survey" / "migrations")).get_current_head()


@pytest.fixture(params=["sqlite"] + (["postgres"] if POSTGRES_URL else []))
def empty_url(request, tmp_path):
    """The URL of a database with no tables at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with scratch_postgres("sipas_migrations") as url:
        yield url


@contextmanager
def scratch_postgres(prefix: str):
    """The URL of a new, empty database on the test PostgreSQL server, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def _upgrade(url: str, tmp_path: Path, revision: str = "head", command: str = "upgrade") -> None:
    """Run ``sipas db upgrade [revision]`` (or ``downgrade``) as an operator would."""
    env = {**os.environ, "SIPAS_DATABASE_URL": url, "SIPAS_INSTANCE_PATH": str(tmp_path)}
    done = subprocess.run([str(SIPAS), "db", command, revision], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr


def _app(url: str):
    """The app at head bound to ``url``."""
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test", "TESTING": True,
                       "RATELIMIT_ENABLED": False})


def test_db_upgrade_from_empty_builds_exactly_the_models_schema(empty_url, tmp_path):
    _upgrade(empty_url, tmp_path)
    app = _app(empty_url)
    with app.app_context(), db.engine.connect() as conn:
        opts = {"compare_type": True}
        expected = {t.name for t in db.metadata.sorted_tables} | {"alembic_version"}
        if conn.dialect.name == "postgresql":  # answers: a view over one wide row per response
            opts["include_object"] = lambda _o, name, type_, *_: not (
                type_ == "table" and name in ("answers", "response_answers"))
            expected = expected - {"answers"} | {"response_answers"}
            assert sa.inspect(conn).get_view_names() == ["answers"]
        context = MigrationContext.configure(conn, opts=opts)
        assert compare_metadata(context, db.metadata) == []
        assert context.get_current_revision() == _head()
        tables = set(sa.inspect(conn).get_table_names())
        assert tables == expected
    with app.app_context():
        db.engine.dispose()


# --- data written at the first release's revision ----------------------------------------------

NOW = datetime(2026, 3, 2, 3, 4, 5, tzinfo=UTC)


def _seed_first_release(conn: sa.Connection) -> dict[str, list[dict]]:
    """Rows for every table as the 0002 schema defines them (reflected, so no model is involved)."""
    meta = sa.MetaData()
    meta.reflect(conn)
    q = load_questionnaire("sipas-counter")
    rows = {
        "procedure_fields": [{"id": 1, "code": "ho_tich", "name": "Hộ tịch", "name_en": "Civil status",
                              "procedure_code": "1.000656"}],
        "questionnaire_versions": [{"id": 1, "questionnaire_id": q.id, "version": q.version,
                                    "content_hash": q.content_hash, "definition": q.source,
                                    "published_at": NOW}],
        "units": [{"id": 1, "code": "SD", "name": "Thành phố Sa Đéc", "level": "city", "parent_id": None,
                   "created_at": NOW},
                  {"id": 2, "code": "SD-P1", "name": "Phường 1", "level": "ward", "parent_id": 1,
                   "created_at": NOW}],
        "counters": [{"id": 1, "unit_id": 2, "code": "Q1", "name": "Quầy một cửa",
                      "network_cidr": "192.0.2.0/24", "created_at": NOW}],
        "campaigns": [{"id": 1, "code": "sd-2026", "name": "Khảo sát 2026", "questionnaire_version_id": 1,
                       "starts_on": date(2026, 1, 1), "ends_on": date(2099, 12, 31),
                       "weighting": "design", "margin_of_error": 0.05, "created_at": NOW}],
        "campaign_units": [{"campaign_id": 1, "unit_id": 2, "target_n": 150}],
        "population_counts": [{"id": 1, "unit_id": 2, "field_id": 1, "month": date(2026, 2, 1),
                               "transactions": 412, "source": "Cổng DVC"}],
        "users": [{"id": 1, "username": "noivu", "full_name": "Phòng Nội vụ", "password_hash": "x" * 60,
                   "role": "admin", "unit_id": 1, "active": True, "last_login_at": None,
                   "created_at": NOW}],
        "entry_points": [_entry(1, "STATIC22", "static", used=None),
                         _entry(2, "SINGLE33", "single_use", used=NOW)],
        "responses": [_response(1, 1, excluded=False), _response(2, 2, excluded=False),
                      _response(3, 1, excluded=True)],
        "answers": [_answer(1, "c1_1", rating=5, scale_points=5),
                    _answer(1, "c1_2", not_applicable=True, scale_points=5),
                    _answer(1, "gave_feedback", number=0),
                    _answer(1, "field", choice="ho_tich"),
                    _answer(1, "improve", choices=["e2", "e3"]),
                    _answer(1, "comment", text="Cán bộ nhiệt tình"),
                    _answer(2, "c1_1", rating=2, scale_points=5),
                    _answer(3, "c1_1", rating=1, scale_points=5)],
        "audit_log": [{"id": 1, "at": NOW, "user_id": 1, "actor": "noivu", "action": "response.exclude",
                       "object_type": "response", "object_id": "3", "details": {"reason": "thử"}}],
    }
    assert set(rows) == set(meta.tables) - {"alembic_version"}, "seed every table of the first release"
    for table in meta.sorted_tables:
        for column in table.c:  # None in a JSON column is SQL NULL, as the models write it
            if isinstance(column.type, sa.JSON):
                column.type.none_as_null = True
        if table.name in rows:
            conn.execute(table.insert(), rows[table.name])
    return rows


def _entry(ident: int, code: str, kind: str, used) -> dict:
    """An entry point row of the 0002 schema."""
    return {"id": ident, "code": code, "kind": kind, "campaign_id": 1, "unit_id": 2, "counter_id": 1,
            "field_id": 1, "staff_user_id": None, "dossier_hash": None, "active_from": None,
            "active_until": None, "revoked_at": None, "used_at": used, "label": "Quầy 1",
            "created_at": NOW}


def _response(ident: int, entry_id: int, excluded: bool) -> dict:
    """A response row of the 0002 schema."""
    q = load_questionnaire("sipas-counter")
    return {"id": ident, "submission_uuid": str(uuid.UUID(int=ident)), "receipt": f"RCPT{ident:04d}",
            "entry_point_id": entry_id, "campaign_id": 1, "questionnaire_version_id": 1,
            "questionnaire_id": q.id, "questionnaire_version": q.version, "content_hash": q.content_hash,
            "unit_id": 2, "counter_id": 1, "field_id": 1, "channel": "qr", "language": "vi",
            "submitted_at": NOW, "form_seconds": 95, "flags": [], "excluded": excluded,
            "exclusion_reason": "thử" if excluded else None}


def _answer(response_id: int, code: str, **values) -> dict:
    """An answer row of the 0002 schema."""
    row = {"response_id": response_id, "item_code": code, "rating": None, "scale_points": None,
           "not_applicable": False, "number": None, "choice": None, "choices": None, "text": None}
    return {**row, **values}


def _snapshot(conn: sa.Connection, columns: dict[str, list[str]]) -> dict[str, list[tuple]]:
    """The given columns of every given table, in primary-key order."""
    meta = sa.MetaData()
    meta.reflect(conn, only=list(columns), views=True)  # answers: a view on PostgreSQL (0011)
    out = {}
    for name, cols in columns.items():
        table = meta.tables[name]
        missing = set(cols) - set(table.c.keys())
        assert not missing, f"{name}: columns of the first release dropped: {sorted(missing)}"
        order = list(table.primary_key.columns) or [table.c.response_id, table.c.item_code]
        out[name] = [tuple(r) for r in conn.execute(sa.select(*(table.c[c] for c in cols)).order_by(*order))]
    return out


def test_upgrade_from_the_first_release_keeps_the_data(empty_url, tmp_path):
    _upgrade(empty_url, tmp_path, FIRST_RELEASE)
    engine = sa.create_engine(empty_url)
    with engine.begin() as conn:
        seeded = _seed_first_release(conn)
        columns = {name: list(rows[0]) for name, rows in seeded.items()}
        before = _snapshot(conn, columns)
        if conn.dialect.name == "postgresql":  # explicit ids above: move the sequences past them
            for name in columns:
                if "id" in columns[name]:
                    conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                         f"(SELECT max(id) FROM {name}))"))
    engine.dispose()

    _upgrade(empty_url, tmp_path)

    engine = sa.create_engine(empty_url)
    with engine.connect() as conn:
        assert _snapshot(conn, columns) == before  # every row and value of the first release
        _check_new_columns_have_their_defaults(conn, columns)
    engine.dispose()
    _check_the_app_works_on_the_old_data(_app(empty_url))


def _check_new_columns_have_their_defaults(conn: sa.Connection, old: dict[str, list[str]]) -> None:
    """A column added to an old table holds, in old rows, what the app writes by default."""
    for table in db.metadata.sorted_tables:
        if table.name not in old:
            continue
        for column in table.c:
            if column.name in old[table.name]:
                continue
            stored = conn.execute(sa.select(table.c[column.name])).scalars().all()
            assert len(stored) == len(conn.execute(sa.select(table)).all())
            if not column.nullable:
                assert None not in stored, f"{table.name}.{column.name} is NULL in old rows"
            default = column.default
            if default is not None and default.is_scalar:
                assert set(stored) <= {default.arg}, \
                    f"{table.name}.{column.name}: old rows hold {set(stored)}, the app writes {default.arg!r}"


def _check_the_app_works_on_the_old_data(app) -> None:
    """Old responses read back through the models; the old QR code still takes a new response."""
    with app.app_context():
        first, second, third = db.session.scalars(sa.select(Response).order_by(Response.id)).all()
        assert answers_of(first) == {"c1_1": 5, "c1_2": NOT_APPLICABLE, "gave_feedback": 0,
                                     "field": "ho_tich", "improve": ["e2", "e3"],
                                     "comment": "Cán bộ nhiệt tình"}
        assert (second.entry_point_id, answers_of(second)) == (2, {"c1_1": 2})
        assert third.excluded and third.exclusion_reason == "thử" and first.flags == []
        with pytest.raises(sa.exc.DBAPIError):  # the append-only rules still hold
            with db.session.begin_nested():
                db.session.execute(sa.delete(Response).where(Response.id == 3))
        db.session.rollback()
    client = app.test_client()
    assert client.get("/s/SINGLE33").status_code == 410  # used before the upgrade, still used
    page = client.get("/s/STATIC22")
    assert page.status_code == 200
    sent = client.post("/s/STATIC22", data={"c1_1": "4", "overall": "5",
                                           "token": form_token(page.get_data(as_text=True))})
    assert sent.status_code == 200 and receipt(sent.get_data(as_text=True))
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Response.id))) == 4
        db.engine.dispose()
