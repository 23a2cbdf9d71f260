"""Transaction counts (số hồ sơ đã trả kết quả) per unit × field × month, from one-stop software.

A re-import of the same unit, field and month replaces the stored number (upsert), so a corrected
export can simply be imported again. Rows for other months or units are left as they are.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select

from ..extensions import db
from ..models import PopulationCount, ProcedureField, Unit, User
from . import audit
from .imports import Column, _l, code, fold, integer, load, month, reject_if, text
from .units import ImportSummary, subtree_ids, unit_of_row


def _month_or_number(value: object) -> date | int:
    """A month cell: a full month (2026-03, 03/2026, a date) or a bare 1–12 with a year column."""
    if isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer():
        if 1 <= int(value) <= 12:
            return int(value)
    elif isinstance(value, str) and value.strip().isdigit() and 1 <= int(value) <= 12:
        return int(value)
    return month(value)


POPULATION_COLUMNS = [
    Column("unit_code", ("Mã đơn vị", "Mã ĐV", "unit code", "unit_code", "unit"), code(32)),
    Column("field", ("Mã lĩnh vực", "Lĩnh vực", "field code", "field_code", "field"), text(200),
           required=False, blank_ok=True),
    Column("month", ("Tháng", "Kỳ", "Kỳ báo cáo", "month", "period"), _month_or_number),
    Column("year", ("Năm", "year"), integer(1900, 2999), required=False, blank_ok=True),
    Column("transactions", ("Số hồ sơ đã trả kết quả", "Số hồ sơ", "Số lượng hồ sơ",
                            "Hồ sơ đã trả kết quả", "Số hồ sơ đã giải quyết", "transactions", "count"),
           integer(0, 10**9)),
]


@dataclass(frozen=True)
class _Row:
    row: int
    unit_id: int
    field_id: int | None
    month: date
    transactions: int


def import_population(data: bytes, filename: str, *, user: User | None, actor: str) -> ImportSummary:
    """Validate the whole file, then upsert every unit × field × month; all or nothing."""
    rows, errors = load(data, filename, POPULATION_COLUMNS)
    units = {u.code: u for u in db.session.scalars(select(Unit))}
    fields = _field_lookup()
    allowed = subtree_ids(user)
    resolved: list[_Row] = []
    seen: dict[tuple, int] = {}
    for row in rows:
        unit = unit_of_row(row, units, allowed, errors)
        field_id = None
        if row.get("field"):
            field_id = fields.get(fold(row["field"]))
            if field_id is None:
                errors.append(row.error("field", _l("Không có lĩnh vực «%(field)s» (mã hoặc tên)."),
                                        field=row["field"]))
        period = _period(row, errors)
        if unit is None or period is None or row.get("transactions") is None or (
                row.get("field") and field_id is None):
            continue
        key = (unit.id, field_id, period)
        if key in seen:
            errors.append(row.error("month", _l(
                "Đơn vị, lĩnh vực và tháng này đã có ở dòng %(other)s."), other=seen[key]))
            continue
        seen[key] = row.row
        resolved.append(_Row(row.row, unit.id, field_id, period, row["transactions"]))
    reject_if(errors)
    summary = _upsert(resolved, filename)
    audit.record("population.import", actor, user_id=user.id if user else None,
                 object_type="population_count", filename=filename,
                 sha256=hashlib.sha256(data).hexdigest(), rows=summary.rows, created=summary.created,
                 updated=summary.updated, unchanged=summary.unchanged,
                 months=sorted({r.month.isoformat()[:7] for r in resolved}))
    return summary


def _field_lookup() -> dict[str, int]:
    """Folded field code and name → id (codes win over names)."""
    lookup: dict[str, int] = {}
    all_fields = list(db.session.scalars(select(ProcedureField)))
    for f in all_fields:
        lookup.setdefault(fold(f.name), f.id)
    for f in all_fields:
        lookup[fold(f.code)] = f.id
    return lookup


def _period(row, errors: list) -> date | None:
    """The row's month from the month cell and, for a bare month number, the year cell."""
    value, year = row.get("month"), row.get("year")
    if value is None:
        return None
    if isinstance(value, int):
        if year is None:
            errors.append(row.error("month", _l(
                "Tháng «%(value)s» cần cột «Năm» hoặc ghi đầy đủ (ví dụ 2026-03)."), value=value))
            return None
        return date(year, value, 1)
    if year is not None and year != value.year:
        errors.append(row.error("year", _l("Năm %(year)s không khớp với tháng %(month)s."),
                                year=year, month=value.strftime("%m/%Y")))
        return None
    return value


def _upsert(rows: list[_Row], source: str) -> ImportSummary:
    """Insert new unit × field × month rows and replace the numbers of existing ones."""
    existing: dict[tuple, PopulationCount] = {}
    unit_ids = sorted({r.unit_id for r in rows})
    months = sorted({r.month for r in rows})
    for chunk in range(0, len(unit_ids), 500):
        query = select(PopulationCount).where(PopulationCount.unit_id.in_(unit_ids[chunk:chunk + 500]),
                                              PopulationCount.month.in_(months))
        for pc in db.session.scalars(query):
            existing[(pc.unit_id, pc.field_id, pc.month)] = pc
    created = updated = unchanged = 0
    for r in rows:
        pc = existing.get((r.unit_id, r.field_id, r.month))
        if pc is None:
            db.session.add(PopulationCount(unit_id=r.unit_id, field_id=r.field_id, month=r.month,
                                           transactions=r.transactions, source=source[:200]))
            created += 1
        elif pc.transactions == r.transactions:
            unchanged += 1
        else:
            pc.transactions, pc.source = r.transactions, source[:200]
            updated += 1
    db.session.flush()
    return ImportSummary(len(rows), created, updated, unchanged)


@dataclass(frozen=True)
class MonthTotals:
    """Transactions of one unit by month (all fields together)."""

    unit: Unit
    by_month: dict[date, int]

    @property
    def total(self) -> int:
        """Σ over the months shown."""
        return sum(self.by_month.values())


def population_table(user: User | None, year: int) -> list[MonthTotals]:
    """Per visible unit, the transactions of each month of ``year``."""
    allowed = subtree_ids(user)
    query = (select(PopulationCount.unit_id, PopulationCount.month, func.sum(PopulationCount.transactions))
             .where(PopulationCount.month >= date(year, 1, 1), PopulationCount.month <= date(year, 12, 1))
             .group_by(PopulationCount.unit_id, PopulationCount.month))
    sums: dict[int, dict[date, int]] = {}
    for unit_id, mon, total in db.session.execute(query):
        if allowed is None or unit_id in allowed:
            sums.setdefault(unit_id, {})[mon] = int(total)
    units = db.session.scalars(select(Unit).where(Unit.id.in_(list(sums))).order_by(Unit.code))
    return [MonthTotals(u, sums[u.id]) for u in units]
