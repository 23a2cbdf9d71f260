"""Importing typed paper forms from a CSV/XLSX file in the ``sipas analyze`` format.

One row per form: ``unit`` (unit code), ``serial`` (số phiếu), optional ``counter`` (counter
code), and one column per question named by its item code (``c1_1`` …, ``field``, ``sex``),
holding the codes printed on the form (see :mod:`survey.services.paper_codes`; empty or ``NA``
= not answered; option codes such as ``male`` are accepted as well as their numbers).

Like every import (``imports.py``): the whole file is validated first — cells, serials (given,
not repeated in the file, not entered before, a printed form of this campaign unless new
serials are allowed), units in the user's subtree and the campaign — and every error is
reported with its row and column; then all rows are stored, or none (the caller commits once).
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass

from sqlalchemy import select

from ..extensions import db
from ..models import Campaign, Counter, PaperForm, Unit, User
from . import audit
from .imports import Column, ImportRejected, RowError, _l, code, load, reject_if, text
from .minting import MAX_BATCH
from .paper import Actor, PaperError, campaign_covers, create_batch, normalise_serial
from .paper_codes import CodeError, typed_answers
from .paper_entry import store_final
from .questionnaires import questionnaire_of
from .units import subtree_ids, unit_of_row

BASE_COLUMNS = [
    Column("unit_code", ("unit", "Mã đơn vị", "Mã ĐV", "unit_code"), code(32)),
    Column("serial", ("serial", "Số phiếu", "so_phieu", "serial_number"), text(32)),
    Column("counter_code", ("counter", "Mã quầy", "counter_code"), code(32), required=False,
           blank_ok=True),
]


@dataclass(frozen=True)
class PaperImportSummary:
    """What a file import stored."""

    rows: int
    printed: int  # rows that were forms printed by SIPAS
    new_serials: int  # rows whose serials were added by this import


@dataclass
class _Plan:
    """One validated row, ready to store."""

    row: int
    unit: Unit
    counter: Counter | None
    serial: str
    answers: dict
    form: PaperForm | None


def columns_for(q) -> list[Column]:
    """The file's columns: unit, serial, counter and one per question (all optional)."""
    return BASE_COLUMNS + [Column(f"item:{c}", (c,), lambda v: v, required=False, blank_ok=True)
                           for c in q.items]


def import_paper(data: bytes, filename: str, *, campaign: Campaign, user: User | None, actor: Actor,
                 allow_new_serials: bool = False, max_rows: int | None = None) -> PaperImportSummary:
    """Validate the whole file, then store every row as a paper response; raise ImportRejected.

    ``max_rows`` bounds what one web request stores (each row is a response); the command line
    has no bound beyond the import framework's.
    """
    q = questionnaire_of(campaign.questionnaire_version)
    columns = columns_for(q)
    rows, errors = load(data, filename, columns)
    if max_rows is not None and len(rows) > max_rows:
        raise ImportRejected([RowError(0, None, _l("Tệp có %(rows)s dòng, trang web nhập tối đa %(n)s; "
                                                   "hãy chia tệp hoặc dùng lệnh sipas paper import."),
                                       {"rows": len(rows), "n": max_rows})])
    errors += _unknown_item_columns(data, filename, q)
    units = {u.code: u for u in db.session.scalars(select(Unit))}
    allowed = subtree_ids(user)
    serials = [normalise_serial(r.get("serial") or "") for r in rows]
    existing = {f.serial: f for f in db.session.scalars(select(PaperForm).where(
        PaperForm.campaign_id == campaign.id, PaperForm.serial.in_([s for s in serials if s])))}
    seen: dict[str, int] = {}
    plans: list[_Plan] = []
    for row, serial in zip(rows, serials, strict=True):
        unit = unit_of_row(row, units, allowed, errors)
        if unit is not None and not campaign_covers(campaign, unit):
            errors.append(row.error("unit_code", _l("Đợt khảo sát này không khảo sát đơn vị «%(code)s»."),
                                    code=unit.code))
            unit = None
        counter = _counter(row, unit, errors)
        form = _serial_check(row, serial, unit, existing, seen, allow_new_serials, errors)
        answers = _answers(row, q, errors)
        if unit is not None and serial and answers is not None and form is not False:
            plans.append(_Plan(row.row, unit, counter, serial, answers, form or None))
    reject_if(errors)
    printed = sum(1 for p in plans if p.form is not None)
    _add_new_serials([p for p in plans if p.form is None], campaign, actor)
    for plan in plans:
        try:
            store_final(plan.form, plan.answers, actor=actor)
        except PaperError as exc:
            raise ImportRejected([RowError(plan.row, "serial", exc.message, exc.params)]) from None
    audit.record("paper.import", actor.name, user_id=actor.user_id, object_type="campaign",
                 object_id=campaign.id, filename=filename, sha256=hashlib.sha256(data).hexdigest(),
                 rows=len(plans), printed=printed, new_serials=len(plans) - printed,
                 serials=[p.serial for p in plans])
    return PaperImportSummary(len(plans), printed, len(plans) - printed)


def _unknown_item_columns(data: bytes, filename: str, q) -> list[RowError]:
    """Headers that look like a mistyped question code (``c1_01`` for ``c1_1``)."""
    from .imports import read_table
    known = {"unit", "serial", "counter", "weight", *q.items}
    out = []
    for header in read_table(data, filename).headers:
        name = str(header or "").strip()
        if not name or name in known:
            continue
        close = difflib.get_close_matches(name, list(q.items), n=1, cutoff=0.8)
        if close:
            out.append(RowError(1, name, _l("Không có câu hỏi mã «%(name)s» trong bảng hỏi; có phải "
                                            "«%(close)s»?"), {"name": name, "close": close[0]}))
    return out


def _counter(row, unit: Unit | None, errors: list) -> Counter | None:
    """The counter a row names within its unit (optional)."""
    counter_code = row.get("counter_code")
    if not counter_code or unit is None:
        return None
    found = db.session.scalar(select(Counter).where(Counter.unit_id == unit.id, Counter.code == counter_code))
    if found is None:
        errors.append(row.error("counter_code", _l("Đơn vị «%(unit)s» không có quầy mã «%(code)s»."),
                                unit=unit.code, code=counter_code))
    return found


def _serial_check(row, serial: str, unit: Unit | None, existing: dict, seen: dict,
                  allow_new: bool, errors: list):
    """The printed form of the serial, ``None`` for a new serial, ``False`` when refused."""
    if not row.get("serial"):
        return False  # the blank cell is already reported
    if not serial:
        errors.append(row.error("serial", _l("Số phiếu phải có chữ hoặc số.")))
        return False
    if serial in seen:
        errors.append(row.error("serial", _l("Số phiếu %(serial)s trùng với dòng %(other)s."),
                                serial=serial, other=seen[serial]))
        return False
    seen[serial] = row.row
    form = existing.get(serial)
    if form is None:
        if allow_new:
            return None
        errors.append(row.error("serial", _l("Số phiếu %(serial)s không có trong các phiếu đã in của đợt "
                                             "khảo sát này."), serial=serial))
        return False
    if form.status != "printed":
        errors.append(row.error("serial", _l("Phiếu số %(serial)s đã được nhập (hoặc đang nhập) trước đó."),
                                serial=serial))
        return False
    if form.entry_point.used_at is not None:
        errors.append(row.error("serial", _l("Phiếu số %(serial)s đã được trả lời trực tuyến bằng mã QR "
                                             "in trên phiếu."), serial=serial))
        return False
    if unit is not None and form.unit_id != unit.id:
        errors.append(row.error("unit_code", _l("Phiếu số %(serial)s được in cho đơn vị khác."),
                                serial=serial))
        return False
    return form


def _answers(row, q, errors: list) -> dict | None:
    """The row's answers, or None with an error per wrong cell."""
    answers, problems = typed_answers(q, {c: row.get(f"item:{c}") for c in q.items})
    for item_code, problem in problems.items():
        if isinstance(problem, CodeError):
            errors.append(row.error(f"item:{item_code}", problem.msgid, **problem.params))
        else:
            errors.append(row.error(f"item:{item_code}", str(problem)))
    if problems:
        return None
    if not answers:
        errors.append(RowError(row.row, None, _l("Dòng không có câu trả lời nào.")))
        return None
    return answers


def _add_new_serials(plans: list[_Plan], campaign: Campaign, actor: Actor) -> None:
    """Record the file's new serials as forms (with their own codes), per unit and counter."""
    groups: dict[tuple, list[_Plan]] = {}
    for plan in plans:
        groups.setdefault((plan.unit.id, plan.counter.id if plan.counter else None), []).append(plan)
    for group in groups.values():
        for start in range(0, len(group), MAX_BATCH):
            part = group[start:start + MAX_BATCH]
            batch = create_batch(campaign=campaign, unit=part[0].unit, counter=part[0].counter,
                                 count=len(part), double_entry=False, actor=actor, source="import",
                                 serials=[p.serial for p in part])
            forms = {f.serial: f for f in db.session.scalars(
                select(PaperForm).where(PaperForm.batch_id == batch.id))}
            for plan in part:
                plan.form = forms[plan.serial]
