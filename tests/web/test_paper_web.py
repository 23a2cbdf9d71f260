"""The paper pages and commands: print, type in once, refuse a second entry, resolve, import."""

from __future__ import annotations

import io
import re

from sqlalchemy import func, select

from survey.extensions import db
from survey.models import AuditLog, PaperForm, Response
from tests.services.paper_support import TYPED, paper_world, printed_serials
from tests.web.workspace_support import login, token_of


def _state() -> tuple:
    """Everything an entry could change."""
    return (db.session.scalar(select(func.count()).select_from(Response)),
            db.session.scalar(select(func.count()).select_from(AuditLog)),
            tuple(db.session.execute(select(PaperForm.id, PaperForm.status, PaperForm.response_id)
                                     .order_by(PaperForm.id)).all()))


def _typed_form(serial: str, token: str, typed: dict) -> dict:
    return {"csrf_token": token, "serial": serial, **{f"q-{k}": v for k, v in typed.items()}}


def test_print_page_gives_a_pdf_of_new_forms(app, client):
    with app.app_context():
        w = paper_world()
        ward_id, counter_id = w["ward"].id, w["counter"].id
    login(client, "can.bo.a")
    page = client.get("/staff/paper/")
    assert page.status_code == 200 and "In phiếu giấy" in page.get_data(as_text=True)
    token = token_of(page.get_data(as_text=True))
    response = client.post("/staff/paper/print", data={"csrf_token": token, "unit_id": ward_id,
                                                       "counter_id": counter_id, "count": 2})
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PaperForm)) == 2
    too_many = client.post("/staff/paper/print", data={"csrf_token": token, "unit_id": ward_id, "count": 500})
    assert too_many.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PaperForm)) == 2


def test_entry_screen_stores_once_and_refuses_the_same_serial_again(app, client):
    with app.app_context():
        w = paper_world()
        (serial,) = printed_serials(w, 1)
    login(client, "can.bo.a")
    page = client.get(f"/staff/paper/entry?serial={serial[:3]}-{serial[3:]}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'name="q-c1_1"' in html and "Câu 33" in html
    token = token_of(html)
    bad = client.post("/staff/paper/entry", data=_typed_form(serial, token, {**TYPED, "c1_1": "9"}))
    assert bad.status_code == 422
    assert "Mã «9» không hợp lệ; chọn một trong: 1, 2, 3, 4, 5." in bad.get_data(as_text=True)
    saved = client.post("/staff/paper/entry", data=_typed_form(serial, token, TYPED), follow_redirects=True)
    assert f"Đã lưu phiếu số {serial}" in saved.get_data(as_text=True)
    with app.app_context():
        before = _state()
        assert before[0] == 1 and db.session.scalar(select(Response.channel)) == "paper"
    again = client.post("/staff/paper/entry", data=_typed_form(serial, token, {**TYPED, "overall": "1"}))
    assert again.status_code == 409
    assert "Mỗi phiếu chỉ được nhập một lần; không có gì thay đổi." in again.get_data(as_text=True)
    reopened = client.get(f"/staff/paper/entry?serial={serial}")
    assert reopened.status_code == 404 and "đã được nhập" in reopened.get_data(as_text=True)
    detail = client.get(re.search(r'href="(/staff/paper/forms/\d+)"', reopened.get_data(as_text=True))[1])
    assert detail.status_code == 200 and "Đã nhập" in detail.get_data(as_text=True)
    with app.app_context():
        assert _state() == before


def test_double_entry_and_resolution_through_the_pages(app):
    with app.app_context():
        w = paper_world()
        (serial,) = printed_serials(w, 1, double_entry=True, actor="manager")
        form_id = db.session.scalar(select(PaperForm.id).filter_by(serial=serial))
    a, b, manager = app.test_client(), app.test_client(), app.test_client()
    for client, name in ((a, "can.bo.a"), (b, "can.bo.b"), (manager, "lanh.dao")):
        login(client, name)
    token_a = token_of(a.get(f"/staff/paper/entry?serial={serial}").get_data(as_text=True))
    first = a.post("/staff/paper/entry", data=_typed_form(serial, token_a, TYPED), follow_redirects=True)
    assert "chờ một cán bộ khác nhập lần hai" in first.get_data(as_text=True)
    same_clerk = a.get(f"/staff/paper/entry?serial={serial}")
    assert same_clerk.status_code == 404
    assert "phải do một cán bộ khác nhập" in same_clerk.get_data(as_text=True)
    page_b = b.get(f"/staff/paper/entry?serial={serial}").get_data(as_text=True)
    assert "lần nhập thứ 2" in page_b
    second = b.post("/staff/paper/entry", data=_typed_form(serial, token_of(page_b), {**TYPED, "c3_1": "1"}),
                    follow_redirects=True)
    assert "khác nhau ở 1 câu" in second.get_data(as_text=True)
    detail = manager.get(f"/staff/paper/forms/{form_id}").get_data(as_text=True)
    assert "Câu 11. Công chức có thái độ giao tiếp lịch sự" in detail
    assert "5 · Rất hài lòng" in detail and "1 · Rất không hài lòng" in detail
    token_m = token_of(detail)
    missing = manager.post(f"/staff/paper/forms/{form_id}/resolve", data={"csrf_token": token_m})
    assert missing.status_code == 422 and "Vui lòng chọn giá trị đúng" in missing.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Response)) == 0
    done = manager.post(f"/staff/paper/forms/{form_id}/resolve",
                        data={"csrf_token": token_m, "pick-c3_1": "first"}, follow_redirects=True)
    assert f"Đã lưu phiếu số {serial} sau khi đối chiếu" in done.get_data(as_text=True)
    with app.app_context():
        response = db.session.scalar(select(Response))
        assert response.channel == "paper"
        assert {a.item_code: a.rating for a in response.answers}["c3_1"] == 5
        assert db.session.get(PaperForm, form_id).status == "entered"


def test_import_page_reports_rows_and_columns_and_stores_all(app, client):
    with app.app_context():
        w = paper_world()
        s1, s2 = printed_serials(w, 2)
        campaign_id = w["campaign"].id
    header = "unit,serial,c1_1,c1_2,overall,sex\n"
    login(client, "lanh.dao")
    token = token_of(client.get("/staff/paper/import").get_data(as_text=True))
    bad = (header + f"P1,{s1},4,5,4,male\nP1,{s2},4,7,4,female\n").encode()
    refused = client.post("/staff/paper/import", data={"csrf_token": token, "campaign_id": campaign_id,
                                                       "file": (io.BytesIO(bad), "phieu.csv")})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "Không có dữ liệu nào bị thay đổi" in html
    assert re.search(r'<td class="num">3</td><td>c1_2</td><td>Mã «7» không hợp lệ', html)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Response)) == 0
    good = (header + f"P1,{s1},4,5,4,male\nP1,{s2},4,NA,4,2\n").encode()
    stored = client.post("/staff/paper/import", data={"csrf_token": token, "campaign_id": campaign_id,
                                                      "file": (io.BytesIO(good), "phieu.csv")},
                         follow_redirects=True)
    assert "Đã nhập 2 phiếu giấy" in stored.get_data(as_text=True)
    with app.app_context():
        channels = db.session.scalars(select(Response.channel)).all()
        assert channels == ["paper", "paper"]
    clerk = app.test_client()
    login(clerk, "can.bo.a")
    assert clerk.get("/staff/paper/import").status_code == 403


def test_cli_prints_and_imports(app, runner, tmp_path):
    with app.app_context():
        paper_world()
    out = tmp_path / "phieu.pdf"
    result = runner.invoke(args=["paper", "--questionnaire", "sipas-counter", "--unit", "P1",
                                 "--counter", "Q1", "--count", "2", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF") and "wrote 2 forms" in result.output
    wrong = runner.invoke(args=["paper", "--questionnaire", "sipas-2024", "--unit", "P1", "--count", "1",
                                "--output", str(tmp_path / "x.pdf")])
    assert wrong.exit_code != 0 and "uses questionnaire sipas-counter@1" in wrong.output
    assert not (tmp_path / "x.pdf").exists()
    with app.app_context():
        s1, s2 = db.session.scalars(select(PaperForm.serial).order_by(PaperForm.serial)).all()
    data = tmp_path / "nhap.csv"
    data.write_text(f"unit,serial,overall\nP1,{s1},5\nP1,{s1},9\n", encoding="utf-8")
    refused = runner.invoke(args=["paper", "import", str(data), "--campaign", "sipas-2026"])
    assert refused.exit_code == 1 and f"{data}:3: «serial»" in refused.output
    assert "«overall»" in refused.output
    data.write_text(f"unit,serial,overall\nP1,{s1},5\nP1,{s2},4\n", encoding="utf-8")
    stored = runner.invoke(args=["paper", "import", str(data), "--campaign", "sipas-2026"])
    assert stored.exit_code == 0 and "imported 2 paper forms" in stored.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Response)) == 2


def test_import_page_bounds_the_rows_one_request_stores(app, client, monkeypatch):
    import survey.paper.imports
    monkeypatch.setattr(survey.paper.imports, "WEB_MAX_ROWS", 1)
    with app.app_context():
        w = paper_world()
        s1, s2 = printed_serials(w, 2)
        campaign_id = w["campaign"].id
    login(client, "lanh.dao")
    token = token_of(client.get("/staff/paper/import").get_data(as_text=True))
    data = f"unit,serial,overall\nP1,{s1},4\nP1,{s2},5\n".encode()
    refused = client.post("/staff/paper/import", data={"csrf_token": token, "campaign_id": campaign_id,
                                                       "file": (io.BytesIO(data), "phieu.csv")})
    assert refused.status_code == 422 and "trang web nhập tối đa 1" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Response)) == 0
