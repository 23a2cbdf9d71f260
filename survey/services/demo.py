"""The demo province: Sa Đéc city (Đồng Tháp) with wards, communes, departments and responses."""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
from flask import current_app
from sqlalchemy import func, insert, select

from ..extensions import db
from ..models import (
    Campaign,
    CampaignUnit,
    Counter,
    EntryPoint,
    PopulationCount,
    ProcedureField,
    Response,
    Unit,
    User,
)
from ..questionnaires import load_questionnaire
from .answer_store import store_answers
from .audit import record
from .demo_integrity import SUSPICIOUS, add_suspicious_responses
from .entry_points import CODE_ALPHABET, new_code
from .questionnaires import publish_questionnaire

CAMPAIGN_CODE = "sadec-2026"
# Share of respondents naming each element for improvement (results: priority matrix).
WISHES = (("e1", 0.25), ("e2", 0.45), ("e3", 0.2), ("e4", 0.15), ("e5", 0.3))
# (code, name, level, counters, monthly transactions, satisfaction level)
UNITS = [
    ("SD-P1", "Phường 1", "ward", ["Quầy 1", "Quầy 2"], 620, 0.90),
    ("SD-P2", "Phường 2", "ward", ["Quầy 1"], 410, 0.86),
    ("SD-P3", "Phường 3", "ward", ["Quầy 1"], 380, 0.81),
    ("SD-P4", "Phường 4", "ward", ["Quầy 1"], 350, 0.88),
    ("SD-AH", "Phường An Hòa", "ward", ["Quầy 1", "Quầy 2"], 540, 0.78),
    ("SD-TQD", "Phường Tân Quy Đông", "ward", ["Quầy 1"], 300, 0.84),
    ("SD-TKD", "Xã Tân Khánh Đông", "commune", ["Quầy 1"], 260, 0.76),
    ("SD-TPD", "Xã Tân Phú Đông", "commune", ["Quầy 1"], 240, 0.92),
    ("SD-TNMT", "Phòng Tài nguyên và Môi trường", "department", ["Quầy đất đai"], 700, 0.77),
    ("SD-QLDT", "Phòng Quản lý đô thị", "department", ["Quầy xây dựng"], 320, 0.80),
    ("SD-TP", "Phòng Tư pháp", "department", ["Quầy chứng thực"], 450, 0.89),
]
FIELD_MIX = ["ho_tich", "ho_tich", "chung_thuc", "chung_thuc", "dat_dai", "dang_ky_kinh_doanh"]
AGE_GROUPS = ["age_18_24", "age_25_34", "age_35_49", "age_50_60", "over_60"]
AGE_SHARES = [0.12, 0.27, 0.31, 0.17, 0.13]
FIELDS = [
    ("ho_tich", "Hộ tịch", "Civil status"), ("dat_dai", "Đất đai", "Land"),
    ("xay_dung", "Xây dựng", "Construction"), ("chung_thuc", "Chứng thực", "Certification"),
    ("dang_ky_kinh_doanh", "Đăng ký kinh doanh", "Business registration"),
]


def load_demo(responses: int = 3000, seed: int = 20261122) -> dict:
    """Create the demo once (idempotent) and return what to print: codes and logins."""
    campaign = db.session.scalar(select(Campaign).filter_by(code=CAMPAIGN_CODE))
    created = campaign is None
    if created:
        campaign = _build(responses, seed)
    codes = [
        (f"{e.unit.name} · {e.counter.name}", e.code)
        for e in db.session.scalars(
            select(EntryPoint).filter_by(campaign_id=campaign.id, kind="static")
            .order_by(EntryPoint.id))
    ]
    return {
        "created": created,
        "units": db.session.scalar(select(func.count(Unit.id))),
        "counters": db.session.scalar(select(func.count(Counter.id))),
        "responses": db.session.scalar(
            select(func.count(Response.id)).filter_by(campaign_id=campaign.id)),
        "codes": codes,
        "logins": _logins(),
    }


def _build(n_responses: int, seed: int) -> Campaign:
    """Units, counters, fields, campaign, QR codes, transactions, users and responses."""
    rng = np.random.default_rng(seed)
    q = load_questionnaire("sipas-counter")
    version, _ = publish_questionnaire(q, actor="demo")
    for qid in ("counter-rating", "sipas-2024"):
        publish_questionnaire(load_questionnaire(qid), actor="demo")
    province = _unit("DT", "Tỉnh Đồng Tháp", "province", None)
    city = _unit("SD", "Thành phố Sa Đéc", "city", province)
    fields = {code: _field(code, vi, en) for code, vi, en in FIELDS}
    campaign = Campaign(code=CAMPAIGN_CODE, name="Khảo sát SIPAS Sa Đéc năm 2026",
                        questionnaire_version_id=version.id, starts_on=date(2026, 1, 1),
                        ends_on=date(2026, 12, 31), weighting="design", margin_of_error=0.05)
    db.session.add(campaign)
    db.session.flush()
    plan = []
    for code, name, level, counters, monthly, level_sat in UNITS:
        unit = _unit(code, name, level, city)
        yearly = monthly * 12
        db.session.add(CampaignUnit(campaign_id=campaign.id, unit_id=unit.id,
                                    target_n=round(yearly / (1 + yearly * 0.05**2))))
        for month in range(1, 12):
            db.session.add(PopulationCount(
                unit_id=unit.id, field_id=None, month=date(2026, month, 1),
                transactions=int(rng.poisson(monthly)), source="demo"))
        for c_no, c_name in enumerate(counters, 1):
            counter = Counter(unit_id=unit.id, code=f"Q{c_no}", name=c_name)
            db.session.add(counter)
            db.session.flush()
            field = fields["dat_dai"] if "đất" in c_name else None
            entry = EntryPoint(code=new_code(), kind="static", campaign_id=campaign.id,
                               unit_id=unit.id, counter_id=counter.id,
                               field_id=field.id if field else None,
                               label=f"{name} · {c_name}")
            db.session.add(entry)
            db.session.flush()
            plan.append((entry, monthly, level_sat))
    _users(city)
    # A few of them are suspicious, stored and flagged through the real submission path.
    suspicious = SUSPICIOUS if n_responses >= 10 * SUSPICIOUS else 0
    _responses(rng, q, version, campaign, plan, n_responses - suspicious)
    if suspicious:
        add_suspicious_responses(rng, q, version, campaign, [entry for entry, _, _ in plan])
    record("demo.load", "demo", object_type="campaign", object_id=campaign.id,
           responses=n_responses)
    return campaign


def _unit(code: str, name: str, level: str, parent: Unit | None) -> Unit:
    """Get or create a unit by official code."""
    unit = db.session.scalar(select(Unit).filter_by(code=code))
    if unit is None:
        unit = Unit(code=code, name=name, level=level, parent_id=parent.id if parent else None)
        db.session.add(unit)
        db.session.flush()
    return unit


def _field(code: str, vi: str, en: str) -> ProcedureField:
    """Get or create a procedure field."""
    field = db.session.scalar(select(ProcedureField).filter_by(code=code))
    if field is None:
        field = ProcedureField(code=code, name=vi, name_en=en)
        db.session.add(field)
        db.session.flush()
    return field


def _responses(rng, q, version, campaign, plan, total: int) -> None:
    """Synthetic answers: unit satisfaction 75–92 %, items skipped ~8 %, feedback block ~30 %."""
    weights = np.array([monthly for _, monthly, _ in plan], dtype=float)
    per_entry = rng.multinomial(total, weights / weights.sum())
    criteria = [n.item for n in q.criteria()]
    start = datetime(2026, 1, 2, 1, 0, tzinfo=UTC)
    span = (datetime(2026, 11, 20, tzinfo=UTC) - start).total_seconds()
    response_rows, answer_rows = [], []
    field_ids = {f.code: f.id for f in db.session.scalars(select(ProcedureField))}
    for (entry, _, level_sat), count in zip(plan, per_entry, strict=True):
        for _ in range(count):
            rid = len(response_rows)  # replaced by the database id below
            mood = rng.normal(0, 0.06)
            feedback = rng.random() < 0.3
            field = entry.field.code if entry.field else str(rng.choice(FIELD_MIX))
            response_rows.append({
                "submission_uuid": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
                "receipt": "".join(rng.choice(list(CODE_ALPHABET), 8)), "entry_point_id": entry.id,
                "campaign_id": campaign.id, "questionnaire_version_id": version.id,
                "questionnaire_id": version.questionnaire_id,
                "questionnaire_version": version.version, "content_hash": version.content_hash,
                "unit_id": entry.unit_id, "counter_id": entry.counter_id,
                "field_id": field_ids[field],
                "channel": "qr", "language": "vi",
                "submitted_at": start + timedelta(seconds=float(rng.uniform(0, span))),
                "form_seconds": int(rng.integers(60, 400)), "flags": [], "excluded": False,
            })
            answer_rows.append(_row(rid, "gave_feedback", number=int(feedback)))
            answer_rows.append(_row(rid, "field", choice=field))
            if rng.random() < 0.7:  # the respondent block is optional
                answer_rows.append(_row(rid, "sex", choice=str(rng.choice(["male", "female"]))))
                answer_rows.append(_row(rid, "age_group", choice=str(rng.choice(AGE_GROUPS,
                                                                               p=AGE_SHARES))))
            for code in criteria + ["overall"]:
                if code.startswith("c5_") and not feedback:
                    continue
                if rng.random() < 0.08:
                    continue
                p = min(0.99, max(0.5, level_sat + mood))
                rating = int(rng.choice([4, 5], p=[0.55, 0.45]) if rng.random() < p
                             else rng.choice([1, 2, 3], p=[0.1, 0.25, 0.65]))
                answer_rows.append(_row(rid, code, rating=rating, scale_points=5))
    answer_rows += _wishes(len(response_rows))
    ids = db.session.scalars(
        insert(Response).returning(Response.id, sort_by_parameter_order=True), response_rows
    ).all()
    for row in answer_rows:
        row["response_id"] = ids[row["response_id"]]
    store_answers(answer_rows)


def _wishes(n: int) -> list[dict]:
    """"Which element should improve most" (multi-choice) for ~60 % of the responses.

    Drawn from a generator of its own, so adding it changed none of the other demo answers.
    """
    rng = np.random.default_rng(n)
    rows = []
    for rid in range(n):
        if rng.random() < 0.6:
            chosen = [e for e, p in WISHES if rng.random() < p] or ["e2"]
            rows.append(_row(rid, "improve", choices=chosen))
    return rows


def _row(response_id: int, code: str, **values) -> dict:
    """A full Answer row for bulk insert."""
    row = {"response_id": response_id, "item_code": code, "rating": None, "scale_points": None,
           "not_applicable": False, "number": None, "choice": None, "choices": None, "text": None}
    row.update(values)
    return row


def _users(city: Unit) -> None:
    """Demo logins with random passwords, kept in the instance folder to print again later."""
    logins = []
    for username, role, unit_code in (("noivu", "admin", "SD"), ("phuong1", "unit_manager", "SD-P1"),
                                      ("quay.phuong1", "counter_staff", "SD-P1")):
        if db.session.scalar(select(User).filter_by(username=username)):
            continue
        password = secrets.token_urlsafe(9)
        unit = db.session.scalar(select(Unit).filter_by(code=unit_code))
        user = User(username=username, role=role, unit_id=unit.id)
        user.set_password(password)
        db.session.add(user)
        logins.append([username, password, role])
    path = _logins_path()
    if logins:
        path.write_text(json.dumps(logins, ensure_ascii=False))
        path.chmod(0o600)


def _logins() -> list:
    """The demo logins written when the demo was created."""
    path = _logins_path()
    return json.loads(path.read_text()) if path.exists() else []


def _logins_path() -> Path:
    """Where demo passwords are kept (instance folder, never in the repository)."""
    return Path(current_app.instance_path) / "demo-logins.json"
