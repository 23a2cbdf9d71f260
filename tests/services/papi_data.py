"""A PAPI campaign holding the R reference dataset (tests/stats/fixtures/papi-data.csv).

Units A–D with their transactions (``papi-pop.csv``) in one month of the campaign period, so
``campaign_report(weighting="design")`` has R's design: weights N_h/n_h with fpc.
"""

from __future__ import annotations

import csv
import uuid
from datetime import UTC, date, datetime

from sqlalchemy import insert

from survey.extensions import db
from survey.models import Campaign, CampaignUnit, PopulationCount, Response, Unit
from survey.questionnaires import load_questionnaire
from survey.services.answer_store import store_answers
from survey.services.questionnaires import publish_questionnaire

from ..stats.helpers import FIXTURES

DATA = FIXTURES / "papi-data.csv"
POP = FIXTURES / "papi-pop.csv"


def _rows(path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def seed_papi_campaign(code: str = "papi-2026") -> Campaign:
    """The PAPI questionnaire published, a campaign on units A–D and one response per CSV row."""
    q = load_questionnaire("papi-d5-d6")
    version, _ = publish_questionnaire(q)
    campaign = Campaign(code=code, name="PAPI 2026", questionnaire_version_id=version.id,
                        starts_on=date(2026, 1, 1), ends_on=date(2026, 3, 31))
    db.session.add(campaign)
    db.session.flush()
    units = {}
    for row in _rows(POP):
        unit = Unit(code=row["unit"], name=f"Xã {row['unit']}", level="commune")
        db.session.add(unit)
        db.session.flush()
        units[row["unit"]] = unit.id
        db.session.add(CampaignUnit(campaign_id=campaign.id, unit_id=unit.id))
        db.session.add(PopulationCount(unit_id=unit.id, field_id=None, month=date(2026, 2, 1),
                                       transactions=int(row["population"])))
    data = _rows(DATA)
    responses, answers = [], []
    for rid, row in enumerate(data):
        responses.append({
            "submission_uuid": str(uuid.uuid4()), "receipt": uuid.uuid4().hex[:8],
            "campaign_id": campaign.id, "questionnaire_version_id": version.id,
            "questionnaire_id": q.id, "questionnaire_version": q.version,
            "content_hash": q.content_hash, "unit_id": units[row["unit"]], "counter_id": None,
            "field_id": None, "channel": "paper", "language": "vi",
            "submitted_at": datetime(2026, 2, 10, tzinfo=UTC), "flags": [], "excluded": False,
            "exclusion_reason": None,
        })
        for code_, value in row.items():
            item = q.items.get(code_)
            if item is None or value == "":
                continue
            answer = {"response_id": rid, "item_code": code_, "rating": None,
                      "scale_points": None, "not_applicable": False, "number": None,
                      "choice": None, "choices": None, "text": None}
            if item.type in ("satisfaction", "scale"):
                answer.update(rating=int(value), scale_points=item.points)
            elif item.type in ("yes_no", "number"):
                answer["number"] = int(value)
            else:
                answer["choice"] = value
            answers.append(answer)
    ids = db.session.scalars(insert(Response).returning(Response.id,
                                                        sort_by_parameter_order=True),
                             responses).all()
    for answer in answers:
        answer["response_id"] = ids[answer["response_id"]]
    store_answers(answers)
    db.session.commit()
    return campaign
