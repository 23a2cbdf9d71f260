"""A campaign ready for paper forms: a ward with a counter, sipas-counter, two clerks and a manager."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from survey.extensions import db
from survey.models import Campaign, CampaignUnit, Counter, PaperForm
from survey.questionnaires import load_questionnaire
from survey.services.paper import Actor, create_batch
from survey.services.questionnaires import publish_questionnaire
from tests.web.workspace_support import make_unit, make_user

# A complete typing of sipas-counter (item code → code as circled on paper).
TYPED = {"field": "1", "c1_1": "4", "c1_2": "5", "c1_3": "0", "c1_4": "4", "c2_1": "5", "c2_2": "4",
         "c2_3": "3", "c2_4": "0", "c2_5": "4", "c3_1": "5", "c3_2": "5", "c3_3": "4", "c3_4": "4",
         "c3_5": "2", "c3_6": "5", "c4_1": "4", "c4_2": "4", "c4_3": "5", "gave_feedback": "0",
         "overall": "4", "improve": "2 3", "comment": "Cán bộ nhiệt tình, chỗ ngồi hơi chật.",
         "sex": "2", "age_group": "5"}


def paper_world(ends_on: date = date(2099, 12, 31)) -> dict:
    """Province, ward (with counter), campaign on sipas-counter; clerks and a manager in the ward."""
    version, _ = publish_questionnaire(load_questionnaire("sipas-counter"))
    province = make_unit("DT", "Tỉnh Đồng Tháp", "province")
    ward = make_unit("P1", "Phường 1, Thành phố Sa Đéc", parent=province)
    other = make_unit("P2", "Phường 2", parent=province)
    counter = Counter(unit_id=ward.id, code="Q1", name="Quầy Tư pháp – Hộ tịch")
    campaign = Campaign(code="sipas-2026", name="Khảo sát SIPAS năm 2026",
                        questionnaire_version_id=version.id, starts_on=date(2020, 1, 1), ends_on=ends_on)
    db.session.add_all([counter, campaign])
    db.session.flush()
    db.session.add_all([CampaignUnit(campaign_id=campaign.id, unit_id=ward.id),
                        CampaignUnit(campaign_id=campaign.id, unit_id=other.id)])
    clerk_a = make_user("can.bo.a", "counter_staff", ward)
    clerk_b = make_user("can.bo.b", "counter_staff", ward)
    manager = make_user("lanh.dao", "unit_manager", ward)
    outsider = make_user("can.bo.p2", "counter_staff", other)
    db.session.commit()
    return {"ward": ward, "other": other, "counter": counter, "campaign": campaign, "version": version,
            "a": Actor(clerk_a.username, clerk_a.id), "b": Actor(clerk_b.username, clerk_b.id),
            "manager": Actor(manager.username, manager.id), "users": {
                "a": clerk_a, "b": clerk_b, "manager": manager, "outsider": outsider}}


def printed_serials(w: dict, count: int, *, counter: bool = False, double_entry: bool = False,
                    actor: str = "a") -> list[str]:
    """Serials of ``count`` forms printed for ``w``'s ward (committed), in serial order."""
    batch = create_batch(campaign=w["campaign"], unit=w["ward"], counter=w["counter"] if counter else None,
                         count=count, double_entry=double_entry, actor=w[actor])
    db.session.commit()
    return list(db.session.scalars(select(PaperForm.serial).filter_by(batch_id=batch.id)
                                   .order_by(PaperForm.serial)))
