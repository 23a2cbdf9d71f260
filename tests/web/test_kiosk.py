"""Kiosk mode ``/k/<code>``: channel kiosk, exactly once on replay, minimum interval, blocked presses,
bad input, integrity flags, and the staff pages that make and show kiosk links (both databases)."""

from __future__ import annotations

import re
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import (
    AuditLog,
    CampaignUnit,
    Counter,
    EntryPoint,
    Kiosk,
    KioskBlockedPress,
    Response,
    Unit,
)
from survey.services.entry_points import LOCAL
from survey.services.kiosk import create_kiosk, one_tap_item, press_time
from survey.services.questionnaires import questionnaire_of
from tests.factories import form_token, make_campaign
from tests.web.workspace_support import login, make_unit, make_user, token_of


def make_kiosk(questionnaire: str = "counter-rating", code: str = "KIOSKTAP") -> dict:
    """A campaign open for unit T1 and a kiosk made by ``create_kiosk`` for its counter."""
    entry = make_campaign(questionnaire, code=code)
    db.session.add(CampaignUnit(campaign_id=entry.campaign_id, unit_id=entry.unit_id))
    counter = db.session.get(Counter, entry.counter_id)
    kiosk = create_kiosk(counter, entry.campaign, None)
    db.session.commit()
    kiosk_entry = db.session.get(EntryPoint, kiosk.entry_point_id)
    return {"code": kiosk_entry.code, "entry": kiosk_entry.id, "kiosk": kiosk.id, "poster": entry.code,
            "counter": counter.id, "unit": entry.unit_id, "campaign": entry.campaign_id}


@pytest.fixture
def tap(app):
    """A counter-rating kiosk (one tap)."""
    with app.app_context():
        return make_kiosk()


def page_token(client, code: str, *, age: int = 6 * 3600) -> str:
    """The kiosk token of the page, as a tablet that loaded it ``age`` seconds ago holds it (a press
    is never dated before its token was signed)."""
    html = client.get(f"/k/{code}").get_data(as_text=True)
    token = re.search(r'data-token="([^"]+)"', html).group(1)
    if not age:
        return token
    app = client.application
    with app.test_request_context():
        from survey.kiosk import tokens
        payload = tokens._serializer().loads(token)
        return tokens._serializer().dumps({**payload, "t": payload["t"] - age})


def rating(token: str, value: str = "3", *, pressed: int, answers: dict | None = None, **extra) -> dict:
    return {"uuid": str(uuid.uuid4()), "answers": answers or {"rating": [value]}, "pressed_at": pressed,
            "token": token, "lang": "vi", **extra}


def send(client, code: str, ratings: list, *, sent: int, blocked: list | None = None):
    return client.post(f"/k/{code}/ratings", json={"sent_at": sent, "ratings": ratings,
                                                   "blocked": blocked or []})


def stored(app, **where) -> list[Response]:
    with app.app_context():
        return list(db.session.scalars(select(Response).filter_by(**where).order_by(Response.submitted_at)))


def blocked_total(app, entry_id: int) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.coalesce(func.sum(KioskBlockedPress.blocked), 0))
                                     .filter_by(entry_point_id=entry_id)))


NOW_MS = int(time.time() * 1000)


def test_page_is_one_tap_vietnamese_first_no_store_and_no_inline_script(client, tap):
    resp = client.get(f"/k/{tap['code']}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    assert '<html lang="vi">' in html and "Rất hài lòng" in html and 'data-en="Very satisfied"' in html
    assert html.count('class="tap ') == 3 and "<textarea" not in html and "<input" not in html
    assert "<script>" not in html and re.search(r"<script(?![^>]*\bsrc=)", html) is None
    english = client.get(f"/k/{tap['code']}?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in english and ">Very satisfied<" in english
    # A cookie from the phone form never switches the kiosk: the next person starts in Vietnamese.
    client.set_cookie("lang", "en")
    assert '<html lang="vi">' in client.get(f"/k/{tap['code']}").get_data(as_text=True)


def test_only_kiosk_codes_open_as_kiosk(client, tap):
    assert client.get(f"/k/{tap['poster']}").status_code == 404  # a poster code is not a kiosk
    assert "Không tìm thấy kiosk" in client.get("/k/NOSUCH22").get_data(as_text=True)
    assert send(client, tap["poster"], [], sent=NOW_MS).status_code == 404


def test_a_rating_is_stored_with_channel_kiosk_at_its_press_time_without_device_flags(app, client, tap):
    token = page_token(client, tap["code"])
    one = rating(token, "2", pressed=NOW_MS - 90_000)
    resp = send(client, tap["code"], [one], sent=NOW_MS)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    assert resp.get_json()["results"] == [{"uuid": one["uuid"], "status": "stored"}]
    [row] = stored(app)
    assert row.channel == "kiosk" and row.submission_uuid == one["uuid"] and row.counter_id == tap["counter"]
    assert row.device_hash is None and row.ip_hash is None and row.flags == [] and row.answer_pattern is None
    at = row.submitted_at if row.submitted_at.tzinfo else row.submitted_at.replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - at) - timedelta(seconds=90)) < timedelta(seconds=5)
    with app.app_context():
        assert [a.rating for a in db.session.get(Response, row.id).answers] == [2]


def test_a_resent_queue_is_stored_exactly_once(app, client, tap):
    token = page_token(client, tap["code"])
    queue = [rating(token, v, pressed=NOW_MS - 60_000 + i * 20_000) for i, v in enumerate("321")]
    first = send(client, tap["code"], queue, sent=NOW_MS).get_json()["results"]
    assert [r["status"] for r in first] == ["stored"] * 3
    again = send(client, tap["code"], queue, sent=NOW_MS + 5_000).get_json()["results"]
    assert [r["status"] for r in again] == ["duplicate"] * 3
    assert sorted(r.submission_uuid for r in stored(app, channel="kiosk")) == sorted(q["uuid"] for q in queue)
    assert blocked_total(app, tap["entry"]) == 0  # a resend is not mashing


@pytest.fixture
def synced(monkeypatch):
    """The server's clock reads the tablet's ``sent_at``: presses land exactly where the test says."""
    from flask import request

    from survey.kiosk import views
    monkeypatch.setattr(views, "_now",
                        lambda: datetime.fromtimestamp(request.get_json()["sent_at"] / 1000, UTC))


def test_minimum_interval_refuses_and_counts_mashing(app, client, tap, synced):
    app.config["KIOSK_MIN_INTERVAL"] = 10
    token = page_token(client, tap["code"])
    mash = [rating(token, "3", pressed=NOW_MS - 8_000 + i * 500) for i in range(5)]  # 5 presses in 2 s
    later = rating(token, "3", pressed=NOW_MS)  # 8 s after the first: still too soon
    results = send(client, tap["code"], [*mash, later], sent=NOW_MS).get_json()["results"]
    assert [r["status"] for r in results] == ["stored"] + ["too_soon"] * 5
    assert len(stored(app)) == 1 and blocked_total(app, tap["entry"]) == 5
    # An earlier press arriving late is checked both ways round.
    early = rating(token, "1", pressed=NOW_MS - 12_000)
    assert send(client, tap["code"], [early], sent=NOW_MS).get_json()["results"][0]["status"] == "too_soon"
    ok = rating(token, "1", pressed=NOW_MS + 5_000)  # 13 s after the stored one
    assert send(client, tap["code"], [ok], sent=NOW_MS + 5_000).get_json()["results"][0]["status"] == "stored"
    assert len(stored(app)) == 2 and blocked_total(app, tap["entry"]) == 6


def test_presses_the_tablet_blocked_are_counted_per_local_day(app, client, tap):
    token = page_token(client, tap["code"])
    yesterday = NOW_MS - 86_400_000
    resp = send(client, tap["code"], [], sent=NOW_MS, blocked=[yesterday, NOW_MS - 2_000, NOW_MS - 1_000])
    assert resp.status_code == 200 and resp.get_json()["results"] == []
    send(client, tap["code"], [rating(token, pressed=NOW_MS)], sent=NOW_MS, blocked=[NOW_MS])
    today = datetime.now(UTC).astimezone(LOCAL).date()
    with app.app_context():
        days = dict(db.session.execute(select(KioskBlockedPress.day, KioskBlockedPress.blocked)
                                       .filter_by(entry_point_id=tap["entry"])).all())
    assert days == {today - timedelta(days=1): 1, today: 3}


@pytest.mark.parametrize("body, message", [
    ("not json", "không đúng định dạng"),
    ({"ratings": []}, "sent_at"),
    ({"sent_at": NOW_MS, "ratings": "x"}, "không đúng định dạng"),
    ({"sent_at": NOW_MS, "ratings": [{}] * 21}, "Quá nhiều phiếu"),
    ({"sent_at": NOW_MS, "ratings": [], "blocked": ["x"]}, "bị chặn"),
])
def test_an_unreadable_batch_gets_a_clear_message_and_stores_nothing(app, client, tap, body, message):
    if body == "not json":
        resp = client.post(f"/k/{tap['code']}/ratings", data="rating=3", content_type="text/plain")
    else:
        resp = client.post(f"/k/{tap['code']}/ratings", json=body)
    assert resp.status_code == 400 and message in resp.get_json()["message"]
    assert stored(app) == [] and blocked_total(app, tap["entry"]) == 0


def test_bad_ratings_are_invalid_one_by_one_and_store_nothing(app, client, tap):
    token = page_token(client, tap["code"])
    bad = [
        rating(token, "4", pressed=NOW_MS),                                   # not a level
        rating(token, pressed=NOW_MS, answers={"reason": ["tên tôi là A"]}),  # no rating
        {**rating(token, pressed=NOW_MS), "uuid": "not-a-uuid"},
        {**rating(token, pressed=NOW_MS), "token": "forged"},
        {**rating(token, pressed=NOW_MS), "token": None},
        rating(token, pressed=NOW_MS, answers={"rating": [{"x": 1}]}),
    ]
    results = send(client, tap["code"], bad, sent=NOW_MS).get_json()["results"]
    assert [r["status"] for r in results] == ["invalid"] * 6
    assert "rating" in results[0]["errors"] and "rating" in results[1]["errors"]
    assert "UUID" in results[2]["errors"][""] and "không hợp lệ" in results[3]["errors"][""]
    assert stored(app) == []


def test_a_token_for_another_kiosk_or_an_expired_one_is_refused(app, client, tap):
    with app.app_context():
        other = make_kiosk(code="KIOSKTWO")
    foreign = page_token(client, other["code"])
    resp = send(client, tap["code"], [rating(foreign, pressed=NOW_MS)], sent=NOW_MS).get_json()
    assert resp["results"][0]["status"] == "invalid"
    app.config["KIOSK_TOKEN_MAX_AGE"] = 1
    token = page_token(client, tap["code"])
    time.sleep(2.1)
    resp = send(client, tap["code"], [rating(token, pressed=NOW_MS)], sent=NOW_MS).get_json()
    assert resp["results"][0] == {"uuid": resp["results"][0]["uuid"], "status": "invalid",
                                  "errors": {"": "Phiên kiosk đã hết hạn."}}
    assert stored(app) == []


def test_only_the_rating_is_taken_from_a_one_tap_kiosk(app, client, tap):
    token = page_token(client, tap["code"])
    one = rating(token, pressed=NOW_MS, answers={"rating": ["1"], "reason": ["Nguyễn Văn A, 0912…"]})
    assert send(client, tap["code"], [one], sent=NOW_MS).get_json()["results"][0]["status"] == "stored"
    with app.app_context():
        [row] = db.session.scalars(select(Response)).all()
        assert [(a.item_code, a.rating, a.text) for a in row.answers] == [("rating", 1, None)]


def test_cross_site_posts_are_refused(app, client, tap):
    token = page_token(client, tap["code"])
    resp = client.post(f"/k/{tap['code']}/ratings", json={"sent_at": NOW_MS, "ratings": [
        rating(token, pressed=NOW_MS)]}, headers={"Origin": "https://evil.example"})
    assert resp.status_code == 403 and stored(app) == []


def test_a_revoked_kiosk_stops(app, client, tap):
    token = page_token(client, tap["code"])
    with app.app_context():
        from survey.services.kiosk import revoke_kiosk
        revoke_kiosk(db.session.get(Kiosk, tap["kiosk"]), None)
        db.session.commit()
    page = client.get(f"/k/{tap['code']}")
    assert page.status_code == 410 and "ngừng nhận đánh giá" in page.get_data(as_text=True)
    result = send(client, tap["code"], [rating(token, pressed=NOW_MS)], sent=NOW_MS).get_json()["results"]
    assert result[0]["status"] == "closed" and stored(app) == []


def test_a_queue_after_hours_offline_is_not_a_burst_but_mashing_is_flagged(app, client, tap):
    """Each rating's time is its press: 25 ratings spread over 5 hours arrive at once, unflagged;
    25 ratings 11 s apart (past the interval, but more than 20 in 10 minutes) are burst_entry."""
    app.config["KIOSK_MIN_INTERVAL"] = 10
    token = page_token(client, tap["code"])
    sent = NOW_MS
    spread = [rating(token, "3", pressed=sent - 5 * 3600_000 + i * 720_000) for i in range(25)]
    for start in range(0, 25, 20):
        send(client, tap["code"], spread[start:start + 20], sent=sent)
    assert all(r.flags == [] for r in stored(app)) and len(stored(app)) == 25
    with app.app_context():
        make_kiosk(code="KIOSKB")
        busy = db.session.scalar(select(EntryPoint).join(Kiosk, Kiosk.entry_point_id == EntryPoint.id)
                                 .where(EntryPoint.code != tap["code"], EntryPoint.label == "Kiosk"))
        busy_code, busy_id = busy.code, busy.id
    token = page_token(client, busy_code)
    fast = [rating(token, "3", pressed=sent - 25 * 11_000 + i * 11_000) for i in range(25)]
    for start in range(0, 25, 20):
        send(client, busy_code, fast[start:start + 20], sent=sent)
    rows = stored(app, entry_point_id=busy_id)
    assert len(rows) == 25 and all(r.flags == ["burst_entry"] for r in rows)


def test_kiosk_ratings_do_not_make_phone_ratings_a_repeated_pattern(app, client, tap, synced):
    """Five "Hài lòng" at the kiosk, then the same answer by phone through the counter's poster."""
    token = page_token(client, tap["code"])
    kiosk = [rating(token, "2", pressed=NOW_MS - 600_000 + i * 60_000) for i in range(5)]
    assert {r["status"] for r in send(client, tap["code"], kiosk, sent=NOW_MS).get_json()["results"]} == {
        "stored"}
    assert all(r.flags == [] for r in stored(app, channel="kiosk"))
    page = client.get(f"/s/{tap['poster']}").get_data(as_text=True)
    client.post(f"/s/{tap['poster']}", data={"rating": "2", "token": form_token(page)})
    [phone] = stored(app, channel="qr")
    assert "repeated_pattern" not in phone.flags


def test_full_questionnaire_kiosk_keeps_its_checks(app, client):
    """A kiosk in a sipas-counter campaign shows the whole form; answers are checked as online."""
    with app.app_context():
        k = make_kiosk("sipas-counter", code="KIOSKFUL")
        q = questionnaire_of(db.session.get(EntryPoint, k["entry"]).campaign.questionnaire_version)
        assert one_tap_item(q) is None
    html = client.get(f"/k/{k['code']}").get_data(as_text=True)
    assert 'data-mode="form"' in html and 'id="kiosk-form"' in html and 'name="c1_1"' in html
    token = re.search(r'data-token="([^"]+)"', html).group(1)
    wrong = rating(token, pressed=NOW_MS, answers={"c1_1": ["9"], "overall": ["4"]}, form_seconds=40)
    result = send(client, k["code"], [wrong], sent=NOW_MS).get_json()["results"][0]
    assert result["status"] == "invalid" and list(result["errors"]) == ["c1_1"] and stored(app) == []
    full = rating(token, pressed=NOW_MS, answers={"c1_1": ["5"], "gave_feedback": ["0"], "overall": ["4"]},
                  form_seconds=3)
    assert send(client, k["code"], [full], sent=NOW_MS).get_json()["results"][0]["status"] == "stored"
    [row] = stored(app)
    assert row.channel == "kiosk" and row.form_seconds == 3 and "too_fast" in row.flags


def test_press_time_uses_the_tablets_own_clock_difference():
    now = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)
    # A tablet whose clock is a year behind: only sent − pressed matters.
    assert press_time(1_000_000, 1_060_000, now, max_age=3600) == now - timedelta(seconds=60)
    assert press_time(5_000, 1_000, now, max_age=3600) == now                     # pressed "after" sent
    assert press_time(0, 10**12, now, max_age=3600) == now - timedelta(hours=1)   # at most max_age
    issued = int((now - timedelta(minutes=5)).timestamp())
    assert press_time(0, 3_600_000, now, max_age=86400, issued_at=issued) == now - timedelta(minutes=5)


def test_concurrent_resends_of_one_uuid_store_one_response(app, tap):
    """Two tablets' tabs (or a retry racing the original) send the same rating at the same time."""
    client = app.test_client()
    token = page_token(client, tap["code"])
    one = rating(token, pressed=NOW_MS)
    statuses, barrier = [], threading.Barrier(4)

    def go():
        c = app.test_client()
        barrier.wait()
        statuses.append(send(c, tap["code"], [one], sent=NOW_MS).get_json()["results"][0]["status"])

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(statuses) == ["duplicate"] * 3 + ["stored"]
    assert len(stored(app)) == 1 and blocked_total(app, tap["entry"]) == 0


def test_concurrent_blocked_presses_are_all_counted(app, tap):
    """Blocked presses are an upsert (``ON CONFLICT DO UPDATE blocked = blocked + n``): reports
    arriving together on the same day's row lose nothing."""
    barrier = threading.Barrier(4)

    def go():
        c = app.test_client()
        barrier.wait()
        assert send(c, tap["code"], [], sent=NOW_MS, blocked=[NOW_MS - 1_000] * 5).status_code == 200

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert blocked_total(app, tap["entry"]) == 20


# --- staff ------------------------------------------------------------------------------------

@pytest.fixture
def staff(app):
    """Unit T1 with a counter-rating campaign open today, a counter and a counter-staff user;
    another unit with its own counter."""
    with app.app_context():
        entry = make_campaign("counter-rating", code="POSTER22")
        db.session.add(CampaignUnit(campaign_id=entry.campaign_id, unit_id=entry.unit_id))
        unit = db.session.get(Unit, entry.unit_id)
        make_user("canbo", "counter_staff", unit)
        other = make_unit("T2", "Xã Bên Cạnh")
        foreign = Counter(unit_id=other.id, code="QX", name="Quầy khác")
        db.session.add(foreign)
        db.session.commit()
        return {"counter": entry.counter_id, "other_counter": foreign.id, "campaign": entry.campaign_id}


def test_staff_make_a_kiosk_link_see_its_counts_and_revoke_it(app, client, staff):
    login(client, "canbo")
    counter_page = client.get(f"/staff/counters/{staff['counter']}").get_data(as_text=True)
    assert "Tạo liên kết kiosk" in counter_page
    made = client.post(f"/staff/counters/{staff['counter']}/kiosks",
                       data={"csrf_token": token_of(counter_page), "campaign_id": staff["campaign"]})
    assert made.status_code == 303
    page = client.get(made.location).get_data(as_text=True)
    code = re.search(r"http://127\.0\.0\.1/k/([A-Z0-9]{8})", page).group(1)
    assert 'src="data:image/svg+xml' in page and "Lần bấm bị chặn" in page
    with app.app_context():
        kiosk = db.session.scalar(select(Kiosk))
        assert kiosk.counter_id == staff["counter"]
        assert db.session.scalar(select(AuditLog.action).filter_by(action="kiosk.create")) == "kiosk.create"
    # The kiosk code is not a poster code.
    counter_page = client.get(f"/staff/counters/{staff['counter']}").get_data(as_text=True)
    assert f"/s/{code}" not in counter_page and f"/k/{code}" in counter_page
    # A rating and two blocked presses show on the staff pages (counts only).
    token = page_token(client, code)
    send(client, code, [rating(token, "1", pressed=NOW_MS)], sent=NOW_MS, blocked=[NOW_MS, NOW_MS])
    detail = client.get(made.location).get_data(as_text=True)
    today = datetime.now(UTC).astimezone(LOCAL).date().strftime("%d/%m/%Y")
    assert re.search(rf"{today}</th><td class=\"num\">1</td><td class=\"num\">2</td>", detail)
    counter_page = client.get(f"/staff/counters/{staff['counter']}").get_data(as_text=True)
    assert re.search(r'<td class="num">1</td>\s*<td class="num">2</td>', counter_page)
    revoked = client.post(made.location + "/revoke", data={"csrf_token": token_of(detail)})
    assert revoked.status_code == 303 and client.get(f"/k/{code}").status_code == 410


def test_staff_cannot_make_kiosks_elsewhere_or_for_closed_campaigns(app, client, staff):
    login(client, "canbo")
    token = token_of(client.get(f"/staff/counters/{staff['counter']}").get_data(as_text=True))
    assert client.post(f"/staff/counters/{staff['other_counter']}/kiosks",
                       data={"csrf_token": token}).status_code == 404
    with app.app_context():
        closed = make_campaign("counter-rating", code="OLDCODE2", starts_on=date(2020, 1, 1),
                               ends_on=date(2020, 12, 31))
        db.session.add(CampaignUnit(campaign_id=closed.campaign_id, unit_id=closed.unit_id))
        db.session.commit()
        closed_id = closed.campaign_id
    resp = client.post(f"/staff/counters/{staff['counter']}/kiosks",
                       data={"csrf_token": token, "campaign_id": closed_id}, follow_redirects=True)
    assert "Chọn một đợt khảo sát đang mở" in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Kiosk)) == 0
