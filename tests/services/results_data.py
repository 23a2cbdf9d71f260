"""A campaign with known answers for the results tests, and its ``sipas analyze`` export.

The export is written here from plain queries, independently of the results service, so that
comparing the service with ``sipas analyze`` on the export is a real check.
"""

from __future__ import annotations

import csv
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import insert, select

from survey.extensions import db
from survey.models import (
    Campaign,
    Counter,
    PopulationCount,
    ProcedureField,
    Response,
    Unit,
)
from survey.questionnaires import load_questionnaire
from survey.services.answer_store import store_answers
from survey.services.questionnaires import publish_questionnaire

# (code, respondents, transactions per month); "R4" has a single respondent (lonely stratum).
UNITS = [("R1", 60, 90), ("R2", 45, 40), ("R3", 25, 30), ("R4", 1, 12)]
FIELDS = ["ho_tich", "dat_dai", "chung_thuc"]


def seed_campaign(seed: int = 7, units=UNITS, more_answers=None) -> Campaign:
    """Units, fields, counters, population counts and responses with every answer shape.

    Answers: ratings 1–5, "không áp dụng" (not applicable), skipped items, the feedback block
    only after "Có", optional sex/age; some responses excluded, some flagged.
    ``more_answers(responses)``: more answer rows for the responses (their rows, ``id`` set,
    in id order), stored with the others (a response's answers are written once).
    """
    rng = np.random.default_rng(seed)
    q = load_questionnaire("sipas-counter")
    version, _ = publish_questionnaire(q)
    fields = {}
    for code in FIELDS:
        field = ProcedureField(code=code, name=code)
        db.session.add(field)
        fields[code] = field
    campaign = Campaign(code=f"res-{seed}", name="Kết quả", questionnaire_version_id=version.id,
                        starts_on=date(2026, 1, 15), ends_on=date(2026, 6, 30))
    db.session.add(campaign)
    db.session.flush()
    criteria = [n.item for n in q.criteria()]
    rows, answers = [], []
    for u_no, (code, n, monthly) in enumerate(units):
        unit = Unit(code=code, name=f"Đơn vị {code}", level="ward")
        db.session.add(unit)
        db.session.flush()
        counters = [Counter(unit_id=unit.id, code=f"Q{i}", name=f"Quầy {i}") for i in (1, 2)]
        db.session.add_all(counters)
        db.session.flush()
        for month in range(1, 8):  # July is outside the period and must not count
            field_id = fields[FIELDS[month % 3]].id if month % 2 else None
            db.session.add(PopulationCount(unit_id=unit.id, field_id=field_id,
                                           month=date(2026, month, 1), transactions=monthly))
        level = 0.55 + 0.1 * u_no
        for _ in range(n):
            rid = len(rows)
            field = str(rng.choice(FIELDS)) if rng.random() < 0.9 else None
            excluded = rng.random() < 0.05
            rows.append({
                "submission_uuid": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
                "receipt": uuid.uuid4().hex[:8], "campaign_id": campaign.id,
                "questionnaire_version_id": version.id, "questionnaire_id": q.id,
                "questionnaire_version": q.version, "content_hash": q.content_hash,
                "unit_id": unit.id, "counter_id": counters[int(rng.integers(2))].id,
                "field_id": fields[field].id if field else None, "channel": "qr",
                "language": "vi", "submitted_at": datetime(2026, 3, 1, tzinfo=UTC),
                "flags": ["too_fast"] if rng.random() < 0.1 else [], "excluded": excluded,
                "exclusion_reason": "trùng lặp" if excluded else None,
            })
            feedback = rng.random() < 0.4
            answers.append(_answer(rid, "gave_feedback", number=int(feedback)))
            if field:
                answers.append(_answer(rid, "field", choice=field))
            if rng.random() < 0.8:
                answers.append(_answer(rid, "sex", choice=str(rng.choice(["male", "female"]))))
            if rng.random() < 0.7:
                answers.append(_answer(rid, "age_group",
                                       choice=str(rng.choice(["age_18_24", "age_35_49"]))))
            for item in criteria:
                if item.startswith("c5_") and not feedback:
                    continue
                draw = rng.random()
                if draw < 0.06:
                    continue  # skipped
                if draw < 0.10 and q.items[item].allow_na:
                    answers.append(_answer(rid, item, not_applicable=True, scale_points=5))
                    continue
                rating = int(rng.choice([4, 5]) if rng.random() < level
                             else rng.choice([1, 2, 3]))
                answers.append(_answer(rid, item, rating=rating, scale_points=5))
    ids = db.session.scalars(insert(Response).returning(Response.id,
                                                        sort_by_parameter_order=True), rows).all()
    for row in answers:
        row["response_id"] = ids[row["response_id"]]
    if more_answers is not None:
        answers += more_answers([{**row, "id": rid} for row, rid in zip(rows, ids, strict=True)])
    store_answers(answers)
    db.session.commit()
    return campaign


def _answer(response_id: int, code: str, **values) -> dict:
    """A full answers row."""
    row = {"response_id": response_id, "item_code": code, "rating": None, "scale_points": None,
           "not_applicable": False, "number": None, "choice": None, "choices": None, "text": None}
    row.update(values)
    return row


def export_for_analyze(campaign: Campaign, folder: Path, include_flagged: bool = True
                       ) -> tuple[Path, Path]:
    """Write RESPONSES.csv (unit, field, sex, age_group, items) and POP.csv for the campaign."""
    q = load_questionnaire("sipas-counter")
    items = sorted({n.item for n in q.criteria()})
    extra = ["sex", "age_group"]
    field_code = dict(db.session.execute(select(ProcedureField.id, ProcedureField.code)).all())
    unit_code = dict(db.session.execute(select(Unit.id, Unit.code)).all())
    responses = db.session.scalars(
        select(Response).where(Response.campaign_id == campaign.id,
                               Response.excluded.is_(False)).order_by(Response.id)).all()
    out = folder / "responses.csv"
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["unit", "field", *extra, *items])
        for resp in responses:
            if not include_flagged and resp.flags:
                continue
            got = {a.item_code: a for a in resp.answers}
            cells = []
            for item in extra + items:
                a = got.get(item)
                value = None if a is None else (a.choice if a.choice is not None else
                                                a.rating if a.rating is not None else a.number)
                cells.append(("" if item in extra else "NA") if value is None else value)
            writer.writerow([unit_code[resp.unit_id], field_code.get(resp.field_id, ""),
                             *cells])
    start, end = campaign.starts_on.replace(day=1), campaign.ends_on
    pop: dict[str, int] = {}
    for count in db.session.scalars(select(PopulationCount)):
        if start <= count.month <= end:
            code = unit_code[count.unit_id]
            pop[code] = pop.get(code, 0) + count.transactions
    pop_path = folder / "population.csv"
    pop_path.write_text("unit,population\n" + "".join(f"{u},{n}\n" for u, n in pop.items()),
                        encoding="utf-8")
    return out, pop_path
