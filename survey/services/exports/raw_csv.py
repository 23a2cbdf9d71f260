"""Raw CSV export: UTF-8 with a BOM (Excel reads the diacritics), streamed in chunks.

Text cells go through :func:`survey.services.integrity.neutralise_cell` (a leading ``=``,
``+``, ``-``, ``@`` … gets an apostrophe); numbers are written as numbers and never touched.
The column names are ``sipas analyze``'s (``unit`` and item codes), so the file is its input.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator

from ..integrity import FORMULA_STARTS, neutralise_cell
from .raw import RawExport, iter_rows

BOM = "\ufeff"
CHUNK_ROWS = 1000
RISKY = frozenset(c[0] for c in FORMULA_STARTS)  # first characters neutralise_cell acts on


def csv_chunks(export: RawExport, progress: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """The CSV file as UTF-8 byte chunks (BOM and header first, then ~``CHUNK_ROWS`` rows each).

    ``progress(rows_written)`` is called after every chunk.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([c.name for c in export.columns])
    yield (BOM + buffer.getvalue()).encode("utf-8")
    text_columns = [k for k, c in enumerate(export.columns) if c.kind == "text"]
    done = 0
    rows = []
    for row in iter_rows(export):
        for k in text_columns:
            value = row[k]
            if value and value[0] in RISKY:  # the cheap test first; the guard decides
                row[k] = neutralise_cell(value)
        rows.append(row)
        if len(rows) == CHUNK_ROWS:
            done += len(rows)
            yield _encode(buffer, writer, rows)
            rows = []
            if progress:
                progress(done)
    if rows:
        done += len(rows)
        yield _encode(buffer, writer, rows)
    if progress:
        progress(done)


def _encode(buffer: io.StringIO, writer, rows: list[list]) -> bytes:
    """Rows as CSV bytes (the buffer is reused)."""
    buffer.seek(0)
    buffer.truncate()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def write_csv(export: RawExport, fh, progress: Callable[[int], None] | None = None) -> int:
    """Write the CSV to a binary file object; return the number of bytes."""
    size = 0
    for chunk in csv_chunks(export, progress):
        fh.write(chunk)
        size += len(chunk)
    return size
