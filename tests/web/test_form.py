"""The citizen's form: happy path, invalid answers, double submit, unknown code, conditions."""

from __future__ import annotations

from sqlalchemy import func, select

from survey.extensions import db
from survey.models import Answer, Response

from ..factories import form_token, make_campaign, receipt

GOOD = {"c1_1": "5", "c1_2": "4", "c2_1": "3", "gave_feedback": "0", "overall": "4",
        "improve": ["e2", "e3"], "comment": "Cán bộ nhiệt tình"}


def _count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Response.id)))


def _open(app, client, **kw):
    with app.app_context():
        entry = make_campaign(**kw)
        code = entry.code
    page = client.get(f"/s/{code}")
    return code, page


def test_form_renders_22_criteria_in_vietnamese(app, client):
    code, page = _open(app, client)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<html lang="vi">' in html
    assert "Công chức có thái độ giao tiếp lịch sự" in html
    assert html.count('type="radio" name="c') >= 22 * 5
    for code_ in [f"c{e}_{i}" for e, n in ((1, 4), (2, 5), (3, 6), (4, 3), (5, 4))
                  for i in range(1, n + 1)]:
        assert f'id="item-{code_}"' in html, code_
    assert "<fieldset" in html and "<legend>" in html
    assert page.headers["Content-Security-Policy"].count("frame-ancestors 'none'") == 1


def test_happy_path_stores_one_response_with_answers(app, client):
    code, page = _open(app, client)
    resp = client.post(f"/s/{code}", data={**GOOD, "token": form_token(page.get_data(as_text=True))})
    assert resp.status_code == 200
    assert receipt(resp.get_data(as_text=True))
    with app.app_context():
        stored = db.session.scalar(select(Response))
        answers = {a.item_code: a for a in stored.answers}
        assert answers["c1_1"].rating == 5 and answers["c1_1"].scale_points == 5
        assert answers["improve"].choices == ["e2", "e3"]
        assert answers["comment"].text == "Cán bộ nhiệt tình"
        assert answers["gave_feedback"].number == 0
        assert "c3_1" not in answers  # skipped, not stored as a value
        assert stored.questionnaire_id == "sipas-counter" and len(stored.content_hash) == 64


def test_double_submit_stores_once_and_returns_same_receipt(app, client):
    code, page = _open(app, client)
    data = {**GOOD, "token": form_token(page.get_data(as_text=True))}
    first = client.post(f"/s/{code}", data=data)
    second = client.post(f"/s/{code}", data=data)
    assert receipt(first.get_data(as_text=True)) == receipt(second.get_data(as_text=True))
    assert _count(app) == 1


def test_invalid_answers_come_back_filled_in_and_store_nothing(app, client):
    code, page = _open(app, client)
    token = form_token(page.get_data(as_text=True))
    resp = client.post(f"/s/{code}", data={**GOOD, "c1_1": "7", "overall": "x", "token": token})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert _count(app) == 0
    assert 'id="err-c1_1"' in html and 'id="err-overall"' in html
    assert 'name="c1_2" value="4" checked' in html      # valid answers kept
    assert "Cán bộ nhiệt tình" in html
    # Corrected and sent again with the same token: stored once.
    fixed = client.post(f"/s/{code}", data={**GOOD, "token": token})
    assert fixed.status_code == 200 and _count(app) == 1


def test_tampered_token_keeps_answers_and_stores_nothing(app, client):
    code, _ = _open(app, client)
    resp = client.post(f"/s/{code}", data={**GOOD, "token": "forged"})
    assert resp.status_code == 400
    assert "Cán bộ nhiệt tình" in resp.get_data(as_text=True)
    assert _count(app) == 0


def test_old_form_is_still_accepted_hours_later(app, client, monkeypatch):
    import time
    code, page = _open(app, client)
    token = form_token(page.get_data(as_text=True))
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 5 * 3600)  # five hours in the queue
    resp = client.post(f"/s/{code}", data={**GOOD, "token": token})
    assert resp.status_code == 200 and _count(app) == 1


def test_unknown_code_is_404_in_vietnamese(app, client):
    resp = client.get("/s/ZZZZ9999")
    assert resp.status_code == 404
    assert "Không tìm thấy mã khảo sát" in resp.get_data(as_text=True)
    assert client.post("/s/ZZZZ9999", data=GOOD).status_code == 404
    assert _count(app) == 0


def test_single_use_code_is_410_after_use_but_retry_keeps_receipt(app, client):
    code, page = _open(app, client, kind="single_use", code="ONCE2345")
    data = {**GOOD, "token": form_token(page.get_data(as_text=True))}
    first = client.post(f"/s/{code}", data=data)
    assert first.status_code == 200
    retry = client.post(f"/s/{code}", data=data)
    assert receipt(retry.get_data(as_text=True)) == receipt(first.get_data(as_text=True))
    again = client.get(f"/s/{code}")
    assert again.status_code == 410 and "đã được sử dụng" in again.get_data(as_text=True)
    assert _count(app) == 1


def test_closed_campaign_is_410(app, client):
    from datetime import date
    code, page = _open(app, client, starts_on=date(2020, 1, 1), ends_on=date(2020, 12, 31))
    assert page.status_code == 410
    assert "đã kết thúc" in page.get_data(as_text=True)


def test_conditional_block_is_dropped_when_condition_false(app, client):
    code, page = _open(app, client)
    token = form_token(page.get_data(as_text=True))
    client.post(f"/s/{code}", data={**GOOD, "gave_feedback": "0", "c5_1": "1", "token": token})
    with app.app_context():
        codes = {a.item_code for a in db.session.scalars(select(Answer))}
    assert "c5_1" not in codes


def test_conditional_block_is_kept_when_condition_true(app, client):
    code, page = _open(app, client)
    html = page.get_data(as_text=True)
    css = client.get(next(part.split('"')[1] for part in html.split("href=")
                          if "when.css" in part.split(">")[0]))
    assert 'input[name="gave_feedback"][value="1"]:checked' in css.get_data(as_text=True)
    client.post(f"/s/{code}", data={**GOOD, "gave_feedback": "1", "c5_1": "2",
                                    "token": form_token(html)})
    with app.app_context():
        row = db.session.scalar(select(Answer).filter_by(item_code="c5_1"))
    assert row is not None and row.rating == 2


def test_not_applicable_is_stored_distinct_from_skipped(app, client):
    code, page = _open(app, client)
    client.post(f"/s/{code}", data={**GOOD, "c1_2": "na",
                                    "token": form_token(page.get_data(as_text=True))})
    with app.app_context():
        row = db.session.scalar(select(Answer).filter_by(item_code="c1_2"))
    assert row.not_applicable and row.rating is None


def test_english_switch(app, client):
    code, _ = _open(app, client)
    resp = client.get(f"/s/{code}?lang=en")
    html = resp.get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Very satisfied" in html and "Tiếng Việt" in html
    # The choice sticks for the next page in a cookie.
    assert '<html lang="en">' in client.get(f"/s/{code}").get_data(as_text=True)


def test_cross_origin_post_is_refused(app, client):
    code, page = _open(app, client)
    resp = client.post(f"/s/{code}", data={**GOOD, "token": form_token(page.get_data(as_text=True))},
                       headers={"Origin": "https://evil.example"})
    assert resp.status_code == 403 and _count(app) == 0


def test_text_is_stored_in_nfc(app, client):
    import unicodedata
    code, page = _open(app, client)
    decomposed = unicodedata.normalize("NFD", "Hài lòng về thái độ")
    client.post(f"/s/{code}", data={**GOOD, "comment": decomposed,
                                    "token": form_token(page.get_data(as_text=True))})
    with app.app_context():
        row = db.session.scalar(select(Answer).filter_by(item_code="comment"))
    assert row.text == unicodedata.normalize("NFC", decomposed) != decomposed


def test_field_from_qr_is_prefilled_and_the_answer_decides(app, client):
    from survey.models import EntryPoint, ProcedureField
    with app.app_context():
        entry = make_campaign()
        land = ProcedureField(code="dat_dai", name="Đất đai")
        civil = ProcedureField(code="ho_tich", name="Hộ tịch")
        db.session.add_all([land, civil])
        db.session.flush()
        db.session.get(EntryPoint, entry.id).field_id = land.id
        db.session.commit()
        civil_id = civil.id
    page = client.get("/s/TESTCODE").get_data(as_text=True)
    assert 'name="field" value="dat_dai" checked' in page
    client.post("/s/TESTCODE", data={**GOOD, "field": "ho_tich", "token": form_token(page)})
    with app.app_context():
        assert db.session.scalar(select(Response.field_id)) == civil_id


def test_every_question_type_renders_and_stores_from_the_stored_definition(app, client):
    """A questionnaire that is not shipped renders from its stored copy in the database."""
    from pathlib import Path
    path = Path(__file__).parents[1] / "services" / "fixtures" / "all-types.v1.yaml"
    code, page = _open(app, client, questionnaire=str(path), code="ALLTYPES")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'type="number" inputmode="numeric" name="visits" min="0" max="50"' in html
    assert 'type="checkbox" name="topics" value="b"' in html
    assert 'maxlength="20"' in html and "Rất đồng ý" in html
    form = {"sat": "4", "agree": "1", "channel": "other", "other_channel": "Zalo",
            "topics": ["a", "b"], "b_sat": "5", "visited": "1", "visits": "7", "why": "Chờ lâu",
            "token": form_token(html)}
    resp = client.post(f"/s/{code}", data=form)
    assert resp.status_code == 200 and receipt(resp.get_data(as_text=True))
    with app.app_context():
        stored = {a.item_code: a for a in db.session.scalar(select(Response)).answers}
    assert stored["visits"].number == 7 and stored["agree"].scale_points == 4
    assert stored["topics"].choices == ["a", "b"] and stored["b_sat"].rating == 5


def test_revoked_and_expired_codes_are_410_and_store_nothing(app, client):
    from datetime import UTC, datetime, timedelta

    from survey.models import EntryPoint
    code, page = _open(app, client)
    token = form_token(page.get_data(as_text=True))
    with app.app_context():
        db.session.scalar(select(EntryPoint)).revoked_at = datetime.now(UTC)
        db.session.commit()
    resp = client.post(f"/s/{code}", data={**GOOD, "token": token})
    assert resp.status_code == 410 and "thu hồi" in resp.get_data(as_text=True)
    with app.app_context():
        entry = db.session.scalar(select(EntryPoint))
        entry.revoked_at = None
        entry.active_until = datetime.now(UTC) - timedelta(minutes=1)
        db.session.commit()
    resp = client.get(f"/s/{code}")
    assert resp.status_code == 410 and "hết hạn" in resp.get_data(as_text=True)
    assert _count(app) == 0


def test_code_typed_in_lower_case_with_a_dash_opens_the_form(app, client):
    _open(app, client)
    assert client.get("/s/test-code").status_code == 200


def test_oversized_request_is_refused(app, client):
    code, page = _open(app, client)
    resp = client.post(f"/s/{code}", data={**GOOD, "comment": "x" * 300_000,
                                           "token": form_token(page.get_data(as_text=True))})
    assert resp.status_code == 413 and _count(app) == 0


def test_error_pages_speak_vietnamese_then_english(client):
    resp = client.get("/khong-co")
    assert resp.status_code == 404 and "Không tìm thấy trang" in resp.get_data(as_text=True)
    assert "Page not found" in client.get("/khong-co?lang=en").get_data(as_text=True)
