"""Anti-gaming flags (services/integrity.py): computed at submission, never blocking."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import AuditLog, Counter, EntryPoint, Response
from survey.questionnaires import load_questionnaire
from survey.services.integrity import (
    Signals,
    Thresholds,
    assess_response,
    neutralise_cell,
    purge_network_hashes,
)
from survey.services.responses import submit_response

from ..factories import form_token, make_campaign, receipt

T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
NOBODY = Signals()
STRICT = Thresholds(burst_device=(3, 60), burst_entry=(5, 10), repeated_pattern=(3, 30),
                    min_form_seconds=8, seconds_per_answer=1.0)


def _store(entry, *, answers=None, signals=NOBODY, at=T0, seconds=120, thresholds=STRICT):
    """Store one response through the real service and assess it as the view does."""
    version = entry.campaign.questionnaire_version
    answers = answers or {"c1_1": 5, "c1_2": 4}
    response, created = submit_response(
        entry=entry, version=version, questionnaire=load_questionnaire("sipas-counter"),
        answers=answers, submission_uuid=str(uuid.uuid4()), form_seconds=seconds, now=at)
    assert created
    assess_response(response, answers, signals, secret="k", thresholds=thresholds)
    db.session.commit()
    return response


def _flags():
    """Flags of every stored response, in submission order."""
    db.session.expire_all()
    return [r.flags for r in db.session.scalars(select(Response).order_by(Response.id))]


def test_burst_from_one_device_flags_the_whole_burst_but_stores_every_answer(app):
    with app.app_context():
        entry = make_campaign()
        phone = Signals(device_id="phone-A-" + "x" * 20, ip="203.0.113.9")
        for i in range(6):
            _store(entry, signals=phone, answers={"c1_1": 1 + i % 5}, at=T0 + timedelta(minutes=i))
        flags = _flags()
        assert len(flags) == 6
        assert all("burst_device" in f for f in flags), flags  # earlier ones joined the burst
        # Another phone on the same Wi-Fi (same address) is not part of it.
        other = _store(entry, signals=Signals(device_id="phone-B-" + "y" * 20, ip="203.0.113.9"),
                       at=T0 + timedelta(minutes=7))
        assert "burst_device" not in other.flags


def test_three_from_one_device_in_an_hour_are_not_a_burst_nor_spread_over_days(app):
    with app.app_context():
        entry = make_campaign()
        phone = Signals(device_id="phone-A-" + "x" * 20)
        for i in range(3):
            _store(entry, signals=phone, answers={"c1_1": 1 + i}, at=T0 + timedelta(minutes=i))
        for i in range(4):
            _store(entry, signals=phone, answers={"c1_1": 1 + i}, at=T0 + timedelta(days=1 + i))
        assert _flags() == [[]] * 7


def test_burst_on_one_entry_point(app):
    with app.app_context():
        entry = make_campaign()
        for i in range(7):
            _store(entry, signals=Signals(device_id=f"phone-{i:02d}-" + "z" * 20),
                   answers={"c1_1": 1 + i % 5, "c1_2": 1 + (i // 5)}, at=T0 + timedelta(seconds=30 * i))
        flags = _flags()
        assert all("burst_entry" in f for f in flags) and not any("burst_device" in f for f in flags)


def test_browser_without_cookie_is_counted_by_its_address_hash(app):
    with app.app_context():
        entry = make_campaign()
        for i in range(5):
            _store(entry, signals=Signals(ip="198.51.100.7"), answers={"c1_1": 1 + i},
                   at=T0 + timedelta(minutes=i))
        assert all("burst_device" in f for f in _flags())


def test_staff_browser_and_counter_network(app):
    with app.app_context():
        entry = make_campaign()
        counter = db.session.get(Counter, entry.counter_id)
        counter.network_cidr = "10.20.0.0/24, 2001:db8::/64"
        db.session.commit()
        staff = _store(entry, signals=Signals(staff=True, ip="192.0.2.1"), at=T0)
        inside = _store(entry, signals=Signals(ip="10.20.0.17"), answers={"c1_1": 3}, at=T0)
        inside6 = _store(entry, signals=Signals(ip="2001:db8::5"), answers={"c1_1": 2}, at=T0)
        outside = _store(entry, signals=Signals(ip="10.20.1.17"), answers={"c1_1": 1}, at=T0)
        junk = _store(entry, signals=Signals(ip="not-an-ip"), answers={"c1_2": 1}, at=T0)
        assert staff.flags == ["staff_session"]
        assert inside.flags == ["counter_network"] and inside6.flags == ["counter_network"]
        assert outside.flags == [] and junk.flags == []


def test_repeated_pattern_in_one_unit_within_the_window(app):
    with app.app_context():
        entry = make_campaign()
        same = {"c1_1": 5, "c1_2": 5, "c1_3": 5}
        for i in range(4):
            _store(entry, signals=Signals(device_id=f"phone-{i:02d}-" + "z" * 20), answers=same,
                   at=T0 + timedelta(minutes=5 * i))
        late = _store(entry, answers=same, at=T0 + timedelta(hours=3))
        assert [("repeated_pattern" in f) for f in _flags()] == [True] * 4 + [False]
        assert late.answer_pattern == db.session.scalars(select(Response.answer_pattern)).first()


@pytest.mark.parametrize(("seconds", "answered", "flagged"),
                         [(3, 2, True), (8, 2, False), (15, 22, True), (30, 22, False), (None, 22, False)])
def test_too_fast(app, seconds, answered, flagged):
    with app.app_context():
        entry = make_campaign()
        answers = {f"c{1 + i // 5}_{1 + i % 5}": 4 for i in range(answered)}
        q = load_questionnaire("sipas-counter")
        answers = {k: v for k, v in answers.items() if k in q.items}
        response = _store(entry, answers=answers, seconds=seconds,
                          thresholds=Thresholds(seconds_per_answer=30 / 22))
        assert ("too_fast" in response.flags) is flagged


def test_only_keyed_hashes_are_stored_and_purged_after_retention(app):
    with app.app_context():
        entry = make_campaign()
        device = "raw-device-cookie-1234567890"
        old = _store(entry, signals=Signals(device_id=device, ip="203.0.113.200"), at=T0)
        new = _store(entry, signals=Signals(device_id=device, ip="203.0.113.200"),
                     answers={"c1_1": 2}, at=T0 + timedelta(days=100))
        row = {c.name: getattr(old, c.key) for c in Response.__table__.columns}
        assert device not in str(row) and "203.0.113.200" not in str(row)
        assert len(old.ip_hash) == 16 and len(old.device_hash) == 32
        assert old.ip_hash == new.ip_hash  # same address, same hash: clusters stay visible
        assert purge_network_hashes(90, now=T0 + timedelta(days=101)) == 1
        db.session.commit()
        db.session.expire_all()
        assert (old.ip_hash, old.device_hash) == (None, None)
        assert new.ip_hash is not None and old.flags == [] and new.answer_pattern


def test_purge_command_uses_the_retention_setting(app, runner):
    with app.app_context():
        entry = make_campaign()
        _store(entry, signals=Signals(device_id="d" * 22, ip="203.0.113.1"),
               at=datetime.now(UTC) - timedelta(days=400))
    result = runner.invoke(args=["maintenance", "purge-ip-hashes"])
    assert result.exit_code == 0, result.output
    assert "1" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(Response.ip_hash.is_not(None))) == 0
        entry = db.session.scalar(select(AuditLog).filter_by(action="maintenance.purge_network_hashes"))
        assert entry.details == {"days": 90, "responses": 1}


@pytest.mark.parametrize(("value", "expected"), [
    ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
    ("+1+1", "'+1+1"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"),
    ("＝1+1", "'＝1+1"), ("Rất hài lòng", "Rất hài lòng"), ("", ""), (5, 5), (-2.5, -2.5), (None, None),
])
def test_neutralise_cell(value, expected):
    assert neutralise_cell(value) == expected


# Through the public form: the device cookie, staff browsers, never blocking.

def _send(client, code="TESTCODE", **answers):
    """GET the form, POST it; return the POST response."""
    page = client.get(f"/s/{code}")
    data = {"token": form_token(page.get_data(as_text=True)), "c1_1": "5", **answers}
    return client.post(f"/s/{code}", data=data)


def test_form_sets_a_device_cookie_and_stores_only_its_hash(app, client):
    with app.app_context():
        make_campaign()
    page = client.get("/s/TESTCODE")
    cookie = client.get_cookie("sipas_device")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    assert "Max-Age" in page.headers.getlist("Set-Cookie")[-1] or cookie.expires
    resp = client.post("/s/TESTCODE", data={"token": form_token(page.get_data(as_text=True)), "c1_1": "5"})
    assert resp.status_code == 200 and receipt(resp.get_data(as_text=True))
    with app.app_context():
        row = db.session.scalar(select(Response))
        assert row.device_hash and cookie.value not in row.device_hash and row.ip_hash


def test_response_from_a_logged_in_staff_browser_is_flagged_and_still_stored(app, client):
    from ..web.workspace_support import login, make_unit, make_user
    with app.app_context():
        entry = make_campaign()
        make_user("quay1", "counter_staff", db.session.get(EntryPoint, entry.id).unit)
        make_unit("X9", "Xã khác")
        db.session.commit()
    assert login(client, "quay1").status_code == 302
    assert client.get_cookie("sipas_staff") is not None
    assert _send(client).status_code == 200
    client.post("/logout", data={})  # even without a valid logout the cookie remains
    client.delete_cookie("session")
    assert _send(client, c1_2="4").status_code == 200  # logged out: the staff-device cookie remains
    fresh = app.test_client()
    assert _send(fresh, c1_2="3").status_code == 200
    with app.app_context():
        flags = [r.flags for r in db.session.scalars(select(Response).order_by(Response.id))]
    assert [("staff_session" in f) for f in flags] == [True, True, False]
    assert all("too_fast" in f for f in flags)  # a test client sends in under a second


def test_forged_staff_cookie_is_ignored(app, client):
    with app.app_context():
        make_campaign()
    client.set_cookie("sipas_staff", "eyJzIjoxfQ.forged.signature")
    assert _send(client).status_code == 200
    with app.app_context():
        assert "staff_session" not in db.session.scalar(select(Response)).flags


def test_demo_holds_staff_device_and_burst_flags_made_by_the_flag_code(app):
    from survey.services.demo import load_demo
    with app.app_context():
        summary = load_demo(responses=300, seed=7)
        db.session.commit()
        assert summary["responses"] == 300
        flags = [f for f in db.session.scalars(select(Response.flags)) if f]
        assert sum("staff_session" in f for f in flags) == 3
        assert sum("burst_device" in f for f in flags) == 8
        hashed = db.session.scalar(select(func.count()).where(Response.device_hash.is_not(None)))
        assert hashed == 8  # only the burst phone had a device cookie; the clerk's PC had a login
        from survey.services.results import campaign_report
        campaign_id = db.session.scalar(select(Response.campaign_id))
        settings = campaign_report(campaign_id).settings  # results report them separately
        assert settings["n_flagged"] == len(flags) >= 11 and settings["n_excluded"] == 0


def test_migration_0005_round_trip_keeps_the_append_only_triggers(tmp_path, monkeypatch):
    """0005 adds plain columns: a batch copy of ``responses`` would lose 0002's triggers on SQLite."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import inspect, text

    from survey import create_app
    monkeypatch.setenv("SIPAS_INSTANCE_PATH", str(tmp_path))
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'm.db'}", "SECRET_KEY": "k"})
    with app.app_context():
        upgrade()
        downgrade(revision="0004")
        columns = {c["name"] for c in inspect(db.engine).get_columns("responses")}
        assert not columns & {"device_hash", "ip_hash", "answer_pattern"}
        upgrade()
        triggers = db.session.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        assert {"no_delete_responses", "no_update_answers"} <= set(triggers.scalars())
        db.engine.dispose()


def test_logged_in_session_alone_and_counter_network_through_the_form(app, client):
    from ..web.workspace_support import login, make_user
    with app.app_context():
        entry = make_campaign()
        make_user("quay2", "counter_staff", db.session.get(EntryPoint, entry.id).unit)
        db.session.get(Counter, entry.counter_id).network_cidr = "127.0.0.0/8"
        db.session.commit()
    assert login(client, "quay2").status_code == 302
    client.delete_cookie("sipas_staff")  # only Flask-Login's session is left
    assert _send(client).status_code == 200
    with app.app_context():
        flags = db.session.scalar(select(Response)).flags
    assert {"staff_session", "counter_network"} <= set(flags)  # the test client is 127.0.0.1


def test_thresholds_come_from_the_environment(monkeypatch, tmp_path):
    from survey.config import ConfigError, from_environment
    monkeypatch.setenv("SIPAS_FLAG_BURST_DEVICE", "5/15")
    monkeypatch.setenv("SIPAS_FLAG_MIN_FORM_SECONDS", "20")
    thresholds = Thresholds.from_config(from_environment(str(tmp_path)))
    assert thresholds.burst_device == (5, 15) and thresholds.min_form_seconds == 20
    assert thresholds.burst_entry == (20, 10)  # the default
    monkeypatch.setenv("SIPAS_FLAG_BURST_ENTRY", "twenty")
    with pytest.raises(ConfigError, match="SIPAS_FLAG_BURST_ENTRY"):
        from_environment(str(tmp_path))


def test_neutralise_cell_properties():
    from hypothesis import given
    from hypothesis import strategies as st

    @given(st.text(max_size=40))
    def text_cells(value):
        out = neutralise_cell(value)
        if value[:1] in ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠"):
            assert out == "'" + value  # a spreadsheet shows it as text, nothing is lost
        else:
            assert out == value

    @given(st.one_of(st.integers(), st.floats(allow_nan=False), st.none(), st.booleans()))
    def other_cells(value):
        assert neutralise_cell(value) == value  # numbers stay numbers

    text_cells()
    other_cells()
