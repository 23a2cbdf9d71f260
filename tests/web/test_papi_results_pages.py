"""A PAPI campaign through the results page (R6) and the exports (X6): points on the PAPI
scales, the PAPI-compatible ±1.645·SE option labelled, and the raw CSV read back to R's numbers."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import select

from survey.analyze_cmd import analyze_command
from survey.extensions import db
from survey.models import Campaign, Unit
from survey.services.exports import ExportOptions, write_export

from ..services.papi_data import POP, seed_papi_campaign
from ..stats.helpers import FIXTURES, RTOL, reference
from .workspace_support import login, make_unit, make_user

REF = reference(FIXTURES / "papi-results.csv")
GROUPS = tuple((FIXTURES / "papi-groups.txt").read_text(encoding="utf-8").split())


@pytest.fixture
def papi(app):
    """The R reference campaign on communes A–D under a province, and its Nội vụ login."""
    with app.app_context():
        campaign = seed_papi_campaign()
        province = make_unit("PV", "Tỉnh Thử", "province")
        for unit in db.session.scalars(select(Unit).where(Unit.code.in_(list("ABCD")))):
            unit.parent_id = province.id
        make_user("noivu.papi", "admin", province)
        db.session.commit()
        return campaign.id


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_results_page_shows_points_and_labels_papi_intervals(client, papi):
    assert login(client, "noivu.papi").status_code == 302
    url = f"/admin/campaigns/{papi}/results?weighting=design&compare=none"
    page = client.get(url)
    html = page.get_data(as_text=True)
    text = _text(html)
    assert page.status_code == 200
    # D5 = 7.1003 (SE 0.0821), t(226) 95 % [6.9385, 7.2620]; total 14.358 of 2-20; no percent sign
    assert "D5. Thủ tục hành chính công (1,00–10,00 điểm) 7,10 6,94 – 7,26" in text
    assert "5.1 Chứng thực, xác nhận (0,25–2,50 điểm) 1,71" in text
    assert "Tổng điểm D5 + D6 (2–20) 14,36 KTC 95 %: 14,14 – 14,57" in text
    assert "14,36%" not in text and "7,10%" not in text
    assert "Giá trị: điểm kiểu PAPI" in text and "“Hài lòng” hoặc “Rất hài lòng”" not in text
    assert 'name="papi"' in html  # the PAPI-compatible interval can be chosen on the page
    papi_page = _text(client.get(url + "&papi=1").get_data(as_text=True))
    # ± 1.645 SE: [6.9653, 7.2353], labelled as PAPI's, never as a 95 % interval
    assert "D5. Thủ tục hành chính công (1,00–10,00 điểm) 7,10 6,97 – 7,24" in papi_page
    assert "Khoảng ±1,645·SE (kiểu PAPI)" in papi_page
    assert "KTC 95 %: 14,18" not in papi_page


def _overall(path, code: str) -> tuple:
    sheet = load_workbook(path, read_only=True)["Tổng hợp"]
    header = None
    for row in sheet.iter_rows(values_only=True):
        header = header or row
        if row[0] == code:
            return dict(zip(header, row, strict=False))
    raise KeyError(code)


def test_xlsx_report_gives_points_and_labels_papi_intervals(app, client, papi, tmp_path):
    with app.app_context():
        campaign = db.session.get(Campaign, papi)
        write_export("xlsx", campaign, tmp_path / "plain.xlsx",
                     options=ExportOptions(weighting="design"))
    with app.app_context():  # as `sipas export` has (the group runs before any sub-command)
        done = app.test_cli_runner().invoke(args=[
            "export", "--campaign", "papi-2026", "--format", "xlsx", "--weighting", "design",
            "--papi-intervals", "--output", str(tmp_path / "papi.xlsx")])
    assert done.exit_code == 0, done.output
    assert login(client, "noivu.papi").status_code == 302
    page = client.get(f"/admin/campaigns/{papi}/exports").get_data(as_text=True)
    assert 'name="papi"' in page and "Khoảng kiểu PAPI (±1,645·SE)" in page
    for i, code in enumerate(GROUPS, 1):
        row = _overall(tmp_path / "plain.xlsx", code)
        assert row["Giá trị ước lượng"] == pytest.approx(REF[f"fpc.all.groups.est[{i}]"], rel=RTOL)
        assert row["Sai số chuẩn (SE)"] == pytest.approx(REF[f"fpc.all.groups.se[{i}]"], rel=RTOL)
    d5 = _overall(tmp_path / "plain.xlsx", "d5")
    assert d5["Thang đo"] == "1–10" and _overall(tmp_path / "plain.xlsx", "papi")["Thang đo"] == "2–20"
    assert d5["Cận dưới KTC 95 %"] == pytest.approx(REF["fpc.all.groups.lo[9]"], rel=RTOL)
    alt = _overall(tmp_path / "papi.xlsx", "d5")
    low = next(k for k in alt if k and "1,645" in k and "dưới" in k)  # the column says so
    assert alt[low] == pytest.approx(REF["fpc.all.groups.papi.lo[9]"], rel=RTOL)
    assert not any(k and "KTC 95 %" in k for k in alt)
    method = load_workbook(tmp_path / "papi.xlsx", read_only=True)["Phương pháp"]
    assert any("1,645·SE" in str(row[1]) for row in method.iter_rows(values_only=True) if row)


def test_raw_csv_export_reads_back_to_r_numbers(app, papi, tmp_path):
    """X6's raw CSV of the PAPI campaign is a ``sipas analyze`` input giving R's numbers."""
    with app.app_context():
        write_export("csv", db.session.get(Campaign, papi), tmp_path / "raw.csv")
    result = CliRunner().invoke(analyze_command, [str(tmp_path / "raw.csv"), "--questionnaire",
                                                  "papi-d5-d6", "--population", str(POP)])
    assert result.exit_code == 0, result.output
    found = {e["indicator"]: e for e in json.loads(result.stdout)["estimates"]
             if e["kind"] == "group" and not e["domain"]}
    for i, code in enumerate(GROUPS, 1):
        assert found[code]["estimate"] == pytest.approx(REF[f"fpc.all.groups.est[{i}]"], rel=RTOL)
        assert found[code]["se"] == pytest.approx(REF[f"fpc.all.groups.se[{i}]"], rel=RTOL)


def test_pdf_report_labels_papi_intervals(app, papi, tmp_path):
    import unicodedata

    import pypdf

    with app.app_context():
        campaign = db.session.get(Campaign, papi)
        write_export("pdf", campaign, tmp_path / "papi.pdf",
                     options=ExportOptions(weighting="design", papi_compatible=True))
    reader = pypdf.PdfReader(str(tmp_path / "papi.pdf"))
    text = unicodedata.normalize("NFC", "\n".join(p.extract_text() for p in reader.pages))
    assert "±1,645·SE" in text and "thực chất là khoảng 90 %" in text
    # on its 1-10 scale with two decimals, no %, and the PAPI-compatible interval
    assert re.search(r"D5\. Thủ tục hành chính công\s+7,10\s+6,97 – 7,24\s", text)
    assert "Không công bố: dưới 10 câu trả lời hợp lệ (bộ phiếu kiểu PAPI: dưới 15)" in text
