"""A PAPI campaign end to end: publish the questionnaire, create the campaign in the workspace,
answer it on the public form (conditional "if used" blocks), read points in the results."""

from __future__ import annotations

from sqlalchemy import select

from survey.extensions import db
from survey.models import Campaign, EntryPoint, QuestionnaireVersion, Response
from survey.services.results import campaign_report

from ..factories import form_token, receipt
from ..services.review_support import review_world
from .workspace_support import login, token_of

PAPI_FILE = "questionnaires/papi-d5-d6.v1.yaml"


def _publish(app) -> int:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["questionnaires", "load", PAPI_FILE])
    again = runner.invoke(args=["questionnaires", "load", PAPI_FILE])
    assert first.exit_code == 0 and again.exit_code == 0, first.output + again.output
    with app.app_context():
        versions = db.session.scalars(select(QuestionnaireVersion)
                                      .filter_by(questionnaire_id="papi-d5-d6")).all()
        assert len(versions) == 1  # loading twice publishes once
        return versions[0].id


def _create_campaign(app, client) -> tuple[int, str]:
    """Create the PAPI campaign through the workspace form; give it a code to scan."""
    with app.app_context():
        world = review_world()
    version_id = _publish(app)
    assert login(client, "noivu").status_code == 302
    page = client.get("/admin/campaigns/new").get_data(as_text=True)
    assert "papi-d5-d6 v1" in page
    created = client.post("/admin/campaigns/new", data={
        "csrf_token": token_of(page), "code": "papi-2026", "name": "Khảo sát PAPI 2026",
        "questionnaire_version_id": version_id, "starts_on": "2026-01-01",
        "ends_on": "2099-12-31", "weighting": "equal", "margin_percent": "5",
        "unit_ids": [world["t1"]]})
    assert created.status_code == 302, created.get_data(as_text=True)[:2000]
    with app.app_context():
        campaign = db.session.scalar(select(Campaign).filter_by(code="papi-2026"))
        db.session.add(EntryPoint(code="PAPI2026", kind="static", campaign_id=campaign.id,
                                  unit_id=world["t1"]))
        db.session.commit()
        return campaign.id, "PAPI2026"


ANSWERS = {
    "sex": "female", "d5_1_used": "0", "d5_1_c1": "1",            # not used: c1 is dropped
    "d5_2_built": "0", "d5_2_applied": "1", "d5_2_onedoor": "1",   # chain: both dropped
    "d5_3_used": "1", "d5_3_onedoor": "1", "d5_3_received": "0", "d5_3_c1": "1",
    "d5_3_c2": "1", "d5_3_c3": "0", "d5_3_c4": "1", "d5_3_fee": "0", "d5_3_sat": "4",
    "d5_4_used": "0", "d6_1_insured": "1", "d6_1_useful": "3", "d6_1_child": "0",
    "d6_2_pupil": "1", "d6_2_walk": "15", "d6_2_teaching": "5", "d6_3_grid": "1",
    "d6_3_cut": "0", "d6_3_road": "4", "d6_3_garbage": "5", "d6_3_water": "1",
    "d6_4_safe": "3", "d6_4_day": "3", "d6_4_night": "2", "d6_4_victim": "0",
}


def test_papi_campaign_is_created_answered_and_scored_in_points(app, client):
    campaign_id, code = _create_campaign(app, client)
    page = client.get(f"/s/{code}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Thủ tục và phí, lệ phí có được niêm yết công khai không?" in html
    assert 'id="item-d5_1_c1"' in html and 'name="d6_2_walk"' in html
    css_url = html.split('rel="stylesheet" href="')[-1].split('"')[0]
    css = client.get(css_url).get_data(as_text=True)
    # "If used" blocks are hidden until the usage question says Có (no JavaScript).
    assert ('form:not(:has(input[name="d5_1_used"][value="1"]:checked)) #item-d5_1_c1'
            '{display:none}') in css
    assert 'input[name="d5_2_applied"][value="1"]:checked)) #item-d5_2_sat' in css

    bad = client.post(f"/s/{code}", data={**ANSWERS, "d6_2_walk": "999",
                                          "token": form_token(html)})
    assert bad.status_code == 422 and "từ 0 đến 300" in bad.get_data(as_text=True)
    done = client.post(f"/s/{code}", data={**ANSWERS, "token": form_token(html)})
    assert done.status_code == 200 and receipt(done.get_data(as_text=True))
    with app.app_context():
        stored = db.session.scalar(select(Response).filter_by(campaign_id=campaign_id))
        answers = {a.item_code: a for a in stored.answers}
        assert "d5_1_c1" not in answers and answers["d5_1_used"].number == 0
        assert "d5_2_applied" not in answers and "d5_2_onedoor" not in answers
        assert answers["d5_3_c4"].number == 1 and answers["d5_3_sat"].rating == 4
        assert answers["d6_2_walk"].number == 15
        report = campaign_report(campaign_id)
    quality = report.find("d5_3_quality")
    assert quality.estimate == 0.75 and quality.n_answered == 1   # 3 of 4 criteria met
    assert report.find("d6_2_walk").estimate == 0.75               # 15 min of the 0-60 anchors
    assert report.find("d5_1_quality").n_answered == 0             # asked of users only
    d6 = report.find("d6")
    assert d6.scale == (1.0, 10.0) and 1 <= d6.estimate <= 10 and d6.flag == "suppressed"
