"""A4 paper questionnaires: every answer with its code, a serial number and a QR per form.

Pure rendering, like the other layouts: a :class:`PaperDocument` (the questionnaire as printed,
see ``survey.services.paper_codes.layout``) and one :class:`PaperCopy` per form in, PDF bytes
out. Each copy starts on a new page; every page carries the serial number in its footer, so a
loose second sheet still finds its form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .fonts import add_fonts
from .qr import draw_qr, qr_matrix

if TYPE_CHECKING:  # fpdf2 is imported when a form is printed, not with every app (0.1 s)
    from fpdf import FPDF

LEFT, RIGHT, TOP, BOTTOM = 15.0, 15.0, 12.0, 16.0  # mm
WIDTH = 210.0 - LEFT - RIGHT
QR_SIZE = 30.0
CODE_W = 9.0  # one answer code cell
LINE = 4.2  # body line height at 9 pt
HOW_TO = ("Cách trả lời: khoanh tròn mã số bên cạnh câu trả lời của Ông/Bà (mỗi câu một mã; câu "
          "ghi «chọn nhiều» thì khoanh các mã phù hợp). Câu không muốn trả lời xin để trống.")


@dataclass(frozen=True)
class PaperCopy:
    """One printed form: its serial number and the online version of the same form."""

    serial: str
    url: str
    unit_name: str
    counter_name: str | None = None
    campaign_name: str | None = None

    @property
    def shown_serial(self) -> str:
        """``123-456-789`` for a nine-digit serial, otherwise as it is."""
        s = self.serial
        return f"{s[:3]}-{s[3:6]}-{s[6:]}" if len(s) == 9 and s.isdigit() else s


@dataclass(frozen=True)
class PaperDocument:
    """What every copy shares: title, introduction, legend, sections of numbered questions.

    ``sections`` are objects with ``title``, ``intro``, ``condition`` and ``questions``; each
    question has ``number``, ``text``, ``codes`` ((code, label) pairs), ``kind`` (``coded``,
    ``multi``, ``number``, ``text``), ``condition`` and ``item`` (its ``type``).
    """

    title: str
    intro: str | None
    legend: str | None
    sections: tuple
    thanks: str | None = None


def render_paper(document: PaperDocument, copies: list[PaperCopy]) -> bytes:
    """PDF bytes: every copy of the form, each starting on a new A4 page."""
    from fpdf import FPDF

    pdf = FPDF(unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(LEFT, TOP, RIGHT)
    pdf.set_creator("SIPAS")
    pdf.set_title(document.title)
    add_fonts(pdf)
    for copy in copies:
        first = pdf.page + 1
        _copy(pdf, document, copy)
        last = pdf.page
        for number in range(first, last + 1):  # footers once the copy's page count is known
            pdf.page = number
            _footer(pdf, copy, number - first + 1, last - first + 1)
        pdf.page = last
    return bytes(pdf.output())


def _copy(pdf: FPDF, doc: PaperDocument, copy: PaperCopy) -> None:
    """One form: header with QR and serial, instructions, sections, thanks."""
    pdf.add_page()
    y = _header(pdf, doc, copy)
    if doc.intro:
        y = _text(pdf, y, doc.intro, 8.5, width=WIDTH) + 1
    y = _text(pdf, y, HOW_TO, 8.5, style="B", width=WIDTH) + 0.5
    if doc.legend:
        y = _text(pdf, y, doc.legend, 8.5, width=WIDTH) + 1
    pdf.set_y(y)
    for section in doc.sections:
        _section(pdf, section, copy)
    if doc.thanks:
        _ensure(pdf, 10, copy)
        _text(pdf, pdf.get_y() + 3, doc.thanks, 9.5, style="B", width=WIDTH, align="C")


def _header(pdf: FPDF, doc: PaperDocument, copy: PaperCopy) -> float:
    """Title, unit, campaign and serial on the left; the QR to the online form on the right."""
    qr_x = 210 - RIGHT - QR_SIZE
    draw_qr(pdf, qr_matrix(copy.url), qr_x, TOP, QR_SIZE)
    _text(pdf, TOP + QR_SIZE + 2.5, "Quét mã để trả lời trên điện thoại", 6.5, width=QR_SIZE + 12,
          x=qr_x - 6, align="C")
    text_w = qr_x - LEFT - 8
    y = _text(pdf, TOP, "PHIẾU KHẢO SÁT (BẢN GIẤY)", 8, width=text_w, grey=True)
    y = _text(pdf, y + 0.5, doc.title, 11.5, style="B", width=text_w)
    y = _text(pdf, y + 1, f"Đơn vị: {copy.unit_name}", 9, width=text_w)
    if copy.counter_name:
        y = _text(pdf, y, f"Quầy: {copy.counter_name}", 9, width=text_w)
    if copy.campaign_name:
        y = _text(pdf, y, f"Đợt khảo sát: {copy.campaign_name}", 9, width=text_w)
    _serial(pdf, LEFT, y + 1.5, copy, 12)
    return max(y + 9, TOP + QR_SIZE + 6)


def _serial(pdf: FPDF, x: float, y: float, copy: PaperCopy, size: float, suffix: str = "") -> None:
    """"Số phiếu:" then the serial in the monospaced face (which has no Vietnamese letters)."""
    pdf.set_font("sans", "B", size)
    pdf.set_xy(x, y)
    label = "Số phiếu: "
    pdf.cell(pdf.get_string_width(label), size * 0.45, label)
    pdf.set_font("mono", "B", size + 1)
    pdf.cell(pdf.get_string_width(copy.shown_serial) + 1, size * 0.45, copy.shown_serial)
    if suffix:
        pdf.set_font("sans", "", size - 2)
        pdf.cell(20, size * 0.45, suffix)


def _footer(pdf: FPDF, copy: PaperCopy, page: int, pages: int) -> None:
    """Serial number and page of the form at the foot of a page.

    Drawn after the copy's last page, back on each page: fpdf2 writes a font change into a
    page only when the font differs from its current one, so another face is chosen first to
    make sure this page's stream gets its own font selection.
    """
    pdf.set_font("mono", "B", 7.5)
    pdf.set_font("sans", "", 7.5)
    pdf.set_text_color(80)
    pdf.set_xy(LEFT, 297 - BOTTOM + 6)
    pdf.cell(WIDTH, 4, f"Số phiếu {copy.shown_serial} · Trang {page}/{pages}", align="R")
    pdf.set_text_color(0)


def _ensure(pdf: FPDF, height: float, copy: PaperCopy) -> None:
    """Start a new page of the same form when ``height`` mm no longer fit."""
    if pdf.get_y() + height > 297 - BOTTOM:
        pdf.add_page()
        _serial(pdf, LEFT + WIDTH - 62, TOP, copy, 9, "(tiếp)")
        pdf.set_y(TOP + 7)


def _text(pdf: FPDF, y: float, text: str, size: float, *, style: str = "", width: float,
          x: float = LEFT, align: str = "L", grey: bool = False) -> float:
    """Wrapped text from ``y``; return the y below it.

    Lines are broken once per text and width (:func:`_lines`) and drawn as single cells: every
    copy of a batch repeats the same texts, and fpdf2's line breaking is most of the work.
    """
    pdf.set_font("sans", style, size)
    pdf.set_text_color(80 if grey else 0)
    step = size * 0.45
    lines = _lines(pdf, text, size, width, style)
    for i, line in enumerate(lines):
        pdf.set_xy(x, y + i * step)
        pdf.cell(width, step, line, align=align)
    pdf.set_text_color(0)
    bottom = y + len(lines) * step
    pdf.set_xy(x, bottom)
    return bottom


_LINES: dict[tuple, list[str]] = {}


def _lines(pdf: FPDF, text: str, size: float, width: float, style: str = "") -> list[str]:
    """``text`` broken into lines that fit ``width`` mm (computed once per process and text)."""
    key = (text, size, width, style)
    if key not in _LINES:
        if len(_LINES) > 10_000:
            _LINES.clear()
        pdf.set_font("sans", style, size)
        _LINES[key] = pdf.multi_cell(width, size * 0.45, text, dry_run=True, output="LINES")
    return _LINES[key]


def _height(pdf: FPDF, text: str, size: float, width: float, style: str = "") -> float:
    """The height ``text`` takes when wrapped to ``width``."""
    return len(_lines(pdf, text, size, width, style)) * size * 0.45


def _section(pdf: FPDF, section, copy: PaperCopy) -> None:
    """A section title band, its introduction and condition, then its questions."""
    first = section.questions[0] if section.questions else None
    _ensure(pdf, 9 + (_question_height(pdf, first) if first else 0), copy)
    y = pdf.get_y() + 2
    pdf.set_fill_color(230)
    pdf.rect(LEFT, y, WIDTH, 5.6, style="F")
    _text(pdf, y + 0.6, section.title, 9.5, style="B", width=WIDTH)
    y += 6.4
    for note in (section.intro, section.condition and f"({section.condition})"):
        if note:
            y = _text(pdf, y, note, 8, width=WIDTH, grey=True) + 0.3
    pdf.set_y(y + 0.5)
    for question in section.questions:
        height = _question_height(pdf, question)
        _ensure(pdf, height, copy)
        _question(pdf, question, pdf.get_y())
        pdf.set_y(pdf.get_y() + 0.8)


def _inline(question) -> bool:
    """Codes printed on the question's own line (rated and yes/no) when they fit, else below it."""
    if question.kind != "coded" or question.item.type == "single_choice":
        return False
    return question.item.type == "satisfaction" or _codes_width(question) <= 80


def _codes_width(question) -> float:
    """Width of the code cells on the right of an inline question."""
    if question.item.type == "satisfaction":  # room for "0" on every row keeps the columns aligned
        return CODE_W * (question.item.points + 1)
    return sum(_label_cell(code, label) for code, label in question.codes)


def _label_cell(code: str, label: str) -> float:
    """Width of a code with its label (``1 Có``)."""
    return 6.5 + 1.9 * len(label) + 3.5


def _question_text(question) -> str:
    """``12. Question text`` with a hint for multiple choice and conditions."""
    text = f"Câu {question.number}. {question.text}"
    if question.kind == "multi":
        text += " (chọn nhiều)"
    if question.condition:
        text += f" — {question.condition}"
    return text


def _question_height(pdf: FPDF, question) -> float:
    """The height a question will take (to keep it on one page)."""
    if _inline(question):
        return max(_height(pdf, _question_text(question), 9, WIDTH - _codes_width(question) - 3), 5.5)
    text_h = _height(pdf, _question_text(question), 9, WIDTH)
    if question.kind in ("coded", "multi"):
        rows = -(-len(question.codes) // _columns(question))
        return text_h + rows * 5.2 + 0.5
    return text_h + (13 if question.kind == "text" else 7)


def _columns(question) -> int:
    """Options per row: four short ones, three or two longer ones, one long one."""
    longest = max((len(label) for _, label in question.codes), default=0)
    return 4 if longest <= 22 else 3 if longest <= 28 else 2 if longest <= 48 else 1


def _question(pdf: FPDF, question, y: float) -> None:
    """Draw one question at ``y``: text, then its codes (beside or below) or a space to write."""
    if _inline(question):
        codes_w = _codes_width(question)
        bottom = _text(pdf, y, _question_text(question), 9, width=WIDTH - codes_w - 3)
        x = LEFT + WIDTH - codes_w
        for code, label in question.codes:
            w = CODE_W if question.item.type == "satisfaction" else _label_cell(code, label)
            _code_cell(pdf, x, y, code, None if question.item.type == "satisfaction" else label, w)
            x += w
        pdf.set_y(max(bottom, y + 5.5))
        return
    y = _text(pdf, y, _question_text(question), 9, width=WIDTH) + 0.5
    if question.kind in ("coded", "multi"):
        columns = _columns(question)
        col_w = WIDTH / columns
        for i, (code, label) in enumerate(question.codes):
            row, col = divmod(i, columns)
            _code_cell(pdf, LEFT + 4 + col * col_w, y + row * 5.2, code, label, col_w - 4)
        pdf.set_y(y + -(-len(question.codes) // columns) * 5.2)
    elif question.kind == "number":
        pdf.set_draw_color(0)
        pdf.rect(LEFT + 4, y, 35, 6)
        pdf.set_y(y + 7)
    else:
        pdf.set_draw_color(150)
        for k in range(3):
            pdf.line(LEFT + 4, y + 4 + k * 4.2, LEFT + WIDTH, y + 4 + k * 4.2)
        pdf.set_y(y + 13)


def _code_cell(pdf: FPDF, x: float, y: float, code: str, label: str | None, width: float) -> None:
    """An answer code in a small box (to circle), optionally followed by its label."""
    pdf.set_draw_color(60)
    pdf.set_line_width(0.2)
    pdf.rect(x + 0.8, y + 0.3, 5, 4.4)
    pdf.set_font("sans", "B", 9)
    pdf.set_xy(x + 0.8, y + 0.5)
    pdf.cell(5, 4, code, align="C")
    if label:
        pdf.set_font("sans", "", 8.5)
        pdf.set_xy(x + 6.5, y + 0.5)
        pdf.cell(width - 6.5, 4, label)
