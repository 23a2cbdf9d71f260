"""Campaigns: sample targets n = ⌈N/(1+N·e²)⌉ from transactions, create/edit rules, audit."""

from __future__ import annotations

import math
from datetime import date

import pytest
from sqlalchemy import select

from survey.extensions import db
from survey.models import AuditLog, Campaign, CampaignUnit, PopulationCount, QuestionnaireVersion
from survey.questionnaires import load_questionnaire
from survey.services.campaigns import CampaignInput, compute_targets, sample_size, save_campaign
from survey.services.questionnaires import publish_questionnaire
from survey.services.units import UnitError
from tests.web.workspace_support import make_unit, make_user


@pytest.mark.parametrize(("population", "margin", "expected"), [
    (0, 0.05, 0), (1, 0.05, 1), (100, 0.05, 80), (1000, 0.05, 286), (5000, 0.05, 371),
    (1_000_000, 0.05, 400), (1000, 0.10, 91), (1000, 0.03, 527),
])
def test_sample_size_is_the_qd_1383_formula_rounded_up(population, margin, expected):
    assert sample_size(population, margin) == expected
    if population:
        assert expected == math.ceil(population / (1 + population * margin ** 2))


def test_sample_size_never_exceeds_the_population_nor_one_over_e_squared():
    for population in range(1, 3000, 7):
        n = sample_size(population)
        assert n <= population and n <= 400


@pytest.fixture
def setup(app):
    with app.app_context():
        version, _ = publish_questionnaire(load_questionnaire("sipas-counter"))
        city = make_unit("C", "Thành phố", "city")
        w1 = make_unit("W1", "Phường 1", parent=city)
        w2 = make_unit("W2", "Phường 2", parent=city)
        other = make_unit("X", "Tỉnh khác", "province")
        admin = make_user("noivu", "admin", city)
        for month, n in ((1, 400), (2, 600), (3, 500)):
            db.session.add(PopulationCount(unit_id=w1.id, field_id=None, month=date(2026, month, 1),
                                           transactions=n))
        db.session.add(PopulationCount(unit_id=w1.id, field_id=None, month=date(2025, 12, 1),
                                       transactions=9999))       # outside the period
        db.session.commit()
        return {"version": version.id, "city": city.id, "w1": w1.id, "w2": w2.id, "other": other.id,
                "admin": admin.id}


def _input(setup, **changes) -> CampaignInput:
    values = {"code": "sd-2026-q1", "name": "Đợt quý I/2026", "questionnaire_version_id": setup["version"],
              "starts_on": date(2026, 1, 1), "ends_on": date(2026, 3, 31), "weighting": "design",
              "margin_of_error": 0.05, "unit_ids": [setup["w1"], setup["w2"]]}
    return CampaignInput(**(values | changes))


def test_targets_come_from_the_transactions_of_the_campaign_months(app, setup):
    with app.app_context():
        from survey.models import User
        admin = db.session.get(User, setup["admin"])
        campaign = save_campaign(None, _input(setup), user=admin, actor="noivu")
        db.session.commit()
        rows = {r.unit.code: r for r in compute_targets(campaign, user=admin, actor="noivu")}
        db.session.commit()
        assert rows["W1"].population == 1500 and rows["W1"].suggested == math.ceil(1500 / (1 + 1500 * 0.0025))
        assert rows["W2"].population is None and rows["W2"].target_n is None   # no data: left alone
        stored = {cu.unit.code: cu.target_n for cu in db.session.scalars(select(CampaignUnit))}
        assert stored == {"W1": 316, "W2": None}
        # e = 10 %: the same N gives a smaller target.
        campaign.margin_of_error = 0.10
        compute_targets(campaign, user=admin, actor="noivu")
        assert db.session.scalar(select(CampaignUnit.target_n).filter_by(unit_id=setup["w1"])) == 94
        entry = db.session.scalars(select(AuditLog).filter_by(action="campaign.targets")).all()[-1]
        assert entry.details["changes"] == {"W1": [316, 94]} and entry.details["without_data"] == ["W2"]


def test_campaign_rules_and_audit(app, setup):
    with app.app_context():
        from survey.models import User
        admin = db.session.get(User, setup["admin"])
        bad = [
            ({"code": "Bad Code"}, "code"), ({"name": "  "}, "name"),
            ({"questionnaire_version_id": 999}, "questionnaire_version_id"),
            ({"ends_on": date(2025, 12, 31)}, "ends_on"), ({"weighting": "magic"}, "weighting"),
            ({"margin_of_error": 0.9}, "margin_of_error"), ({"unit_ids": []}, "unit_ids"),
            ({"unit_ids": [setup["other"]]}, "unit_ids"),          # outside the admin's subtree
        ]
        for change, field in bad:
            with pytest.raises(UnitError) as caught:
                save_campaign(None, _input(setup, **change), user=admin, actor="noivu")
            assert caught.value.field == field, change
        db.session.rollback()
        assert db.session.scalar(select(Campaign)) is None
        campaign = save_campaign(None, _input(setup), user=admin, actor="noivu")
        db.session.commit()
        save_campaign(campaign, _input(setup, name="Đợt quý I", unit_ids=[setup["w1"]]), user=admin,
                      actor="noivu")
        db.session.commit()
        assert [cu.unit_id for cu in campaign.units] == [setup["w1"]]
        actions = db.session.scalars(select(AuditLog).where(AuditLog.action.like("campaign.%"))
                                     .order_by(AuditLog.id)).all()
        assert [a.action for a in actions] == ["campaign.create", "campaign.update"]
        assert actions[1].details["changes"]["name"] == ["Đợt quý I/2026", "Đợt quý I"]
        with pytest.raises(UnitError):   # the code of another campaign
            save_campaign(None, _input(setup), user=admin, actor="noivu")
        assert db.session.get(QuestionnaireVersion, setup["version"]) is not None
