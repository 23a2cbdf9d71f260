"""analysis reproduces ../shared/reference/r-demo-results.csv (R survey 4.x, oracle-demo.R)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from analysis import (
    Breakdown,
    Margin,
    analyse,
    compute_block,
    rake,
)

from .helpers import (
    DEMO_DATA,
    DEMO_RESULTS,
    RTOL,
    RTOL_LOGIT,
    answers,
    column,
    demo_tree,
    reference,
    reference_design,
)

REF = reference(DEMO_RESULTS)
UNITS = ("A", "B", "C")
SEXES = ("F", "M")


def _design(name: str):
    return reference_design(DEMO_DATA, name)


@pytest.fixture(scope="module", params=["wr", "fpc"])
def report(request):
    """(design name, report) with overall, per-unit and per-sex domains."""
    by_sex = Breakdown(("sex",), (column(DEMO_DATA, "sex"),))
    rep = analyse(_design(request.param), demo_tree(), answers(DEMO_DATA),
                  breakdowns=[Breakdown.units(), by_sex])
    return request.param, rep


def close(value: float, key: str, rtol: float = RTOL) -> None:
    """Relative agreement with the R value."""
    assert value == pytest.approx(REF[key], rel=rtol, abs=0), key


def test_overall_share_se_deff(report):
    dn, rep = report
    est = rep.find("q1")
    close(est.estimate, f"{dn}.svymean.s1.mean")
    close(est.se, f"{dn}.svymean.s1.se")
    close(est.deff, f"{dn}.svymean.s1.deff")
    close(est.estimate, f"{dn}.svyratio.num1_den1.ratio")
    close(est.se, f"{dn}.svyratio.num1_den1.se")
    assert est.df == 42 - 3
    assert est.n == 42 and est.n_answered == 39


def test_overall_logit_ci(report):
    dn, rep = report
    est = rep.find("q1")
    close(est.ci_low, f"{dn}.svyciprop.logit.ci[1]", RTOL_LOGIT)
    close(est.ci_high, f"{dn}.svyciprop.logit.ci[2]", RTOL_LOGIT)
    # the delta-method form (xlogit) is what we compute exactly
    close(est.ci_low, f"{dn}.svyciprop.xlogit.ci[1]")
    close(est.ci_high, f"{dn}.svyciprop.xlogit.ci[2]")


@pytest.mark.parametrize("method,key", [("beta", "beta"), ("wald", "mean")])
def test_overall_beta_and_wald_ci(method, key):
    for dn in ("wr", "fpc"):
        est = analyse(_design(dn), demo_tree(), answers(DEMO_DATA), ci_method=method).find("q1")
        close(est.ci_low, f"{dn}.svyciprop.{key}.ci[1]")
        close(est.ci_high, f"{dn}.svyciprop.{key}.ci[2]")


def test_deff_against_srs_with_replacement():
    for dn in ("wr", "fpc"):
        rep = analyse(_design(dn), demo_tree(), answers(DEMO_DATA))
        block = rep.blocks[0].block
        replace = compute_block(block.sums, demo_tree(), 1, srs_replace=True)
        close(float(replace.var[0, 0] / replace.srs_var[0, 0]), f"{dn}.svymean.s1.deff_replace")


def test_mean_score(report):
    dn, rep = report
    est = rep.find("q1", kind="mean")
    close(est.estimate, f"{dn}.svymean.q1.mean")
    close(est.se, f"{dn}.svymean.q1.se")
    for i, unit in enumerate(UNITS, 1):
        est = rep.find("q1", {"unit": unit}, kind="mean")
        close(est.estimate, f"{dn}.svyby.stratum.q1.mean[{i}]")
        close(est.se, f"{dn}.svyby.stratum.q1.se[{i}]")


def test_per_unit_shares(report):
    dn, rep = report
    for i, unit in enumerate(UNITS, 1):
        est = rep.find("q1", {"unit": unit})
        close(est.estimate, f"{dn}.svyby.stratum.s1.mean[{i}]")
        close(est.se, f"{dn}.svyby.stratum.s1.se[{i}]")
        close(est.se, f"{dn}.svyby.stratum.svyratio.num1_den1.se[{i}]")
        close(est.deff, f"{dn}.svyby.stratum.s1.deff[{i}]")
        close(est.ci_low, f"{dn}.svyby.stratum.s1.logit_ci_l[{i}]", RTOL_LOGIT)
        close(est.ci_high, f"{dn}.svyby.stratum.s1.logit_ci_u[{i}]", RTOL_LOGIT)
        assert est.df == est.n - 1


def test_per_unit_beta_ci():
    for dn in ("wr", "fpc"):
        rep = analyse(_design(dn), demo_tree(), answers(DEMO_DATA), ci_method="beta",
                      breakdowns=[Breakdown.units()])
        for i, unit in enumerate(UNITS, 1):
            est = rep.find("q1", {"unit": unit})
            close(est.ci_low, f"{dn}.svyby.stratum.s1.beta_ci_l[{i}]")
            close(est.ci_high, f"{dn}.svyby.stratum.s1.beta_ci_u[{i}]")


def test_domain_across_strata(report):
    dn, rep = report
    for i, sex in enumerate(SEXES, 1):
        est = rep.find("q1", {"sex": sex})
        close(est.estimate, f"{dn}.svyby.sex.s1.mean[{i}]")
        close(est.se, f"{dn}.svyby.sex.s1.se[{i}]")
        close(est.deff, f"{dn}.svyby.sex.s1.deff[{i}]")
        close(est.ci_low, f"{dn}.svyby.sex.s1.logit_ci_l[{i}]", RTOL_LOGIT)
        close(est.ci_high, f"{dn}.svyby.sex.s1.logit_ci_u[{i}]", RTOL_LOGIT)


def test_domain_across_strata_beta_ci():
    by_sex = Breakdown(("sex",), (column(DEMO_DATA, "sex"),))
    for dn in ("wr", "fpc"):
        rep = analyse(_design(dn), demo_tree(), answers(DEMO_DATA), ci_method="beta",
                      breakdowns=[by_sex])
        for i, sex in enumerate(SEXES, 1):
            est = rep.find("q1", {"sex": sex})
            close(est.ci_low, f"{dn}.svyby.sex.s1.beta_ci_l[{i}]")
            close(est.ci_high, f"{dn}.svyby.sex.s1.beta_ci_u[{i}]")


def test_element_and_overall_indices(report):
    dn, rep = report
    for i, code in enumerate(("q1", "q2", "q3", "e1", "e2", "overall"), 1):
        est = rep.find(code)
        close(est.estimate, f"{dn}.index.est[{i}]")
        close(est.se, f"{dn}.index.se[{i}]")
    for unit in UNITS:
        for i, code in enumerate(("e1", "e2", "overall"), 1):
            est = rep.find(code, {"unit": unit})
            close(est.estimate, f"{dn}.index.stratum{unit}.est[{i}]")
            close(est.se, f"{dn}.index.stratum{unit}.se[{i}]")


def test_index_se_differs_from_naive_independent_criteria(report):
    """Co-response cross-products matter: ignoring them gives a different (wrong) SE."""
    dn, rep = report
    q1, q2, q3 = (rep.find(c).se for c in ("q1", "q2", "q3"))
    naive_e1 = np.sqrt(q1**2 + q2**2) / 2
    naive_overall = np.sqrt((q1**2 + q2**2) / 4 + q3**2) / 2
    assert rep.find("e1").se == pytest.approx(REF[f"{dn}.index.se[4]"], rel=RTOL)
    assert abs(naive_e1 / rep.find("e1").se - 1) > 0.01
    assert abs(naive_overall / rep.find("overall").se - 1) > 0.01


def _calibrated():
    sex, age, units = (column(DEMO_DATA, c) for c in ("sex", "agegrp", "stratum"))
    margins = [Margin("stratum", units, {"A": 800, "B": 3000, "C": 12000}),
               Margin("sex", sex, {"F": 8200, "M": 7600}),
               Margin("agegrp", age, {"18-34": 4500, "35-54": 6300, "55+": 5000})]
    return rake(_design("wr"), margins)


def test_raking_weights_match_calibrate():
    cal = _calibrated()
    for i in range(5):
        assert cal.weights[i] == pytest.approx(REF[f"cal.weights.first5[{i + 1}]"], rel=RTOL)
        # rake() (IPF) converges to the same weights
        assert cal.weights[i] == pytest.approx(REF[f"rake.weights.first5[{i + 1}]"], rel=1e-8)


def test_raking_estimates_and_greg_se():
    rep = analyse(_calibrated(), demo_tree(), answers(DEMO_DATA), breakdowns=[Breakdown.units()])
    close(rep.find("q1").estimate, "cal.svymean.s1.mean")
    close(rep.find("q1").se, "cal.svymean.s1.se")
    close(rep.find("q1", kind="mean").estimate, "cal.svymean.q1.mean")
    close(rep.find("q1", kind="mean").se, "cal.svymean.q1.se")
    for i, unit in enumerate(UNITS, 1):
        close(rep.find("q1", {"unit": unit}).estimate, f"cal.svyby.stratum.s1.mean[{i}]")
        close(rep.find("q1", {"unit": unit}).se, f"cal.svyby.stratum.s1.se[{i}]")
    # not rake()'s IPF variance, which differs
    assert rep.find("q1").se != pytest.approx(REF["rake.svymean.s1.se"], rel=1e-4)


def test_unit_breakdown_by_column_equals_stratum_breakdown():
    """--by unit read from a column gives the same numbers as Breakdown.units()."""
    design = _design("fpc")
    a = analyse(design, demo_tree(), answers(DEMO_DATA), breakdowns=[Breakdown.units()])
    b = analyse(design, demo_tree(), answers(DEMO_DATA),
                breakdowns=[Breakdown(("unit",), (column(DEMO_DATA, "stratum"),))])
    assert [dataclasses.astuple(e) for e in a.estimates] == \
        [dataclasses.astuple(e) for e in b.estimates]
