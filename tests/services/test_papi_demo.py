"""``sipas demo-papi``: an idempotent PAPI campaign whose answers respect the "if used" blocks."""

from __future__ import annotations

from sqlalchemy import func, select

from survey.extensions import db
from survey.models import Answer, Campaign, Response
from survey.services.results import campaign_report


def test_demo_papi_is_idempotent_conditional_and_scored(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo-papi", "--responses", "300"])
    again = runner.invoke(args=["demo-papi", "--responses", "300"])
    assert first.exit_code == 0 and "created now" in first.output, first.output
    assert again.exit_code == 0 and "already loaded" in again.output
    with app.app_context():
        campaign = db.session.scalar(select(Campaign).filter_by(code="papi-2026"))
        assert db.session.scalar(select(func.count(Response.id))
                                 .filter_by(campaign_id=campaign.id)) == 300
        answers: dict[int, dict[str, Answer]] = {}
        for a in db.session.scalars(select(Answer)):
            answers.setdefault(a.response_id, {})[a.item_code] = a
        for got in answers.values():
            if "d5_1_c1" in got:
                assert got["d5_1_used"].number == 1
            if "d5_2_sat" in got:
                assert got["d5_2_applied"].number == 1 and got["d5_2_built"].number == 1
        report = campaign_report(campaign.id, weighting="design", by=["unit"])
    assert 1 <= report.find("d5").estimate <= 10 and 2 <= report.find("papi").estimate <= 20
    assert len({e.domain for e in report.estimates if e.domain}) == 4
