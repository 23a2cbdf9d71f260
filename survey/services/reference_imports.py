"""Imports of counters and procedure fields, on the shared import rules (``imports.py``).

Both are upserts: a counter is matched by its unit and code, a field by its code; a re-import
updates names (and networks) and never duplicates. Rows missing from the file are left alone.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from ..extensions import db
from ..models import Counter, ProcedureField, Unit, User
from . import audit
from .imports import Column, _l, code, load, reject_if, text
from .units import ImportSummary, UnitError, normalise_networks, subtree_ids, unit_of_row

COUNTER_COLUMNS = [
    Column("unit_code", ("Mã đơn vị", "Mã ĐV", "unit code", "unit_code", "unit"), code(32)),
    Column("code", ("Mã quầy", "counter code", "counter_code", "code"), code(32)),
    Column("name", ("Tên quầy", "counter name", "counter_name", "name"), text(200)),
    Column("network", ("Dải mạng", "Mạng", "network", "network_cidr"), text(200),
           required=False, blank_ok=True),
]

FIELD_COLUMNS = [
    Column("code", ("Mã lĩnh vực", "field code", "field_code", "code"), code(64)),
    Column("name", ("Tên lĩnh vực", "field name", "name"), text(200)),
    Column("name_en", ("Tên tiếng Anh", "English name", "name_en"), text(200), required=False,
           blank_ok=True),
    Column("procedure_code", ("Mã thủ tục", "procedure code", "procedure_code"), text(64),
           required=False, blank_ok=True),
]


def import_counters(data: bytes, filename: str, *, user: User | None, actor: str) -> ImportSummary:
    """Create or update counters (unit × code) from CSV/XLSX; all or nothing."""
    rows, errors = load(data, filename, COUNTER_COLUMNS)
    units = {u.code: u for u in db.session.scalars(select(Unit))}
    allowed = subtree_ids(user)
    seen: dict[tuple, int] = {}
    plan = []
    for row in rows:
        unit = unit_of_row(row, units, allowed, errors)
        network = None
        if row.get("network"):
            try:
                network = normalise_networks(row["network"])
            except UnitError as exc:
                errors.append(row.error("network", exc.msgid, **exc.params))
                continue
            if len(network) > 64:
                errors.append(row.error("network", _l("Dài quá %(n)s ký tự."), n=64))
                continue
        if unit is None or row.get("code") is None or row.get("name") is None:
            continue
        key = (unit.id, row["code"])
        if key in seen:
            errors.append(row.error("code", _l("Quầy này đã có ở dòng %(other)s."), other=seen[key]))
            continue
        seen[key] = row.row
        plan.append((unit.id, row["code"], row["name"], network))
    reject_if(errors)
    existing = {(c.unit_id, c.code): c for c in db.session.scalars(
        select(Counter).where(Counter.unit_id.in_({p[0] for p in plan})))}
    created = updated = unchanged = 0
    for unit_id, counter_code, name, network in plan:
        counter = existing.get((unit_id, counter_code))
        if counter is None:
            db.session.add(Counter(unit_id=unit_id, code=counter_code, name=name, network_cidr=network))
            created += 1
        elif (counter.name, counter.network_cidr) == (name, network):
            unchanged += 1
        else:
            counter.name, counter.network_cidr = name, network
            updated += 1
    db.session.flush()
    return _recorded("counters.import", "counter", data, filename, user, actor,
                     ImportSummary(len(plan), created, updated, unchanged))


def import_fields(data: bytes, filename: str, *, user: User | None, actor: str) -> ImportSummary:
    """Create or update procedure fields by code from CSV/XLSX; all or nothing."""
    rows, errors = load(data, filename, FIELD_COLUMNS)
    seen: dict[str, int] = {}
    for row in rows:
        if row.get("code") is None:
            continue
        if row["code"] in seen:
            errors.append(row.error("code", _l("Mã lĩnh vực «%(code)s» trùng với dòng %(other)s."),
                                    code=row["code"], other=seen[row["code"]]))
        seen.setdefault(row["code"], row.row)
    reject_if(errors)
    existing = {f.code: f for f in db.session.scalars(select(ProcedureField))}
    created = updated = unchanged = 0
    for row in rows:
        values = (row["name"], row.get("name_en"), row.get("procedure_code"))
        field = existing.get(row["code"])
        if field is None:
            db.session.add(ProcedureField(code=row["code"], name=values[0], name_en=values[1],
                                          procedure_code=values[2]))
            created += 1
        elif (field.name, field.name_en, field.procedure_code) == values:
            unchanged += 1
        else:
            field.name, field.name_en, field.procedure_code = values
            updated += 1
    db.session.flush()
    return _recorded("fields.import", "field", data, filename, user, actor,
                     ImportSummary(len(rows), created, updated, unchanged))


def _recorded(action: str, object_type: str, data: bytes, filename: str, user: User | None, actor: str,
              summary: ImportSummary) -> ImportSummary:
    """Write the import's audit entry; return its summary."""
    audit.record(action, actor, user_id=user.id if user else None, object_type=object_type,
                 filename=filename, sha256=hashlib.sha256(data).hexdigest(), rows=summary.rows,
                 created=summary.created, updated=summary.updated, unchanged=summary.unchanged)
    return summary
