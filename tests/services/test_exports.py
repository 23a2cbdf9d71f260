"""Exports of the demo campaign: XLSX numbers = ``sipas analyze`` on the raw CSV = the results
service; CSV as Excel reads it; .sav labels; PDF text and rendering; scope; the CLI.

Every test runs on SQLite and PostgreSQL (the ``app`` fixture).
"""

from __future__ import annotations

import csv
import io
import json
import math
import unicodedata
import uuid

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import insert, select

from survey.analyze_cmd import analyze_command
from survey.extensions import db
from survey.models import Answer, Campaign, Response, Unit
from survey.services.answer_store import store_answers
from survey.services.demo import CAMPAIGN_CODE, load_demo
from survey.services.exports import ExportOptions, write_export
from survey.services.results_tables import campaign_results
from survey.services.scope import Narrowed

INJECTION = "=cmd|' /C calc'!A0"
KINDS = {"Tiêu chí": "criterion", "Chỉ số thành phần": "group", "Điểm trung bình": "mean"}


@pytest.fixture
def demo(app):
    """The demo province with 600 responses (suspicious ones flagged) and a malicious comment."""
    with app.app_context():
        load_demo(responses=600)
        campaign = db.session.scalar(select(Campaign).filter_by(code=CAMPAIGN_CODE))
        # One more response like the first, with a comment: a stored response's answers are
        # never added to (on PostgreSQL they are one row of arrays, written once).
        responses = Response.__table__
        first = db.session.execute(select(responses).filter_by(campaign_id=campaign.id)
                                   .order_by(responses.c.id)).first()._asdict()
        copy = db.session.scalar(insert(responses).values(
            {**{k: v for k, v in first.items() if k != "id"}, "submission_uuid": str(uuid.uuid4()),
             "receipt": "INJECTION"})
            .returning(responses.c.id))
        answers = db.session.execute(select(Answer.__table__).filter_by(response_id=first["id"]))
        store_answers([{**row._asdict(), "response_id": copy} for row in answers]
                      + [{"response_id": copy, "item_code": "comment", "text": INJECTION}])
        db.session.commit()
        yield campaign.id


def _export(app, campaign_id: int, fmt: str, path, **options):
    """Write one export inside an app context; return the row count."""
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        viewer = options.pop("viewer", None)
        return write_export(fmt, campaign, path, options=ExportOptions(**options), viewer=viewer)


def _sheet_rows(book, name: str) -> list[dict]:
    """A sheet's rows as dicts keyed by the header row."""
    rows = list(book[name].iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=False)) for r in rows[1:] if any(v is not None for v in r)]


def _weights_table(book) -> list[tuple]:
    """(unit, N_h) from the Phương pháp sheet's weights table."""
    rows = list(book["Phương pháp"].iter_rows(values_only=True))
    start = next(k for k, r in enumerate(rows) if r[0] == "Mã đơn vị") + 1
    out = []
    for r in rows[start:]:
        if not r[0] or r[2] is None:
            break
        out.append((r[0], r[2]))
    return out


def _close(a, b) -> bool:
    """Equal to 1e-9 relative (both None/NaN also equal)."""
    if a is None or b is None or (isinstance(b, float) and math.isnan(b)):
        return a is None and (b is None or math.isnan(b))
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def test_xlsx_numbers_equal_sipas_analyze_on_the_raw_csv_and_the_results_service(app, demo,
                                                                                 tmp_path):
    raw, report = tmp_path / "raw.csv", tmp_path / "report.xlsx"
    _export(app, demo, "csv", raw)
    _export(app, demo, "xlsx", report, weighting="design")
    book = load_workbook(report)
    pop = tmp_path / "pop.csv"
    pop.write_text("unit,population\n" + "".join(f"{u},{n}\n" for u, n in _weights_table(book)))
    result = CliRunner().invoke(analyze_command, [str(raw), "--questionnaire", "sipas-counter",
                                                  "--population", str(pop), "--by", "unit"])
    assert result.exit_code == 0, result.output
    analysed = {(tuple(sorted(e["domain"].items())), e["indicator"], e["kind"]): e
                for e in json.loads(result.output)["estimates"]}
    with app.app_context():
        service = campaign_results(demo, weighting="design", compare_to="none")
    checked = 0
    for sheet, domain_of in (("Tổng hợp", lambda r: ()),
                             ("Theo đơn vị", lambda r: (("unit", r["Mã đơn vị"]),))):
        for row in _sheet_rows(book, sheet):
            key = (domain_of(row), row["Mã chỉ số"], KINDS[row["Loại"]])
            want = analysed[key]
            if want["flag"] == "suppressed":
                assert row["Giá trị ước lượng"] is None
                continue
            for column, field in (("Giá trị ước lượng", "estimate"), ("Sai số chuẩn (SE)", "se"),
                                  ("Cận dưới KTC 95 %", "ci_low"), ("Cận trên KTC 95 %", "ci_high")):
                assert isinstance(row[column], int | float), (sheet, column)  # a number, not text
                assert _close(row[column], want[field]), (sheet, key, column)
            assert row["Số phiếu (n)"] == want["n"]
            checked += 1
    assert checked > 11 * 20
    for row in _sheet_rows(book, "Tổng hợp"):
        ours = service.overall_row(row["Mã chỉ số"], "mean" if row["Loại"] == "Điểm trung bình"
                                   else None)
        assert _close(row["Giá trị ước lượng"], ours.estimate) and _close(row["Cận trên KTC 95 %"],
                                                                          ours.hi)
    cell = book["Tổng hợp"]["E2"]
    assert cell.data_type == "n" and cell.number_format == "0.00"
    assert book["Tổng hợp"].freeze_panes == "A2"
    assert book.sheetnames[:3] == ["Tổng hợp", "Theo đơn vị", "Theo tiêu chí"]
    assert {"So sánh kỳ trước", "Phương pháp", "Dữ liệu thô", "Bảng mã"} <= set(book.sheetnames)


def test_raw_csv_has_a_bom_nfc_text_one_row_per_response_and_neutralised_text_only(app, demo,
                                                                                   tmp_path):
    path = tmp_path / "raw.csv"
    rows = _export(app, demo, "csv", path)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    text = data[3:].decode("utf-8")
    assert unicodedata.is_normalized("NFC", text)
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == rows
    with app.app_context():
        included = db.session.scalar(select(db.func.count()).select_from(Response).where(
            Response.campaign_id == demo, Response.excluded.is_(False)))
        hashes = [h for h in db.session.scalars(select(Response.ip_hash)) if h] + \
                 [h for h in db.session.scalars(select(Response.device_hash)) if h]
    assert rows == included and len({r["response_id"] for r in table}) == rows
    assert {r["questionnaire"] for r in table} == {"sipas-counter"}
    assert {r["questionnaire_version"] for r in table} == {"1"}
    assert "Phường An Hòa" in {r["unit_name"] for r in table}
    header = list(table[0])
    assert not [h for h in header if "ip" in h.split("_") or "device" in h or "agent" in h]
    assert hashes, "the demo's suspicious responses carry hashes to leak"
    assert not [h for h in hashes if h in text]
    commented = [r for r in table if r["comment"]]
    assert [r["comment"] for r in commented] == ["'" + INJECTION]
    ratings = [r["c1_1"] for r in table if r["c1_1"]]
    assert set(ratings) <= {"1", "2", "3", "4", "5"}  # numbers untouched
    assert any(r["flags"] for r in table)  # flagged responses are kept (and say so)


def test_sav_reads_back_with_vietnamese_variable_and_value_labels(app, demo, tmp_path):
    import pyreadstat
    path = tmp_path / "data.sav"
    rows = _export(app, demo, "sav", path)
    frame, meta = pyreadstat.read_sav(str(path), user_missing=True)
    assert len(frame) == rows > 500
    labels = meta.column_names_to_labels
    assert labels["c1_1"] == "Nơi ngồi chờ tại Bộ phận Tiếp nhận và Trả kết quả có đủ chỗ ngồi"
    assert labels["unit_name"] == "Tên đơn vị"
    assert meta.variable_value_labels["c1_1"][5] == "Rất hài lòng"
    assert meta.variable_value_labels["sex"] == {1: "Nam", 2: "Nữ"}
    assert meta.variable_value_labels["c1_2"][99] == "Không áp dụng / Không biết"
    assert meta.missing_ranges["c1_2"] == [{"lo": 99.0, "hi": 99.0}]
    assert "Phường An Hòa" in set(frame["unit_name"])
    assert set(frame["c1_1"].dropna()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert meta.file_label == "Khảo sát SIPAS Sa Đéc năm 2026"


def test_pdf_text_is_vietnamese_and_page_one_renders(app, demo, tmp_path):
    import pypdf
    import pypdfium2
    path = tmp_path / "report.pdf"
    _export(app, demo, "pdf", path, weighting="design")
    reader = pypdf.PdfReader(str(path))
    text = unicodedata.normalize("NFC", "\n".join(p.extract_text() for p in reader.pages))
    for words in ("BÁO CÁO KẾT QUẢ KHẢO SÁT", "THỦ TRƯỞNG CƠ QUAN", "Khảo sát SIPAS Sa Đéc năm 2026",
                  "Phường An Hòa", "Xã Tân Khánh Đông", "Tóm tắt kết quả", "Phương pháp",
                  "Đơn vị dưới ngưỡng tin cậy", "Gia quyền theo thiết kế"):
        assert words in text, words
    image = pypdfium2.PdfDocument(str(path))[0].render(scale=1).to_pil().convert("L")
    assert image.size[0] > 500
    dark = sum(image.histogram()[:128])
    assert dark > 1000  # the cover has text on it


def test_a_unit_managers_export_holds_their_subtree_only(app, demo, tmp_path):
    with app.app_context():
        ward = db.session.scalar(select(Unit).filter_by(code="SD-P1"))
        viewer = Narrowed(unit_id=ward.id, role="unit_manager")
    path, book_path = tmp_path / "raw.csv", tmp_path / "report.xlsx"
    rows = _export(app, demo, "csv", path, viewer=viewer)
    table = list(csv.DictReader(io.StringIO(path.read_bytes()[3:].decode("utf-8"))))
    assert rows == len(table) > 0 and {r["unit"] for r in table} == {"SD-P1"}
    _export(app, demo, "xlsx", book_path, viewer=viewer, weighting="design")
    book = load_workbook(book_path, read_only=True)
    assert {r["Mã đơn vị"] for r in _sheet_rows(book, "Theo đơn vị")} == {"SD-P1"}
    assert {r["unit"] for r in _sheet_rows(book, "Dữ liệu thô")} == {"SD-P1"}


def test_cli_bad_input_exits_1_and_writes_nothing(app, demo, tmp_path):
    runner = app.test_cli_runner()
    out = tmp_path / "out.xlsx"
    for args in (["--campaign", "khong-co", "--format", "xlsx"],
                 ["--campaign", CAMPAIGN_CODE, "--format", "docx"],
                 ["--campaign", CAMPAIGN_CODE, "--format", "xlsx", "--weighting", "magic"],
                 ["--campaign", CAMPAIGN_CODE, "--format", "csv", "--compare-to", "khong-co"],
                 ["--campaign", CAMPAIGN_CODE, "--format", "xlsx", "--compare-to", CAMPAIGN_CODE]):
        result = runner.invoke(args=["export", *args, "--output", str(out)])
        assert result.exit_code == 1, (args, result.output)
        assert "Error" in result.output
    result = runner.invoke(args=["export", "--campaign", CAMPAIGN_CODE, "--format", "csv",
                                 "--output", str(tmp_path / "missing" / "x.csv")])
    assert result.exit_code == 1
    result = runner.invoke(args=["export", "--format", "csv", "--output", str(out)])
    assert result.exit_code == 1 and "--campaign" in result.output
    assert list(tmp_path.iterdir()) == []  # nothing written, no partial file
    good = tmp_path / "ok.csv"
    result = runner.invoke(args=["export", "--campaign", CAMPAIGN_CODE, "--format", "csv",
                                 "--output", str(good)])
    assert result.exit_code == 0, result.output
    assert good.read_bytes().startswith(b"\xef\xbb\xbf") and [p.name for p in tmp_path.iterdir()] == [
        "ok.csv"]


def test_results_export_analyze_input_is_the_raw_csv(app, demo, tmp_path):
    from survey.services.results import export_analyze_input
    path = tmp_path / "raw.csv"
    _export(app, demo, "csv", path, include_flagged=False)
    buffer = io.BytesIO()
    with app.app_context():
        size = export_analyze_input(demo, buffer, include_flagged=False)
    assert size == len(buffer.getvalue()) and buffer.getvalue() == path.read_bytes()
    table = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert table and not [r for r in table if r["flags"]]  # flagged responses left out


def test_comparison_sheet_equals_the_results_service(app, demo, tmp_path):
    import numpy as np

    from survey.models import EntryPoint
    from survey.questionnaires import load_questionnaire
    from survey.services.demo import _responses
    with app.app_context():
        now = db.session.get(Campaign, demo)
        earlier = Campaign(code="sadec-2025", name="Khảo sát SIPAS Sa Đéc năm 2025",
                           questionnaire_version_id=now.questionnaire_version_id,
                           starts_on=now.starts_on.replace(year=2025),
                           ends_on=now.ends_on.replace(year=2025), weighting="equal")
        db.session.add(earlier)
        db.session.flush()
        plan = [(e, 1, 0.7) for e in db.session.scalars(
            select(EntryPoint).filter_by(campaign_id=demo, kind="static"))]
        _responses(np.random.default_rng(5), load_questionnaire("sipas-counter"),
                   now.questionnaire_version, earlier, plan, 400)
        db.session.commit()
        earlier_id = earlier.id
        service = campaign_results(demo, weighting="unweighted", compare_to=earlier_id)
    path = tmp_path / "report.xlsx"
    _export(app, demo, "xlsx", path, weighting="unweighted", compare_to=earlier_id)
    rows = [r for r in _sheet_rows(load_workbook(path, read_only=True), "So sánh kỳ trước")
            if r.get("Mã chỉ số")]  # the note under the table names the earlier campaign
    want = {(r.domain, r.indicator, r.kind): r for r in service.comparison.rows}
    overall = [r for r in rows if r["Đơn vị"] == "Chung"]
    assert overall and len(rows) == len(want)
    for row in overall:
        match = [w for (d, i, _), w in want.items() if d == "" and i == row["Mã chỉ số"]
                 and _close(row["Chênh lệch Δ"], w.delta)]
        assert match, row
        assert _close(row["Giá trị p"], match[0].p_value)
        assert row["Có ý nghĩa (p < 0,05)"] == ("Có" if match[0].p_value < 0.05 else "Không")
    pdf = tmp_path / "report.pdf"
    _export(app, demo, "pdf", pdf, weighting="unweighted", compare_to=earlier_id)
    import pypdf
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(str(pdf)).pages)
    assert "So sánh với kỳ trước: Khảo sát SIPAS Sa Đéc năm 2025" in text
