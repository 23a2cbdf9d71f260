"""Issuing codes, typing them at /c, counting scans, and single-use codes under a live race."""

from __future__ import annotations

import threading
from datetime import timedelta
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import pytest
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import AuditLog, CampaignUnit, Counter, EntryPoint, Response, Unit
from survey.models.base import utcnow
from survey.services.entry_points import CODE_ALPHABET, normalise_code, resolve_typed_code
from survey.services.minting import (
    MintingError,
    create_single_use_batch,
    create_static,
    current_campaign,
    dossier_hash,
    mint_for_dossier,
    revoke,
    rotate,
    set_window,
)
from survey.services.scans import activity, counter_activity, scan_counts

from ..factories import form_token, make_campaign, receipt
from ..web.browser_support import live_server

GOOD = {"c1_1": "5", "c1_2": "4", "c2_1": "3", "gave_feedback": "0", "overall": "4"}


@pytest.fixture
def setup(app):
    """A unit in an open campaign with one counter and a static code; returns ids."""
    with app.app_context():
        entry = make_campaign()
        db.session.add(CampaignUnit(campaign_id=entry.campaign_id, unit_id=entry.unit_id))
        db.session.commit()
        return {"unit": entry.unit_id, "counter": entry.counter_id, "campaign": entry.campaign_id,
                "code": entry.code, "entry": entry.id}


def _unit(ids):
    return db.session.get(Unit, ids["unit"])


def test_static_and_batch_codes_are_short_random_and_distinct(app, setup):
    """8 characters from the unambiguous alphabet; a batch of 300 has no duplicates."""
    with app.app_context():
        unit, counter = _unit(setup), db.session.get(Counter, setup["counter"])
        campaign = current_campaign(unit)
        static = create_static(campaign=campaign, unit=unit, counter=counter, label="Áp phích")
        batch = create_single_use_batch(campaign=campaign, unit=unit, counter=counter, count=300)
        db.session.commit()
        codes = [static.code] + [e.code for e in batch]
    assert len(set(codes)) == 301
    assert all(len(c) == 8 and set(c) <= set(CODE_ALPHABET) for c in codes)


def test_minting_refuses_bad_requests(app, setup):
    """Counter of another unit, a window that ends before it starts, a batch out of range."""
    with app.app_context():
        unit, campaign = _unit(setup), current_campaign(_unit(setup))
        other = Unit(code="T2", name="Xã Khác", level="commune")
        db.session.add(other)
        db.session.flush()
        foreign = Counter(unit_id=other.id, code="Q9", name="Quầy 9")
        db.session.add(foreign)
        db.session.flush()
        now = utcnow()
        with pytest.raises(MintingError, match="không thuộc"):
            create_static(campaign=campaign, unit=unit, counter=foreign)
        with pytest.raises(MintingError, match="sau thời điểm"):
            create_static(campaign=campaign, unit=unit, active_from=now, active_until=now)
        for count in (0, 1001):
            with pytest.raises(MintingError):
                create_single_use_batch(campaign=campaign, unit=unit, count=count)
        with pytest.raises(MintingError):
            mint_for_dossier(key="k", unit=unit, dossier_code="  ", campaign=campaign)


def test_dossier_code_is_kept_only_as_a_keyed_hash(app, setup):
    """Same dossier → same entry; the hash depends on the server key and the unit."""
    with app.app_context():
        unit, campaign = _unit(setup), current_campaign(_unit(setup))
        first, created = mint_for_dossier(key="server-key", unit=unit, dossier_code="HS-001",
                                          campaign=campaign)
        again, created_again = mint_for_dossier(key="server-key", unit=unit, dossier_code="HS-001",
                                                campaign=campaign)
        assert created and not created_again and again.id == first.id
        assert first.dossier_hash == dossier_hash("server-key", unit.id, "HS-001")
        assert first.dossier_hash != dossier_hash("other-key", unit.id, "HS-001")
        assert first.dossier_hash != dossier_hash("server-key", unit.id + 1, "HS-001")
        assert "HS-001" not in first.dossier_hash and first.kind == "single_use"
        # expires after 30 days at the latest
        assert first.active_until.replace(tzinfo=None) <= (utcnow() + timedelta(days=30)).replace(tzinfo=None)


def test_revoke_rotate_and_window_change_what_the_form_answers(app, client, setup):
    """Revoked → 410; the rotated code opens the form; a window in the future → 410 not yet."""
    with app.app_context():
        entry = db.session.get(EntryPoint, setup["entry"])
        fresh = rotate(entry)
        db.session.commit()
        new_code = fresh.code
        assert (fresh.counter_id, fresh.kind, fresh.campaign_id) == (entry.counter_id, "static",
                                                                      entry.campaign_id)
    assert client.get(f"/s/{setup['code']}").status_code == 410
    assert "thu hồi" in client.get(f"/s/{setup['code']}").text
    assert client.get(f"/s/{new_code}").status_code == 200
    with app.app_context():
        fresh = db.session.scalar(select(EntryPoint).filter_by(code=new_code))
        set_window(fresh, utcnow() + timedelta(days=1), None)
        db.session.commit()
    assert client.get(f"/s/{new_code}").status_code == 410
    with app.app_context():
        fresh = db.session.scalar(select(EntryPoint).filter_by(code=new_code))
        set_window(fresh, None, None)
        revoke(fresh)
        db.session.commit()
    assert client.get(f"/s/{new_code}").status_code == 410


def test_rotating_a_dossier_code_keeps_the_dossier_link(app, setup):
    """After rotation the same dossier finds the new code, not the revoked one."""
    with app.app_context():
        unit, campaign = _unit(setup), current_campaign(_unit(setup))
        old, _ = mint_for_dossier(key="k", unit=unit, dossier_code="HS-9", campaign=campaign)
        fresh = rotate(old)
        found, created = mint_for_dossier(key="k", unit=unit, dossier_code="HS-9", campaign=campaign)
        assert not created and found.id == fresh.id and old.revoked_at is not None


@pytest.mark.parametrize("typed", ["abcd efgh", "ABCD-EFGH", " abcd.efgh ", "ＡＢＣＤＥＦＧＨ", "ẢBCĐEFGH",
                                   "A8CDEFGH", "ABCDEF6H", "abc0efgh"])
def test_typed_code_tolerates_case_spaces_marks_and_confusable_characters(app, client, setup, typed):
    """/c?code=… redirects to the form whichever way the printed code was typed."""
    with app.app_context():
        db.session.get(EntryPoint, setup["entry"]).code = "ABCDEFGH"
        db.session.commit()
    resp = client.get("/c?" + urlencode({"code": typed}))
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/s/ABCDEFGH")


def test_typed_unknown_or_ambiguous_code_gets_a_vietnamese_message(app, client, setup):
    """Unknown → 404 with the box again and a message; two possible readings → not guessed."""
    page = client.get("/c")
    assert page.status_code == 200 and "Nhập mã khảo sát" in page.text
    wrong = client.get("/c?code=ZZZZ-ZZZZ")
    assert wrong.status_code == 404 and "Không tìm thấy mã này" in wrong.text
    assert 'value="ZZZZ-ZZZZ"' in wrong.text
    with app.app_context():
        db.session.get(EntryPoint, setup["entry"]).code = "SSSS2222"
        unit, campaign = _unit(setup), current_campaign(_unit(setup))
        twin = create_static(campaign=campaign, unit=unit)
        twin.code = "5SSS2222"
        db.session.commit()
        assert resolve_typed_code("ssss2222") == "SSSS2222"  # exact wins
        assert resolve_typed_code("5sss2222") == "5SSS2222"
        assert resolve_typed_code("S5SS2222") is None  # could be either code
    assert normalise_code("đ-ả 1") == "DA1"


def test_scans_and_responses_are_counted_per_code(app, client, setup):
    """Three opened forms, one sent: 3 scans and 1 response; HEAD and closed codes do not count."""
    code = setup["code"]
    pages = [client.get(f"/s/{code}") for _ in range(3)]
    client.head(f"/s/{code}")
    client.get("/s/ZZZZZZZZ")
    sent = client.post(f"/s/{code}", data={**GOOD, "token": form_token(pages[0].text)})
    assert receipt(sent.text)
    with app.app_context():
        assert scan_counts([setup["entry"]]) == {setup["entry"]: 3}
        got = activity([setup["entry"]])[setup["entry"]]
        assert (got.scans, got.responses, got.response_rate) == (3, 1, pytest.approx(1 / 3))
        per_counter = counter_activity([setup["counter"]])[setup["counter"]]
        assert (per_counter.scans, per_counter.responses) == (3, 1)
        assert activity(select(EntryPoint.id))[setup["entry"]].scans == 3
        rows = db.session.scalar(select(func.count()).select_from(EntryPoint))
        assert rows == 1


def test_each_single_use_code_is_accepted_once_under_20_concurrent_submissions(app, setup):
    """20 phones send the same slip's code at the same instant to a live server: one receipt."""
    with app.app_context():
        unit, counter = _unit(setup), db.session.get(Counter, setup["counter"])
        codes = [e.code for e in create_single_use_batch(
            campaign=current_campaign(unit), unit=unit, counter=counter, count=2)]
        db.session.commit()
    with live_server(app) as base:
        for code in codes:
            tokens = [form_token(urlopen(f"{base}/s/{code}", timeout=30).read().decode())
                      for _ in range(20)]
            statuses: list[int] = []
            barrier = threading.Barrier(20)

            def send(token, code=code, barrier=barrier, statuses=statuses):
                data = urlencode({**GOOD, "token": token}).encode()
                barrier.wait()
                try:
                    with urlopen(Request(f"{base}/s/{code}", data=data), timeout=60) as resp:
                        statuses.append(resp.status)
                except HTTPError as exc:
                    statuses.append(exc.code)

            threads = [threading.Thread(target=send, args=(t,)) for t in tokens]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=90)
            assert sorted(statuses) == [200] + [410] * 19, statuses
    with app.app_context():
        for code in codes:
            entry_id = db.session.scalar(select(EntryPoint.id).filter_by(code=code))
            assert db.session.scalar(select(func.count(Response.id)).filter_by(
                entry_point_id=entry_id)) == 1


def test_cli_prints_posters_and_slips_and_manages_keys(app, runner, setup, tmp_path):
    """sipas qr print / api-keys create|list|revoke, each recorded in the audit log."""
    ref = "T1/Q1"
    poster = runner.invoke(args=["qr", "print", "--counter", ref, "--kind", "poster",
                                 "--output", str(tmp_path / "p.pdf")])
    assert poster.exit_code == 0, poster.output
    assert (tmp_path / "p.pdf").read_bytes().startswith(b"%PDF")
    slips = runner.invoke(args=["qr", "print", "--counter", ref, "--kind", "receipt", "--count", "3",
                                "--output", str(tmp_path / "r.pdf")])
    assert slips.exit_code == 0 and "3 single-use codes" in slips.output
    bad = runner.invoke(args=["qr", "print", "--counter", "T1/NOPE", "--kind", "poster",
                              "--output", str(tmp_path / "x.pdf")])
    assert bad.exit_code != 0 and not (tmp_path / "x.pdf").exists()
    created = runner.invoke(args=["api-keys", "create", "--unit", "T1", "--name", "iGate"])
    assert created.exit_code == 0
    raw = created.stdout.strip().splitlines()[0]
    prefix = raw.split("_")[1]
    assert prefix in runner.invoke(args=["api-keys", "list"]).output
    assert runner.invoke(args=["api-keys", "revoke", prefix]).exit_code == 0
    assert "revoked" in runner.invoke(args=["api-keys", "list"]).output
    with app.app_context():
        actions = db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions[-5:] == ["qr.print", "qr.batch", "qr.print", "api_key.create", "api_key.revoke"]


def test_concurrent_scans_of_one_poster_are_all_counted(app, setup):
    """40 phones open the same poster's form at once (live server): 40 scans, none lost."""
    with live_server(app) as base:
        barrier, statuses = threading.Barrier(40), []

        def scan():
            barrier.wait()
            with urlopen(f"{base}/s/{setup['code']}", timeout=60) as resp:
                statuses.append(resp.status)

        threads = [threading.Thread(target=scan) for _ in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=90)
    assert statuses == [200] * 40
    with app.app_context():
        assert scan_counts([setup["entry"]]) == {setup["entry"]: 40}


def test_typed_code_lookups_are_rate_limited_per_address(app, setup):
    """Each /c lookup tries many readings, so lookups are limited; the empty form is not."""
    from survey import create_app
    limited = create_app({"TESTING": True, "SECRET_KEY": "x", "PUBLIC_BASE_URL": "http://127.0.0.1",
                          "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                          "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://",
                          "RATELIMIT_TYPED_CODE": "3/minute"})
    try:
        client = limited.test_client()
        codes = [client.get(f"/c?code=ZZZZ{i}ZZZ").status_code for i in range(2, 6)]
        assert codes == [404, 404, 404, 429]
        assert client.get("/c").status_code == 200
    finally:
        with limited.app_context():
            db.engine.dispose()


STATES = {  # entry point (and campaign) columns → what check_open says at NOW
    "open": ({}, {}),
    "revoked": ({"revoked_at": -1}, {}),
    "used single-use": ({"kind": "single_use", "used_at": -1}, {}),
    "unused single-use": ({"kind": "single_use"}, {}),
    "not active yet": ({"active_from": +1}, {}),
    "active from now": ({"active_from": 0}, {}),
    "expired": ({"active_until": -1}, {}),
    "active until now": ({"active_until": 0}, {}),
    "campaign not started": ({}, {"starts_on": +1}),
    "campaign starts today": ({}, {"starts_on": 0}),
    "campaign ended": ({}, {"ends_on": -1}),
    "campaign ends today": ({}, {"ends_on": 0}),
}


@pytest.mark.parametrize("state", list(STATES))
def test_the_get_s_scan_in_sql_follows_check_open_in_every_state(app, state):
    """On PostgreSQL the form's GET reads the code and counts the scan in one statement, with
    check_open's rules written in SQL: a scan is counted exactly when check_open lets it through."""
    from survey.services.entry_points import LOCAL, EntryPointUnavailable, check_open, load_entry_point
    if app.config["BACKEND"] != "postgres":
        pytest.skip("SQLite reads the code and counts the scan in two statements")
    now = utcnow()
    today = now.astimezone(LOCAL).date()
    entry_changes, campaign_changes = STATES[state]
    with app.app_context():
        entry = make_campaign(kind=entry_changes.get("kind", "static"))
        stored = db.session.get(EntryPoint, entry.id)
        for name, hours in entry_changes.items():
            if name != "kind":
                setattr(stored, name, now + timedelta(hours=hours))
        for name, days in campaign_changes.items():
            setattr(stored.campaign, name, today + timedelta(days=days))
        db.session.commit()
        row = load_entry_point("TESTCODE", scan_at=now)
        try:
            check_open(row, now)
            is_open = True
        except EntryPointUnavailable:
            is_open = False
        assert row.scanned is is_open, state
        assert scan_counts([entry.id]).get(entry.id, 0) == (1 if is_open else 0)
        assert is_open is (state in ("open", "unused single-use", "active from now", "active until now",
                                     "campaign starts today", "campaign ends today"))
