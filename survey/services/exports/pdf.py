"""PDF report to print and sign (fpdf2, DejaVu embedded): the same numbers as the XLSX.

Sections: cover with signature block, summary, charts (R6's :mod:`survey.services.report_charts`
as PNG, each with its description), a table per unit, the comparison with an earlier period,
the method note (weighting and formula, intervals, exclusions, weights per unit) and the units
below the reliability threshold.
"""

from __future__ import annotations

import io
import math
from datetime import datetime
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.fonts import FontFace

from ...printing.fonts import add_fonts
from ..results_tables import REASONS
from .report_data import ReportData, below_threshold, flag_text, ordered, report_data

MARGIN = 15.0
BLUE = (11, 79, 138)
LOW_N = (128, 128, 128)


class _Report(FPDF):
    """A4 portrait with the campaign in the header and page numbers in the footer."""

    title_text = ""

    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.set_font("sans", "", 8)
        self.set_text_color(90)
        self.cell(0, 6, self.title_text, align="L")
        self.ln(8)
        self.set_text_color(0)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("sans", "", 8)
        self.set_text_color(90)
        self.cell(0, 6, f"Trang {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0)


def write_pdf(campaign, fh, *, options, viewer, progress) -> int:
    """Write the PDF report to ``fh``; return the number of units in it."""
    progress(0.05, "Đang tính kết quả")
    data = report_data(campaign, options, viewer)
    pdf = _Report(unit="mm", format="A4")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(True, margin=16)
    pdf.set_creator("SIPAS")
    pdf.set_title(f"Báo cáo kết quả khảo sát: {campaign.name}")
    add_fonts(pdf)
    pdf.title_text = f"Báo cáo kết quả khảo sát SIPAS · {campaign.name}"
    _cover(pdf, data)
    _summary(pdf, data)
    progress(0.3, "Đang vẽ biểu đồ")
    _charts(pdf, data)
    progress(0.6, "Đang ghi các bảng")
    units = _unit_tables(pdf, data)
    _comparison(pdf, data)
    _method(pdf, data)
    _below(pdf, data)
    fh.write(bytes(pdf.output()))
    progress(1.0, "Xong")
    return units


def _num(x: float | None, digits: int = 1) -> str:
    """A number with a decimal comma, or a dash."""
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x:,.{digits}f}".replace(",", " ").replace(".", ",").replace(" ", ".")


def _heading(pdf: FPDF, text: str, size: float = 14) -> None:
    """A section heading (new line, blue, bold)."""
    pdf.ln(3)
    pdf.set_font("sans", "B", size)
    pdf.set_text_color(*BLUE)
    pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.ln(1)


def _para(pdf: FPDF, text: str, size: float = 10) -> None:
    """A paragraph of body text."""
    pdf.set_font("sans", "", size)
    pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


def _cover(pdf: FPDF, data: ReportData) -> None:
    """Title page: campaign, period, questionnaire, weighting, scope, signature block."""
    c, res = data.campaign, data.results
    pdf.add_page()
    pdf.set_y(40)
    pdf.set_font("sans", "B", 18)
    pdf.multi_cell(0, 9, "BÁO CÁO KẾT QUẢ KHẢO SÁT\nSỰ HÀI LÒNG CỦA NGƯỜI DÂN, TỔ CHỨC\n"
                         "ĐỐI VỚI SỰ PHỤC VỤ CỦA CƠ QUAN HÀNH CHÍNH NHÀ NƯỚC", align="C")
    pdf.ln(8)
    pdf.set_font("sans", "B", 14)
    pdf.multi_cell(0, 7, c.name, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    now = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%d/%m/%Y %H:%M")
    lines = [f"Thời gian khảo sát: {c.starts_on:%d/%m/%Y} – {c.ends_on:%d/%m/%Y}",
             f"Bảng hỏi: {res.questionnaire}",
             f"Cách tính: {res.weighting.name}",
             f"Số phiếu được tính: {_num(res.settings.get('n_included'), 0)}",
             f"Lập lúc: {now}"]
    if data.scoped:
        lines.append(res.overall_scope.get("vi", ""))
    pdf.set_font("sans", "", 11)
    for line in lines:
        pdf.multi_cell(0, 6, line, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(-80)
    pdf.set_font("sans", "B", 11)
    half = (pdf.w - 2 * MARGIN) / 2
    pdf.cell(half, 6, "NGƯỜI LẬP BÁO CÁO", align="C")
    pdf.cell(half, 6, "THỦ TRƯỞNG CƠ QUAN", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("sans", "", 9)
    pdf.cell(half, 5, "(Ký, ghi rõ họ tên)", align="C")
    pdf.cell(half, 5, "(Ký tên, đóng dấu)", align="C", new_x="LMARGIN", new_y="NEXT")


def _table(pdf: FPDF, headers: list[str], rows: list[tuple[list[str], bool]],
           widths: tuple[float, ...], size: float = 8) -> None:
    """A table with a repeated bold header; rows flagged low-n are grey."""
    pdf.set_font("sans", "", size)
    head = FontFace(emphasis="BOLD", color=(255, 255, 255), fill_color=BLUE)
    with pdf.table(col_widths=widths, headings_style=head, line_height=size * 0.55,
                   text_align="LEFT", repeat_headings=1) as table:
        table.row(headers)
        for cells, grey in rows:
            style = FontFace(color=LOW_N) if grey else None
            table.row(cells, style=style)
    pdf.ln(2)


ROW_HEADERS = ["Chỉ số", "Giá trị", "KTC 95 %", "n", "n hiệu dụng", "Ghi chú"]


def _row_headers(data: ReportData) -> list[str]:
    """ROW_HEADERS; with PAPI-compatible intervals the interval column says ±1,645·SE."""
    if data.results.settings.get("papi_intervals"):
        return [("±1,645·SE" if h == "KTC 95 %" else h) for h in ROW_HEADERS]
    return ROW_HEADERS
ROW_WIDTHS = (70, 16, 26, 14, 16, 38)


def _row_cells(data: ReportData, row, label: str) -> tuple[list[str], bool]:
    """Cells of an estimate row (a suppressed row shows no numbers)."""
    ind = data.results.indicator(row.indicator)
    share = ind.scale == "percent" and row.kind != "mean"
    unit = " %" if share else ""
    digits = 1 if share else 2  # points (mean scores, PAPI 0.25–2.5 … 8–80) need two decimals
    ci = "—" if row.lo is None else f"{_num(row.lo, digits)} – {_num(row.hi, digits)}"
    note = {"low_n": "Ít phiếu, chỉ tham khảo", "suppressed": "Không công bố (quá ít câu trả lời)"
            }.get(row.flag, "")
    return ([label, _num(row.estimate, digits) + (unit if row.estimate is not None else ""), ci,
             _num(row.n, 0), _num(row.n_eff, 0), note], row.flag == "low_n")


def _labelled(data: ReportData, row) -> str:
    """Indicator label, indented by its depth, with code."""
    ind = data.results.indicator(row.indicator)
    mean = " (điểm trung bình)" if row.kind == "mean" else ""
    return f"{'   ' * ind.depth}{ind.code} · {ind.label.get('vi', ind.code)}{mean}"


def _summary(pdf: FPDF, data: ReportData) -> None:
    """Summary: the index and its elements overall, counts."""
    res, s = data.results, data.results.settings
    pdf.add_page()
    _heading(pdf, "1. Tóm tắt kết quả")
    _para(pdf, f"{res.overall_scope.get('vi', '')} Phiếu được tính: {_num(s.get('n_included'), 0)}; "
               f"phiếu bị loại: {_num(s.get('n_excluded'), 0)}; phiếu có dấu hiệu bất thường: "
               f"{_num(s.get('n_flagged'), 0)} "
               f"({'được giữ lại' if data.options.include_flagged else 'bị bỏ ra'}).")
    rows = [_row_cells(data, r, _labelled(data, r)) for r in ordered(data, res.overall)
            if r.kind != "mean" and res.indicator(r.indicator).kind != "criterion"]
    _table(pdf, _row_headers(data), rows, ROW_WIDTHS, size=9)
    if res.ranking:
        _heading(pdf, "Xếp hạng đơn vị theo chỉ số chung", 11)
        rank_rows = [([r.label.get("vi", r.unit), _num(r.estimate), str(r.rank),
                       f"{r.rank_low}–{r.rank_high} / {r.of}", r.group or "—"], r.flag == "low_n")
                     for r in res.ranking]
        _table(pdf, ["Đơn vị", "Giá trị", "Hạng", "Khoảng hạng 95 %", "Nhóm"], rank_rows,
               (70, 20, 16, 34, 40), size=9)
        _para(pdf, res.ranking_note.get("vi", ""), 8)


def _charts(pdf: FPDF, data: ReportData) -> None:
    """Charts as images with their titles and descriptions (text equivalents)."""
    from .. import report_charts
    charts = [report_charts.unit_bars(data.results), report_charts.trend(data.results),
              report_charts.priority_matrix(data.results)]
    pdf.add_page()
    _heading(pdf, "2. Biểu đồ")
    for chart in charts:
        _heading(pdf, chart.title, 11)
        if chart.empty:
            _para(pdf, chart.description, 9)
            continue
        width = pdf.w - 2 * MARGIN
        pdf.image(io.BytesIO(chart.png(dpi=110)), w=width)
        _para(pdf, chart.description, 8)


def _unit_tables(pdf: FPDF, data: ReportData) -> int:
    """3. One table per unit: every indicator (share, and mean score of criteria)."""
    table = data.results.table("unit")
    pdf.add_page()
    _heading(pdf, "3. Kết quả theo đơn vị")
    if table is None:
        return 0
    for code, label in table.domains:
        rows = [r for r in table.rows if r.domain == code and r.kind != "mean"]
        _heading(pdf, f"{label.get('vi', code)} ({code})", 11)
        _table(pdf, _row_headers(data), [_row_cells(data, r, _labelled(data, r))
                                  for r in ordered(data, rows)], ROW_WIDTHS)
    return len(table.domains)


def _comparison(pdf: FPDF, data: ReportData) -> None:
    """4. Changes against the earlier campaign, when one was chosen."""
    comparison = data.results.comparison
    if comparison is None:
        return
    pdf.add_page()
    _heading(pdf, f"4. So sánh với kỳ trước: {comparison.campaign_name}")
    if comparison.error:
        _para(pdf, comparison.error)
        return
    _para(pdf, comparison.method, 9)
    labels = {i.code: i.code for i in data.results.indicators}
    rows = [([r.label.get("vi", r.domain) if r.domain else "Chung", labels.get(r.indicator, ""),
              _num(r.current), _num(r.previous), _num(r.delta),
              f"{_num(r.lo)} – {_num(r.hi)}", _num(r.p_value, 3),
              "Có" if r.significant else "Không"], False)
            for r in comparison.rows if r.kind != "mean"]
    _table(pdf, ["Đơn vị", "Chỉ số", "Kỳ này", "Kỳ trước", "Δ", "KTC 95 % của Δ", "p",
                 "Có ý nghĩa"], rows, (40, 16, 16, 16, 16, 30, 14, 32))


def _method(pdf: FPDF, data: ReportData) -> None:
    """5. Method note: weighting and formula, intervals, exclusions, weights per unit."""
    res, s = data.results, data.results.settings
    pdf.add_page()
    _heading(pdf, "5. Phương pháp")
    w = res.weighting
    _para(pdf, f"Cách gia quyền: {w.name}. {w.description}")
    _para(pdf, f"Công thức: {w.formula}")
    _para(pdf, "Tỷ lệ hài lòng của một tiêu chí là tỷ lệ (có trọng số) câu trả lời Hài lòng hoặc "
               "Rất hài lòng (4–5) trên số câu trả lời hợp lệ (không tính “không áp dụng” và câu "
               "bỏ trống). Chỉ số thành phần và chỉ số SIPAS là trung bình cộng các chỉ số con "
               "theo cây chỉ số của bảng hỏi.")
    _para(pdf, f"Khoảng tin cậy: phương pháp {s.get('ci_method', data.options.ci)}, mức "
               f"{_num(100 * s.get('level', 0.95), 0)} %; phương sai tuyến tính hoá Taylor theo "
               "tầng (mỗi đơn vị là một tầng), khớp với gói survey của R. Điểm trung bình: Wald "
               "với phân phối t."
               + (" Khoảng kiểu PAPI (cột ±1,645·SE): ước lượng ± 1,645·SE, PAPI gọi là KTC 95 % "
                  "nhưng thực chất là khoảng 90 %." if s.get("papi_intervals") else ""))
    _para(pdf, f"Loại trừ: {_num(s.get('n_excluded'), 0)} phiếu bị loại sau khi xem xét không "
               f"được tính; phiếu có dấu hiệu bất thường "
               f"{'được giữ lại' if data.options.include_flagged else 'bị bỏ ra'}.")
    _para(pdf, f"Ngưỡng tin cậy. {REASONS['suppressed'][0]}. {REASONS['low_n'][0]}.")
    if data.weights:
        _heading(pdf, "Trọng số theo đơn vị", 11)
        rows = [([r.name, r.unit, _num(r.population, 0), _num(r.respondents, 0),
                  _num(r.weight, 2)], False) for r in data.weights]
        _table(pdf, ["Đơn vị", "Mã", "Số hồ sơ N_h", "Số phiếu n_h", "Trọng số w_h"], rows,
               (70, 26, 30, 30, 24), size=9)


def _below(pdf: FPDF, data: ReportData) -> None:
    """6. Units below the reliability threshold."""
    _heading(pdf, "6. Đơn vị dưới ngưỡng tin cậy")
    below = below_threshold(data)
    if not below:
        _para(pdf, "Không có đơn vị nào dưới ngưỡng tin cậy.")
        return
    rows = [([name, code, _num(row.n, 0), flag_text(row)], row.flag == "low_n")
            for code, name, row in below]
    _table(pdf, ["Đơn vị", "Mã", "Số phiếu", "Lý do"], rows, (60, 24, 20, 76), size=9)
