"""The results bundle (``campaign_results``) of a PAPI campaign: points, not percentages."""

from __future__ import annotations

import pytest

from survey.services.results_tables import campaign_results

from ..stats.helpers import FIXTURES, RTOL, reference
from .papi_data import seed_papi_campaign

REF = reference(FIXTURES / "papi-results.csv")
GROUPS = tuple((FIXTURES / "papi-groups.txt").read_text(encoding="utf-8").split())


@pytest.fixture
def campaign_id(app):
    with app.app_context():
        return seed_papi_campaign().id


def test_bundle_gives_papi_points_with_r_numbers(app, campaign_id):
    with app.app_context():
        res = campaign_results(campaign_id, weighting="design", compare_to="none")
        alt = campaign_results(campaign_id, weighting="design", compare_to="none",
                               papi_compatible=True)
    assert res.ok and res.root == "papi"
    scales = {i.code: (i.scale, i.low, i.high) for i in res.indicators}
    assert scales["papi"] == ("points", 2.0, 20.0)
    assert scales["d5"] == scales["d6"] == ("points", 1.0, 10.0)
    assert scales["d5_1"] == ("points", 0.25, 2.5)
    assert scales["d5_1_quality"][0] == "share"        # an indicator: mean z on 0-1, not %
    for i, code in enumerate(GROUPS, 1):
        row = res.overall_row(code)
        assert row.estimate == pytest.approx(REF[f"fpc.all.groups.est[{i}]"], rel=RTOL)
        assert row.se == pytest.approx(REF[f"fpc.all.groups.se[{i}]"], rel=RTOL)
        papi = alt.overall_row(code)
        assert papi.hi - papi.estimate == pytest.approx(1.645 * papi.se, rel=1e-12)
    assert alt.settings["papi_intervals"] and not res.settings["papi_intervals"]
    assert alt.settings["interval"].startswith("PAPI-compatible")
    units = res.table("unit")
    hidden = [r for r in units.rows if r.kind == "criterion" and r.n_answered < 15]
    assert hidden and all(r.estimate is None and not r.shown for r in hidden)
    assert "PAPI: dưới 15" in hidden[0].reason and "under 15" in hidden[0].reason_en
