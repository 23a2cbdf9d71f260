"""The three printed layouts: A4 poster, A4 sheet of 3×8 slips with cut marks, 80 mm receipt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .fonts import add_fonts
from .qr import draw_qr, qr_matrix

if TYPE_CHECKING:  # fpdf2 is imported when a document is made, not with every app (0.1 s)
    from fpdf import FPDF

INVITE_VI = "Quét mã QR để đánh giá mức độ hài lòng"
INVITE_EN = "Scan the QR code to rate your satisfaction"
SLIP_COLS, SLIP_ROWS = 3, 8
SHEET_MARGIN_X, SHEET_MARGIN_Y = 6.0, 8.0  # mm; inside what office printers can reach
RECEIPT_WIDTH, RECEIPT_HEIGHT = 80.0, 108.0


@dataclass(frozen=True)
class PrintItem:
    """One code to print with the words around it."""

    code: str
    url: str
    unit_name: str
    counter_name: str | None = None
    field_name: str | None = None
    typed_url: str | None = None  # where the code can be typed (``https://host/c``)
    single_use: bool = False

    @property
    def shown_code(self) -> str:
        """The code as printed, in two groups for reading aloud: ``ABCD-EFGH``."""
        c = self.code
        return f"{c[:4]}-{c[4:]}" if len(c) == 8 else c


def render(kind: str, items: list[PrintItem]) -> bytes:
    """PDF bytes for ``kind`` in ('poster', 'slips', 'receipt')."""
    renderers = {"poster": render_poster, "slips": render_slips, "receipt": render_receipts}
    if kind not in renderers:
        raise ValueError(f"unknown print kind {kind!r}")
    return renderers[kind](items)


def _document(fmt) -> FPDF:
    """A new PDF with the embedded DejaVu faces, no automatic page breaks."""
    from fpdf import FPDF

    pdf = FPDF(unit="mm", format=fmt)
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.set_creator("SIPAS")
    add_fonts(pdf)
    return pdf


def _centred(pdf: FPDF, y: float, text: str, size: float, *, style: str = "", family: str = "sans",
             width: float | None = None, x: float = 0, grey: bool = False) -> float:
    """Centred text (wrapped) starting at ``y``; return the y below it."""
    width = width or pdf.w
    pdf.set_font(family, style, size)
    pdf.set_text_color(80 if grey else 0)
    pdf.set_xy(x, y)
    pdf.multi_cell(width, size * 0.45, text, align="C")
    return pdf.get_y()


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """``text`` shortened with an ellipsis to fit ``width`` mm in the current font."""
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def render_poster(items: list[PrintItem]) -> bytes:
    """One A4 page per code: names, the invitation in Vietnamese then English, a QR up to 150 mm."""
    pdf = _document("A4")
    for item in items:
        pdf.add_page()
        y = _centred(pdf, 14, item.unit_name, 20, style="B", width=180, x=15)
        if item.counter_name:
            y = _centred(pdf, y + 2, item.counter_name, 16, width=180, x=15)
        y = _centred(pdf, y + 8, INVITE_VI, 22, style="B", width=190, x=10)
        y = _centred(pdf, y + 1, INVITE_EN, 13, width=190, x=10, grey=True)
        size = min(150.0, pdf.h - 70 - y)  # leave room for the code and the typed address
        draw_qr(pdf, qr_matrix(item.url), (pdf.w - size) / 2, y + 8, size)
        y += size + 14
        if item.field_name:
            y = _centred(pdf, y, f"Lĩnh vực: {item.field_name}", 13)
        y = _centred(pdf, y + 2, item.url, 14)
        y = _centred(pdf, y + 3, f"Mã: {item.shown_code}", 26, style="B", family="mono")
        if item.typed_url:
            _centred(pdf, y + 3, f"Không quét được? Mở {item.typed_url} và nhập mã.", 11, grey=True)
    return bytes(pdf.output())


def render_slips(items: list[PrintItem]) -> bytes:
    """A4 sheets of 3×8 slips with cut marks; each slip: QR, the code, where to type it."""
    pdf = _document("A4")
    cell_w = (pdf.w - 2 * SHEET_MARGIN_X) / SLIP_COLS
    cell_h = (pdf.h - 2 * SHEET_MARGIN_Y) / SLIP_ROWS
    per_page = SLIP_COLS * SLIP_ROWS
    for start in range(0, len(items), per_page):
        pdf.add_page()
        _cut_marks(pdf, cell_w, cell_h)
        for i, item in enumerate(items[start:start + per_page]):
            row, col = divmod(i, SLIP_COLS)
            _slip(pdf, item, SHEET_MARGIN_X + col * cell_w, SHEET_MARGIN_Y + row * cell_h,
                  cell_w, cell_h)
    return bytes(pdf.output())


def _slip(pdf: FPDF, item: PrintItem, x: float, y: float, w: float, h: float) -> None:
    """One slip in the cell at (x, y): QR on the left (4-module quiet zone), text on the right."""
    pad = 3.5
    size = h - 2 * pad
    draw_qr(pdf, qr_matrix(item.url), x + pad, y + pad, size)
    tx, tw = x + size + 2 * pad, w - size - 2.5 * pad
    pdf.set_text_color(0)
    pdf.set_font("sans", "", 6)
    unit = _wrap(pdf, item.unit_name, tw, 2)
    lines = [("sans", "B", 6.2, "Quét QR để đánh giá"),
             ("sans", "", 5.4, "Scan to rate our service"),
             *[("sans", "", 6, part) for part in unit],
             ("sans", "", 6, item.counter_name or ""),
             ("mono", "B", 10.5, item.shown_code),
             ("sans", "", 5.4, "Chỉ dùng một lần · single use" if item.single_use else ""),
             ("sans", "", 5.4, item.typed_url or "")]
    ty = y + pad - 0.5
    for family, style, size_pt, text in lines:
        step = size_pt * 0.42 + 0.45
        if text:
            pdf.set_font(family, style, size_pt)
            while pdf.get_string_width(text) > tw and size_pt > 4.2:  # shrink a long host first
                size_pt -= 0.2
                pdf.set_font(family, style, size_pt)
            pdf.set_xy(tx, ty)
            pdf.cell(tw, step, _fit(pdf, text, tw))
        ty += step


def _wrap(pdf: FPDF, text: str, width: float, max_lines: int) -> list[str]:
    """Greedy word wrap into at most ``max_lines`` lines (the last one shortened if needed)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if current and pdf.get_string_width(trial) > width:
            lines.append(current)
            current = word
        else:
            current = trial
    lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines - 1] + [" ".join(lines[max_lines - 1:])]
    return lines


def _cut_marks(pdf: FPDF, cell_w: float, cell_h: float) -> None:
    """Short ticks in the margins and small crosses at inner corners, where to cut."""
    pdf.set_draw_color(90)
    pdf.set_line_width(0.15)
    mx, my, tick = SHEET_MARGIN_X, SHEET_MARGIN_Y, 1.5
    for c in range(SLIP_COLS + 1):
        x = mx + c * cell_w
        pdf.line(x, my - 5, x, my - 1)
        pdf.line(x, pdf.h - my + 1, x, pdf.h - my + 5)
    for r in range(SLIP_ROWS + 1):
        y = my + r * cell_h
        pdf.line(mx - 5, y, mx - 1, y)
        pdf.line(pdf.w - mx + 1, y, pdf.w - mx + 5, y)
    for c in range(1, SLIP_COLS):
        for r in range(1, SLIP_ROWS):
            x, y = mx + c * cell_w, my + r * cell_h
            pdf.line(x - tick, y, x + tick, y)
            pdf.line(x, y - tick, x, y + tick)


def render_receipts(items: list[PrintItem]) -> bytes:
    """80 mm thermal-receipt pages, one code each (72 mm printable width)."""
    pdf = _document((RECEIPT_WIDTH, RECEIPT_HEIGHT))
    body, left = 72.0, (RECEIPT_WIDTH - 72.0) / 2
    for item in items:
        pdf.add_page()
        y = _centred(pdf, 4, "PHIẾU ĐÁNH GIÁ SỰ HÀI LÒNG", 10, style="B", width=body, x=left)
        y = _centred(pdf, y + 1, item.unit_name, 8.5, width=body, x=left)
        if item.counter_name:
            y = _centred(pdf, y, item.counter_name, 8.5, width=body, x=left)
        y = _centred(pdf, y + 1.5, INVITE_VI, 8.5, style="B", width=body, x=left)
        y = _centred(pdf, y, INVITE_EN, 7, width=body, x=left)
        size = 48.0
        draw_qr(pdf, qr_matrix(item.url), (RECEIPT_WIDTH - size) / 2, y + 3, size)
        y = _centred(pdf, y + size + 6, item.shown_code, 16, style="B", family="mono",
                     width=body, x=left)
        if item.typed_url:
            y = _centred(pdf, y + 1, f"hoặc nhập mã tại {item.typed_url}", 7.5, width=body, x=left)
        if item.single_use:
            _centred(pdf, y + 1, "Mã chỉ dùng cho một lần đánh giá.", 7.5, width=body, x=left)
    return bytes(pdf.output())
