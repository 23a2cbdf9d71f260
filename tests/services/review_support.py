"""Test data for the review queue: a campaign in two wards with a few responses (some flagged)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from survey.extensions import db
from survey.models import CampaignUnit, EntryPoint, Response, Unit
from survey.questionnaires import load_questionnaire
from survey.services.responses import submit_response
from tests.factories import make_campaign
from tests.web.workspace_support import make_unit, make_user

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _submit(entry: EntryPoint, answers: dict, flags: list | None = None) -> Response:
    q = load_questionnaire("sipas-counter")
    response, _ = submit_response(entry=entry, version=entry.campaign.questionnaire_version,
                                  questionnaire=q, answers=answers, submission_uuid=str(uuid.uuid4()))
    if flags:
        response.flags = list(flags)
    db.session.flush()
    return response


def review_world() -> dict:
    """City C with wards T1 (the factory's) and W2; campaign on both; users; 4 responses in T1.

    c1_1 answers 5, 5, 1, 4 → criterion index 75 %; excluding the "1" makes it 100 %.
    """
    entry = make_campaign()
    t1 = db.session.scalar(select(Unit).filter_by(code="T1"))
    city = make_unit("C", "Thành phố Thử", "city")
    t1.parent_id = city.id
    w2 = make_unit("W2", "Phường Hai", parent=city)
    campaign = entry.campaign
    db.session.add_all([CampaignUnit(campaign_id=campaign.id, unit_id=t1.id, target_n=10),
                        CampaignUnit(campaign_id=campaign.id, unit_id=w2.id, target_n=10)])
    other_entry = EntryPoint(code="OTHERW2", kind="static", campaign_id=campaign.id, unit_id=w2.id)
    db.session.add(other_entry)
    db.session.flush()
    good1 = _submit(entry, {"c1_1": 5})
    good2 = _submit(entry, {"c1_1": 5, "comment": "Cán bộ rất nhiệt tình"})
    bad = _submit(entry, {"c1_1": 1, "comment": XSS}, flags=["too_fast"])
    plain = _submit(entry, {"c1_1": 4})
    elsewhere = _submit(other_entry, {"c1_1": 2}, flags=["burst_device"])
    users = {
        "admin": make_user("noivu", "admin", city),
        "manager": make_user("truong.t1", "unit_manager", t1),
        "manager_w2": make_user("truong.w2", "unit_manager", w2),
        "staff": make_user("quay.t1", "counter_staff", t1),
    }
    db.session.commit()
    return {"campaign": campaign.id, "t1": t1.id, "w2": w2.id, "city": city.id,
            "good": good1.id, "good2": good2.id, "bad": bad.id, "plain": plain.id,
            "elsewhere": elsewhere.id, "users": {k: u.id for k, u in users.items()}}
