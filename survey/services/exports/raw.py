"""Raw response rows (dữ liệu thô): one row per included response, every answer a typed cell.

The rows are the ``sipas analyze`` input (statistics spec §6) plus context columns: ``unit``
holds the unit code (the stratum), item columns are named by the questionnaire's item codes
with ratings 1–K, ``NA`` for "không áp dụng" and empty for a skipped question.  Responses are
the ones :func:`survey.services.results.campaign_report` counts (not excluded; flagged ones
only with ``include_flagged``), so ``sipas analyze`` on the export gives the report's numbers.

Never exported: device and address hashes, the answer pattern, receipt, submission UUID and
entry-point code.  Rows are read in keyset batches of response ids (one query for the
responses, one for their answers), so memory stays flat at any campaign size.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, timedelta

from sqlalchemy import and_, func, select, text

from ...extensions import db
from ...models import Campaign, Counter, ProcedureField, Response, Unit
from ...questionnaires import Item, Questionnaire
from ..questionnaires import questionnaire_of
from ..scope import in_scope

BATCH = 2000
NA = "NA"
VIETNAM = timedelta(hours=7)  # Asia/Ho_Chi_Minh: UTC+7 all year (no daylight saving since 1975)
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
# A response's answers as one JSON object {item: value}, aggregated in the database (one row per
# response reaches Python instead of ~25).  Values: rating, "NA", number, choice, choices, text.
ANSWERS_SQL = {
    "sqlite": text(
        "SELECT response_id, json_group_object(item_code, CASE WHEN rating IS NOT NULL THEN rating "
        "WHEN not_applicable THEN 'NA' WHEN number IS NOT NULL THEN number "
        "WHEN choice IS NOT NULL THEN choice WHEN choices IS NOT NULL THEN json(choices) "
        "ELSE text END) FROM answers WHERE response_id >= :lo AND response_id <= :hi "
        "GROUP BY response_id"),
    "postgresql": text(
        "SELECT response_id, json_object_agg(item_code, CASE WHEN rating IS NOT NULL THEN "
        "to_jsonb(rating) WHEN not_applicable THEN to_jsonb('NA'::text) WHEN number IS NOT NULL "
        "THEN to_jsonb(number) WHEN choice IS NOT NULL THEN to_jsonb(choice) "
        "WHEN choices IS NOT NULL THEN CAST(choices AS jsonb) ELSE to_jsonb(text) END)::text "
        "FROM answers WHERE response_id >= :lo AND response_id <= :hi GROUP BY response_id"),
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
    names = _names()
    items = [c.item for c in export.columns if c.item is not None]
    slot = {item.code: k for k, item in enumerate(items)}
    after = 0
    while True:
        responses = db.session.execute(
            select(Response.id, Response.submitted_at, Response.channel, Response.language,
                   Response.questionnaire_id, Response.questionnaire_version, Response.unit_id,
                   Response.counter_id, Response.field_id, Response.form_seconds, Response.flags)
            .where(*export.filters(), Response.id > after).order_by(Response.id).limit(batch)
        ).all()
        if not responses:
            return
        answers = _answers(responses[0][0], responses[-1][0], slot, items)
        for row in responses:
            cells = answers.get(row[0]) or [None] * len(items)
            yield _context(row, names) + cells
        after = responses[-1][0]


def _context(row, names: dict) -> list:
    """The context cells of one response row."""
    rid, at, channel, language, qid, qversion, unit_id, counter_id, field_id, seconds, flags = row
    if isinstance(flags, str):
        flags = json.loads(flags)
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    unit_code, unit_name = names["units"].get(unit_id, ("", ""))
    return [rid, str(at + VIETNAM)[:19], channel, language, qid,
            qversion, unit_code, unit_name, names["counters"].get(counter_id, ""),
            names["fields"].get(field_id, ""), seconds, ";".join(flags or [])]


def _answers(lo: int, hi: int, slot: dict[str, int], items: list[Item]) -> dict[int, list]:
    """Answer cells of the responses with ids in [lo, hi], keyed by response id."""
    out: dict[int, list] = {}
    width = len(items)
    connection = db.session.connection()
    sql = ANSWERS_SQL["postgresql" if connection.dialect.name == "postgresql" else "sqlite"]
    loads, normalise = json.loads, unicodedata.normalize
    shape = {item.code: (k, 1 if item.type == "multiple_choice" else 2 if item.type == "text" else 0)
             for item, k in ((item, slot[item.code]) for item in items)}
    for rid, packed in connection.execute(sql, {"lo": lo, "hi": hi}):
        cells = [None] * width
        for code, value in loads(packed).items():
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
        out[rid] = cells
    return out


def _names() -> dict[str, dict]:
    """Codes (and unit names) by id: units, counters, procedure fields (small tables)."""
    units = {i: (c, n) for i, c, n in db.session.execute(select(Unit.id, Unit.code, Unit.name))}
    counters = dict(db.session.execute(select(Counter.id, Counter.code)).all())
    fields = dict(db.session.execute(select(ProcedureField.id, ProcedureField.code)).all())
    return {"units": units, "counters": counters, "fields": fields}
