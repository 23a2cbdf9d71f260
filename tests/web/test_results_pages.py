"""Results pages: numbers from the bundle, scoping to the viewer's units, bad options → 400."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from survey.extensions import db
from survey.models import Campaign, CampaignUnit, Unit
from survey.services.results_tables import campaign_results
from tests.services.results_data import UNITS, seed_campaign
from tests.web.workspace_support import login, make_response, make_unit, make_user


@pytest.fixture
def world(app):
    """The results test campaign (units R1–R4 under a province) and three accounts."""
    with app.app_context():
        campaign = seed_campaign()
        province = make_unit("TINH", "Tỉnh Thử", level="province")
        for code, *_ in UNITS:
            unit = db.session.scalar(select(Unit).filter_by(code=code))
            unit.parent_id = province.id
            db.session.add(CampaignUnit(campaign_id=campaign.id, unit_id=unit.id))
        r1 = db.session.scalar(select(Unit).filter_by(code="R1"))
        make_user("noivu", "admin", province)
        make_user("truong.r1", "unit_manager", r1)
        make_user("canbo.r1", "counter_staff", r1)
        db.session.commit()
        return {"campaign": campaign.id, "r1": r1.id,
                "r2": db.session.scalar(select(Unit.id).filter_by(code="R2"))}


def _url(world, query: str = "") -> str:
    return f"/admin/campaigns/{world['campaign']}/results{query}"


def test_admin_sees_every_unit_with_the_bundles_numbers(app, client, world):
    login(client, "noivu")
    response = client.get(_url(world, "?weighting=design"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    with app.app_context():
        res = campaign_results(world["campaign"], weighting="design", compare_to="none")
    top = res.overall_row("sipas")
    vi = f"{top.estimate:.1f}".replace(".", ",")
    assert vi in html
    for code in ("R1", "R2", "R3"):
        assert f"Đơn vị {code}" in html
    # R4 has one response: suppressed, never shown with numbers, not ranked.
    r4 = res.table("unit").row("R4", "sipas")
    assert r4.flag == "suppressed" and r4.estimate is None
    assert "Không công bố" in html
    assert "Gia quyền theo thiết kế" in html and "w_h = N_h / n_h" in html
    assert "<svg" in html and 'role="img"' in html and "style=" not in html
    assert "<script" not in html


def test_unit_manager_sees_only_their_units_and_says_what_overall_means(app, client, world):
    login(client, "truong.r1")
    html = client.get(_url(world, "?weighting=unweighted")).get_data(as_text=True)
    assert "Đơn vị R1" in html
    assert "Đơn vị R2" not in html and "Đơn vị R3" not in html
    assert "toàn đợt khảo sát" in html  # the overall figure is the whole campaign's, said so
    assert re.search(r"\d+/3</td>", html)  # R1 ranked among the 3 rankable units
    assert client.get(_url(world, f"?unit_id={world['r2']}")).status_code == 404
    assert client.get(_url(world, f"?unit_id={world['r1']}")).status_code == 200


def test_counter_staff_and_anonymous_are_refused(client, world):
    assert client.get(_url(world)).status_code == 302
    login(client, "canbo.r1")
    assert client.get(_url(world)).status_code == 403
    assert client.get("/admin/results").status_code == 403


@pytest.mark.parametrize("query", ["?weighting=magic", "?ci=bootstrap", "?compare=abc",
                                   "?compare=99999", "?flagged=maybe", "?indicator=nope"])
def test_bad_options_get_a_clear_400(client, world, query):
    login(client, "noivu")
    response = client.get(_url(world, query))
    assert response.status_code == 400
    assert 'role="alert"' in response.get_data(as_text=True)


def test_design_weights_without_transactions_say_what_to_do(app, client, world):
    with app.app_context():
        old = db.session.get(Campaign, world["campaign"])
        other = Campaign(code="no-pop", name="Không có số hồ sơ",
                         questionnaire_version_id=old.questionnaire_version_id,
                         starts_on=date(2027, 1, 1), ends_on=date(2027, 3, 31),
                         weighting="design")
        db.session.add(other)
        db.session.flush()
        db.session.add(CampaignUnit(campaign_id=other.id, unit_id=world["r1"]))
        for _ in range(12):
            make_response(other.id, world["r1"])
        db.session.commit()
        ident = other.id
    login(client, "noivu")
    html = client.get(f"/admin/campaigns/{ident}/results?weighting=design").get_data(as_text=True)
    assert "Chưa có số hồ sơ đã trả kết quả của đơn vị R1" in html
    # By default the page falls back to unweighted results and says why.
    default = client.get(f"/admin/campaigns/{ident}/results").get_data(as_text=True)
    assert "Đang hiển thị kết quả không gia quyền" in default
    raked = client.get(f"/admin/campaigns/{ident}/results?weighting=raked")
    assert raked.status_code == 200
    assert "Không có số liệu biên" in raked.get_data(as_text=True)


def test_results_index_lists_campaigns_in_scope(client, world):
    login(client, "truong.r1")
    html = client.get("/admin/results").get_data(as_text=True)
    assert f"/admin/campaigns/{world['campaign']}/results" in html
    assert 'href="/admin/results"' in html  # the nav link


def test_english_page(client, world):
    login(client, "noivu")
    html = client.get(_url(world, "?lang=en&weighting=design")).get_data(as_text=True)
    assert "Weighting in use: Design-weighted (by transactions)" in html
    assert "Ranking of units" in html and "By unit" in html


def test_papi_compatible_intervals_are_labelled(client, world):
    login(client, "noivu")
    html = client.get(_url(world, "?papi=1")).get_data(as_text=True)
    assert "Khoảng ±1,645·SE (kiểu PAPI)" in html and 'id="papi" name="papi" value="1" checked' in html


def test_a_campaign_without_responses_says_so(app, client, world):
    with app.app_context():
        old = db.session.get(Campaign, world["campaign"])
        empty = Campaign(code="empty", name="Chưa có phiếu",
                         questionnaire_version_id=old.questionnaire_version_id,
                         starts_on=date(2027, 1, 1), ends_on=date(2027, 3, 31))
        db.session.add(empty)
        db.session.flush()
        db.session.add(CampaignUnit(campaign_id=empty.id, unit_id=world["r1"]))
        db.session.commit()
        ident = empty.id
    login(client, "noivu")
    response = client.get(f"/admin/campaigns/{ident}/results")
    assert response.status_code == 200
    assert "chưa có phiếu hợp lệ nào" in response.get_data(as_text=True)
