"""Invariants the database itself enforces, and exactly-once storage under concurrency."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError

from survey.extensions import db
from survey.models import Answer, EntryPoint, Response
from survey.questionnaires import load_questionnaire
from survey.services.answer_store import store_answers
from survey.services.entry_points import EntryPointUnavailable
from survey.services.integrity import Signals, Thresholds, _count_statement, assess
from survey.services.responses import submit_response

from ..factories import make_campaign


def _submit(app, code: str, submission: str, answers=None):
    """One submission in its own app context and session, as a request would do."""
    with app.app_context():
        entry = db.session.scalar(select(EntryPoint).filter_by(code=code))
        version = entry.campaign.questionnaire_version
        try:
            response, created = submit_response(
                entry=entry, version=version, questionnaire=load_questionnaire("sipas-counter"),
                answers=answers or {"c1_1": 5}, submission_uuid=submission)
            db.session.commit()
            return response.receipt, created
        except EntryPointUnavailable as exc:
            db.session.rollback()
            return exc.reason, False


def _count(app, model=Response):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_database_rejects_duplicate_submission_uuid(app):
    with app.app_context():
        make_campaign()
    same = str(uuid.uuid4())
    _submit(app, "TESTCODE", same)
    with app.app_context(), pytest.raises(IntegrityError):
        row = db.session.scalar(select(Response))
        values = {c.name: getattr(row, c.key) for c in Response.__table__.columns
                  if c.name not in ("id", "receipt")}
        db.session.execute(insert(Response).values(**values, receipt="OTHER123"))
        db.session.flush()


@pytest.mark.parametrize("rating,points", [(6, 5), (0, 5), (4, 3)])
def test_database_rejects_rating_outside_its_scale(app, rating, points):
    with app.app_context():
        make_campaign()
    _submit(app, "TESTCODE", str(uuid.uuid4()))
    # A CHECK refuses it (on PostgreSQL, before the primary key could refuse a second row of
    # answers for the response).
    with app.app_context(), pytest.raises(IntegrityError, match="(?i)check constraint"):
        response_id = db.session.scalar(select(Response.id))
        store_answers([{"response_id": response_id, "item_code": "zz", "rating": rating,
                        "scale_points": points}])
        db.session.flush()


def _race(count: int, submit) -> list:
    """Run ``submit()`` in ``count`` threads released at the same instant; collect results."""
    results, barrier = [], threading.Barrier(count)

    def worker():
        barrier.wait()
        results.append(submit())

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_retries_of_one_submission_store_one_row(app):
    with app.app_context():
        make_campaign()
    same = str(uuid.uuid4())
    results = _race(8, lambda: _submit(app, "TESTCODE", same))
    assert _count(app) == 1
    assert len({receipt for receipt, _ in results}) == 1
    assert sum(created for _, created in results) == 1


def test_single_use_code_is_consumed_once_under_concurrency(app):
    with app.app_context():
        make_campaign(kind="single_use", code="SINGLE23")
    results = _race(6, lambda: _submit(app, "SINGLE23", str(uuid.uuid4())))
    assert _count(app) == 1
    assert sum(created for _, created in results) == 1
    assert sorted(r for r, created in results if not created) == ["used"] * 5


@pytest.mark.parametrize("statement", [
    "DELETE FROM responses",
    "DELETE FROM answers",
    "UPDATE answers SET rating = 1",
    "UPDATE audit_log SET action = 'x'",
    "DELETE FROM audit_log",
])
def test_stored_responses_and_audit_entries_cannot_be_deleted_or_rewritten(app, statement):
    from sqlalchemy import text
    with app.app_context():
        make_campaign()  # publishing writes an audit entry
    _submit(app, "TESTCODE", str(uuid.uuid4()))
    with app.app_context():
        with pytest.raises(Exception, match="never|append-only"):
            db.session.execute(text(statement))
            db.session.flush()
        db.session.rollback()
    assert _count(app) == 1


AWKWARD_TEXTS = ['say "thanks", {really}', "back\\slash \\\" and \\\\", "NULL", " spaced ",
                 "dòng một\ndòng hai\tTab", "emoji 🙂 and 中文", "'; DROP TABLE answers; --", ","]


@pytest.mark.parametrize("text", AWKWARD_TEXTS)
def test_every_kind_of_answer_is_stored_exactly_as_given(app, text):
    """What goes into the answers' arrays (PostgreSQL: array literals, one per column) comes
    back value for value: quotes, backslashes, braces, commas, the word NULL, spaces, newlines."""
    answers = {"c1_1": 5, "c1_2": "na", "gave_feedback": 0, "improve": ["e1", "e5"],
               "sex": "female", "comment": text}
    with app.app_context():
        entry = make_campaign()
        response, created = submit_response(
            entry=entry, version=entry.campaign.questionnaire_version,
            questionnaire=load_questionnaire("sipas-counter"), answers=answers,
            submission_uuid=str(uuid.uuid4()))
        db.session.commit()
        stored = {row.item_code: row for row in db.session.scalars(
            select(Answer).filter_by(response_id=response.id))}
    assert created and set(stored) == set(answers)
    assert stored["comment"].text == text and stored["sex"].choice == "female"
    assert stored["improve"].choices == ["e1", "e5"] and stored["improve"].choice is None
    c1_1 = stored["c1_1"]
    assert (c1_1.rating, c1_1.scale_points, c1_1.not_applicable) == (5, 5, False)
    assert stored["c1_2"].not_applicable and stored["c1_2"].rating is None
    assert stored["gave_feedback"].number == 0 and stored["gave_feedback"].rating is None


def test_burst_counts_stop_at_the_threshold_and_flags_stay_the_same(app):
    """Each burst count reads at most threshold + 1 rows (the LIMIT inside it), and the flags are
    those of exact counting: the crossing submission flags the earlier ones, later ones only
    themselves."""
    thresholds = Thresholds(burst_device=(3, 60), burst_entry=(1000, 10), repeated_pattern=(1000, 30))
    phone = Signals(device_id="phone-" + "x" * 20)
    start = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
    with app.app_context():
        entry = make_campaign()
        stored = []
        for i in range(9):
            response, _created = submit_response(
                entry=entry, version=entry.campaign.questionnaire_version,
                questionnaire=load_questionnaire("sipas-counter"), answers={"c1_1": 1 + i % 5},
                submission_uuid=str(uuid.uuid4()), now=start + timedelta(minutes=i), signals=phone,
                secret="k", thresholds=thresholds)
            db.session.commit()
            stored.append(response.id)
        flags = {r.id: r.flags for r in db.session.scalars(select(Response))}
        assert all("burst_device" in flags[rid] for rid in stored)  # the first three via the crossing
        at = start + timedelta(minutes=10)
        later = assess(answers={"c1_1": 2}, signals=phone, secret="k", thresholds=thresholds,
                       entry_point_id=entry.id, unit_id=entry.unit_id, counter_network=None,
                       submitted_at=at, form_seconds=None)
        since = at - timedelta(minutes=60)
        counts = db.session.execute(_count_statement(True), {
            "device": later.device_hash, "entry": entry.id, "pattern": later.answer_pattern,
            "unit": entry.unit_id, "at": at, "exclude": 0, "burst_device_since": since,
            "burst_entry_since": since, "repeated_pattern_since": since, "burst_device_cap": 4,
            "burst_entry_cap": 1001, "repeated_pattern_cap": 1001}).one()
    assert "burst_device" in later.flags and later.crossings == []  # over the threshold, not at it
    assert tuple(counts) == (4, 9, 2)  # the device's 9 earlier rows counted up to its cap only


def test_a_crossing_adds_its_flag_to_earlier_rows_sorted_and_once(app):
    """Flagging a burst's earlier responses merges the code into each row's own flags in sorted
    order, leaves a row that already has it as it was, and never touches rows outside the burst."""
    from survey.services.integrity import _flag_earlier, _scope

    start = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
    with app.app_context():
        entry = make_campaign()
        made = []
        for i, flags in enumerate((["too_fast"], ["burst_entry", "too_fast"], [], ["counter_network"])):
            response, _created = submit_response(
                entry=entry, version=entry.campaign.questionnaire_version,
                questionnaire=load_questionnaire("sipas-counter"), answers={"c1_1": 3},
                submission_uuid=str(uuid.uuid4()), now=start + timedelta(minutes=i))
            response.flags = flags
            made.append(response.id)
        db.session.commit()
        before = db.session.scalar(select(Response.flags).where(Response.id == made[1]))
        scope = _scope("burst_entry", False, entry.id, entry.unit_id, start + timedelta(minutes=2), 10,
                       None)
        _flag_earlier(scope, "burst_entry")
        db.session.commit()
        got = dict(db.session.execute(select(Response.id, Response.flags)).all())
    assert got[made[0]] == ["burst_entry", "too_fast"]
    assert got[made[1]] == before == ["burst_entry", "too_fast"]  # already flagged: unchanged
    assert got[made[2]] == ["burst_entry"]
    assert got[made[3]] == ["counter_network"]  # after the burst's moment: outside it


def test_on_postgresql_each_burst_count_uses_its_own_index_on_a_young_table(app):
    """The three counts' plans on a table with a few hundred rows and never analysed, as a new
    deployment's first busy minutes have it (autovacuum's first analyse comes a minute or more
    after the first rows): planned for the values at hand and cached (generic), each count
    reads its own key's index, never an index on the time or the unit alone, which walks every
    recent response on each submission (migration 0012). The table is a temporary copy of
    ``responses`` with the same indexes (autovacuum never analyses one)."""
    import re

    import psycopg
    from sqlalchemy.dialects import postgresql

    if app.config["BACKEND"] != "postgres":
        pytest.skip("PostgreSQL's planner")
    with app.app_context():
        entry = make_campaign()
        submit_response(entry=entry, version=entry.campaign.questionnaire_version,
                        questionnaire=load_questionnaire("sipas-counter"), answers={"c1_1": 4},
                        submission_uuid=str(uuid.uuid4()), signals=Signals(device_id="p" * 22),
                        secret="k", thresholds=Thresholds())
        copied = [c.name for c in Response.__table__.columns
                  if c.name not in ("id", "submission_uuid", "receipt", "device_hash")]
        db.session.execute(text("CREATE TEMPORARY TABLE young (LIKE responses INCLUDING ALL) "
                                "ON COMMIT DROP"))
        db.session.execute(text(  # the row and 300 more from other phones: a busy few minutes
            f"INSERT INTO young (submission_uuid, receipt, device_hash, {', '.join(copied)}) "
            f"SELECT gen_random_uuid(), 'R' || n, md5(n::text), {', '.join(copied)} "
            "FROM responses, generate_series(0, 300) AS n"))
        compiled = _count_statement(True).compile(
            dialect=postgresql.psycopg.dialect(paramstyle="numeric_dollar"))  # $1 … as PREPARE takes
        names = compiled.positiontup
        numbered = re.sub(r"\bresponses\b", "young", compiled.string)
        now = datetime.now(UTC)
        values = {"device": "d" * 32, "entry": entry.id, "pattern": "p" * 32, "unit": entry.unit_id,
                  "at": now, "exclude": 0}
        for code, cap in (("burst_device", 4), ("burst_entry", 21), ("repeated_pattern", 4)):
            values[f"{code}_since"], values[f"{code}_cap"] = now - timedelta(minutes=30), cap
        plans = {}
        raw = db.session.connection().connection.dbapi_connection
        with psycopg.ClientCursor(raw) as cursor:
            cursor.execute(f"PREPARE burst_counts AS {numbered}")
            for mode in ("force_custom_plan", "force_generic_plan"):
                cursor.execute(f"SET LOCAL plan_cache_mode = {mode}")
                cursor.execute(f"EXPLAIN EXECUTE burst_counts({', '.join(['%s'] * len(names))})",
                               [values[name] for name in names])
                plans[mode] = "\n".join(row[0] for row in cursor.fetchall())
            cursor.execute("DEALLOCATE burst_counts")
        db.session.rollback()
    for plan in plans.values():  # the copy's indexes are named after their columns
        assert re.findall(r"using young_(\w+)_idx on young", plan) == [
            "device_hash_submitted_at", "entry_point_id_submitted_at",
            "answer_pattern_unit_id_submitted_at"], plan
