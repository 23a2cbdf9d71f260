"""A PAPI campaign's results come in points from the database and equal R's survey results.

The campaign holds the R reference dataset (tests/stats/r/papi-d5-d6.R); with design weights
(N_h from the transaction counts, fpc) ``campaign_report`` must give R's ``fpc`` numbers, on
SQLite and PostgreSQL alike, whichever sums method is asked for (count and anchored criteria
always read respondent rows).
"""

from __future__ import annotations

import pytest

from survey.services.results import campaign_report

from ..stats.helpers import FIXTURES, RTOL, reference
from .papi_data import seed_papi_campaign

REF = reference(FIXTURES / "papi-results.csv")
GROUPS = tuple((FIXTURES / "papi-groups.txt").read_text(encoding="utf-8").split())


@pytest.fixture
def campaign_id(app):
    with app.app_context():
        return seed_papi_campaign().id


@pytest.mark.parametrize("method", ["auto", "sql"])
def test_design_weighted_papi_scores_equal_r(app, campaign_id, method):
    with app.app_context():
        from survey.extensions import db
        if method == "sql" and db.engine.dialect.name != "postgresql":
            method = "stream"  # the SQL-side sums are PostgreSQL only; PAPI reads rows anyway
        report = campaign_report(campaign_id, weighting="design", by=["unit"], method=method)
    for dom in ("all", "A", "B", "C", "D"):
        domain = {} if dom == "all" else {"unit": dom}
        for i, code in enumerate(GROUPS, 1):
            est = report.find(code, domain)
            assert est.estimate == pytest.approx(REF[f"fpc.{dom}.groups.est[{i}]"], rel=RTOL)
            assert est.se == pytest.approx(REF[f"fpc.{dom}.groups.se[{i}]"], rel=RTOL)
        quality = report.find("d5_1_quality", domain)
        assert quality.estimate == pytest.approx(REF[f"fpc.{dom}.d5_1_quality.est"], rel=RTOL)
        walk = report.find("d6_2_walk", domain)
        assert walk.se == pytest.approx(REF[f"fpc.{dom}.d6_2_walk.se"], rel=RTOL)
    assert report.settings["weights"] == "design" and report.settings["n_included"] == 230


def test_papi_report_is_in_points_with_both_interval_kinds(app, campaign_id):
    with app.app_context():
        plain = campaign_report(campaign_id)
        papi = campaign_report(campaign_id, papi_intervals=True)
    assert plain.settings["percent"] is False
    d5, total = plain.find("d5"), plain.find("papi")
    assert d5.scale == (1.0, 10.0) and 1 < d5.estimate < 10 and 2 < total.estimate < 20
    assert plain.find("d5_1").scale == (0.25, 2.5)
    assert "95% confidence interval" in plain.settings["interval"]
    alt = papi.find("d5")
    assert alt.ci_high - alt.estimate == pytest.approx(1.645 * alt.se, rel=1e-12)
    assert papi.settings["interval"].startswith("PAPI-compatible")
    assert d5.ci_high - d5.estimate > alt.ci_high - alt.estimate  # t(df) 95 % is wider


def test_indicators_with_fewer_than_15_answers_are_suppressed(app, campaign_id):
    with app.app_context():
        report = campaign_report(campaign_id, by=["unit"])
    unit = [e for e in report.estimates if e.domain and e.kind == "criterion"]
    assert any(e.n_answered < 15 for e in unit)
    for est in unit:
        assert (est.flag == "suppressed") == (est.n_answered < 15), est.indicator
