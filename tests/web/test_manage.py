"""Management pages: imports through the browser form, review decisions, escaping, roles, CSRF."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import AuditLog, Campaign, CampaignUnit, Counter, PopulationCount, Response, Unit
from survey.services.results import campaign_report
from tests.services.review_support import XSS, review_world
from tests.web.workspace_support import login, token_of

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "imports"


@pytest.fixture
def world(app):
    with app.app_context():
        return review_world()


def _as(client, username: str):
    assert login(client, username).status_code == 302
    return client


def _token(client, url: str = "/admin/units") -> str:
    return token_of(client.get(url).get_data(as_text=True))


def _upload(client, url: str, name: str, data: bytes, token: str | None = None):
    form = {"file": (io.BytesIO(data), name)}
    if token is not None:
        form["csrf_token"] = token
    return client.post(url, data=form, content_type="multipart/form-data")


def _snapshot(app) -> tuple:
    with app.app_context():
        return (sorted(db.session.execute(select(Unit.code, Unit.name, Unit.level, Unit.parent_id)).all()),
                db.session.scalar(select(func.count(PopulationCount.id))),
                db.session.scalar(select(func.count(AuditLog.id))))


def _unit_csv_under_city() -> bytes:
    """The fixture tree re-rooted under the test city C (inside the admin's subtree)."""
    text = (FIXTURES / "units.csv").read_text("utf-8-sig")
    return text.replace("SD,Thành phố Sa Đéc,Thành phố,\n", "SD,Thành phố Sa Đéc,Thành phố,C\n").encode()


def test_every_management_page_renders_for_an_admin(client, world):
    _as(client, "noivu")
    with client.application.app_context():
        counter_id = db.session.scalar(select(Counter.id))
    pages = ["/admin/units", "/admin/counters", f"/admin/counters?unit_id={world['t1']}",
             "/admin/counters/new", f"/admin/counters/{counter_id}/edit", "/admin/fields",
             "/admin/fields/new", "/admin/campaigns", "/admin/campaigns/new",
             f"/admin/campaigns/{world['campaign']}/edit", f"/admin/campaigns/{world['campaign']}/targets",
             "/admin/population", "/admin/review", f"/admin/review?campaign_id={world['campaign']}",
             f"/admin/responses/{world['bad']}", "/admin/audit",
             "/admin/audit?action=response&since=2020-01-01"]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.get_data(as_text=True)
        assert '<html lang="vi">' in html and "manage.css" in html, url
    for url in pages:  # English (the choice is remembered in a cookie)
        english = client.get(url + ("&" if "?" in url else "?") + "lang=en")
        assert english.status_code == 200 and '<html lang="en">' in english.get_data(as_text=True), url
    english = client.get("/admin/units?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in english and "Unit tree" in english and "Import the unit tree" in english


def test_unit_csv_with_a_bad_row_is_rejected_whole_on_the_page(app, client, world):
    _as(client, "noivu")
    before = _snapshot(app)
    bad = (FIXTURES / "units-bad-row.csv").read_bytes().replace(b"SD,Th", b"SD-X,Th").replace(
        b",SD\n", b",C\n")
    response = _upload(client, "/admin/units/import", "units-bad-row.csv", bad, _token(client))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    table = re.search(r'class="import-errors".*?</table>', html, re.S).group(0)
    assert re.search(r">5</td><td>Cấp</td><td>[^<]*Quận huyện gì đó", table)
    assert "Không có dữ liệu nào bị thay đổi" in html
    assert _snapshot(app) == before


def test_unit_import_then_reimport_updates_without_duplicates(app, client, world):
    _as(client, "noivu")
    first = _upload(client, "/admin/units/import", "units.csv", _unit_csv_under_city(), _token(client))
    assert first.status_code == 302
    page = client.get("/admin/units").get_data(as_text=True)
    assert "thêm 6" in page and "Trung tâm Phục vụ hành chính công" in page
    renamed = _unit_csv_under_city().replace("Phường 2,".encode(), "Phường Hai Mới,".encode())
    assert _upload(client, "/admin/units/import", "units.csv", renamed, _token(client)).status_code == 302
    assert "cập nhật 1" in client.get("/admin/units").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Unit.id)).where(Unit.code.like("SD%"))) == 6
        assert db.session.scalar(select(Unit.name).filter_by(code="SD-P2")) == "Phường Hai Mới"
        assert db.session.scalar(select(func.count(AuditLog.id)).filter_by(action="units.import")) == 2


def test_an_import_without_the_csrf_token_writes_nothing(app, client, world):
    _as(client, "noivu")
    before = _snapshot(app)
    response = _upload(client, "/admin/units/import", "units.csv", _unit_csv_under_city())
    assert response.status_code in (400, 422)
    assert _snapshot(app) == before


def test_population_upload_larger_than_the_public_form_limit(app, client, world):
    """An XLSX/CSV of several hundred kB passes (the public form's body limit is 256 kB)."""
    _as(client, "noivu")
    note = "Phường Thử Nghiệm, Bộ phận Tiếp nhận và Trả kết quả, xuất từ phần mềm một cửa"
    rows = ["Mã đơn vị,Tháng,Số hồ sơ đã trả kết quả,Ghi chú"] + [  # extra columns are ignored
        f'T1,{year}-{month:02d},{100 + month},"{note}"' for year in range(1900, 2900) for month in (1, 2, 3)]
    data = ("\n".join(rows) + "\n").encode()
    assert len(data) > 256 * 1024
    token = _token(client, "/admin/population")
    response = _upload(client, "/admin/population/import", "big.csv", data, token)
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count(PopulationCount.id))) == 3000
    # The same months again: replaced, not added.
    again = _upload(client, "/admin/population/import", "big.csv", data, _token(client, "/admin/population"))
    assert again.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count(PopulationCount.id))) == 3000
    assert "không đổi 3000" in client.get("/admin/population?year=2026").get_data(as_text=True)


def test_exclusion_and_reinclusion_through_the_pages(app, client, world):
    _as(client, "noivu")
    url = f"/admin/responses/{world['bad']}"
    token = _token(client, url)
    refused = client.post(f"{url}/decision", data={"csrf_token": token, "action": "exclude", "reason": ""})
    assert refused.status_code == 422 and "Vui lòng" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Response, world["bad"]).excluded is False
        before = campaign_report(world["campaign"])

    done = client.post(f"{url}/decision", data={"csrf_token": token, "action": "exclude",
                                                 "reason": "Trả lời trong 4 giây"})
    assert done.status_code == 302
    with app.app_context():
        after = campaign_report(world["campaign"])
        assert after.settings["n_excluded"] == 1
        assert after.find("c1_1").estimate > before.find("c1_1").estimate
    queue = client.get(f"/admin/review?campaign_id={world['campaign']}&status=excluded")
    queue = queue.get_data(as_text=True)
    assert "Trả lời trong 4 giây" in queue

    back = client.post(f"{url}/decision", data={"csrf_token": token, "action": "include",
                                                 "reason": "Đã xác minh với người dân"})
    assert back.status_code == 302
    with app.app_context():
        assert campaign_report(world["campaign"]).settings["n_excluded"] == 0
    log = client.get(f"/admin/audit?object_type=response&object_id={world['bad']}").get_data(as_text=True)
    assert "response.exclude" in log and "response.include" in log
    assert "Trả lời trong 4 giây" in log and "Đã xác minh với người dân" in log
    detail = client.get(url).get_data(as_text=True)
    assert detail.index("Trả lời trong 4 giây") < detail.index("Đã xác minh với người dân")


def test_free_text_comment_is_escaped_in_the_queue_and_the_detail(client, world):
    _as(client, "noivu")
    for url in (f"/admin/review?campaign_id={world['campaign']}", f"/admin/responses/{world['bad']}"):
        html = client.get(url).get_data(as_text=True)
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html, url
        assert XSS not in html and "<script" not in html and "<img src=x" not in html


def test_managers_flag_but_do_not_decide_exclusions(app, client, world):
    _as(client, "truong.t1")
    url = f"/admin/responses/{world['plain']}"
    html = client.get(url).get_data(as_text=True)
    assert 'value="flag"' in html and 'value="exclude"' not in html
    token = token_of(html)
    denied = client.post(f"{url}/decision", data={"csrf_token": token, "action": "exclude",
                                                   "reason": "Tôi muốn loại phiếu này"})
    assert denied.status_code == 403
    flagged = client.post(f"{url}/decision", data={"csrf_token": token, "action": "flag",
                                                    "reason": "Người dân báo bị nhờ chấm"})
    assert flagged.status_code == 302
    with app.app_context():
        response = db.session.get(Response, world["plain"])
        assert response.flags == ["manual"] and response.excluded is False
    assert client.get("/admin/audit").status_code == 403


def test_other_units_responses_and_counters_are_not_found(app, client, world):
    _as(client, "truong.w2")
    assert client.get(f"/admin/responses/{world['bad']}").status_code == 404
    token = _token(client, "/admin/counters")
    assert client.post(f"/admin/responses/{world['bad']}/decision",
                       data={"csrf_token": token, "action": "flag", "reason": "không được phép"}
                       ).status_code == 404
    queue = client.get(f"/admin/review?campaign_id={world['campaign']}").get_data(as_text=True)
    assert "alert" not in queue and "OTHERW2" not in queue
    with app.app_context():
        counter_id = db.session.scalar(select(Counter.id).join(Unit).filter(Unit.code == "T1"))
    assert client.get(f"/admin/counters/{counter_id}/edit").status_code == 404
    assert client.get(f"/admin/counters?unit_id={world['t1']}").status_code == 404
    # A unit outside the subtree smuggled into the counter form is refused and nothing is written.
    before = _count(app, Counter)
    response = client.post("/admin/counters/new", data={"csrf_token": token, "unit_id": world["t1"],
                                                         "code": "Q9", "name": "Quầy lạ"})
    assert response.status_code == 422 and _count(app, Counter) == before


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_counter_staff_cannot_open_management_pages(client, world):
    _as(client, "quay.t1")
    for url in ("/admin/units", "/admin/review", f"/admin/responses/{world['bad']}", "/admin/audit"):
        assert client.get(url).status_code == 403, url


def test_manager_adds_and_edits_a_counter_with_errors_beside_the_form(app, client, world):
    _as(client, "truong.t1")
    token = _token(client, "/admin/counters/new")
    duplicate = client.post("/admin/counters/new", data={"csrf_token": token, "unit_id": world["t1"],
                                                          "code": "Q1", "name": "Quầy trùng"})
    assert duplicate.status_code == 422
    assert re.search(r'id="code-error">Đơn vị đã có quầy mã «Q1»', duplicate.get_data(as_text=True))
    form = {"csrf_token": token, "unit_id": world["t1"], "code": "Q2", "name": "Quầy 2"}
    bad_net = client.post("/admin/counters/new", data=form | {"network_cidr": "abc"})
    assert bad_net.status_code == 422 and 'id="network_cidr-error"' in bad_net.get_data(as_text=True)
    created = client.post("/admin/counters/new", data={"csrf_token": token, "unit_id": world["t1"],
                                                        "code": "Q2", "name": "Quầy 2",
                                                        "network_cidr": "10.1.2.7/24; 192.168.5.0/24"})
    assert created.status_code == 302
    with app.app_context():
        counter = db.session.scalar(select(Counter).filter_by(code="Q2"))
        assert counter.network_cidr == "10.1.2.0/24, 192.168.5.0/24"
        assert db.session.scalar(select(AuditLog).filter_by(action="counter.create")).actor == "truong.t1"


def test_campaign_form_and_targets(app, client, world):
    _as(client, "noivu")
    token = _token(client, "/admin/campaigns/new")
    with app.app_context():
        version_id = db.session.get(Campaign, world["campaign"]).questionnaire_version_id
        db.session.add(PopulationCount(unit_id=world["w2"], field_id=None,
                                       month=__import__("datetime").date(2026, 2, 1), transactions=1000))
        db.session.commit()
    form = {"csrf_token": token, "code": "dot-2026", "name": "Đợt 2026",
            "questionnaire_version_id": version_id, "starts_on": "2026-01-01", "ends_on": "2025-12-31",
            "weighting": "design", "margin_percent": "5", "unit_ids": [world["w2"]]}
    wrong = client.post("/admin/campaigns/new", data=form)
    assert wrong.status_code == 422 and 'id="ends_on-error"' in wrong.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Campaign.id))) == 1
    created = client.post("/admin/campaigns/new", data=form | {"ends_on": "2026-12-31"})
    assert created.status_code == 302
    with app.app_context():
        new = db.session.scalar(select(Campaign).filter_by(code="dot-2026"))
    page = client.get(f"/admin/campaigns/{new.id}/targets").get_data(as_text=True)
    assert "1,000" in page and ">286<" in page        # ⌈1000 / (1 + 1000·0.05²)⌉
    done = client.post(f"/admin/campaigns/{new.id}/targets",
                       data={"csrf_token": token, "first_month": "2026-01", "last_month": "2026-12"})
    assert done.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(CampaignUnit.target_n).filter_by(campaign_id=new.id)) == 286


def test_a_target_set_by_hand_is_stored_and_audited(app, client, world):
    _as(client, "noivu")
    url = f"/admin/campaigns/{world['campaign']}/targets"
    token = _token(client, url)
    done = client.post(f"{url}/{world['w2']}", data={"csrf_token": token, "target_n": "55"})
    assert done.status_code == 302
    bad = client.post(f"{url}/{world['w2']}", data={"csrf_token": token, "target_n": "-3"})
    assert bad.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(CampaignUnit.target_n).filter_by(unit_id=world["w2"])) == 55
        entry = db.session.scalar(select(AuditLog).filter_by(action="campaign.target"))
        assert entry.details == {"unit_id": world["w2"], "before": 10, "after": 55}
    assert "Chỉ tiêu phải là số nguyên không âm" in client.get(url).get_data(as_text=True)
    manager = _as(app.test_client(), "truong.t1")
    token = _token(manager, url)
    denied = manager.post(f"{url}/{world['t1']}", data={"csrf_token": token, "target_n": "1"})
    assert denied.status_code == 403


def test_population_xlsx_upload_with_errors_beside_the_form(app, client, world):
    from openpyxl import Workbook
    _as(client, "noivu")
    book = Workbook()
    for row in (["Mã đơn vị", "Tháng", "Năm", "Số hồ sơ"], ["T1", 1, 2026, 120], ["W2", 2, 2026, "nhiều"]):
        book.active.append(row)
    data = io.BytesIO()
    book.save(data)
    token = _token(client, "/admin/population")
    refused = _upload(client, "/admin/population/import", "counts.xlsx", data.getvalue(), token)
    assert refused.status_code == 422
    assert re.search(r">3</td><td>Số hồ sơ</td><td>«nhiều» không phải là số nguyên",
                     refused.get_data(as_text=True))
    assert _count(app, PopulationCount) == 0


def test_one_unit_added_and_moved_by_hand_with_the_import_rules(app, client, world):
    _as(client, "noivu")
    token = _token(client, "/admin/units/new")
    base = {"csrf_token": token, "code": "T1-KP1", "name": "Khu phố 1", "level": "other",
            "parent_id": world["t1"]}
    assert client.post("/admin/units/new", data=base).status_code == 302
    with app.app_context():
        kp1 = db.session.scalar(select(Unit).filter_by(code="T1-KP1"))
        assert kp1.parent_id == world["t1"] and kp1.name == "Khu phố 1"
    # T1 below its own child: a loop, refused beside the parent field, nothing written.
    before = _snapshot(app)
    loop = client.post(f"/admin/units/{world['t1']}/edit",
                       data={"csrf_token": token, "code": "T1", "name": "Phường Thử Nghiệm", "level": "ward",
                             "parent_id": kp1.id})
    assert loop.status_code == 422 and 'id="parent_id-error"' in loop.get_data(as_text=True)
    duplicate = client.post("/admin/units/new", data=base | {"code": "W2"})
    assert duplicate.status_code == 422 and "Đã có đơn vị mã «W2»" in duplicate.get_data(as_text=True)
    assert _snapshot(app) == before
    moved = client.post(f"/admin/units/{kp1.id}/edit", data=base | {"parent_id": world["w2"],
                                                                    "name": "Khu phố Một"})
    assert moved.status_code == 302
    with app.app_context():
        assert db.session.get(Unit, kp1.id).parent_id == world["w2"]
        entry = db.session.scalar(select(AuditLog).filter_by(action="unit.update"))
        assert entry.details["changes"]["parent_id"] == [world["t1"], world["w2"]]
    # Managers do not edit the tree.
    manager = _as(app.test_client(), "truong.t1")
    assert manager.get(f"/admin/units/{world['t1']}/edit").status_code == 403


def test_template_files_use_the_documented_headers(client, world):
    from survey.services.imports import match_headers, read_table
    from survey.services.population import POPULATION_COLUMNS
    from survey.services.units import UNIT_COLUMNS
    _as(client, "truong.t1")
    for url, columns in (("/admin/units/template.csv", UNIT_COLUMNS),
                         ("/admin/population/template.csv", POPULATION_COLUMNS)):
        response = client.get(url)
        assert response.status_code == 200 and response.mimetype == "text/csv"
        table = read_table(response.data)
        found, errors = match_headers(table.headers, columns)
        assert errors == [] and len(found) >= 3 and table.rows


def test_campaign_form_takes_vietnamese_number_and_date_formats(app, client, world):
    _as(client, "noivu")
    token = _token(client, "/admin/campaigns/new")
    with app.app_context():
        version_id = db.session.get(Campaign, world["campaign"]).questionnaire_version_id
    form = {"csrf_token": token, "code": "dot-vn", "name": "Đợt kiểu Việt", "weighting": "design",
            "questionnaire_version_id": version_id, "starts_on": "01/02/2026", "ends_on": "31/12/2026",
            "margin_percent": "2,5", "unit_ids": [world["w2"]]}
    bad = client.post("/admin/campaigns/new", data=form | {"margin_percent": "năm",
                                                            "starts_on": "32/13/2026"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "Vui lòng nhập một số." in html and "Ngày không hợp lệ" in html
    assert client.post("/admin/campaigns/new", data=form).status_code == 302
    with app.app_context():
        saved = db.session.scalar(select(Campaign).filter_by(code="dot-vn"))
        assert saved.margin_of_error == pytest.approx(0.025)
        assert (saved.starts_on.isoformat(), saved.ends_on.isoformat()) == ("2026-02-01", "2026-12-31")


def test_a_manager_imports_counters_of_their_own_unit_only(app, client, world):
    _as(client, "truong.t1")
    token = _token(client, "/admin/counters")
    outside = "Mã đơn vị,Mã quầy,Tên quầy\nT1,Q7,Quầy 7\nW2,Q7,Quầy lạ\n".encode()
    refused = _upload(client, "/admin/counters/import", "q.csv", outside, token)
    assert refused.status_code == 422
    assert re.search(r">3</td><td>Mã đơn vị</td><td>Đơn vị «W2» nằm ngoài", refused.get_data(as_text=True))
    assert _count(app, Counter) == 1
    inside = "Mã đơn vị,Mã quầy,Tên quầy\nT1,Q7,Quầy 7\n".encode()
    ok = _upload(client, "/admin/counters/import", "q.csv", inside, token)
    assert ok.status_code == 302 and _count(app, Counter) == 2
    # The field catalogue is shared: only admins import it.
    assert _upload(client, "/admin/fields/import", "f.csv", b"code,name\nX,Y\n", token).status_code == 403


def test_audit_log_is_scoped_to_the_admins_subtree(app, client, world):
    from survey.services.audit import record
    from tests.web.workspace_support import make_unit as new_unit
    from tests.web.workspace_support import make_user as new_user
    with app.app_context():
        province_x = new_admin = new_user("admin.x", "admin", new_unit("X", "Tỉnh XQZ", "province"))
        ward_admin = new_user("admin.w2", "admin", db.session.get(Unit, world["w2"]))
        record("units.import", "admin.x", user_id=province_x.id, object_type="unit", filename="xqz.csv")
        record("maintenance.purge", "cli", object_type="response")
        record("counter.create", "admin.w2", user_id=ward_admin.id, object_type="counter",
               code="quầy riêng của W2")
        db.session.commit()
        assert new_admin.unit.parent_id is None
    _as(client, "noivu")              # top-most admin of the city: own subtree and system entries
    log = client.get("/admin/audit").get_data(as_text=True)
    assert "maintenance.purge" in log and "quầy riêng của W2" in log and "xqz.csv" not in log
    ward = _as(app.test_client(), "admin.w2")       # an admin below another admin: own subtree only
    log = ward.get("/admin/audit").get_data(as_text=True)
    assert "quầy riêng của W2" in log and "maintenance.purge" not in log and "xqz.csv" not in log
    other = _as(app.test_client(), "admin.x")       # another province: nothing of the city
    log = other.get("/admin/audit").get_data(as_text=True)
    assert "xqz.csv" in log and "quầy riêng của W2" not in log
