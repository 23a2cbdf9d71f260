"""Paper questionnaires: the printed PDF, entry once per serial, double entry, file imports."""

from __future__ import annotations

import io
import re
import unicodedata
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import AuditLog, EntryPoint, PaperEntry, PaperForm, Response
from survey.services.imports import ImportRejected
from survey.services.paper import (
    PaperError,
    create_batch,
    damm,
    find_form,
    new_serial,
    print_batch,
    serial_is_valid,
)
from survey.services.paper_entry import TypedErrors, enter_form, resolve_form
from survey.services.paper_import import import_paper
from survey.services.responses import answers_of
from survey.services.results import campaign_report
from tests.services.paper_support import TYPED, paper_world, printed_serials

pypdf = pytest.importorskip("pypdf")


def _pdf_text(pdf: bytes) -> str:
    """Extracted text, NFC, whitespace collapsed (wrapped lines joined)."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = unicodedata.normalize("NFC", " ".join(p.extract_text() for p in reader.pages))
    return re.sub(r"\s+", " ", text)


def _counts() -> tuple[int, int, int, int]:
    """Responses, paper entries, entered forms, audit entries."""
    return (db.session.scalar(select(func.count()).select_from(Response)),
            db.session.scalar(select(func.count()).select_from(PaperEntry)),
            db.session.scalar(select(func.count()).select_from(PaperForm)
                              .where(PaperForm.status == "entered")),
            db.session.scalar(select(func.count()).select_from(AuditLog)))


def test_serials_carry_a_damm_check_digit():
    serials = {new_serial() for _ in range(500)}
    assert len(serials) == 500 and all(serial_is_valid(s) and s[0] != "0" for s in serials)
    s = next(iter(serials))
    for i in range(9):  # every single wrong digit is caught
        for d in "0123456789":
            if d != s[i]:
                assert damm(s[:i] + d + s[i + 1:]) != 0
    for i in range(8):  # and every swap of two different neighbours
        if s[i] != s[i + 1]:
            assert not serial_is_valid(s[:i] + s[i + 1] + s[i] + s[i + 2:])


def test_printed_forms_read_in_vietnamese_with_codes_serials_and_a_working_qr(app):
    from tests.services.test_printing import decoded_urls, decoder  # noqa: F401 - fixture below
    with app.app_context():
        w = paper_world()
        batch, pdf = print_batch(campaign=w["campaign"], unit=w["ward"], counter=w["counter"], count=3,
                                 double_entry=False, actor=w["a"], base_url="http://127.0.0.1")
        db.session.commit()
        forms = db.session.scalars(select(PaperForm).filter_by(batch_id=batch.id)
                                   .order_by(PaperForm.serial)).all()
        assert len(forms) == 3 and len({f.serial for f in forms}) == 3
        text = _pdf_text(pdf)
        for expected in ("Phiếu khảo sát sự hài lòng của người dân, tổ chức đối với sự phục vụ của cơ quan "
                         "hành chính nhà nước", "Phường 1, Thành phố Sa Đéc", "Quầy Tư pháp – Hộ tịch",
                         "Câu 11. Công chức có thái độ giao tiếp lịch sự 1 2 3 4 5",
                         "Câu 3. Trang thiết bị phục vụ người dân, tổ chức tại Bộ phận Tiếp nhận và Trả "
                         "kết quả đầy đủ 1 2 3 4 5 0", "1 = Rất không hài lòng",
                         "0 = Không áp dụng / Không biết",
                         "1 Hộ tịch", "Câu 20. Ông/Bà có góp ý, phản ánh, kiến nghị không? 1 Có 0 Không",
                         "Chỉ trả lời nếu Câu 20 = 1 (Có)", "5 Trên 60", "Khảo sát SIPAS năm 2026"):
            assert expected in text, expected
        for form in forms:
            shown = f"{form.serial[:3]}-{form.serial[3:6]}-{form.serial[6:]}"
            assert f"Số phiếu: {shown}" in text and f"Số phiếu {shown} · Trang 1/2" in text
            assert f"Số phiếu {shown} · Trang 2/2" in text  # footers drawn back on every page
        audit = db.session.scalar(select(AuditLog).filter_by(action="paper.print"))
        assert sorted(audit.details["serials"]) == [f.serial for f in forms]
        codes = {f.entry_point.code for f in forms}
        assert all(db.session.get(EntryPoint, f.entry_point_id).kind == "single_use" for f in forms)
    import zxingcpp
    urls = decoded_urls(pdf, zxingcpp, scale=2.0)
    assert sorted(urls) == sorted(f"http://127.0.0.1/s/{c}" for c in codes)


def test_a_typed_form_is_a_paper_response_in_the_results_and_a_second_entry_is_refused(app):
    with app.app_context():
        w = paper_world()
        batch = create_batch(campaign=w["campaign"], unit=w["ward"], counter=w["counter"], count=2,
                             double_entry=False, actor=w["a"])
        db.session.commit()
        serial = db.session.scalars(select(PaperForm.serial).filter_by(batch_id=batch.id)).first()
        form = find_form(f"{serial[:3]} {serial[3:6]}-{serial[6:]}", w["users"]["a"])
        outcome = enter_form(form, TYPED, actor=w["a"])
        db.session.commit()
        response = outcome.response
        assert outcome.kind == "stored" and response.channel == "paper"
        assert response.unit_id == w["ward"].id and response.counter_id == w["counter"].id
        stored = answers_of(db.session.get(Response, response.id))
        assert stored["c1_3"] == "na" and stored["c1_1"] == 4 and stored["improve"] == ["e2", "e3"]
        assert stored["field"] == "ho_tich" and stored["sex"] == "female" and "c5_1" not in stored
        report = campaign_report(w["campaign"].id)
        overall = {e.indicator: e for e in report.estimates if not e.domain and e.kind == "criterion"}
        assert report.settings["n_included"] == 1 and overall["c1_1"].n_answered == 1
        assert overall["c1_1"].estimate == 100.0 and overall["c2_3"].estimate == 0.0

        before = _counts()
        form = find_form(serial, w["users"]["b"])
        with pytest.raises(PaperError, match="đã được nhập"):
            enter_form(form, {**TYPED, "overall": "1"}, actor=w["b"])
        db.session.rollback()
        assert _counts() == before
        assert db.session.get(EntryPoint, form.entry_point_id).used_at is not None


def test_entry_checks_codes_on_the_server_and_scope(app):
    with app.app_context():
        w = paper_world()
        batch = create_batch(campaign=w["campaign"], unit=w["ward"], counter=None, count=1,
                             double_entry=False, actor=w["a"])
        db.session.commit()
        serial = db.session.scalar(select(PaperForm.serial).filter_by(batch_id=batch.id))
        with pytest.raises(PaperError, match="Không tìm thấy"):
            find_form(serial, w["users"]["outsider"])  # another ward's clerk
        wrong = serial[:8] + str((int(serial[8]) + 1) % 10)
        with pytest.raises(PaperError, match="chữ số kiểm tra"):
            find_form(wrong, w["users"]["a"])
        form = find_form(serial, w["users"]["a"])
        before = _counts()
        with pytest.raises(TypedErrors) as refused:
            enter_form(form, {**TYPED, "c1_1": "7", "c2_1": "0", "improve": "9", "overall": "x"},
                       actor=w["a"])
        assert set(refused.value.errors) == {"c1_1", "c2_1", "improve", "overall"}
        assert "chọn một trong: 1, 2, 3, 4, 5" in str(refused.value.errors["c2_1"])
        db.session.rollback()
        assert _counts() == before


def test_double_entry_holds_the_first_typing_and_resolves_differences_field_by_field(app):
    with app.app_context():
        w = paper_world()
        s1, s2 = printed_serials(w, 2, counter=True, double_entry=True, actor="manager")
        # Two typings that agree: stored once, after the second.
        first = enter_form(find_form(s1), TYPED, actor=w["a"])
        db.session.commit()
        assert first.kind == "held" and _counts()[0] == 0
        with pytest.raises(PaperError, match="cán bộ khác"):
            enter_form(find_form(s1), TYPED, actor=w["a"])
        db.session.rollback()
        matched = enter_form(find_form(s1), TYPED, actor=w["b"])
        db.session.commit()
        assert matched.kind == "matched" and matched.response.channel == "paper" and _counts()[0] == 1

        # Two typings that differ in two questions: held as a conflict, nothing stored.
        enter_form(find_form(s2), TYPED, actor=w["a"])
        db.session.commit()
        second = {**TYPED, "c1_1": "5", "comment": ""}
        conflict = enter_form(find_form(s2), second, actor=w["b"])
        db.session.commit()
        assert conflict.kind == "conflict" and conflict.differences == ["c1_1", "comment"]
        assert _counts()[0] == 1
        form = find_form(s2)
        with pytest.raises(PaperError, match="chờ đối chiếu"):
            enter_form(form, TYPED, actor=w["manager"])
        db.session.rollback()
        with pytest.raises(TypedErrors):  # every differing question needs a choice
            resolve_form(form, {"c1_1": "5"}, {"c1_1": "second"}, actor=w["manager"])
        db.session.rollback()
        with pytest.raises(TypedErrors):  # and a valid one
            resolve_form(form, {"c1_1": "8", "comment": ""}, {"c1_1": "other", "comment": "second"},
                         actor=w["manager"])
        db.session.rollback()
        response = resolve_form(form, {"c1_1": "3", "comment": TYPED["comment"]},
                                {"c1_1": "other", "comment": "first"}, actor=w["manager"])
        db.session.commit()
        stored = answers_of(db.session.get(Response, response.id))
        assert stored["c1_1"] == 3 and stored["comment"] == TYPED["comment"] and stored["c1_2"] == 5
        assert _counts()[0] == 2 and find_form(s2).status == "entered"
        audit = db.session.scalar(select(AuditLog).filter_by(action="paper.resolve"))
        assert audit.details["items"] == {"c1_1": "other", "comment": "first"}
        mismatch = db.session.scalar(select(AuditLog).filter_by(action="paper.entry_mismatch"))
        assert mismatch.details["items"] == ["c1_1", "comment"]


def test_a_form_answered_online_cannot_be_entered_from_paper(app, client):
    with app.app_context():
        w = paper_world()
        batch = create_batch(campaign=w["campaign"], unit=w["ward"], counter=None, count=1,
                             double_entry=False, actor=w["a"])
        db.session.commit()
        form = db.session.scalar(select(PaperForm).filter_by(batch_id=batch.id))
        db.session.get(EntryPoint, form.entry_point_id).used_at = datetime.now(UTC)  # scanned, answered
        db.session.commit()
        with pytest.raises(PaperError, match="trực tuyến"):
            enter_form(find_form(form.serial), TYPED, actor=w["a"])
        db.session.rollback()


def test_a_form_typed_after_the_campaign_closed_is_dated_on_its_last_day(app):
    with app.app_context():
        w = paper_world(ends_on=date(2026, 3, 31))
        batch = create_batch(campaign=w["campaign"], unit=w["ward"], counter=None, count=1,
                             double_entry=False, actor=w["a"])
        db.session.commit()
        form = db.session.scalar(select(PaperForm).filter_by(batch_id=batch.id))
        typed_on = datetime(2026, 4, 3, 2, 0, tzinfo=UTC)
        outcome = enter_form(form, TYPED, actor=w["a"], now=typed_on)
        db.session.commit()
        stored = db.session.get(Response, outcome.response.id)
        moment = stored.submitted_at
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        assert moment == datetime(2026, 3, 31, 16, 59, 59, tzinfo=UTC)  # 23:59:59 in Hồ Chí Minh City
        entered = db.session.get(PaperForm, form.id).entered_at
        assert (entered if entered.tzinfo else entered.replace(tzinfo=UTC)) == typed_on


def _csv(rows: list[dict], header: list[str]) -> bytes:
    """A CSV file (UTF-8 with BOM) of ``rows``."""
    import csv
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[r.get(h, "") for h in header] for r in rows])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def test_import_is_all_or_nothing_with_row_and_column_errors(app):
    with app.app_context():
        w = paper_world()
        s1, s2, s3 = printed_serials(w, 3, counter=True)
        enter_form(find_form(s3), TYPED, actor=w["a"])  # already typed on the screen
        db.session.commit()
        header = ["unit", "serial", "counter", *TYPED, "c5_1"]
        good = {"unit": "P1", "counter": "Q1", **TYPED, "comment": "Tốt", "sex": "female", "improve": "e1;e2"}
        bad = [{**good, "serial": s1},
               {**good, "serial": s1, "c1_1": "6"},            # row 3: repeated serial, bad code
               {**good, "serial": s3},                         # row 4: entered before
               {**good, "serial": "123456789"},                # row 5: not printed for this campaign
               {**good, "serial": s2, "unit": "XX", "sex": "3"},  # row 6: unknown unit, bad option
               {**good, "serial": "", "c2_4": "NA"}]           # row 7: no serial
        before = _counts()
        with pytest.raises(ImportRejected) as refused:
            import_paper(_csv(bad, header), "phieu.csv", campaign=w["campaign"], user=w["users"]["a"],
                         actor=w["a"])
        db.session.rollback()
        found = {(e.row, e.column) for e in refused.value.errors}
        assert {(3, "serial"), (3, "c1_1"), (4, "serial"), (5, "serial"), (6, "unit"), (6, "sex"),
                (7, "serial")} <= found, found
        assert all(e.row != 2 for e in refused.value.errors)
        assert _counts() == before

        rows = [{**good, "serial": s1, "c2_4": "NA"},
                {**good, "serial": s2, "gave_feedback": "1", "c5_1": "5"}]
        summary = import_paper(_csv(rows, header), "phieu.csv", campaign=w["campaign"], user=w["users"]["a"],
                               actor=w["a"])
        db.session.commit()
        assert (summary.rows, summary.printed, summary.new_serials) == (2, 2, 0)
        stored = db.session.scalars(select(Response).where(Response.channel == "paper")
                                    .order_by(Response.id)).all()
        assert len(stored) == 3
        last = answers_of(stored[-1])
        assert last["improve"] == ["e1", "e2"] and last["c5_1"] == 5 and last["sex"] == "female"
        assert "c2_4" not in answers_of(stored[-2])

        # The same file again: every serial refused, nothing changes.
        before = _counts()
        with pytest.raises(ImportRejected) as again:
            import_paper(_csv(rows, header), "phieu.csv", campaign=w["campaign"], user=w["users"]["a"],
                         actor=w["a"])
        db.session.rollback()
        assert [(e.row, e.column) for e in again.value.errors] == [(2, "serial"), (3, "serial")]
        assert _counts() == before


def test_import_of_serials_sipas_did_not_print_when_allowed(app):
    with app.app_context():
        w = paper_world()
        header = ["unit", "serial", *TYPED]
        rows = [{"unit": "P1", "serial": f"SD-{i:04d}", **TYPED} for i in range(1, 4)]
        with pytest.raises(ImportRejected):
            import_paper(_csv(rows, header), "cu.csv", campaign=w["campaign"], user=None, actor=w["a"])
        db.session.rollback()
        summary = import_paper(_csv(rows, header), "cu.csv", campaign=w["campaign"], user=None,
                               actor=w["a"], allow_new_serials=True)
        db.session.commit()
        assert (summary.rows, summary.new_serials) == (3, 3)
        paper = select(func.count()).select_from(Response).where(Response.channel == "paper")
        assert db.session.scalar(paper) == 3
        assert find_form("sd-0002").status == "entered"


@pytest.mark.parametrize("key", ["sipas-counter", "sipas-2024", "counter-rating", "papi-d5-d6"])
def test_every_shipped_questionnaire_prints_every_question(key):
    from survey.printing.paper import PaperCopy, render_paper
    from survey.questionnaires import load_questionnaire
    from survey.services.paper import document
    from survey.services.paper_codes import questions
    try:
        q = load_questionnaire(key)
    except Exception:  # noqa: BLE001 - a questionnaire another part of the project ships later
        pytest.skip(f"{key} is not shipped in this build")
    pdf = render_paper(document(q), [PaperCopy(serial="123456789", url="http://127.0.0.1/s/ABCDEFGH",
                                               unit_name="Phường An Hòa")])
    text = _pdf_text(pdf)
    assert "Phường An Hòa" in text and q.title["vi"] in text
    assert [p.number for p in questions(q) if f"Câu {p.number}. " not in text] == []
