"""Imports: unit tree and transaction counts, validated whole, all or nothing, Vietnamese headers."""

from __future__ import annotations

import io
import unicodedata
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import AuditLog, PopulationCount, ProcedureField, Unit
from survey.services.imports import Column, ImportRejected, code, integer, parse_table, read_table
from survey.services.population import import_population
from survey.services.units import import_units
from tests.web.workspace_support import make_unit, make_user

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "imports"


def _bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _snapshot() -> dict:
    """Everything an import may touch: units (all columns), population counts, audit entries."""
    return {
        "units": sorted(db.session.execute(select(Unit.code, Unit.name, Unit.level, Unit.parent_id)).all()),
        "population": sorted(db.session.execute(select(
            PopulationCount.unit_id, PopulationCount.field_id, PopulationCount.month,
            PopulationCount.transactions)).all(), key=str),
        "audit": db.session.scalar(select(func.count(AuditLog.id))),
    }


def _tree() -> dict[str, tuple[str, str, str | None]]:
    return {u.code: (u.name, u.level, u.parent.code if u.parent else None)
            for u in db.session.scalars(select(Unit))}


def _xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_unit_csv_with_vietnamese_headers_and_bom_builds_the_tree(app):
    with app.app_context():
        summary = import_units(_bytes("units.csv"), "units.csv", user=None, actor="cli")
        db.session.commit()
        assert (summary.rows, summary.created, summary.updated) == (6, 6, 0)
        tree = _tree()
        assert tree["SD"] == ("Thành phố Sa Đéc", "city", None)
        assert tree["SD-P1"] == ("Phường 1", "ward", "SD")
        assert tree["SD-TX"][1:] == ("commune", "SD")
        assert tree["SD-NV"][1] == "department" and tree["SD-TT"][1] == "centre"
        entry = db.session.scalar(select(AuditLog).filter_by(action="units.import"))
        assert entry.details["created"] == 6 and entry.details["filename"] == "units.csv"


def test_unit_reimport_updates_names_and_parents_without_duplicates(app):
    with app.app_context():
        import_units(_bytes("units.csv"), "units.csv", user=None, actor="cli")
        db.session.commit()
        ids = {u.code: u.id for u in db.session.scalars(select(Unit))}
        again = ("Mã đơn vị,Tên đơn vị,Cấp,Mã đơn vị cha\n"
                 "SD,Thành phố Sa Đéc,Thành phố,\n"
                 "SD-P1,Phường Một,Phường,SD-TT\n"          # renamed and moved
                 "SD-P2,Phường 2,Phường,SD\n")              # unchanged
        summary = import_units(again.encode(), "again.csv", user=None, actor="cli")
        db.session.commit()
        assert (summary.created, summary.updated, summary.unchanged) == (0, 1, 2)
        assert db.session.scalar(select(func.count(Unit.id))) == 6
        assert {u.code: u.id for u in db.session.scalars(select(Unit))} == ids
        assert _tree()["SD-P1"] == ("Phường Một", "ward", "SD-TT")


def test_unit_csv_with_a_bad_row_is_rejected_whole_and_changes_nothing(app):
    with app.app_context():
        import_units(_bytes("units.csv"), "units.csv", user=None, actor="cli")
        db.session.commit()
        before = _snapshot()
        with pytest.raises(ImportRejected) as caught:
            import_units(_bytes("units-bad-row.csv"), "units-bad-row.csv", user=None, actor="cli")
        db.session.rollback()
        errors = caught.value.errors
        assert [(e.row, e.column) for e in errors] == [(5, "Cấp")]
        assert "Quận huyện gì đó" in errors[0].message
        assert str(errors[0]).startswith("Dòng 5, cột «Cấp»:")
        # The good rows (a rename of SD, a new SD-P3) were not written either.
        assert _snapshot() == before
        assert "SD-P3" not in _tree() and _tree()["SD"][0] == "Thành phố Sa Đéc"


def test_every_error_of_a_unit_file_is_reported_at_once(app):
    with app.app_context():
        make_unit("OLD", "Đơn vị cũ", "city")
        db.session.commit()
        before = _snapshot()
        content = ("Mã đơn vị,Tên đơn vị,Cấp,Mã đơn vị cha\n"
                   "A,Đơn vị A,xã,B\n"
                   "B,Đơn vị B,xã,A\n"            # A ↔ B cycle
                   "C,Đơn vị C,xã,NOWHERE\n"      # unknown parent
                   "A,Đơn vị A lần hai,xã,\n"     # duplicate code
                   "D,,xã,OLD\n"                  # empty name
                   "E F,Đơn vị E,xã,OLD\n"        # bad code
                   "G,Đơn vị G,xã,G\n")           # own parent
        with pytest.raises(ImportRejected) as caught:
            import_units(content.encode(), "many.csv", user=None, actor="cli")
        db.session.rollback()
        found = {(e.row, e.column) for e in caught.value.errors}
        assert {(2, "Mã đơn vị cha"), (3, "Mã đơn vị cha"), (4, "Mã đơn vị cha"), (5, "Mã đơn vị"),
                (6, "Tên đơn vị"), (7, "Mã đơn vị"), (8, "Mã đơn vị cha")} <= found
        messages = " ".join(str(e) for e in caught.value.errors)
        assert "vòng lặp" in messages and "NOWHERE" in messages and "trùng với dòng 2" in messages
        assert _snapshot() == before


def test_a_cycle_through_existing_units_is_refused(app):
    with app.app_context():
        import_units(_bytes("units.csv"), "units.csv", user=None, actor="cli")
        db.session.commit()
        # SD would become a child of its own child SD-P1.
        with pytest.raises(ImportRejected) as caught:
            import_units("Mã đơn vị,Tên đơn vị,Cấp,Mã đơn vị cha\nSD,Sa Đéc,thành phố,SD-P1\n".encode(),
                         "x.csv", user=None, actor="cli")
        assert caught.value.errors[0].row == 2 and "SD → SD-P1 → SD" in str(caught.value.errors[0])


def test_unit_xlsx_with_english_headers_and_numeric_codes(app):
    with app.app_context():
        data = _xlsx([["code", "name", "level", "parent_code"],
                      [87, "Tỉnh Đồng Tháp", "province", None],
                      [None, None, None, None],
                      [87001, "Thành phố Sa Đéc", "city", 87]])
        summary = import_units(data, "tree.xlsx", user=None, actor="cli")
        db.session.commit()
        assert summary.created == 2
        assert _tree()["87001"] == ("Thành phố Sa Đéc", "city", "87")


def test_xlsx_errors_name_the_spreadsheet_row(app):
    with app.app_context():
        data = _xlsx([["Mã đơn vị", "Tên đơn vị", "Cấp"],
                      ["X1", "Xã Một", "xã"],
                      ["X2", "Xã Hai", "huyện lỵ"]])
        with pytest.raises(ImportRejected) as caught:
            import_units(data, "tree.xlsx", user=None, actor="cli")
        assert [(e.row, e.column) for e in caught.value.errors] == [(3, "Cấp")]
        assert db.session.scalar(select(func.count(Unit.id))) == 0


def test_headers_match_without_case_or_diacritics_and_text_becomes_nfc(app):
    with app.app_context():
        decomposed = "Phường 1".replace("ờ", "ơ\u0300")          # NFD-ish input from some editors
        content = f"MA DON VI;ten don vi;CẤP\nP1;{decomposed};PHƯỜNG\n"
        import_units(content.encode(), "nfd.csv", user=None, actor="cli")
        unit = db.session.scalar(select(Unit).filter_by(code="P1"))
        assert unit.name == "Phường 1" and unit.level == "ward"


def _cp1258(value: str) -> bytes:
    """Windows-1258 as Vietnamese Windows writes it: base letter, then a combining tone mark."""
    tones = "\u0300\u0301\u0303\u0309\u0323"
    out = []
    for ch in value:
        parts = unicodedata.normalize("NFD", ch)
        base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in tones))
        out.append(base + "".join(c for c in parts if c in tones))
    return "".join(out).encode("cp1258")


def test_windows_1258_csv_is_read(app):
    with app.app_context():
        content = "Mã đơn vị,Tên đơn vị,Cấp\nX1,Xã Tân Phú Đông,xã\n"
        assert _cp1258(content) != content.encode("utf-8")
        import_units(_cp1258(content), "old.csv", user=None, actor="cli")
        assert db.session.scalar(select(Unit.name).filter_by(code="X1")) == "Xã Tân Phú Đông"


def test_missing_required_column_is_reported_on_the_header_row(app):
    with app.app_context():
        with pytest.raises(ImportRejected) as caught:
            import_units("Mã đơn vị,Tên đơn vị\nX,Xã X\n".encode(), "x.csv", user=None, actor="cli")
        (error,) = caught.value.errors
        assert (error.row, error.column) == (1, "Cấp") and "Thiếu cột" in error.message


def test_files_that_are_not_tables_are_refused(app):
    with app.app_context():
        for data in (b"", b"\xd0\xcf\x11\xe0 old excel", b"PK\x03\x04 broken zip",
                     "Mã đơn vị,Tên đơn vị,Cấp\n".encode()):
            with pytest.raises(ImportRejected) as caught:
                import_units(data, "x", user=None, actor="cli")
            assert caught.value.errors[0].row in (0, 1)


def test_framework_parses_columns_for_other_imports():
    """The reusable part: a column spec turns a table into typed rows or row/column errors."""
    columns = [Column("id", ("Mã phiếu", "id"), code(16)),
               Column("score", ("Điểm", "score"), integer(1, 5)),
               Column("note", ("Ghi chú", "note"), required=False, blank_ok=True)]
    table = read_table("Mã phiếu,Điểm\nR1,5\nR2,7\nR3,x\n,3\n".encode())
    rows, errors = parse_table(table, columns)
    assert rows[0].values == {"id": "R1", "score": 5, "note": None}
    assert [(e.row, e.column) for e in errors] == [(3, "Điểm"), (4, "Điểm"), (5, "Mã phiếu")]
    assert "không lớn hơn 5" in errors[0].message and "trống" in errors[2].message


def test_a_ward_admin_cannot_import_outside_their_subtree(app):
    with app.app_context():
        import_units(_bytes("units.csv"), "units.csv", user=None, actor="cli")
        p1 = db.session.scalar(select(Unit).filter_by(code="SD-P1"))
        clerk = make_user("admin.p1", "admin", p1)
        db.session.commit()
        before = _snapshot()
        content = ("Mã đơn vị,Tên đơn vị,Cấp,Mã đơn vị cha\n"
                   "SD-P1-KP1,Khu phố 1,khác,SD-P1\n"     # inside: fine
                   "SD-P2,Phường Hai,phường,SD\n"          # a sibling: outside
                   "NEW,Đơn vị mới,xã,SD\n"               # new, but under the city
                   "SD-P1,Phường 1,phường,SD-TT\n")       # moving own unit
        with pytest.raises(ImportRejected) as caught:
            import_units(content.encode(), "x.csv", user=clerk, actor=clerk.username)
        db.session.rollback()
        assert [e.row for e in caught.value.errors] == [3, 4, 5]
        assert _snapshot() == before
        ok = "Mã đơn vị,Tên đơn vị,Cấp,Mã đơn vị cha\nSD-P1-KP1,Khu phố 1,khác,SD-P1\n"
        assert import_units(ok.encode(), "ok.csv", user=clerk, actor=clerk.username).created == 1


# --- transaction counts ------------------------------------------------------------------------

def _fields():
    db.session.add_all([ProcedureField(code="HT", name="Hộ tịch"), ProcedureField(code="DD", name="Đất đai"),
                        ProcedureField(code="CT", name="Chứng thực")])
    db.session.flush()


def _counts() -> dict:
    rows = db.session.execute(select(Unit.code, ProcedureField.code, PopulationCount.month,
                                     PopulationCount.transactions)
                              .join(Unit, Unit.id == PopulationCount.unit_id)
                              .outerjoin(ProcedureField, ProcedureField.id == PopulationCount.field_id))
    return {(u, f, m): n for u, f, m, n in rows}


def test_population_import_per_unit_field_month(app):
    with app.app_context():
        import_units(_bytes("units.csv"), "units.csv", user=None, actor="cli")
        _fields()
        summary = import_population(_bytes("population.csv"), "population.csv", user=None, actor="cli")
        db.session.commit()
        assert summary.created == 5
        assert _counts() == {
            ("SD-P1", "HT", date(2026, 1, 1)): 120, ("SD-P1", "DD", date(2026, 1, 1)): 80,
            ("SD-P1", None, date(2026, 2, 1)): 210, ("SD-P2", "HT", date(2026, 1, 1)): 1250,
            ("SD-P2", "CT", date(2026, 2, 1)): 300,   # field given by its name
        }
        assert db.session.scalar(select(AuditLog).filter_by(action="population.import")).details[
            "months"] == ["2026-01", "2026-02"]


def test_population_reimport_of_a_month_replaces_instead_of_adding(app):
    with app.app_context():
        import_units(_bytes("units.csv"), "units.csv", user=None, actor="cli")
        _fields()
        import_population(_bytes("population.csv"), "population.csv", user=None, actor="cli")
        db.session.commit()
        corrected = ("Mã đơn vị,Mã lĩnh vực,Tháng,Năm,Số hồ sơ\n"
                     "SD-P1,HT,1,2026,125\n"      # corrected
                     "SD-P1,,2,2026,210\n"        # same (no field: NULL must still match)
                     "SD-P1,HT,3,2026,90\n")      # new month
        summary = import_population(corrected.encode(), "fix.csv", user=None, actor="cli")
        db.session.commit()
        assert (summary.created, summary.updated, summary.unchanged) == (1, 1, 1)
        counts = _counts()
        assert len(counts) == 6 and db.session.scalar(select(func.count(PopulationCount.id))) == 6
        assert counts[("SD-P1", "HT", date(2026, 1, 1))] == 125
        assert counts[("SD-P1", None, date(2026, 2, 1))] == 210


def test_population_errors_are_all_reported_and_nothing_is_written(app):
    with app.app_context():
        import_units(_bytes("units.csv"), "units.csv", user=None, actor="cli")
        _fields()
        import_population(_bytes("population.csv"), "population.csv", user=None, actor="cli")
        db.session.commit()
        before = _snapshot()
        data = _xlsx([["Mã đơn vị", "Lĩnh vực", "Tháng", "Số hồ sơ đã trả kết quả"],
                      ["SD-P1", "HT", "01/2026", 999],          # fine, but must not be written
                      ["NOPE", "HT", "01/2026", 5],             # unknown unit
                      ["SD-P1", "Xây dựng", "01/2026", 5],      # unknown field
                      ["SD-P2", "HT", "13/2026", 5],            # bad month
                      ["SD-P2", "HT", 3, 5],                    # month number without a year
                      ["SD-P2", "DD", "2026-01", -4],           # negative
                      ["SD-P2", "DD", "2026-01", 2.5],          # not whole
                      ["SD-P1", "HT", date(2026, 1, 9), 7]])    # same key as row 2
        with pytest.raises(ImportRejected) as caught:
            import_population(data, "bad.xlsx", user=None, actor="cli")
        db.session.rollback()
        assert [(e.row, e.column) for e in caught.value.errors] == [
            (3, "Mã đơn vị"), (4, "Lĩnh vực"), (5, "Tháng"), (6, "Tháng"),
            (7, "Số hồ sơ đã trả kết quả"), (8, "Số hồ sơ đã trả kết quả"), (9, "Tháng")]
        assert _snapshot() == before


def test_command_line_imports_print_rows_and_columns(app, runner, tmp_path):
    with app.app_context():
        bad = runner.invoke(args=["units", "import", str(FIXTURES / "units-bad-row.csv")])
        assert bad.exit_code == 1
        assert "units-bad-row.csv:5: «Cấp»: Giá trị «Quận huyện gì đó» không hợp lệ" in bad.output
        assert db.session.scalar(select(func.count(Unit.id))) == 0
        good = runner.invoke(args=["units", "import", str(FIXTURES / "units.csv")])
        assert good.exit_code == 0 and "6 rows: 6 created" in good.output
        _fields()
        db.session.commit()
        counts = runner.invoke(args=["population", "import", str(FIXTURES / "population.csv")])
        assert counts.exit_code == 0, counts.output
        again = runner.invoke(args=["population", "import", str(FIXTURES / "population.csv")])
        assert "5 unchanged" in again.output
        counters = tmp_path / "quay.csv"
        counters.write_text("Mã đơn vị,Mã quầy,Tên quầy\nSD-P1,Q1,Quầy 1\n", encoding="utf-8")
        assert "1 created" in runner.invoke(args=["counters", "import", str(counters)]).output
        fields = tmp_path / "linh-vuc.csv"
        fields.write_text("Mã lĩnh vực,Tên lĩnh vực\nXD,Xây dựng\n", encoding="utf-8")
        assert "1 created" in runner.invoke(args=["fields", "import", str(fields)]).output


def test_one_unit_by_hand_follows_the_import_rules(app):
    from survey.services.units import UnitError, save_unit
    with app.app_context():
        import_units(_bytes("units.csv"), "units.csv", user=None, actor="cli")
        sd = db.session.scalar(select(Unit).filter_by(code="SD"))
        p1 = db.session.scalar(select(Unit).filter_by(code="SD-P1"))
        admin = make_user("admin.sd", "admin", sd)
        kp = save_unit(None, code_="SD-P1-KP1", name="Khu phố 1", level="other", parent_id=p1.id,
                       user=admin, actor="admin.sd")
        for change, field in (({"parent_id": kp.id}, "parent_id"),          # below its own child
                              ({"code_": "SD-P2"}, "code"),                  # another unit's code
                              ({"level": "district"}, "level"),
                              ({"parent_id": None}, "parent_id")):          # out of the subtree
            values = {"code_": "SD-P1", "name": "Phường 1", "level": "ward", "parent_id": sd.id} | change
            with pytest.raises(UnitError) as caught:
                save_unit(p1, user=admin, actor="admin.sd", **values)
            assert caught.value.field == field, change
        with pytest.raises(UnitError):   # an admin cannot move their own unit
            save_unit(sd, code_="SD", name="Sa Đéc", level="city", parent_id=p1.id, user=admin,
                      actor="admin.sd")


def test_report_exported_with_title_rows_and_a_total_row(app):
    """One-stop software exports a report: title lines above the headers, a total at the foot."""
    with app.app_context():
        import_units(_bytes("units.csv"), "units.csv", user=None, actor="cli")
        _fields()
        db.session.commit()
        data = _xlsx([["UBND THÀNH PHỐ SA ĐÉC"],
                      ["BÁO CÁO TÌNH HÌNH GIẢI QUYẾT HỒ SƠ THÁNG 01/2026"],
                      [],
                      ["STT", "Mã đơn vị", "Tên đơn vị", "Lĩnh vực", "Tháng", "Số hồ sơ đã trả kết quả"],
                      [1, "SD-P1", "Phường 1", "Hộ tịch", "01/2026", 120],
                      [2, "SD-P2", "Phường 2", "Hộ tịch", "01/2026", "x"],
                      ["Tổng cộng", None, None, None, None, 200]])
        with pytest.raises(ImportRejected) as caught:
            import_population(data, "report.xlsx", user=None, actor="cli")
        # Rows keep the numbers Excel shows: the bad value is on row 6.
        assert [(e.row, e.column) for e in caught.value.errors] == [(6, "Số hồ sơ đã trả kết quả")]
        db.session.rollback()
        fixed = _xlsx([["BÁO CÁO"], ["Mã đơn vị", "Lĩnh vực", "Tháng", "Số hồ sơ"],
                       ["SD-P1", "Hộ tịch", "01/2026", 120], ["Tổng cộng:", None, None, 120]])
        assert import_population(fixed, "report.xlsx", user=None, actor="cli").created == 1


def test_headers_nowhere_near_the_top_are_reported_on_row_one(app):
    with app.app_context():
        with pytest.raises(ImportRejected) as caught:
            import_units("Báo cáo\nkhông có bảng\n".encode(), "x.csv", user=None, actor="cli")
        assert {e.row for e in caught.value.errors} == {1}
        assert {e.column for e in caught.value.errors} == {"Mã đơn vị", "Tên đơn vị", "Cấp"}


# --- counters and procedure fields (the same framework) -----------------------------------------

def test_counter_import_upserts_by_unit_and_code(app):
    from survey.models import Counter
    from survey.services.reference_imports import import_counters
    with app.app_context():
        import_units(_bytes("units.csv"), "units.csv", user=None, actor="cli")
        first = ("Mã đơn vị,Mã quầy,Tên quầy,Dải mạng\n"
                 "SD-P1,Q1,Quầy 1,10.1.1.0/24\n"
                 "SD-P1,Q2,Quầy 2,\n"
                 "SD-P2,Q1,Quầy một,10.2.0.9/16; 192.168.1.0/24\n")
        assert import_counters(first.encode(), "q.csv", user=None, actor="cli").created == 3
        db.session.commit()
        again = "Mã đơn vị,Mã quầy,Tên quầy\nSD-P1,Q1,Quầy số 1\nSD-P1,Q2,Quầy 2\n"
        summary = import_counters(again.encode(), "q.csv", user=None, actor="cli")
        db.session.commit()
        assert (summary.created, summary.updated, summary.unchanged) == (0, 1, 1)
        counters = {(c.unit.code, c.code): (c.name, c.network_cidr)
                    for c in db.session.scalars(select(Counter))}
        assert counters == {("SD-P1", "Q1"): ("Quầy số 1", None), ("SD-P1", "Q2"): ("Quầy 2", None),
                            ("SD-P2", "Q1"): ("Quầy một", "10.2.0.0/16, 192.168.1.0/24")}
        before = _snapshot()
        bad = ("Mã đơn vị,Mã quầy,Tên quầy,Dải mạng\n"
               "SD-P1,Q3,Quầy 3,\n"                 # fine, but not written
               "NOPE,Q1,Quầy,\n"                    # unknown unit
               "SD-P1,Q3,Quầy 3 lặp,\n"             # same counter twice
               "SD-P2,Q2,Quầy 2,999.1.1.1/8\n")     # bad network
        with pytest.raises(ImportRejected) as caught:
            import_counters(bad.encode(), "bad.csv", user=None, actor="cli")
        db.session.rollback()
        assert [(e.row, e.column) for e in caught.value.errors] == [
            (3, "Mã đơn vị"), (4, "Mã quầy"), (5, "Dải mạng")]
        assert _snapshot() == before


def test_field_import_upserts_by_code(app):
    from survey.services.reference_imports import import_fields
    with app.app_context():
        data = _xlsx([["Mã lĩnh vực", "Tên lĩnh vực", "Tên tiếng Anh", "Mã thủ tục"],
                      ["HT", "Hộ tịch", "Civil status", "1.000893"], ["DD", "Đất đai", None, None]])
        assert import_fields(data, "f.xlsx", user=None, actor="cli").created == 2
        db.session.commit()
        again = "code,name\nHT,Hộ tịch\nCT,Chứng thực\n"
        summary = import_fields(again.encode(), "f.csv", user=None, actor="cli")
        assert (summary.created, summary.updated, summary.unchanged) == (1, 1, 0)
        assert db.session.scalar(select(ProcedureField.name_en).filter_by(code="HT")) is None
        with pytest.raises(ImportRejected) as caught:
            import_fields("code,name\nX,Một\nX,Hai\n".encode(), "f.csv", user=None, actor="cli")
        assert [(e.row, e.column) for e in caught.value.errors] == [(3, "code")]


def test_a_subtree_file_may_leave_the_own_units_parent_empty(app):
    with app.app_context():
        import_units(_bytes("units.csv"), "units.csv", user=None, actor="cli")
        p1 = db.session.scalar(select(Unit).filter_by(code="SD-P1"))
        admin = make_user("admin.p1", "admin", p1)
        db.session.commit()
        own_tree = ("Mã đơn vị,Tên đơn vị,Cấp,Mã đơn vị cha\n"
                    "SD-P1,Phường 1 (tên mới),phường,\n"      # empty: keeps SD as its parent
                    "SD-P1-KP2,Khu phố 2,khác,SD-P1\n")
        summary = import_units(own_tree.encode(), "p1.csv", user=admin, actor="admin.p1")
        assert (summary.created, summary.updated) == (1, 1)
        assert _tree()["SD-P1"] == ("Phường 1 (tên mới)", "ward", "SD")
