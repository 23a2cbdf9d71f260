"""SPSS .sav export (pyreadstat): the raw rows with Vietnamese variable and value labels.

Coding, written into the file's labels:

- rated questions keep their 1–K value, labelled (``Rất không hài lòng`` … ``Rất hài lòng``);
  "không áp dụng / không biết" is 99, declared user-missing, so SPSS leaves it out of means;
  a skipped question is system-missing;
- single-choice questions get 1..m in the questionnaire's option order, labelled with the
  options' Vietnamese text; yes/no is 1 = Có, 0 = Không;
- a multiple-choice question becomes one 0/1 variable per option (``improve_e1`` …);
- free text stays a string.

pyreadstat needs the whole table in memory (a pandas DataFrame): numbers are gathered in
float64 blocks (8 bytes a cell, ~0.4 GB for 1,000,000 responses of ``sipas-counter``), text in
lists; the raw CSV is the streamed format for very large campaigns.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from ...questionnaires import NOT_APPLICABLE_LABEL, Item, Questionnaire
from .raw import NA, Column, iter_rows, raw_export

NA_CODE = 99
BLOCK = 50_000
MAX_LABEL_BYTES = 250


def write_sav(campaign, fh, *, options, viewer, progress) -> int:
    """Write the .sav of ``campaign`` to the binary file ``fh``; return the number of rows."""
    import pandas as pd
    import pyreadstat

    export = raw_export(campaign, viewer=viewer, include_flagged=options.include_flagged)
    total = max(export.count(), 1)
    layout = _layout(export.columns, export.questionnaire)
    blocks: list[dict] = []  # numbers in float64 blocks of BLOCK rows: 8 bytes a cell
    block = _new_block(layout)
    n = filled = 0
    for n, row in enumerate(iter_rows(export), 1):
        for name, k, convert, *_ in layout:
            value = convert(row[k])
            column = block[name]
            if isinstance(column, list):
                column.append(value)
            elif value is not None:
                column[filled] = value
        filled += 1
        if filled == BLOCK:
            blocks.append(block)
            block, filled = _new_block(layout), 0
        if n % 5000 == 0:
            progress(0.9 * n / total, f"{n:,} / {total:,}")
    blocks.append({name: col[:filled] for name, col in block.items()})
    frame = pd.DataFrame({name: pd.Series(_joined([b[name] for b in blocks]), dtype=dtype)
                          for name, _, _, dtype, *_ in layout})
    labels = {name: _clip(label) for name, _, _, _, label, _ in layout}
    values = {name: v for name, *_, v in layout if v}
    missing = {name: [NA_CODE] for name, *_, v in layout if v and NA_CODE in v}
    with tempfile.TemporaryDirectory(prefix="sipas-sav-") as folder:
        path = Path(folder) / "export.sav"
        pyreadstat.write_sav(frame, str(path), file_label=_clip(campaign.name),
                             column_labels=labels, variable_value_labels=values,
                             missing_ranges=missing)
        with path.open("rb") as src:
            shutil.copyfileobj(src, fh)
    progress(1.0, f"{len(frame):,} / {total:,}")
    return len(frame)


def _new_block(layout: list[tuple]) -> dict:
    """Empty columns for BLOCK rows: NaN-filled float64 arrays, lists for strings."""
    return {name: (np.full(BLOCK, np.nan) if dtype == "float64" else [])
            for name, _, _, dtype, *_ in layout}


def _joined(parts: list) -> np.ndarray | list:
    """One column from its blocks."""
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    return [v for part in parts for v in part]


def _layout(columns: tuple[Column, ...], q: Questionnaire) -> list[tuple]:
    """(variable, source column index, converter, dtype, label, value labels) per variable."""
    out = []
    for k, col in enumerate(columns):
        item = col.item
        if item is None:
            dtype = "float64" if col.kind == "number" else "string"
            out.append((col.name, k, _number if col.kind == "number" else _text, dtype,
                        col.label, None))
        elif item.type == "multiple_choice":
            for option in item.options:
                out.append((f"{col.name}_{option.code}", k, _has(option.code), "float64",
                             f"{col.label}: {option.label.get('vi', option.code)}",
                             {0: "Không chọn", 1: "Có chọn"}))
        elif item.type == "single_choice":
            codes = {o.code: i for i, o in enumerate(item.options, 1)}
            out.append((col.name, k, _coded(codes), "float64", col.label,
                        {i: o.label.get("vi", o.code) for i, o in enumerate(item.options, 1)}))
        elif item.type == "text":
            out.append((col.name, k, _text, "string", col.label, None))
        else:
            out.append((col.name, k, _number, "float64", col.label, _value_labels(q, item)))
    return out


def _value_labels(q: Questionnaire, item: Item) -> dict | None:
    """Vietnamese labels of a rated or yes/no item's values (99 = not applicable)."""
    labels = {int(v): text.get("vi", str(v)) for v, text in q.labels_for(item).items()}
    if item.allow_na:
        labels[NA_CODE] = NOT_APPLICABLE_LABEL["vi"]
    return labels or None


def _number(value):
    """A numeric cell: numbers as they are, "NA" → 99, empty → missing."""
    if value is None:
        return None
    return float(NA_CODE) if value == NA else float(value)


def _text(value):
    """A string cell (empty string when missing)."""
    return "" if value is None else str(value)


def _coded(codes: dict[str, int]):
    """Converter of an option code to its 1..m number."""
    return lambda value: None if value is None else codes.get(value)


def _has(code: str):
    """Converter of "a;b;c" to 1 when ``code`` is among the chosen options (None when unanswered)."""
    return lambda value: None if value is None else float(code in value.split(";"))


def _clip(text: str) -> str:
    """A label cut to what SPSS keeps (bytes of UTF-8, never half a character)."""
    data = text.encode("utf-8")[:MAX_LABEL_BYTES]
    return data.decode("utf-8", "ignore")
