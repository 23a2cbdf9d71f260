"""XLSX report (openpyxl, write-only): the sheets Nội vụ files, Vietnamese headers.

Sheets: Tổng hợp, Theo đơn vị, Theo tiêu chí, Theo nhóm, So sánh kỳ trước, Phương pháp,
Dữ liệu thô and Bảng mã.  Numbers are stored as numbers at full precision (the number format
only rounds what is displayed), headers are frozen and columns sized.  Text cells are
neutralised against formula injection; suppressed figures are empty cells with the reason.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from ..integrity import neutralise_cell
from .raw import iter_rows, raw_export
from .report_data import (
    KIND_WORDS,
    ReportData,
    below_threshold,
    flag_text,
    ordered,
    report_data,
    value,
)

EXCEL_ROWS = 1_048_575  # rows below the header in one sheet
HEAD_FONT = Font(bold=True, color="FFFFFF")
HEAD_FILL = PatternFill("solid", fgColor="0B4F8A")
GREY_FONT = Font(color="808080")
FORMATS = {"est": "0.00", "se": "0.000", "int": "#,##0", "p": "0.0000", "w": "#,##0.00"}
# Columns of an estimate row: (header, width, format key, attribute of the Row)
ESTIMATE = [("Giá trị ước lượng", 12, "est", "estimate"), ("Sai số chuẩn (SE)", 11, "se", "se"),
            ("Cận dưới KTC 95 %", 11, "est", "lo"), ("Cận trên KTC 95 %", 11, "est", "hi"),
            ("Số phiếu (n)", 10, "int", "n"), ("Số câu trả lời hợp lệ", 11, "int", "n_answered"),
            ("Cỡ mẫu hiệu dụng (n_eff)", 12, "w", "n_eff"), ("Hệ số thiết kế (deff)", 11, "se", "deff")]


def write_xlsx(campaign, fh, *, options, viewer, progress) -> int:
    """Write the XLSX report to ``fh``; return the number of raw rows."""
    progress(0.02, "Đang tính kết quả")
    data = report_data(campaign, options, viewer)
    progress(0.3, "Đang ghi các bảng")
    book = Workbook(write_only=True)
    _summary(book, data)
    _units(book, data)
    _criteria(book, data)
    _groups(book, data)
    _comparison(book, data)
    _method(book, data)
    export = raw_export(campaign, viewer=viewer, include_flagged=options.include_flagged)
    rows = _raw(book, export, progress)
    _codebook(book, export)
    progress(0.98, "Đang lưu tệp")
    book.save(fh)
    return rows


def _sheet(book, title: str, headers: list[tuple[str, int]]):
    """A sheet with a styled, frozen header row and column widths."""
    sheet = book.create_sheet(title)
    sheet.freeze_panes = "A2"
    for k, (_, width) in enumerate(headers, 1):
        sheet.column_dimensions[get_column_letter(k)].width = width
    cells = []
    for name, _ in headers:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font, cell.fill = HEAD_FONT, HEAD_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        cells.append(cell)
    sheet.append(cells)
    return sheet


def _cell(sheet, v, fmt: str | None = None, grey: bool = False):
    """A cell: text neutralised, numbers with a number format."""
    cell = WriteOnlyCell(sheet, value=neutralise_cell(v) if isinstance(v, str) else v)
    if fmt and isinstance(v, int | float):
        cell.number_format = FORMATS[fmt]
    if grey:
        cell.font = GREY_FONT
    return cell


def _estimate_cells(sheet, row) -> list:
    """The estimate columns of a Row (empty when suppressed, grey when low-n), then the note."""
    grey = row.flag == "low_n"
    cells = [_cell(sheet, value(getattr(row, attr)), fmt, grey) for _, _, fmt, attr in ESTIMATE]
    return cells + [_cell(sheet, flag_text(row))]


def _estimate_headers(papi: bool = False) -> list[tuple[str, int]]:
    """Headers of the estimate columns and the note (PAPI-compatible bounds say so)."""
    return [(_bound(h, papi), w) for h, w, _, _ in ESTIMATE] + [("Ghi chú", 50)]


def _bound(header: str, papi: bool) -> str:
    """An interval-bound header: ``KTC 95 %``, or PAPI's ± 1.645·SE when that was asked for."""
    return header.replace("KTC 95 %", "(±1,645·SE, kiểu PAPI)") if papi else header


def _papi(data: ReportData) -> bool:
    """The report carries PAPI-compatible intervals (estimate ± 1.645·SE)."""
    return bool(data.results.settings.get("papi_intervals"))


def _indicator_cells(sheet, data: ReportData, row) -> list:
    """Code, name, kind and scale of the row's indicator."""
    ind = data.results.indicator(row.indicator)
    scale = "điểm" if row.kind == "mean" else ("%" if ind.scale == "percent" else
                                               f"{ind.low:g}–{ind.high:g}")
    return [_cell(sheet, row.indicator), _cell(sheet, ind.label.get("vi", ind.code)),
            _cell(sheet, KIND_WORDS.get(row.kind, ind.kind)), _cell(sheet, scale)]


INDICATOR_HEADERS = [("Mã chỉ số", 10), ("Chỉ số", 48), ("Loại", 16), ("Thang đo", 9)]


def _summary(book, data: ReportData) -> None:
    """Tổng hợp: every indicator overall."""
    sheet = _sheet(book, "Tổng hợp", INDICATOR_HEADERS + _estimate_headers(_papi(data)))
    for row in ordered(data, data.results.overall):
        sheet.append(_indicator_cells(sheet, data, row) + _estimate_cells(sheet, row))


def _units(book, data: ReportData) -> None:
    """Theo đơn vị: every indicator per unit, with the rank on the root index."""
    headers = [("Mã đơn vị", 12), ("Đơn vị", 30)] + INDICATOR_HEADERS + _estimate_headers(
        _papi(data)) + [
        ("Hạng", 7), ("Khoảng hạng 95 %", 12), ("Trên số đơn vị", 9), ("Nhóm", 16)]
    sheet = _sheet(book, "Theo đơn vị", headers)
    table = data.results.table("unit")
    ranks = {r.unit: r for r in data.results.ranking}
    if table is None:
        return
    names = dict(table.domains)
    position = {code: k for k, (code, _) in enumerate(table.domains)}
    for row in sorted(ordered(data, table.rows), key=lambda r: position[r.domain]):
        cells = [_cell(sheet, row.domain), _cell(sheet, names[row.domain].get("vi", row.domain))]
        cells += _indicator_cells(sheet, data, row) + _estimate_cells(sheet, row)
        rank = ranks.get(row.domain) if row.indicator == data.results.root and row.kind != "mean" \
            else None
        if rank:
            cells += [_cell(sheet, rank.rank, "int"), _cell(sheet, f"{rank.rank_low}–{rank.rank_high}"),
                      _cell(sheet, rank.of, "int"), _cell(sheet, rank.group or "")]
        sheet.append(cells)


def _criteria(book, data: ReportData) -> None:
    """Theo tiêu chí: each criterion (and element) overall, share and mean score side by side."""
    headers = [("Mã", 8), ("Tiêu chí", 60), ("Thuộc", 8)] + [
        (f"Chỉ số: {_bound(h, _papi(data))}", w) for h, w, _, _ in ESTIMATE[:4]] + [
        ("Số câu trả lời hợp lệ", 11), ("Điểm trung bình", 11), ("Cận dưới", 9),
        ("Cận trên", 9), ("Ghi chú", 40)]
    sheet = _sheet(book, "Theo tiêu chí", headers)
    for ind in data.results.indicators:
        if ind.kind == "index":
            continue
        share = data.results.overall_row(ind.code)
        mean = data.results.overall_row(ind.code, "mean")
        if share is None:
            continue
        grey = share.flag == "low_n"
        cells = [_cell(sheet, ind.code), _cell(sheet, ind.label.get("vi", ind.code)),
                 _cell(sheet, ind.parent or "")]
        cells += [_cell(sheet, value(getattr(share, a)), f, grey) for _, _, f, a in ESTIMATE[:4]]
        cells.append(_cell(sheet, share.n_answered, "int"))
        for attr in ("estimate", "lo", "hi"):
            cells.append(_cell(sheet, value(getattr(mean, attr)) if mean else None, "est", grey))
        cells.append(_cell(sheet, flag_text(share)))
        sheet.append(cells)


def _groups(book, data: ReportData) -> None:
    """Theo nhóm: per procedure field and per demographic answer."""
    headers = [("Chia theo", 26), ("Mã nhóm", 14), ("Nhóm", 26)] + INDICATOR_HEADERS + \
        _estimate_headers(_papi(data))
    sheet = _sheet(book, "Theo nhóm", headers)
    for table in data.results.tables:
        if table.key == "unit":
            continue
        names = dict(table.domains)
        for row in table.rows:
            label = names.get(row.domain, {}).get("vi", row.domain)
            sheet.append([_cell(sheet, table.title.get("vi", table.key)), _cell(sheet, row.domain),
                          _cell(sheet, label)] + _indicator_cells(sheet, data, row)
                         + _estimate_cells(sheet, row))


def _comparison(book, data: ReportData) -> None:
    """So sánh kỳ trước: Δ with SE, CI, p and the significance marker."""
    headers = [("Đơn vị", 26), ("Mã chỉ số", 10), ("Chỉ số", 40), ("Kỳ này", 10), ("Kỳ trước", 10),
               ("Chênh lệch Δ", 11), ("SE của Δ", 10), ("Cận dưới KTC 95 %", 11),
               ("Cận trên KTC 95 %", 11), ("Giá trị p", 10), ("Có ý nghĩa (p < 0,05)", 12)]
    sheet = _sheet(book, "So sánh kỳ trước", headers)
    comparison = data.results.comparison
    if comparison is None:
        sheet.append([_cell(sheet, "Không so sánh với kỳ trước (chọn một đợt trước để so sánh).")])
        return
    if comparison.error:
        sheet.append([_cell(sheet, comparison.error)])
        return
    labels = {i.code: i.label.get("vi", i.code) for i in data.results.indicators}
    for row in comparison.rows:
        sheet.append([_cell(sheet, row.label.get("vi", row.domain) if row.domain else "Chung"),
                      _cell(sheet, row.indicator), _cell(sheet, labels.get(row.indicator, "")),
                      _cell(sheet, value(row.current), "est"), _cell(sheet, value(row.previous), "est"),
                      _cell(sheet, value(row.delta), "est"), _cell(sheet, value(row.se), "se"),
                      _cell(sheet, value(row.lo), "est"), _cell(sheet, value(row.hi), "est"),
                      _cell(sheet, value(row.p_value), "p"),
                      _cell(sheet, "Có" if row.significant else "Không")])
    sheet.append([])
    sheet.append([_cell(sheet, f"So với: {comparison.campaign_name} ({comparison.period[0]} – "
                               f"{comparison.period[1]}). {comparison.method}")])


def _method(book, data: ReportData) -> None:
    """Phương pháp: campaign, weighting and formula, CI method, exclusions, thresholds, weights."""
    sheet = _sheet(book, "Phương pháp", [("Mục", 34), ("Nội dung", 110), ("", 14), ("", 14)])
    res, c, s = data.results, data.campaign, data.results.settings
    w = res.weighting
    now = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%d/%m/%Y %H:%M")
    lines = [
        ("Đợt khảo sát", f"{c.name} ({c.code})"),
        ("Thời gian khảo sát", f"{c.starts_on:%d/%m/%Y} – {c.ends_on:%d/%m/%Y}"),
        ("Bảng hỏi", res.questionnaire),
        ("Cách gia quyền", f"{w.name}: {w.description}"),
        ("Công thức trọng số", w.formula),
        ("Chỉ số", "Theo cây chỉ số của bảng hỏi. SIPAS: tỷ lệ hài lòng của tiêu chí = tỷ lệ (có "
                   "trọng số) câu trả lời 4–5 (Hài lòng, Rất hài lòng) trên số câu trả lời hợp "
                   "lệ; chỉ số thành phần và chỉ số chung là trung bình cộng các chỉ số con. "
                   "“Không áp dụng” và câu bỏ trống không được tính."),
        ("Khoảng tin cậy", f"{s.get('ci_method', data.options.ci)}, mức {s.get('level', 0.95):g}; "
                           "phương sai tuyến tính hoá Taylor theo tầng (đơn vị), khớp gói survey "
                           "của R; điểm trung bình: Wald với phân phối t."
                           + ("; khoảng kiểu PAPI: ước lượng ± 1,645·SE (PAPI gọi là KTC 95 %, "
                              "thực chất là khoảng 90 %)" if _papi(data) else "")),
        ("Phạm vi của số liệu chung", res.overall_scope.get("vi", "")),
        ("Phiếu được tính", s.get("n_included")),
        ("Phiếu bị loại (không tính)", s.get("n_excluded")),
        ("Phiếu có dấu hiệu bất thường",
         f"{s.get('n_flagged', 0)} ({'được giữ lại' if data.options.include_flagged else 'bị bỏ ra'})"),
        ("Ít phiếu (chỉ tham khảo)", "dưới 30 câu trả lời hợp lệ hoặc nửa khoảng tin cậy > 10 điểm"),
        ("Không công bố", "dưới 10 câu trả lời hợp lệ (bộ phiếu kiểu PAPI: dưới 15), hoặc đơn vị "
                          "chỉ có 1 phiếu"),
        ("Xếp hạng", res.ranking_note.get("vi", "")),
        ("Dữ liệu thô", "Trang “Dữ liệu thô” là đầu vào của lệnh sipas analyze (cột unit, mã câu "
                        "hỏi; NA = không áp dụng); “Bảng mã” giải thích từng cột."),
        ("Lập lúc", now),
    ]
    for key, text in lines:
        sheet.append([_cell(sheet, key), _cell(sheet, text, "int")])
    sheet.append([])
    sheet.append([_cell(sheet, "Trọng số theo đơn vị"), _cell(sheet, "Số hồ sơ đã trả kết quả (N_h) · "
                                                                    "số phiếu (n_h) · trọng số w_h")])
    sheet.append([_cell(sheet, "Mã đơn vị"), _cell(sheet, "Đơn vị"), _cell(sheet, "N_h"),
                  _cell(sheet, "n_h"), _cell(sheet, "w_h")])
    for row in data.weights:
        sheet.append([_cell(sheet, row.unit), _cell(sheet, row.name),
                      _cell(sheet, row.population, "int"), _cell(sheet, row.respondents, "int"),
                      _cell(sheet, row.weight, "w")])
    below = below_threshold(data)
    if below:
        sheet.append([])
        sheet.append([_cell(sheet, "Đơn vị dưới ngưỡng tin cậy"), _cell(sheet, "")])
        for code, name, row in below:
            sheet.append([_cell(sheet, code), _cell(sheet, f"{name}: {flag_text(row)}")])


def _raw(book, export, progress) -> int:
    """Dữ liệu thô: the raw rows (write-only, streamed), the same columns as the raw CSV."""
    headers = [(c.name, max(8, min(len(c.name) + 2, 24))) for c in export.columns]
    sheet = _sheet(book, "Dữ liệu thô", headers)
    text_cols = {k for k, c in enumerate(export.columns) if c.kind == "text"}
    total = max(export.count(), 1)
    if total > EXCEL_ROWS:
        sheet.append([_cell(sheet, f"{total:,} phiếu: nhiều hơn số dòng Excel cho phép "
                                   f"({EXCEL_ROWS:,}); hãy dùng tệp dữ liệu thô CSV.")])
        return 0
    n = 0
    for n, row in enumerate(iter_rows(export), 1):
        sheet.append([neutralise_cell(v) if k in text_cols and v is not None else v
                      for k, v in enumerate(row)])
        if n % 5000 == 0:
            progress(0.3 + 0.65 * n / total, f"{n:,} / {total:,}")
    return n


def _codebook(book, export) -> None:
    """Bảng mã: each raw column's label, type and values."""
    sheet = _sheet(book, "Bảng mã", [("Cột", 18), ("Nội dung", 70), ("Kiểu", 14), ("Giá trị", 80)])
    q = export.questionnaire
    for col in export.columns:
        item = col.item
        kind, values = ("số" if col.kind == "number" else "chữ"), ""
        if item is not None:
            kind = item.type
            if item.options:
                values = "; ".join(f"{o.code} = {o.label.get('vi', o.code)}" for o in item.options)
                if item.type == "multiple_choice":
                    values += " (nhiều lựa chọn, cách nhau bởi ;)"
            elif item.type in ("satisfaction", "scale", "yes_no"):
                labels = q.labels_for(item)
                values = "; ".join(f"{k} = {v.get('vi', k)}" for k, v in sorted(labels.items()))
                if item.allow_na:
                    values += "; NA = Không áp dụng / Không biết"
            values += ("; " if values else "") + "trống = không trả lời"
        sheet.append([_cell(sheet, col.name), _cell(sheet, col.label), _cell(sheet, kind),
                      _cell(sheet, values)])
