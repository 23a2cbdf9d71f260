"""The public form's hot path: few statements per submission, no stale state, cached HTML safe."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event, select

from survey.extensions import db
from survey.models import EntryPoint, ProcedureField, Response
from survey.models.base import utcnow
from survey.services import direct
from survey.services.entry_points import find_entry_point, load_entry_point

from ..factories import form_token, make_campaign, receipt

GOOD = {"c1_1": "5", "c1_2": "4", "c2_1": "3", "gave_feedback": "0", "overall": "4"}


@contextmanager
def _statements(app):
    """Collect the SQL statements the app sends while the block runs."""
    seen: list[str] = []
    with app.app_context():
        engine = db.engine

    def record(conn, cursor, statement, params, context, executemany):
        seen.append(" ".join(statement.split()).upper())

    def send(cursor, sql, params):  # the hot path's statements straight on psycopg's cursor
        seen.append(" ".join(sql.split()).upper())
        return sent(cursor, sql, params)

    sent = direct._send
    event.listen(engine, "before_cursor_execute", record)
    direct._send = send
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
        direct._send = sent


def test_a_submission_writes_flags_in_its_insert_with_one_count_and_no_savepoint(app, client):
    with app.app_context():
        make_campaign()
    page = client.get("/s/TESTCODE").get_data(as_text=True)
    with _statements(app) as seen:
        resp = client.post("/s/TESTCODE", data={**GOOD, "token": form_token(page)})
    assert resp.status_code == 200 and receipt(resp.get_data(as_text=True))
    inserts = [s for s in seen if "INSERT INTO RESPONSES" in s]
    counts = [s for s in seen if "COUNT(" in s]
    assert len(inserts) == 1 and len(counts) == 1, seen
    assert not [s for s in seen if s.startswith("UPDATE RESPONSES")], seen
    assert not [s for s in seen if "SAVEPOINT" in s], seen
    # One statement writes the answers; on PostgreSQL the response's INSERT, as one wide row.
    wide = app.config["BACKEND"] == "postgres"
    assert len([s for s in seen if "INSERT INTO ANSWERS" in s]) == (0 if wide else 1), seen
    assert len([s for s in seen if "INSERT INTO RESPONSE_ANSWERS" in s and "INSERT INTO RESPONSES" in s]) \
        == (1 if wide else 0), seen
    with app.app_context():
        stored = db.session.scalar(select(Response))
        # Sent at once after the GET: too fast, and the hashes are stored with the row.
        assert "too_fast" in stored.flags and stored.answer_pattern and stored.device_hash
        assert len(stored.answers) == len(GOOD)


def test_a_code_revoked_after_its_form_was_opened_is_refused_at_once(app, client):
    with app.app_context():
        entry = make_campaign()
        entry_id = entry.id
    page = client.get("/s/TESTCODE")
    assert page.status_code == 200
    with app.app_context():
        db.session.get(EntryPoint, entry_id).revoked_at = utcnow()
        db.session.commit()
    assert client.get("/s/TESTCODE").status_code == 410
    resp = client.post("/s/TESTCODE", data={**GOOD, "token": form_token(page.get_data(as_text=True))})
    assert resp.status_code == 410
    with app.app_context():
        assert db.session.scalar(select(Response.id)) is None


def test_the_cached_question_block_never_carries_one_code_s_field_or_answers_to_another(app, client):
    with app.app_context():
        entry = make_campaign()
        other = make_campaign(code="OTHERCODE")
        land = ProcedureField(code="dat_dai", name="Đất đai")
        db.session.add(land)
        db.session.flush()
        db.session.get(EntryPoint, entry.id).field_id = land.id
        db.session.commit()
        other_code = other.code
    for _ in range(2):  # the second round is served from the cache
        with_field = client.get("/s/TESTCODE").get_data(as_text=True)
        without = client.get(f"/s/{other_code}").get_data(as_text=True)
        assert 'name="field" value="dat_dai" checked' in with_field
        assert " checked" not in without
    # A form sent back with an error shows the citizen's own answers, not the cached block.
    back = client.post(f"/s/{other_code}", data={"c1_1": "5", "c1_2": "9", "token": form_token(without)})
    html = back.get_data(as_text=True)
    assert back.status_code == 422 and 'name="c1_1" value="5" checked' in html
    assert 'name="c1_1" value="5" checked' not in client.get(f"/s/{other_code}").get_data(as_text=True)


def test_load_entry_point_reads_what_find_entry_point_reads(app):
    with app.app_context():
        entry = make_campaign(kind="single_use")
        orm = find_entry_point(entry.code.lower())
        row = load_entry_point(entry.code.lower())
        for name in ("id", "code", "kind", "campaign_id", "unit_id", "counter_id", "field_id",
                     "active_from", "active_until", "revoked_at", "used_at"):
            assert getattr(row, name) == getattr(orm, name), name
        assert (row.campaign.starts_on, row.campaign.ends_on) == (orm.campaign.starts_on,
                                                                  orm.campaign.ends_on)
        version = orm.campaign.questionnaire_version
        assert (row.campaign.questionnaire_version.id, row.campaign.questionnaire_version.content_hash,
                row.campaign.questionnaire_version.definition) == (version.id, version.content_hash,
                                                                   version.definition)
        assert (row.unit.name, row.counter.name, row.field) == (orm.unit.name, orm.counter.name, None)


@contextmanager
def _limited_app(app, **config):
    """The same database with the public limits on (memory storage), as in production."""
    from survey import create_app
    limited = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                          "SECRET_KEY": app.config["SECRET_KEY"], "RATELIMIT_ENABLED": True,
                          "RATELIMIT_STORAGE_URI": "memory://", **config})
    try:
        yield limited
    finally:
        with limited.app_context():
            db.session.remove()
            db.engine.dispose()


def _send(client, code="TESTCODE"):
    page = client.get(f"/s/{code}").get_data(as_text=True)
    return client.post(f"/s/{code}", data={**GOOD, "token": form_token(page)})


def test_public_limits_count_in_the_limiter_storage_per_device_code_and_address(app):
    from survey.extensions import limiter
    with app.app_context():
        make_campaign()
    with _limited_app(app, RATELIMIT_PUBLIC_DEVICE="5/minute;9/hour", RATELIMIT_PUBLIC_ENTRY="50/minute",
                      RATELIMIT_PUBLIC_IP="2/minute") as limited:
        limiter.reset()
        sent = [_send(limited.test_client()).status_code for _ in range(3)]
        assert sent == [200, 200, 429]  # new phones, one address: the address limit
        keys = list(limiter.storage.storage)  # Flask-Limiter's keys: the same counters for every worker
        assert any("/ip:" in k and "/public.submit/2/1/minute" in k for k in keys), keys
        assert any("/entry:TESTCODE/public.submit/50/1/minute" in k for k in keys), keys
        assert any("/public.submit/9/1/hour" in k for k in keys), keys
        with limited.app_context():
            assert len(db.session.scalars(select(Response.id)).all()) == 2


def test_public_limits_let_answers_through_when_the_storage_fails(app, monkeypatch):
    from survey.extensions import limiter
    with app.app_context():
        make_campaign()
    with _limited_app(app, RATELIMIT_PUBLIC_IP="1/minute") as limited:
        limiter.reset()

        def down(*_args, **_kwargs):
            raise ConnectionError("storage down")

        monkeypatch.setattr(limiter.limiter, "hit", down)
        assert [_send(limited.test_client()).status_code for _ in range(2)] == [200, 200]
        with limited.app_context():
            assert len(db.session.scalars(select(Response.id)).all()) == 2


def test_flags_worked_out_inside_the_insert_are_those_of_the_separate_count(app):
    """The flags written in the INSERT (with the answers, on PostgreSQL in the same statement) are
    exactly what ``assess`` gives, every time; crossing a burst flags the earlier ones too."""
    import uuid
    from datetime import UTC, datetime, timedelta

    from survey.questionnaires import load_questionnaire
    from survey.services.integrity import Signals, Thresholds, assess
    from survey.services.responses import submit_response

    t0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
    strict = Thresholds(burst_device=(2, 60), burst_entry=(3, 10), repeated_pattern=(1, 30))
    q = load_questionnaire("sipas-counter")
    with app.app_context():
        code = make_campaign().code
        for i in range(6):
            entry = load_entry_point(code)
            phone = Signals(device_id=f"phone-{i % 2}-" + "x" * 20, ip="203.0.113.9", staff=i == 4)
            answers = {"c1_1": 5, "c1_2": 4} if i % 3 else {"c1_1": 1}
            now = t0 + timedelta(minutes=i)
            expected = assess(answers=answers, signals=phone, secret="k", thresholds=strict,
                              entry_point_id=entry.id, unit_id=entry.unit_id, counter_network=None,
                              submitted_at=now, form_seconds=3)
            response, created = submit_response(
                entry=entry, version=entry.campaign.questionnaire_version, questionnaire=q,
                answers=answers, submission_uuid=str(uuid.uuid4()), form_seconds=3, now=now,
                signals=phone, secret="k", thresholds=strict)
            assert created and response.flags == sorted(expected.flags), (i, response.flags)
            db.session.commit()
            db.session.expire_all()
            stored = db.session.get(Response, response.id)
            assert set(stored.flags) >= set(expected.flags) and len(stored.answers) == len(answers)
        flags = [r.flags for r in db.session.scalars(select(Response).order_by(Response.id))]
        assert all("burst_entry" in f and "too_fast" in f for f in flags), flags  # earlier ones too
        assert "staff_session" in flags[4] and "burst_device" in flags[4], flags


def test_the_cached_fresh_page_is_byte_for_byte_the_rendered_page(app):
    """A fresh form page comes from a per-process copy with each request's code, names, token
    and submission put in; it is exactly what the template renders, whatever the names hold."""
    from flask_babel import refresh

    from survey.models import Counter, Unit
    from survey.public import views

    with app.app_context():
        entry = make_campaign()
        other = make_campaign(code="OTHERCODE")
        unit = db.session.get(Unit, entry.unit_id)
        unit.name = 'Phường <Bến "Thành"> & Cô Giang'
        field = ProcedureField(code="land", name="Đất đai")
        db.session.add(field)
        db.session.flush()
        db.session.get(EntryPoint, other.id).field_id = field.id
        db.session.get(EntryPoint, other.id).counter_id = None
        db.session.get(Counter, entry.counter_id).name = "Quầy <1> & 'Một'"
        db.session.commit()
        for code in ("TESTCODE", "OTHERCODE"):
            for lang in ("vi", "en"):
                with app.test_request_context(f"/s/{code}?lang={lang}"):
                    refresh()  # the locale is kept per app context, which outlives this request's
                    found = load_entry_point(code)
                    q = views.questionnaire_of(found.campaign.questionnaire_version)
                    answers = {"field": ["land"]} if found.field else {}
                    cached = views._fresh_page(found, q, found.campaign.questionnaire_version, lang,
                                               answers, "tok.EN-x_1", "0b6f6c1e-0000-4000-8000-000000000001")
                    rendered = views._page(found, q, found.campaign.questionnaire_version, lang, answers,
                                           {}, None, "tok.EN-x_1", "0b6f6c1e-0000-4000-8000-000000000001",
                                           views._fresh_questions(q, found.campaign.questionnaire_version,
                                                                  lang, answers))
                    assert cached == rendered, (code, lang)
                    assert "\ue000" not in cached and f'action="/s/{code}?lang={lang}"' in cached
        page = app.test_client().get("/s/TESTCODE").get_data(as_text=True)
        assert "Phường &lt;Bến &#34;Thành&#34;&gt; &amp; Cô Giang" in page and "Quầy &lt;1&gt;" in page


def test_the_cached_thank_you_page_is_byte_for_byte_the_rendered_page(app, client):
    from flask import current_app
    from flask_babel import refresh

    from survey.models import Unit
    from survey.public import views

    with app.app_context():
        entry = make_campaign()
        db.session.get(Unit, entry.unit_id).name = "Phường <Tân Định> & \"Đa Kao\""
        db.session.commit()
    page = client.get("/s/TESTCODE").get_data(as_text=True)
    sent = client.post("/s/TESTCODE", data={**GOOD, "token": form_token(page)}).get_data(as_text=True)
    assert "Phường &lt;Tân Định&gt; &amp; &#34;Đa Kao&#34;" in sent and receipt(sent)
    with app.app_context():
        stored = db.session.scalar(select(Response))
        for lang in ("vi", "en"):
            with app.test_request_context(f"/s/TESTCODE?lang={lang}"):
                refresh()  # the locale is kept per app context, which outlives this request's
                found = load_entry_point("TESTCODE")
                q = views.questionnaire_of(found.campaign.questionnaire_version)
                cached = views._receipt(found, stored, 5).get_data(as_text=True)
                rendered = views._receipt_page(
                    found, q, stored.submission_uuid, f"{stored.receipt[:4]}-{stored.receipt[4:]}", 5,
                    current_app.jinja_env.filters["local_time"](stored.submitted_at), lang)
                assert cached == rendered and "\ue000" not in cached, lang
                assert f'data-submission="{stored.submission_uuid}"' in cached


def test_direct_statements_share_the_session_transaction_and_raise_sqlalchemy_errors(app):
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from survey.models import Unit

    with app.app_context():
        entry = make_campaign()
        db.session.add(Unit(code="NEW", name="Phường Mới", level="ward"))  # pending: flushed first
        assert direct.execute(select(Unit.id).where(Unit.code == "NEW"), {}).fetchone() is not None
        db.session.rollback()  # the same transaction: the unit is gone
        assert db.session.scalar(select(Unit.id).where(Unit.code == "NEW")) is None
        with pytest.raises(DBAPIError):
            direct.execute(text("SELECT * FROM no_such_table"), {})
        db.session.rollback()
        # Typed values come back as SQLAlchemy returns them (SQLite stores dates as text).
        found = direct.execute(select(EntryPoint.created_at, EntryPoint.id).where(
            EntryPoint.id == entry.id), {}).fetchone()
        assert found == tuple(db.session.execute(select(EntryPoint.created_at, EntryPoint.id).where(
            EntryPoint.id == entry.id)).one())
        assert load_entry_point("TESTCODE").campaign.starts_on == entry.campaign.starts_on


@contextmanager
def _session_checkouts(app):
    """Count the connections taken from the session's pool (each costs a pre-ping, and a
    transaction a BEGIN and a COMMIT) while the block runs."""
    with app.app_context():
        engine = db.engine
    taken: list[int] = []

    def checkout(*_args):
        taken.append(1)

    event.listen(engine, "checkout", checkout)
    try:
        yield taken
    finally:
        event.remove(engine, "checkout", checkout)


def test_on_postgresql_the_form_s_statements_each_commit_on_their_own(app, client):
    """GET and POST of a static code never take a session connection: the code's read, the
    scan, the burst counts and the INSERT each run in autocommit (one round trip apiece)."""
    import pytest

    from survey.models import ScanCount
    if app.config["BACKEND"] != "postgres":
        pytest.skip("SQLite keeps the session's transaction (no round trips to save)")
    with app.app_context():
        make_campaign()
    with _session_checkouts(app) as taken, _statements(app) as seen:
        page = client.get("/s/TESTCODE")
        resp = client.post("/s/TESTCODE", data={**GOOD, "token": form_token(page.get_data(as_text=True))})
        again = client.post("/s/TESTCODE", data={**GOOD, "token": form_token(page.get_data(as_text=True))})
    assert page.status_code == resp.status_code == again.status_code == 200
    number = receipt(resp.get_data(as_text=True))
    assert number and receipt(again.get_data(as_text=True)) == number  # a resend: the same receipt
    # GET: read + scan; POST: read + counts + INSERT; the resend: the same three, then the lookup
    # of the stored response through the session (the only checkout).
    assert len([s for s in seen if "INSERT INTO RESPONSES" in s]) == 2
    assert len(taken) == 1, seen
    with app.app_context():
        stored = db.session.scalars(select(Response)).all()
        assert len(stored) == 1 and len(stored[0].answers) == len(GOOD)
        assert db.session.scalar(select(ScanCount.scans)) == 1


def test_a_single_use_code_is_used_in_the_transaction_of_its_response(app, client):
    """A single-use slip is marked used and its response stored in one transaction (the session),
    never one without the other; a burst crossing flags the earlier responses the same way."""
    with app.app_context():
        make_campaign(kind="single_use", code="SLIPCODE")
    page = client.get("/s/SLIPCODE")
    with _session_checkouts(app) as taken:
        resp = client.post("/s/SLIPCODE", data={**GOOD, "token": form_token(page.get_data(as_text=True))})
    assert resp.status_code == 200 and receipt(resp.get_data(as_text=True))
    assert len(taken) == 1  # the whole submission in one session transaction
    with app.app_context():
        assert db.session.scalar(select(EntryPoint.used_at)) is not None
        assert len(db.session.scalars(select(Response.id)).all()) == 1
    assert client.get("/s/SLIPCODE").status_code == 410


def test_statements_alone_only_outside_a_transaction_and_their_pool_goes_with_the_engine(app):
    """A session with a transaction open keeps every statement (it could not see its own
    uncommitted rows otherwise); the autocommit pool is per process and disposed with the engine."""
    import gc
    import os

    import pytest

    from survey.models import Unit
    if app.config["BACKEND"] != "postgres":
        pytest.skip("only psycopg engines run statements on their own")
    with app.app_context():
        make_campaign()
        db.session.add(Unit(code="NEW", name="Phường Mới", level="ward"))
        db.session.flush()
        stmt = select(Unit.id).where(Unit.code == "NEW")
        assert direct.execute(stmt, {}, alone=True).fetchone() is not None  # in the transaction
        db.session.rollback()
        assert direct.execute(stmt, {}, alone=True).fetchone() is None
        fetched = direct.execute(select(EntryPoint.created_at).where(EntryPoint.code == "TESTCODE"), {},
                                 alone=True)
        assert isinstance(fetched, direct.Fetched) and fetched.fetchone()[0].tzinfo is not None
        engine = db.engine
        alone = direct._alone_lane(engine)
        assert direct._alone_lane(engine) is alone
        held = list(alone.idle)  # the connection the statements above ran on, kept for the next
        assert len(held) == 1
        real = os.getpid()
        try:  # a forked child makes its own pool and leaves the parent's connections open
            direct.os.getpid = lambda: real + 1
            child = direct._alone_lane(engine)
            gc.collect()  # nothing of the parent's may be closed as garbage either
        finally:
            direct.os.getpid = os.getpid
        assert child is not alone
        assert not held[0][0].dbapi_connection.closed
        assert held[0] in direct._FOREIGN
        direct._FOREIGN.remove(held[0])
        held[0][1].close()
        held[0][0].close()
        engine.dispose()
        assert id(engine) not in direct._ALONE


def test_a_lane_connection_given_back_at_the_pool_limit_goes_to_a_waiting_thread(app):
    """The lane keeps idle connections out of its pool; when all the pool allows are out, one
    given back goes to the pool at once, so a thread waiting there is not left to time out."""
    import threading
    import time

    import pytest

    if app.config["BACKEND"] != "postgres":
        pytest.skip("only psycopg engines run statements on their own")
    with app.app_context():
        lane = direct._Lane(db.engine, 0)
    try:
        lane.engine.pool._timeout = 5  # a waiter that is never served fails within seconds
        taken = [lane.take() for _ in range(lane.limit)]
        assert lane.engine.pool.checkedout() == lane.limit
        got = []
        waiter = threading.Thread(target=lambda: got.append(lane.take()))
        started = time.monotonic()
        waiter.start()
        time.sleep(0.2)  # the waiter is now waiting in the pool
        lane.give(*taken.pop())
        waiter.join(10)
        assert got and time.monotonic() - started < 2
        assert lane.idle == []  # given back to the pool, not held
        lane.give(*taken.pop())  # still all out as it is given: to the pool too
        assert lane.idle == []
        lane.give(*got[0])
        assert len(lane.idle) == 1  # below the limit: held for the next statement
    finally:
        for fairy, cursor in taken:
            cursor.close()
            fairy.close()
        lane.dispose(close=True)
