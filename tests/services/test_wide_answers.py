"""PostgreSQL keeps a response's answers in ONE row of arrays (``response_answers``, migration
0011) behind the view ``answers``: what goes in comes back identical, the database refuses what
the old table refused, and the migration moves every answer both ways."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from survey.extensions import db
from survey.models import Answer, EntryPoint, Response
from survey.questionnaires import NOT_APPLICABLE, load_questionnaire
from survey.services.answer_store import store_answers
from survey.services.responses import answers_of, submit_response

from ..factories import make_campaign
from ..test_migrations import POSTGRES_URL, _seed_first_release, _snapshot, _upgrade, scratch_postgres

# Texts a literal or a view could mangle: quotes, backslashes, braces, commas, emoji, NULL-like.
AWKWARD = ['say "hi", \\o/ {x}', "NULL", "null", "", " ", "C:\\new\\table", "😀 Cán bộ 👍🏽",
           "{}", "a,b", "'; DROP TABLE answers; --", "line\nbreak\ttab"]


@pytest.fixture
def pg_app(app):
    """The app on PostgreSQL (SQLite keeps one row per answer: nothing to test there)."""
    if app.config["BACKEND"] != "postgres":
        pytest.skip("SQLite keeps the answers table; the wide row is PostgreSQL's")
    return app


def _stored(response_id: int) -> list[tuple]:
    """The response's answers as the view gives them, every column, in item order."""
    columns = [c for c in Answer.__table__.c if c.name != "response_id"]
    return [tuple(r) for r in db.session.execute(
        sa.select(*columns).where(Answer.response_id == response_id).order_by(Answer.item_code))]


def test_the_form_s_answers_come_back_through_the_view_identical(pg_app):
    q = load_questionnaire("sipas-counter")
    given = {"c1_1": 5, "c1_2": NOT_APPLICABLE, "c2_1": 1, "gave_feedback": 0, "field": "ho_tich",
             "improve": ["e2", "e3"], "comment": AWKWARD[0] + AWKWARD[6]}
    with pg_app.app_context():
        make_campaign()
        entry = db.session.scalar(sa.select(EntryPoint))
        response, created = submit_response(
            entry=entry, version=entry.campaign.questionnaire_version, questionnaire=q,
            answers=given, submission_uuid=str(uuid.uuid4()))
        db.session.commit()
        stored = db.session.get(Response, response.id)
        assert created and answers_of(stored) == given
        wide = db.session.execute(sa.text(
            "SELECT item_code, rating, scale_points, not_applicable FROM response_answers")).one()
        assert wide == (sorted(given), [5, None, 1, None, None, None, None],
                        [5, 5, 5, None, None, None, None],
                        [False, True, False, False, False, False, False])


def test_every_kind_of_value_comes_back_through_the_view_identical(pg_app):
    rows = [{"item_code": f"t{k:02d}", "text": text} for k, text in enumerate(AWKWARD)]
    rows += [{"item_code": "r", "rating": 11, "scale_points": 11},
             {"item_code": "na", "not_applicable": True, "scale_points": 2},
             {"item_code": "n", "number": 2**62}, {"item_code": "neg", "number": -7},
             {"item_code": "ch", "choice": "x" * 64},
             {"item_code": "m", "choices": ["e1", 'q"uote', "back\\slash", "😀", None, 3, {"k": []}]},
             {"item_code": "mempty", "choices": []},
             {"item_code": "nothing"}, {"item_code": "y" * 64, "number": 1}]
    expected = sorted(
        (r["item_code"], r.get("rating"), r.get("scale_points"), r.get("not_applicable", False),
         r.get("number"), r.get("choice"), r.get("choices"), r.get("text")) for r in rows)
    response_id = _response(pg_app)
    with pg_app.app_context():
        store_answers([{**row, "response_id": response_id} for row in reversed(rows)])
        db.session.commit()
        assert _stored(response_id) == expected


def test_the_view_has_the_old_table_s_columns_and_types(pg_app):
    postgres = sa.dialects.postgresql.dialect()
    with pg_app.app_context(), db.engine.connect() as conn:
        view = {c["name"]: c["type"].compile(dialect=postgres)
                for c in sa.inspect(conn).get_columns("answers")}
    assert view == {c.name: c.type.compile(dialect=postgres) for c in Answer.__table__.c}
    assert list(view) == [c.name for c in Answer.__table__.c]


# One valid wide row; each case below breaks it in one place.
GOOD = {"item_code": ["a", "b", "c"], "rating": [5, None, None], "scale_points": [5, 5, None],
        "not_applicable": [False, True, False], "number": [None, None, 1],
        "choice": [None, None, None], "choices": [None, None, None], "text": [None, None, "ok"]}
TYPES = {"item_code": "text[]", "rating": "smallint[]", "scale_points": "smallint[]",
         "not_applicable": "boolean[]", "number": "bigint[]", "choice": "text[]",
         "choices": "json[]", "text": "text[]"}
BAD = {
    "rating above its scale": {"rating": [6, None, None]},
    "rating zero": {"rating": [0, None, None]},
    "rating without a scale": {"rating": [5, None, 3]},
    "scale of one point": {"scale_points": [1, 5, None]},
    "scale of twelve points": {"scale_points": [12, 12, None], "rating": [12, None, None]},
    "not applicable and rated": {"not_applicable": [True, True, False]},
    "choice and choices": {"choice": ["x", None, None], "choices": ['["y"]', None, None]},
    "the same item twice": {"item_code": ["a", "b", "a"]},
    "an item code missing": {"item_code": ["a", None, "c"]},
    "an item code too long": {"item_code": ["a", "b", "c" * 65]},
    "a choice too long": {"choice": [None, None, "c" * 65]},
    "not applicable unknown": {"not_applicable": [False, None, False]},
    "an array shorter": {"text": [None, "ok"]},
    "an array longer": {"number": [None, None, 1, 2]},
    "two-dimensional": {"rating": [[5], [None], [None]]},
    "no answers at all": {name: [] for name in GOOD},
}


def _insert_wide(response_id: int, values: dict) -> None:
    """INSERT one wide row as given (no writer's help)."""
    names = list(TYPES)
    db.session.execute(sa.text(
        f"INSERT INTO response_answers (response_id, {', '.join(names)}) VALUES (:response_id, "
        + ", ".join(f"CAST(:{n} AS {TYPES[n]})" for n in names) + ")"),
        {"response_id": response_id, **{n: _literal(values[n]) for n in names}})


def _literal(values: list) -> str:
    """An array's text form, nested lists as inner arrays."""
    def one(v):
        if isinstance(v, list):
            return _literal(v)
        if v is None:
            return "NULL"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "{" + ",".join(one(v) for v in values) + "}"


def _response(app) -> int:
    """A stored response without answers."""
    with app.app_context():
        make_campaign()
        entry = db.session.scalar(sa.select(EntryPoint))
        response, _ = submit_response(entry=entry, version=entry.campaign.questionnaire_version,
                                      questionnaire=load_questionnaire("sipas-counter"),
                                      answers={}, submission_uuid=str(uuid.uuid4()))
        db.session.commit()
        return response.id


@pytest.mark.parametrize("case", list(BAD))
def test_the_database_refuses_a_bad_wide_row(pg_app, case):
    response_id = _response(pg_app)
    with pg_app.app_context():
        with pytest.raises(IntegrityError, match="ck_response_answers_valid"):
            with db.session.begin_nested():
                _insert_wide(response_id, {**GOOD, **BAD[case]})
        _insert_wide(response_id, GOOD)  # the row it was made from goes in
        db.session.commit()
        assert len(_stored(response_id)) == 3


@pytest.mark.parametrize("statement", [
    "UPDATE response_answers SET text = text", "DELETE FROM response_answers",
    "UPDATE answers SET rating = 1", "DELETE FROM answers"])
def test_stored_wide_rows_are_never_changed_nor_deleted(pg_app, statement):
    response_id = _response(pg_app)
    with pg_app.app_context():
        _insert_wide(response_id, GOOD)
        db.session.commit()
        with pytest.raises(DBAPIError, match="answers are never"):
            db.session.execute(sa.text(statement))
        db.session.rollback()
        assert len(_stored(response_id)) == 3


# --- migration 0011 with data ------------------------------------------------------------------

@pytest.fixture
def pg_url():
    """A new, empty PostgreSQL database."""
    if not POSTGRES_URL:
        pytest.skip("needs SIPAS_TEST_POSTGRES_URL: the wide row is PostgreSQL's")
    with scratch_postgres("sipas_wide") as url:
        yield url


def test_migration_0011_moves_every_answer_over_and_back(pg_url, tmp_path: Path):
    _upgrade(pg_url, tmp_path, "0002")
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        seeded = _seed_first_release(conn)
        meta = sa.MetaData()
        meta.reflect(conn, only=["answers"])
        meta.tables["answers"].c.choices.type.none_as_null = True
        conn.execute(meta.tables["answers"].insert(), [
            {"response_id": 2, "item_code": f"t{k:02d}", "rating": None, "scale_points": None,
             "not_applicable": False, "number": None, "choice": None, "choices": None, "text": t}
            for k, t in enumerate(AWKWARD)])
    columns = {"answers": list(seeded["answers"][0])}
    with engine.connect() as conn:
        before = _snapshot(conn, columns)
    assert len(before["answers"]) == len(seeded["answers"]) + len(AWKWARD)

    _upgrade(pg_url, tmp_path, "0011")
    with engine.connect() as conn:
        assert _snapshot(conn, columns) == before
        assert sa.inspect(conn).get_view_names() == ["answers"]
        assert conn.execute(sa.text("SELECT count(*) FROM response_answers")).scalar() == 3

    _upgrade(pg_url, tmp_path, "0010", command="downgrade")  # the table again, with its rows
    with engine.connect() as conn:
        assert _snapshot(conn, columns) == before
        assert "answers" in sa.inspect(conn).get_table_names()
        assert "response_answers" not in sa.inspect(conn).get_table_names()
        with pytest.raises(DBAPIError, match="answers are never deleted"):
            conn.execute(sa.text("DELETE FROM answers"))
    engine.dispose()
