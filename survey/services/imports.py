"""Reading CSV/XLSX imports: one column spec → parsed rows, or every error with row and column.

The rules shared by every import (units, transaction counts, later responses):

- CSV in UTF-8 (with or without BOM), UTF-16 with BOM (Excel's "Unicode text"), or Windows-1258
  (older Vietnamese Windows exports); comma, semicolon or tab separated. XLSX: the first sheet.
- Row 1 holds the headers (title rows above them, as in exported reports, are skipped: the
  first row within the first 20 that names every required column is the header row; a
  "Tổng cộng" / "Total" row at the foot is ignored). Headers match a column's Vietnamese name
  or an English/ASCII alias, compared after NFC normalisation, case folding and, as a fallback,
  without diacritics ("Mã đơn vị" = "MÃ ĐƠN VỊ" = "ma don vi").
- Every cell is checked before anything is written; errors name the row (as numbered in Excel,
  headers = 1) and the column header, with a Vietnamese message. All text is NFC.
- Services raise :class:`ImportRejected` and write nothing; the caller commits once.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from flask import has_request_context
from flask_babel import gettext

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 200_000
MAX_COLUMNS = 100
HEADER_SEARCH_ROWS = 19  # headers may sit as low as row 20
TOTAL_LABELS = {"tong cong", "tong", "cong", "total", "tong so"}
MAX_REPORTED_ERRORS = 200


def _l(msgid: str) -> str:
    """Mark a Vietnamese message for the catalogue; it is translated when shown (:func:`display`)."""
    return msgid


def display(msgid: str, **params: object) -> str:
    """A message in the page language inside a request, in Vietnamese elsewhere (CLI, tests)."""
    if has_request_context():
        return gettext(msgid, **params)
    return msgid % params if params else msgid


class CellError(ValueError):
    """A cell value that a parser refuses; ``msgid`` is a Vietnamese message with ``params``."""

    def __init__(self, msgid: str, **params: object):
        super().__init__(msgid % params if params else msgid)
        self.msgid = msgid
        self.params = params


@dataclass(frozen=True)
class RowError:
    """One problem: spreadsheet row (0 = the file itself), column header, message."""

    row: int
    column: str | None
    msgid: str
    params: dict = field(default_factory=dict)

    @property
    def message(self) -> str:
        """The message alone, in the display language."""
        return display(self.msgid, **self.params)

    def __str__(self) -> str:
        where = []
        if self.row:
            where.append(display(_l("Dòng %(row)s"), row=self.row))
        if self.column:
            where.append(display(_l("cột «%(column)s»"), column=self.column))
        return f"{', '.join(where)}: {self.message}" if where else self.message


class ImportRejected(Exception):
    """The file was refused as a whole; nothing was written."""

    def __init__(self, errors: list[RowError]):
        super().__init__("; ".join(str(e) for e in errors[:5]))
        self.errors = errors


@dataclass(frozen=True)
class Column:
    """One expected column: ``headers[0]`` is the Vietnamese name shown to users."""

    key: str
    headers: tuple[str, ...]
    parse: Callable[[object], object] = lambda value: text()(value)
    required: bool = True
    blank_ok: bool = False

    @property
    def label(self) -> str:
        """The header as documented."""
        return self.headers[0]


@dataclass
class Table:
    """Raw cells: the header row and the data rows with their spreadsheet row numbers."""

    headers: list[str]
    rows: list[tuple[int, list[object]]]


@dataclass
class ParsedRow:
    """Parsed values by column key, plus the row number for later errors."""

    row: int
    values: dict[str, object]
    headers: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> object:
        return self.values[key]

    def get(self, key: str) -> object:
        """A parsed value, ``None`` when blank or refused."""
        return self.values.get(key)

    def error(self, key: str, msgid: str, **params: object) -> RowError:
        """An error on this row, in column ``key`` named as the file names it."""
        return RowError(self.row, self.headers.get(key, key), msgid, params)


# --- normalisation -----------------------------------------------------------------------------

def nfc(value: str) -> str:
    """NFC with surrounding whitespace trimmed and inner runs of whitespace collapsed."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", value)).strip()


def fold(value: str) -> str:
    """A matching key: NFC, case-folded, without diacritics, ``_``/``-`` as spaces."""
    value = nfc(value).casefold().replace("đ", "d")
    value = "".join(c for c in unicodedata.normalize("NFD", value) if not unicodedata.combining(c))
    return re.sub(r"[\s_\-]+", " ", value).strip()


def _header_key(value: str) -> str:
    """Header key with diacritics kept (exact match is tried first)."""
    return re.sub(r"[\s_\-]+", " ", nfc(value).casefold()).strip()


# --- reading files -----------------------------------------------------------------------------

def read_table(data: bytes, filename: str = "") -> Table:
    """Decode ``data`` (CSV or XLSX, by content) into a :class:`Table`; raise ImportRejected."""
    if len(data) > MAX_BYTES:
        raise ImportRejected([RowError(0, None, _l("Tệp quá lớn (tối đa %(mb)s MB)."),
                                       {"mb": MAX_BYTES // (1024 * 1024)})])
    if data.startswith(b"PK\x03\x04"):
        table = _read_xlsx(data)
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportRejected([RowError(0, None, _l(
            "Định dạng .xls cũ không được hỗ trợ; hãy lưu lại thành .xlsx hoặc CSV UTF-8."))])
    else:
        table = _read_csv(_decode(data))
    if not table.headers or not any(str(h or "").strip() for h in table.headers):
        raise ImportRejected([RowError(0, None, _l("Tệp trống hoặc thiếu dòng tiêu đề."))])
    if len(table.rows) > MAX_ROWS:
        raise ImportRejected([RowError(0, None, _l("Tệp có quá nhiều dòng (tối đa %(n)s)."),
                                       {"n": MAX_ROWS})])
    return table


def _decode(data: bytes) -> str:
    """UTF-8 (BOM optional), UTF-16 with BOM, else Windows-1258."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1258")
    except UnicodeDecodeError:
        raise ImportRejected([RowError(0, None, _l(
            "Không đọc được bảng mã của tệp; hãy lưu CSV ở dạng UTF-8."))]) from None


def _read_csv(content: str) -> Table:
    """Split CSV text; the separator (comma, semicolon, tab) is taken from the header line."""
    first = content.split("\n", 1)[0]
    delimiter = max([",", ";", "\t"], key=first.count)
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    try:
        records = list(reader)
    except csv.Error as exc:
        raise ImportRejected([RowError(reader.line_num, None, _l("CSV không hợp lệ: %(error)s"),
                                       {"error": str(exc)})]) from None
    if not records:
        return Table([], [])
    return Table(records[0], [(i + 2, r) for i, r in enumerate(records[1:])])


def _read_xlsx(data: bytes) -> Table:
    """The first worksheet of an XLSX workbook, values only (formulas as last computed)."""
    from openpyxl import load_workbook
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ImportRejected([RowError(0, None, _l("Không đọc được tệp XLSX: %(error)s"),
                                       {"error": str(exc)})]) from None
    try:
        sheet = book.worksheets[0]
        rows = []
        # Bounded: a small compressed workbook can declare millions of rows or columns.
        for row in sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS):
            rows.append(list(row))
            if len(rows) > MAX_ROWS + 1:
                break
    finally:
        book.close()
    if not rows:
        return Table([], [])
    headers = ["" if h is None else str(h) for h in rows[0]]
    return Table(headers, [(i + 2, r) for i, r in enumerate(rows[1:])])


# --- matching and parsing ----------------------------------------------------------------------

def _is_blank(value: object) -> bool:
    """An empty cell: None or only whitespace."""
    return value is None or (isinstance(value, str) and not value.strip())


def match_headers(headers: Iterable[object], columns: Iterable[Column]) -> tuple[dict[str, int],
                                                                                  list[RowError]]:
    """Column key → position in the file; missing required and ambiguous headers are errors."""
    exact: dict[str, list[int]] = {}
    folded: dict[str, list[int]] = {}
    for pos, header in enumerate(headers):
        if _is_blank(header):
            continue
        exact.setdefault(_header_key(str(header)), []).append(pos)
        folded.setdefault(fold(str(header)), []).append(pos)
    found: dict[str, int] = {}
    errors: list[RowError] = []
    for column in columns:
        hits = sorted({p for h in column.headers for p in exact.get(_header_key(h), [])})
        if not hits:
            hits = sorted({p for h in column.headers for p in folded.get(fold(h), [])})
        if len(hits) > 1:
            errors.append(RowError(1, column.label, _l("Cột này xuất hiện nhiều lần trong tệp.")))
        elif hits:
            found[column.key] = hits[0]
        elif column.required:
            errors.append(RowError(1, column.label, _l(
                "Thiếu cột bắt buộc (tên cột được chấp nhận: %(names)s)."),
                {"names": ", ".join(column.headers)}))
    return found, errors


def find_header_row(table: Table, columns: list[Column]) -> Table:
    """Skip title rows above the headers, as reports exported from one-stop software have them.

    When row 1 lacks a required column, the first of the next rows (up to row 20) that holds
    every required column becomes the header row; otherwise the table is returned unchanged,
    so the missing columns are reported on row 1.
    """
    if not match_headers(table.headers, columns)[1]:
        return table
    for index, (_, cells) in enumerate(table.rows[:HEADER_SEARCH_ROWS]):
        if not match_headers(cells, columns)[1]:
            return Table(["" if c is None else str(c) for c in cells], table.rows[index + 1:])
    return table


def _is_total(cells: list[object]) -> bool:
    """A summary row ("Tổng cộng", "Cộng", "Total") at the foot of an exported report."""
    first = next((c for c in cells if not _is_blank(c)), None)
    return isinstance(first, str) and fold(first).rstrip(":") in TOTAL_LABELS


def parse_table(table: Table, columns: list[Column]) -> tuple[list[ParsedRow], list[RowError]]:
    """Parse every data row; blank and total rows are skipped; all errors are collected, none raised."""
    table = find_header_row(table, columns)
    positions, errors = match_headers(table.headers, columns)
    if errors:
        return [], errors
    # Errors name the column as the file does; absent optional columns by their documented name.
    headers = {c.key: (nfc(str(table.headers[positions[c.key]])) if c.key in positions else c.label)
               for c in columns}
    parsed: list[ParsedRow] = []
    for row_number, cells in table.rows:
        if all(_is_blank(c) for c in cells) or _is_total(cells):
            continue
        values: dict[str, object] = {}
        for column in columns:
            pos = positions.get(column.key)
            cell = cells[pos] if pos is not None and pos < len(cells) else None
            values[column.key] = None
            if _is_blank(cell):
                if not (column.blank_ok or pos is None):
                    errors.append(RowError(row_number, headers[column.key],
                                           _l("Ô này không được để trống.")))
                continue
            try:
                values[column.key] = column.parse(cell.strip() if isinstance(cell, str) else cell)
            except CellError as exc:
                errors.append(RowError(row_number, headers[column.key], exc.msgid, exc.params))
        parsed.append(ParsedRow(row_number, values, headers))
    if not parsed and not errors:
        errors.append(RowError(0, None, _l("Tệp không có dòng dữ liệu nào.")))
    return parsed, errors


def load(data: bytes, filename: str, columns: list[Column]) -> tuple[list[ParsedRow], list[RowError]]:
    """Read a file and parse every row; raise :class:`ImportRejected` if the headers are wrong.

    Cell errors are returned, not raised, so the caller can add its own cross-row checks
    and report everything at once with :func:`reject_if`.
    """
    rows, errors = parse_table(read_table(data, filename), columns)
    if errors and not rows:
        reject_if(errors)
    return rows, errors


def reject_if(errors: list[RowError]) -> None:
    """Raise :class:`ImportRejected` when a validation pass found anything."""
    if errors:
        errors.sort(key=lambda e: (e.row, e.column or ""))
        raise ImportRejected(errors)


# --- cell parsers ------------------------------------------------------------------------------

def text(max_length: int = 200) -> Callable[[object], str]:
    """NFC text of at most ``max_length`` characters (numbers from XLSX become their digits)."""
    def parse(value: object) -> str:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        result = nfc(str(value))
        if len(result) > max_length:
            raise CellError(_l("Dài quá %(n)s ký tự."), n=max_length)
        return result
    return parse


CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/]*$")


def code(max_length: int = 32) -> Callable[[object], str]:
    """An official code: letters, digits, ``. _ - /``; compared case-sensitively."""
    as_text = text(max_length)

    def parse(value: object) -> str:
        result = as_text(value)
        if not CODE_PATTERN.match(result):
            raise CellError(_l("Mã «%(value)s» chỉ được gồm chữ không dấu, chữ số và . _ - /."),
                            value=result)
        return result
    return parse


def integer(minimum: int | None = 0, maximum: int | None = None) -> Callable[[object], int]:
    """A whole number; thousands separators (1.234 or 1,234 or 1 234) are accepted in text."""
    def parse(value: object) -> int:
        if isinstance(value, bool):
            raise CellError(_l("«%(value)s» không phải là số nguyên."), value=value)
        if isinstance(value, float):
            if not value.is_integer():
                raise CellError(_l("«%(value)s» không phải là số nguyên."), value=value)
            number = int(value)
        elif isinstance(value, int):
            number = value
        else:
            cleaned = re.sub(r"(?<=\d)[.,\s](?=\d{3}\b)", "", str(value).strip())
            if not re.fullmatch(r"[+-]?\d+", cleaned):
                raise CellError(_l("«%(value)s» không phải là số nguyên."), value=str(value).strip())
            number = int(cleaned)
        if minimum is not None and number < minimum:
            raise CellError(_l("Giá trị phải từ %(min)s trở lên."), min=minimum)
        if maximum is not None and number > maximum:
            raise CellError(_l("Giá trị phải không lớn hơn %(max)s."), max=maximum)
        return number
    return parse


def choice(mapping: dict[str, str], shown: str) -> Callable[[object], str]:
    """A value from ``mapping`` (keys compared with :func:`fold`); ``shown`` lists valid values."""
    folded = {fold(k): v for k, v in mapping.items()}

    def parse(value: object) -> str:
        key = fold(str(value))
        if key not in folded:
            raise CellError(_l("Giá trị «%(value)s» không hợp lệ; chọn một trong: %(allowed)s."),
                            value=nfc(str(value)), allowed=shown)
        return folded[key]
    return parse


MONTH_FORMATS = (
    (re.compile(r"^(\d{4})[-/.](\d{1,2})$"), (1, 2)),             # 2026-03
    (re.compile(r"^(\d{1,2})[-/.](\d{4})$"), (2, 1)),             # 03/2026
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"), (1, 2)),       # 2026-03-01
    (re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$"), (3, 2)),       # 01/03/2026 (day first)
    (re.compile(r"^(?:tháng|thang)\s*(\d{1,2})\s*(?:/|năm|nam)\s*(\d{4})$", re.I), (2, 1)),
)


def month(value: object) -> date:
    """A calendar month as its first day: 2026-03, 03/2026, 3/2026, 01/03/2026, a date cell."""
    if isinstance(value, datetime):
        return date(value.year, value.month, 1)
    if isinstance(value, date):
        return value.replace(day=1)
    raw = nfc(str(value))
    for pattern, (y, m) in MONTH_FORMATS:
        found = pattern.match(raw)
        if found:
            year, mon = int(found.group(y)), int(found.group(m))
            if 1 <= mon <= 12 and 1900 <= year <= 2999:
                return date(year, mon, 1)
    raise CellError(_l("«%(value)s» không phải là tháng (ví dụ 2026-03 hoặc 03/2026)."), value=raw)
