"""Raw response rows (dữ liệu thô): one row per included response, every answer a typed cell.

The rows are the ``sipas analyze`` input (statistics spec §6) plus context columns: ``unit``
holds the unit code (the stratum), item columns are named by the questionnaire's item codes
with ratings 1–K, ``NA`` for "không áp dụng" and empty for a skipped question.  Responses are
the ones :func:`survey.services.results.campaign_report` counts (not excluded; flagged ones
only with ``include_flagged``), so ``sipas analyze`` on the export gives the report's numbers.

Never exported: device and address hashes, the answer pattern, receipt, submission UUID and
entry-point code.  Rows are read in keyset batches of response ids, one query per batch that
also packs each response's answers into one JSON object in the database (``docs`` of
:data:`SQL`), so memory stays flat at any campaign size and Python sees one row per response.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import and_, func, literal_column, select

from ...extensions import db
from ...models import Campaign, Counter, ProcedureField, Response, Unit
from ...questionnaires import Item, Questionnaire
from ..questionnaires import questionnaire_of
from ..scope import in_scope

BATCH = 2000
NA = "NA"
# (name, Vietnamese label, kind) of the context columns before the answers.
CONTEXT = (
    ("response_id", "Mã phiếu (số thứ tự trong hệ thống)", "number"),
    ("submitted_at", "Thời điểm gửi phiếu (giờ Việt Nam)", "text"),
    ("channel", "Kênh (qr, kiosk, paper, api)", "text"),
    ("language", "Ngôn ngữ phiếu", "text"),
    ("questionnaire", "Mã bảng hỏi", "text"),
    ("questionnaire_version", "Phiên bản bảng hỏi", "number"),
    ("unit", "Mã đơn vị", "text"),
    ("unit_name", "Tên đơn vị", "text"),
    ("counter", "Mã quầy", "text"),
    ("field", "Mã lĩnh vực thủ tục", "text"),
    ("form_seconds", "Thời gian điền phiếu (giây)", "number"),
    ("flags", "Dấu hiệu bất thường (cách nhau bởi ;)", "text"),
)
# SQL pieces per dialect, correlated on ``responses``: the local time, the flags joined by ";"
# and the response's answers as one JSON object {item: value} (rating, "NA", number, choice,
# choices, text), so one row per response reaches Python, already formatted.
SQL = {
    "sqlite": {
        "time": "strftime('%Y-%m-%d %H:%M:%S', responses.submitted_at, '+7 hours')",
        "flags": "(SELECT group_concat(value, ';') FROM json_each(responses.flags))",
        "answers": (
            "(SELECT json_group_object(a.item_code, CASE WHEN a.rating IS NOT NULL THEN a.rating "
            "WHEN a.not_applicable THEN 'NA' WHEN a.number IS NOT NULL THEN a.number "
            "WHEN a.choice IS NOT NULL THEN a.choice WHEN a.choices IS NOT NULL THEN json(a.choices) "
            "ELSE a.text END) FROM answers a WHERE a.response_id = responses.id)"),
    },
    "postgresql": {
        "time": ("to_char(responses.submitted_at AT TIME ZONE 'Asia/Ho_Chi_Minh', "
                 "'YYYY-MM-DD HH24:MI:SS')"),
        "flags": ("(SELECT string_agg(f.value, ';') FROM "
                  "json_array_elements_text(responses.flags) AS f(value))"),
        "answers": (
            "(SELECT json_object_agg(a.item_code, CASE WHEN a.rating IS NOT NULL THEN "
            "to_jsonb(a.rating) WHEN a.not_applicable THEN to_jsonb('NA'::text) "
            "WHEN a.number IS NOT NULL THEN to_jsonb(a.number) WHEN a.choice IS NOT NULL THEN "
            "to_jsonb(a.choice) WHEN a.choices IS NOT NULL THEN CAST(a.choices AS jsonb) "
            "ELSE to_jsonb(a.text) END)::text FROM answers a WHERE a.response_id = responses.id)"),
    },
}


@dataclass(frozen=True)
class Column:
    """One column of the raw export: its header, Vietnamese label and where its value comes from."""

    name: str
    label: str
    kind: str  # "number" or "text" (how it is typed in CSV/XLSX/SAV)
    item: Item | None = None


@dataclass(frozen=True)
class RawExport:
    """What to export: the campaign, its questionnaire, the columns and the response filter."""

    campaign: Campaign
    questionnaire: Questionnaire
    columns: tuple[Column, ...]
    include_flagged: bool
    viewer: object | None

    def filters(self) -> list:
        """SQL conditions on ``responses``: the campaign's included responses in the viewer's scope."""
        conditions = [Response.campaign_id == self.campaign.id, Response.excluded.is_(False)]
        if not self.include_flagged:
            conditions.append(~and_(Response.flags.is_not(None),
                                    func.json_array_length(Response.flags) > 0))
        if self.viewer is not None:
            conditions.append(in_scope(self.viewer, Response.unit_id))
        return conditions

    def count(self) -> int:
        """Number of rows the export will have."""
        return db.session.scalar(select(func.count()).select_from(Response).where(*self.filters()))


def raw_export(campaign: Campaign, *, viewer=None, include_flagged: bool = True) -> RawExport:
    """Describe the raw export of ``campaign`` (``viewer``: only their subtree's responses)."""
    questionnaire = questionnaire_of(campaign.questionnaire_version)
    return RawExport(campaign, questionnaire, columns_of(questionnaire), include_flagged, viewer)


def columns_of(questionnaire: Questionnaire) -> tuple[Column, ...]:
    """Context columns, then one column per question (``<code>_answer`` if a name is taken)."""
    columns = [Column(name, label, kind) for name, label, kind in CONTEXT]
    taken = {c.name for c in columns}
    for item in questionnaire.items.values():
        name = item.code if item.code not in taken else f"{item.code}_answer"
        kind = "text" if item.type in ("single_choice", "multiple_choice", "text") else "number"
        columns.append(Column(name, item.text.get("vi", item.code), kind, item))
    return tuple(columns)


def iter_rows(export: RawExport, batch: int = BATCH) -> Iterator[list]:
    """Rows of typed cells (int, str or None) in response-id order, ``batch`` responses at a time."""
    items = [c.item for c in export.columns if c.item is not None]
    shape = {item.code: (k, 1 if item.type == "multiple_choice" else 2 if item.type == "text" else 0)
             for k, item in enumerate(items)}
    width = len(items)
    loads, normalise = json.loads, unicodedata.normalize
    after = 0
    while True:
        rows = db.session.execute(_batch_query(export).where(Response.id > after)
                                  .order_by(Response.id).limit(batch)).all()
        for row in rows:
            cells = [None] * width
            if row[-1]:
                for code, value in loads(row[-1]).items():
                    spec = shape.get(code)
                    if spec is None or value is None:
                        continue
                    k, kind = spec
                    if kind == 0:
                        cells[k] = value
                    elif kind == 1:
                        cells[k] = ";".join(value) if isinstance(value, list) else value
                    else:
                        cells[k] = normalise("NFC", value) if isinstance(value, str) else value
            yield [*row[:-1], *cells]
        if len(rows) < batch:
            return
        after = rows[-1][0]


def _batch_query(export: RawExport):
    """SELECT of the context columns and the packed answers of the export's responses."""
    sql = SQL["postgresql" if db.session.get_bind().dialect.name == "postgresql" else "sqlite"]
    unit, counter, field = Unit.__table__, Counter.__table__, ProcedureField.__table__
    return (select(Response.id, literal_column(sql["time"]), Response.channel, Response.language,
                   Response.questionnaire_id, Response.questionnaire_version, unit.c.code,
                   unit.c.name, counter.c.code, field.c.code, Response.form_seconds,
                   literal_column(sql["flags"]), literal_column(sql["answers"]))
            .select_from(Response.__table__.join(unit, unit.c.id == Response.unit_id)
                         .outerjoin(counter, counter.c.id == Response.counter_id)
                         .outerjoin(field, field.c.id == Response.field_id))
            .where(*export.filters()))
