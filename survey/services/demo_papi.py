"""A PAPI-style demo campaign (``papi-d5-d6``) on the demo province's wards and communes.

``sipas demo-papi`` adds it next to the SIPAS demo (``sipas demo`` first gives it the Sa Đéc
units and their transaction counts; alone it creates four communes of its own).  Answers are
drawn question by question in questionnaire order, so "if used" blocks are only answered after
"Có", exactly as the public form would store them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import numpy as np
from sqlalchemy import func, insert, select

from ..extensions import db
from ..models import (
    Campaign,
    CampaignUnit,
    EntryPoint,
    PopulationCount,
    Response,
    Unit,
)
from ..questionnaires import Questionnaire, load_questionnaire
from .answer_store import store_answers
from .audit import record
from .entry_points import CODE_ALPHABET, new_code
from .questionnaires import publish_questionnaire

CAMPAIGN_CODE = "papi-2026"
FALLBACK_UNITS = [("PX-1", "Xã Thử Một", 300), ("PX-2", "Xã Thử Hai", 220),
                  ("PX-3", "Phường Thử Ba", 410), ("PX-4", "Phường Thử Bốn", 180)]
SKIP = 0.04


def load_papi_demo(responses: int = 800, seed: int = 20261123) -> dict:
    """Create the PAPI demo campaign once (idempotent); return what to print."""
    campaign = db.session.scalar(select(Campaign).filter_by(code=CAMPAIGN_CODE))
    created = campaign is None
    if created:
        campaign = _build(responses, seed)
    codes = [(e.label or e.unit.name, e.code) for e in db.session.scalars(
        select(EntryPoint).filter_by(campaign_id=campaign.id).order_by(EntryPoint.id))]
    n = db.session.scalar(select(func.count(Response.id)).filter_by(campaign_id=campaign.id))
    return {"created": created, "campaign_id": campaign.id, "responses": n, "codes": codes}


def _units() -> list[Unit]:
    """The demo's wards and communes, or four units of our own (with transaction counts)."""
    units = list(db.session.scalars(select(Unit).where(Unit.level.in_(("ward", "commune")),
                                                       Unit.code.like("SD-%"))
                                    .order_by(Unit.code)))
    if units:
        return units
    for code, name, monthly in FALLBACK_UNITS:
        unit = Unit(code=code, name=name, level="commune")
        db.session.add(unit)
        db.session.flush()
        for month in range(1, 13):
            db.session.add(PopulationCount(unit_id=unit.id, field_id=None,
                                           month=date(2026, month, 1), transactions=monthly,
                                           source="demo"))
        units.append(unit)
    return units


def _build(n_responses: int, seed: int) -> Campaign:
    """Publish the questionnaire, create the campaign, a QR code per unit and the answers."""
    rng = np.random.default_rng(seed)
    q = load_questionnaire("papi-d5-d6")
    version, _ = publish_questionnaire(q, actor="demo")
    campaign = Campaign(code=CAMPAIGN_CODE, name="Khảo sát theo phương pháp PAPI năm 2026",
                        questionnaire_version_id=version.id, starts_on=date(2026, 1, 1),
                        ends_on=date(2026, 12, 31), weighting="design", margin_of_error=0.05)
    db.session.add(campaign)
    db.session.flush()
    units = _units()
    entries = []
    for unit in units:
        db.session.add(CampaignUnit(campaign_id=campaign.id, unit_id=unit.id))
        entry = EntryPoint(code=new_code(), kind="static", campaign_id=campaign.id,
                           unit_id=unit.id, label=f"{unit.name} · PAPI")
        db.session.add(entry)
        entries.append(entry)
    db.session.flush()
    levels = rng.uniform(-0.12, 0.12, len(units))
    start = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
    rows, answers = [], []
    for rid, u in enumerate(rng.integers(0, len(units), n_responses)):
        entry = entries[int(u)]
        rows.append({
            "submission_uuid": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
            "receipt": "".join(rng.choice(list(CODE_ALPHABET), 8)),
            "entry_point_id": entry.id, "campaign_id": campaign.id,
            "questionnaire_version_id": version.id, "questionnaire_id": q.id,
            "questionnaire_version": q.version, "content_hash": q.content_hash,
            "unit_id": entry.unit_id, "counter_id": None, "field_id": None,
            "channel": "paper" if rng.random() < 0.5 else "qr", "language": "vi",
            "submitted_at": start + timedelta(hours=float(rng.uniform(0, 24 * 200))),
            "form_seconds": int(rng.integers(120, 900)), "flags": [], "excluded": False,
        })
        for code, value in _answers(rng, q, float(levels[int(u)])).items():
            answers.append(_row(rid, q, code, value))
    ids = db.session.scalars(insert(Response).returning(Response.id,
                                                        sort_by_parameter_order=True), rows).all()
    for row in answers:
        row["response_id"] = ids[row["response_id"]]
    if answers:
        store_answers(answers)
    record("demo.load", "demo", object_type="campaign", object_id=campaign.id,
           responses=n_responses)
    return campaign


def _answers(rng, q: Questionnaire, shift: float) -> dict[str, object]:
    """One respondent's answers in questionnaire order; conditional blocks only when shown."""
    out: dict[str, object] = {}
    for section in q.sections:
        for code in section.items:
            item = q.items[code]
            if item.when and not item.when.holds(out):
                continue
            is_filter = any(other.when and other.when.item == code for other in q.items.values())
            if not is_filter and rng.random() < SKIP:
                continue
            out[code] = _draw(rng, item, code, shift)
    return out


def _draw(rng, item, code: str, shift: float) -> object:
    """A plausible answer: better units answer a little better."""
    if item.type == "single_choice":
        return item.options[int(rng.integers(len(item.options)))].code
    if item.type == "yes_no":
        bad = code.endswith(("_fee", "_cut", "_victim"))
        base = 0.15 if bad else (0.45 if code.endswith(("_used", "_built", "_child", "_pupil"))
                                 else 0.75)
        p = min(0.97, max(0.03, base - shift if bad else base + shift))
        return int(rng.random() < p)
    if item.type == "number":
        return int(min(item.maximum, round(rng.exponential(22))))
    k = int(item.points)
    good = min(0.95, max(0.05, 0.6 + shift))
    return int(rng.integers(k - 1, k + 1)) if rng.random() < good else int(rng.integers(1, k))


def _row(rid: int, q: Questionnaire, code: str, value: object) -> dict:
    """A full answers row (typed column as the public form stores it)."""
    item = q.items[code]
    row = {"response_id": rid, "item_code": code, "rating": None, "scale_points": None,
           "not_applicable": False, "number": None, "choice": None, "choices": None, "text": None}
    if item.type in ("satisfaction", "scale"):
        row.update(rating=value, scale_points=item.points)
    elif item.type in ("yes_no", "number"):
        row["number"] = value
    else:
        row["choice"] = value
    return row
