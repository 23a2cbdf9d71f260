"""Units (đơn vị): the tree, its import with official codes, counters and procedure fields."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select

from ..extensions import db
from ..models import Counter, ProcedureField, Unit, User
from ..models.unit import UNIT_LEVELS
from . import audit
from .imports import CODE_PATTERN, Column, RowError, _l, choice, code, load, nfc, reject_if, text

# Level names as written in Vietnamese files (compared without case and diacritics).
LEVEL_NAMES = {
    "tỉnh": "province", "thành phố trực thuộc trung ương": "province",
    "thành phố": "city", "thành phố thuộc tỉnh": "city", "thị xã": "city", "quận": "city",
    "huyện": "city",
    "xã": "commune", "đặc khu": "commune",
    "phường": "ward", "thị trấn": "ward",
    "sở": "department", "phòng": "department", "ban": "department", "sở, ngành": "department",
    "cơ quan chuyên môn": "department",
    "trung tâm": "centre", "trung tâm phục vụ hành chính công": "centre", "bộ phận một cửa": "centre",
    "điểm phục vụ": "centre", "điểm phục vụ hành chính công": "centre", "center": "centre",
    "khác": "other",
} | {level: level for level in UNIT_LEVELS}
LEVEL_LABELS = {
    "province": _l("Tỉnh"), "city": _l("Thành phố / thị xã"), "commune": _l("Xã"),
    "ward": _l("Phường"), "department": _l("Sở, phòng, ban"), "centre": _l("Trung tâm, điểm phục vụ"),
    "other": _l("Khác"),
}

UNIT_COLUMNS = [
    Column("code", ("Mã đơn vị", "Mã", "Mã ĐV", "Mã định danh", "unit code", "code", "unit_code"),
           code(32)),
    Column("name", ("Tên đơn vị", "Tên", "unit name", "name", "unit_name"), text(200)),
    Column("level", ("Cấp", "Cấp đơn vị", "Loại đơn vị", "level", "unit level"),
           choice(LEVEL_NAMES, "tỉnh, thành phố, xã, phường, sở/phòng, trung tâm, khác "
                               "(hoặc province, city, commune, ward, department, centre, other)")),
    Column("parent_code", ("Mã đơn vị cha", "Mã đơn vị cấp trên", "Mã cấp trên", "Đơn vị cha",
                           "parent code", "parent_code", "parent"),
           code(32), required=False, blank_ok=True),
]


@dataclass(frozen=True)
class ImportSummary:
    """What an import did."""

    rows: int
    created: int
    updated: int
    unchanged: int


class UnitError(ValueError):
    """A management form value that cannot be saved; ``msgid``/``params`` as in imports."""

    def __init__(self, msgid: str, field: str | None = None, **params: object):
        super().__init__(msgid % params if params else msgid)
        self.msgid, self.field, self.params = msgid, field, params


def subtree_ids(user: User | None) -> set[int] | None:
    """Unit ids the user may manage (``None`` = everything, for the CLI)."""
    if user is None:
        return None
    from .scope import visible_unit_ids
    return set(db.session.scalars(visible_unit_ids(user)))


def unit_of_row(row, units: dict[str, Unit], allowed: set[int] | None, errors: list) -> Unit | None:
    """The unit a row's ``unit_code`` names, or ``None`` with an error when unknown or out of scope."""
    unit_code = row.get("unit_code")
    if not unit_code:
        return None
    unit = units.get(unit_code)
    if unit is None:
        errors.append(row.error("unit_code", _l("Không có đơn vị mã «%(code)s» trong hệ thống."),
                                code=unit_code))
    elif allowed is not None and unit.id not in allowed:
        errors.append(row.error("unit_code", _l("Đơn vị «%(code)s» nằm ngoài phạm vi quản lý của bạn."),
                                code=unit_code))
        return None
    return unit


# --- import ------------------------------------------------------------------------------------

def import_units(data: bytes, filename: str, *, user: User | None, actor: str) -> ImportSummary:
    """Create or update units from a CSV/XLSX tree, matched by official code; all or nothing.

    Units missing from the file are left alone; a re-import updates names, levels and parents.
    A web user can only touch units in their subtree, and every imported unit must end up
    below their own unit.
    """
    rows, errors = load(data, filename, UNIT_COLUMNS)
    existing = {u.code: u for u in db.session.scalars(select(Unit))}
    allowed = subtree_ids(user)
    own = next((u for u in existing.values() if user is not None and u.id == user.unit_id), None)
    for row in rows:
        # A file of one's own subtree may leave the top unit's parent empty: it stays as it is.
        if own is not None and row.get("code") == own.code and row.get("parent_code") is None:
            row.values["parent_code"] = _parent_code(own)
    errors += _validate_units(rows, existing, allowed, user, scope_check=not errors)
    reject_if(errors)

    created = updated = unchanged = 0
    by_code = dict(existing)
    for row in rows:
        unit = existing.get(row["code"])
        if unit is None:
            unit = Unit(code=row["code"], name=row["name"], level=row["level"])
            db.session.add(unit)
            by_code[unit.code] = unit
            created += 1
        elif (unit.name, unit.level, _parent_code(unit)) == (row["name"], row["level"],
                                                            row["parent_code"]):
            unchanged += 1
        else:
            unit.name, unit.level = row["name"], row["level"]
            updated += 1
    db.session.flush()
    for row in rows:
        parent = by_code.get(row["parent_code"]) if row["parent_code"] else None
        by_code[row["code"]].parent_id = parent.id if parent else None
    db.session.flush()
    summary = ImportSummary(len(rows), created, updated, unchanged)
    audit.record("units.import", actor, user_id=user.id if user else None, object_type="unit",
                 filename=filename, sha256=hashlib.sha256(data).hexdigest(), rows=len(rows),
                 created=created, updated=updated, unchanged=unchanged)
    return summary


def _parent_code(unit: Unit) -> str | None:
    """The official code of the unit's parent (None at the top)."""
    return unit.parent.code if unit.parent else None


def _validate_units(rows, existing: dict[str, Unit], allowed: set[int] | None,
                    user: User | None, *, scope_check: bool) -> list[RowError]:
    """Duplicates, unknown parents, cycles and scope, checked on the tree as it would become."""
    errors: list[RowError] = []
    first_row: dict[str, int] = {}
    file_rows = []
    for row in rows:
        if row.get("code") is None:
            continue
        if row["code"] in first_row:
            errors.append(row.error("code", _l("Mã đơn vị «%(code)s» trùng với dòng %(other)s."),
                                    code=row["code"], other=first_row[row["code"]]))
        else:
            first_row[row["code"]] = row.row
            file_rows.append(row)
    parents = {c: _parent_code(u) for c, u in existing.items()}
    for row in file_rows:
        parents[row["code"]] = row.get("parent_code")
    for row in file_rows:
        parent = row.get("parent_code")
        if parent and parent == row["code"]:
            errors.append(row.error("parent_code", _l("Một đơn vị không thể là cha của chính nó.")))
        elif parent and parent not in parents:
            errors.append(row.error("parent_code", _l(
                "Không tìm thấy đơn vị cha «%(code)s» trong tệp hay trong hệ thống."), code=parent))
        else:
            cycle = _cycle_from(row["code"], parents)
            if cycle:
                errors.append(row.error("parent_code", _l("Tạo thành vòng lặp trong cây đơn vị: %(path)s."),
                                        path=" → ".join(cycle)))
    if allowed is not None and scope_check and not errors:
        errors += _scope_errors(file_rows, existing, parents, allowed, user)
    return errors


def _cycle_from(start: str, parents: dict[str, str | None]) -> list[str] | None:
    """The loop reached by following parents from ``start``, if any."""
    path, seen, current = [], set(), start
    while current is not None and current in parents:
        if current in seen:
            return path[path.index(current):] + [current]
        seen.add(current)
        path.append(current)
        current = parents[current]
    return None


def _scope_errors(rows, existing: dict[str, Unit], parents: dict[str, str | None],
                  allowed: set[int], user: User) -> list[RowError]:
    """Every imported unit must be (or end up) inside the user's own subtree."""
    own = next((u for u in existing.values() if u.id == user.unit_id), None)
    errors = []
    for row in rows:
        unit = existing.get(row["code"])
        if unit is not None and unit.id not in allowed:
            errors.append(row.error("code", _l("Đơn vị «%(code)s» nằm ngoài phạm vi quản lý của bạn."),
                                    code=row["code"]))
            continue
        if own is not None and row["code"] == own.code:
            if row.get("parent_code") != _parent_code(own):
                errors.append(row.error("parent_code", _l(
                    "Không thể đổi đơn vị cha của đơn vị mình đang quản lý.")))
            continue
        chain, current = set(), parents.get(row["code"])
        while current is not None and current not in chain and (own is None or current != own.code):
            chain.add(current)
            current = parents.get(current)
        if own is None or current != own.code:
            errors.append(row.error("parent_code", _l(
                "Đơn vị phải nằm trong cây của đơn vị «%(code)s» mà bạn quản lý."),
                code=own.code if own else "?"))
    return errors


# --- one unit by hand ---------------------------------------------------------------------------

def save_unit(unit: Unit | None, *, code_: str, name: str, level: str, parent_id: int | None,
              user: User | None, actor: str) -> Unit:
    """Create or edit one unit with the import's rules: unique code, known parent, no loop, scope."""
    code_, name = nfc(code_), nfc(name)
    if not CODE_PATTERN.match(code_) or len(code_) > 32:
        raise UnitError(_l("Mã «%(value)s» chỉ được gồm chữ không dấu, chữ số và . _ - /."), "code",
                        value=code_)
    if not name:
        raise UnitError(_l("Ô này không được để trống."), "name")
    if level not in UNIT_LEVELS:
        raise UnitError(_l("Cấp đơn vị không hợp lệ."), "level")
    clash = db.session.scalar(select(Unit).where(Unit.code == code_))
    if clash is not None and clash is not unit:
        raise UnitError(_l("Đã có đơn vị mã «%(code)s»."), "code", code=code_)
    allowed = subtree_ids(user)
    own_unit = user is not None and unit is not None and unit.id == user.unit_id
    if own_unit and parent_id != unit.parent_id:
        raise UnitError(_l("Không thể đổi đơn vị cha của đơn vị mình đang quản lý."), "parent_id")
    if not own_unit and allowed is not None and parent_id not in allowed:
        raise UnitError(_l("Có đơn vị nằm ngoài phạm vi quản lý của bạn."), "parent_id")
    if unit is not None and parent_id is not None and parent_id in descendant_ids(unit.id):
        raise UnitError(_l("Đơn vị cha không thể là chính đơn vị này hay đơn vị cấp dưới của nó."),
                        "parent_id")
    before = None if unit is None else {"code": unit.code, "name": unit.name, "level": unit.level,
                                        "parent_id": unit.parent_id}
    if unit is None:
        unit = Unit(code=code_)
        db.session.add(unit)
    unit.code, unit.name, unit.level, unit.parent_id = code_, name, level, parent_id
    db.session.flush()
    after = {"code": code_, "name": name, "level": level, "parent_id": parent_id}
    audit.record("unit.update" if before else "unit.create", actor, user_id=user.id if user else None,
                 object_type="unit", object_id=unit.id,
                 **({"changes": {k: [before[k], v] for k, v in after.items() if before[k] != v}}
                    if before else after))
    return unit


def descendant_ids(unit_id: int) -> set[int]:
    """The unit and every unit below it."""
    children: dict[int | None, list[int]] = {}
    for uid, parent in db.session.execute(select(Unit.id, Unit.parent_id)):
        children.setdefault(parent, []).append(uid)
    found, stack = set(), [unit_id]
    while stack:
        current = stack.pop()
        if current not in found:
            found.add(current)
            stack.extend(children.get(current, []))
    return found


# --- tree --------------------------------------------------------------------------------------

def unit_tree(user: User | None) -> list[tuple[Unit, int]]:
    """Units the user can see, depth-first with their depth below the visible roots."""
    allowed = subtree_ids(user)
    units = [u for u in db.session.scalars(select(Unit).order_by(Unit.code))
             if allowed is None or u.id in allowed]
    ids = {u.id for u in units}
    children: dict[int | None, list[Unit]] = {}
    for unit in units:
        children.setdefault(unit.parent_id if unit.parent_id in ids else None, []).append(unit)
    ordered: list[tuple[Unit, int]] = []
    stack = [(u, 0) for u in reversed(children.get(None, []))]
    while stack:
        unit, depth = stack.pop()
        ordered.append((unit, depth))
        stack.extend((c, depth + 1) for c in reversed(children.get(unit.id, [])))
    return ordered


# --- counters ----------------------------------------------------------------------------------

def counters_of(user: User, unit: Unit | None = None) -> list[Counter]:
    """Counters in the user's subtree (of one unit if given), by unit code then counter code."""
    from .scope import in_scope
    query = select(Counter).join(Unit).where(in_scope(user, Counter.unit_id))
    if unit is not None:
        query = query.where(Counter.unit_id == unit.id)
    return list(db.session.scalars(query.order_by(Unit.code, Counter.code)))


def counter_counts(user: User) -> dict[int, int]:
    """Number of counters per unit of the user's subtree."""
    from sqlalchemy import func

    from .scope import in_scope
    return dict(db.session.execute(
        select(Counter.unit_id, func.count(Counter.id)).where(in_scope(user, Counter.unit_id))
        .group_by(Counter.unit_id)).all())


def all_fields() -> list[ProcedureField]:
    """The procedure-field catalogue by code."""
    return list(db.session.scalars(select(ProcedureField).order_by(ProcedureField.code)))


def save_counter(counter: Counter | None, *, unit: Unit, code_: str, name: str, network_cidr: str | None,
                 actor: str, user_id: int | None) -> Counter:
    """Create (``counter`` None) or update a counter; codes are unique within a unit."""
    code_, name = nfc(code_), nfc(name)
    cidr = nfc(network_cidr) if network_cidr and network_cidr.strip() else None
    if cidr:
        cidr = normalise_networks(cidr)
        if len(cidr) > 64:
            raise UnitError(_l("Dài quá %(n)s ký tự."), "network_cidr", n=64)
    clash = db.session.scalar(select(Counter).where(Counter.unit_id == unit.id, Counter.code == code_))
    if clash is not None and clash is not counter:
        raise UnitError(_l("Đơn vị đã có quầy mã «%(code)s»."), "code", code=code_)
    action = "counter.update" if counter else "counter.create"
    if counter is None:
        counter = Counter(unit_id=unit.id, code=code_, name=name, network_cidr=cidr)
        db.session.add(counter)
    else:
        counter.unit_id, counter.code, counter.name, counter.network_cidr = unit.id, code_, name, cidr
    db.session.flush()
    audit.record(action, actor, user_id=user_id, object_type="counter", object_id=counter.id,
                 unit_id=unit.id, code=code_, name=name, network_cidr=cidr)
    return counter


def normalise_networks(value: str) -> str:
    """One or more networks (comma or semicolon separated), normalised: "10.1.2.0/24, 10.9.0.0/16"."""
    import ipaddress
    found = []
    for part in value.replace(";", ",").split(","):
        if not part.strip():
            continue
        try:
            found.append(str(ipaddress.ip_network(part.strip(), strict=False)))
        except ValueError:
            raise UnitError(_l("«%(value)s» không phải là dải địa chỉ mạng (ví dụ 10.1.2.0/24)."),
                            "network_cidr", value=part.strip()) from None
    return ", ".join(found)


# --- procedure fields --------------------------------------------------------------------------

def save_field(field: ProcedureField | None, *, code_: str, name: str, name_en: str | None,
               procedure_code: str | None, actor: str, user_id: int | None) -> ProcedureField:
    """Create or update a procedure field (lĩnh vực); codes are unique."""
    code_, name = nfc(code_), nfc(name)
    name_en = nfc(name_en) if name_en and name_en.strip() else None
    procedure_code = nfc(procedure_code) if procedure_code and procedure_code.strip() else None
    clash = db.session.scalar(select(ProcedureField).where(ProcedureField.code == code_))
    if clash is not None and clash is not field:
        raise UnitError(_l("Đã có lĩnh vực mã «%(code)s»."), "code", code=code_)
    action = "field.update" if field else "field.create"
    if field is None:
        field = ProcedureField(code=code_, name=name, name_en=name_en, procedure_code=procedure_code)
        db.session.add(field)
    else:
        field.code, field.name, field.name_en, field.procedure_code = code_, name, name_en, procedure_code
    db.session.flush()
    audit.record(action, actor, user_id=user_id, object_type="field", object_id=field.id,
                 code=code_, name=name, name_en=name_en, procedure_code=procedure_code)
    return field
