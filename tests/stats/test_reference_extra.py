"""analysis reproduces tests/stats/fixtures/r-extra-results.csv (tests/stats/r/extra-cases.R).

Unit D has a single respondent (lonely stratum, survey.lonely.psu = "adjust"); unit E has every
q1 answer satisfied (p = 1); raking uses design weights with fpc, unbounded, bounded and trimmed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis import (
    Breakdown,
    Criterion,
    Group,
    IndexTree,
    Margin,
    analyse,
    domain_difference,
    rake,
)

from .helpers import (
    EXTRA_DATA,
    EXTRA_RESULTS,
    RTOL,
    RTOL_LOGIT,
    answers,
    column,
    demo_tree,
    reference,
    reference_design,
)

REF = reference(EXTRA_RESULTS)
UNITS = ("A", "B", "C", "D", "E")
INDEX = ("q1", "q2", "q3", "e1", "e2", "overall")
BY_SEX = Breakdown(("sex",), (column(EXTRA_DATA, "sex"),))


def close(value: float, key: str, rtol: float = RTOL) -> None:
    """Relative agreement with R (absolute 1e-15 for values that are exactly zero in R)."""
    assert value == pytest.approx(REF[key], rel=rtol, abs=1e-15), key


def _design(name: str):
    return reference_design(EXTRA_DATA, name)


def _report(name: str, method: str = "logit"):
    return analyse(_design(name), demo_tree(), answers(EXTRA_DATA), ci_method=method,
                   breakdowns=[Breakdown.units(), BY_SEX])


@pytest.fixture(scope="module", params=["wr", "fpc"])
def report(request):
    return request.param, _report(request.param)


def test_degrees_of_freedom(report):
    dn, rep = report
    assert rep.find("q1").df == REF[f"{dn}.degf"] == 49 - 5
    for unit in UNITS:
        assert rep.find("q1", {"unit": unit}).df == REF[f"{dn}.unit{unit}.degf"]
    for sex in ("F", "M"):
        assert rep.find("q1", {"sex": sex}).df == REF[f"{dn}.sex{sex}.degf"]


def test_overall_with_lonely_stratum(report):
    """The lonely unit D enters the aggregate as survey.lonely.psu = "adjust"."""
    dn, rep = report
    est = rep.find("q1")
    close(est.estimate, f"{dn}.s1.mean")
    close(est.se, f"{dn}.s1.se")
    close(est.deff, f"{dn}.s1.deff")
    close(est.ci_low, f"{dn}.s1.logit.ci[1]", RTOL_LOGIT)
    close(est.ci_high, f"{dn}.s1.logit.ci[2]", RTOL_LOGIT)
    for i, code in enumerate(INDEX, 1):
        close(rep.find(code).estimate, f"{dn}.index.est[{i}]")
        close(rep.find(code).se, f"{dn}.index.se[{i}]")
    assert est.flag == "low_n"  # not suppressed by the lonely unit; its CI is wider than 10 points


@pytest.mark.parametrize("method,key", [("beta", "beta"), ("wald", "mean")])
def test_overall_beta_and_wald(method, key):
    for dn in ("wr", "fpc"):
        est = _report(dn, method).find("q1")
        close(est.ci_low, f"{dn}.s1.{key}.ci[1]")
        close(est.ci_high, f"{dn}.s1.{key}.ci[2]")


def test_mean_score_deff_and_wald_ci(report):
    dn, rep = report
    est = rep.find("q1", kind="mean")
    close(est.estimate, f"{dn}.q1.mean")
    close(est.se, f"{dn}.q1.se")
    close(est.deff, f"{dn}.q1.deff")
    close(est.ci_low, f"{dn}.q1.ci[1]")
    close(est.ci_high, f"{dn}.q1.ci[2]")


def test_per_unit(report):
    dn, rep = report
    for unit in UNITS:
        est = rep.find("q1", {"unit": unit})
        close(est.estimate, f"{dn}.unit{unit}.s1.mean")
        close(est.se, f"{dn}.unit{unit}.s1.se")
        mean = rep.find("q2", {"unit": unit}, kind="mean")
        close(mean.estimate, f"{dn}.unit{unit}.q2.mean")
        close(mean.se, f"{dn}.unit{unit}.q2.se")
        for i, code in enumerate(("e1", "e2", "overall"), 1):
            if not math.isnan(REF[f"{dn}.unit{unit}.index.est[{i}]"]):
                close(rep.find(code, {"unit": unit}).estimate, f"{dn}.unit{unit}.index.est[{i}]")
                close(rep.find(code, {"unit": unit}).se, f"{dn}.unit{unit}.index.se[{i}]")
    for unit in ("A", "B", "C"):
        est = rep.find("q1", {"unit": unit})
        close(est.deff, f"{dn}.unit{unit}.s1.deff")
        close(est.ci_low, f"{dn}.unit{unit}.s1.logit.ci[1]", RTOL_LOGIT)
        close(est.ci_high, f"{dn}.unit{unit}.s1.logit.ci[2]", RTOL_LOGIT)


def test_per_unit_beta():
    for dn in ("wr", "fpc"):
        rep = _report(dn, "beta")
        for unit in ("A", "B", "C"):
            est = rep.find("q1", {"unit": unit})
            close(est.ci_low, f"{dn}.unit{unit}.s1.beta.ci[1]")
            close(est.ci_high, f"{dn}.unit{unit}.s1.beta.ci[2]")


def test_lonely_unit_is_suppressed_and_drops_undefined_child(report):
    """Unit D: one respondent; its own estimates are suppressed.  Its q3 is missing, so e2 is
    undefined and the overall index is e1 alone (R gives NaN there: documented difference)."""
    dn, rep = report
    for code in ("q1", "e1", "overall"):
        assert rep.find(code, {"unit": "D"}).flag == "suppressed"
    assert math.isnan(rep.find("e2", {"unit": "D"}).estimate)
    assert rep.find("overall", {"unit": "D"}).estimate == rep.find("e1", {"unit": "D"}).estimate


@pytest.mark.parametrize("method", ["logit", "beta", "wilson", "wald"])
def test_unit_where_everyone_is_satisfied(method):
    """p = 1, V = 0: Clopper-Pearson on the 5 answers, for every CI method."""
    for dn in ("wr", "fpc"):
        est = _report(dn, method).find("q1", {"unit": "E"})
        assert est.estimate == 1.0 and est.se == 0.0
        close(est.ci_low, f"{dn}.unitE.s1.cp[1]")
        close(est.ci_high, f"{dn}.unitE.s1.cp[2]")
        assert est.n_answered == 5 and est.flag == "suppressed"
        assert math.isnan(est.deff)


def test_domain_across_strata_indices(report):
    dn, rep = report
    for sex in ("F", "M"):
        for i, code in enumerate(INDEX, 1):
            close(rep.find(code, {"sex": sex}).estimate, f"{dn}.sex{sex}.index.est[{i}]")
            close(rep.find(code, {"sex": sex}).se, f"{dn}.sex{sex}.index.se[{i}]")
        close(rep.find("q1", {"sex": sex}).deff, f"{dn}.sex{sex}.s1.deff")


def test_domain_across_strata_beta():
    for dn in ("wr", "fpc"):
        rep = _report(dn, "beta")
        for sex in ("F", "M"):
            est = rep.find("q1", {"sex": sex})
            close(est.ci_low, f"{dn}.sex{sex}.s1.beta.ci[1]")
            close(est.ci_high, f"{dn}.sex{sex}.s1.beta.ci[2]")


def test_difference_between_domains_sharing_strata(report):
    dn, rep = report
    diff = domain_difference(rep, "q1", {"sex": "F"}, {"sex": "M"})
    close(diff.estimate, f"{dn}.diff.sex.s1.est")
    close(diff.se, f"{dn}.diff.sex.s1.se")
    close(diff.p_value, f"{dn}.diff.sex.s1.p")
    assert diff.covariance != 0  # -Σ c_h T_hF T_hM / n_h over shared strata
    independent = math.hypot(rep.find("q1", {"sex": "F"}).se, rep.find("q1", {"sex": "M"}).se)
    assert abs(diff.se / independent - 1) > 1e-3


def _papi_tree() -> IndexTree:
    crit = tuple(Criterion(f"z{k}", f"q{k}", "normalised") for k in (1, 2, 3))
    return IndexTree(crit, (Group("sub1", ("z1", "z2"), scale=(0.5, 5.0)),
                            Group("sub2", ("z3",), scale=(0.5, 5.0)),
                            Group("dim", ("sub1", "sub2"), aggregate="sum")), "dim", False)


def test_normalised_scores_and_papi_scaled_sum():
    for dn in ("wr", "fpc"):
        rep = analyse(_design(dn), _papi_tree(), answers(EXTRA_DATA))
        close(rep.find("z1").estimate, f"{dn}.z1.mean")
        close(rep.find("z1").se, f"{dn}.z1.se")
        for i, code in enumerate(("sub1", "sub2", "dim"), 1):
            est = rep.find(code)
            close(est.estimate, f"{dn}.papi.est[{i}]")
            close(est.se, f"{dn}.papi.se[{i}]")
            # PAPI scores get Wald intervals on t(df)
            assert est.ci_high - est.estimate == pytest.approx(est.estimate - est.ci_low)


def _raked(variant: str):
    margins = [Margin("sex", column(EXTRA_DATA, "sex"), {"F": 8300, "M": 7670}),
               Margin("agegrp", column(EXTRA_DATA, "agegrp"),
                      {"18-34": 4550, "35-54": 6370, "55+": 5050})]
    options = {"cal": {}, "bnd": {"bounds": (0.5, 1.25)}, "trim": {"trim": (0.8, 1.15)}}
    return rake(_design("fpc"), margins, **options[variant])


@pytest.mark.parametrize("variant", ["cal", "bnd", "trim"])
def test_raking_with_fpc_bounds_and_trim(variant):
    design = _raked(variant)
    g = design.weights / design.calibration.initial_weights
    close(g.min(), f"{variant}.g.range[1]", 1e-8)
    close(g.max(), f"{variant}.g.range[2]", 1e-8)
    for i in range(5):
        close(design.weights[i], f"{variant}.weights.first5[{i + 1}]", 1e-8)
    rep = analyse(design, demo_tree(), answers(EXTRA_DATA),
                  breakdowns=[Breakdown.units(), BY_SEX])
    close(rep.find("q1").estimate, f"{variant}.s1.mean", 1e-8)
    close(rep.find("q1").se, f"{variant}.s1.se", 1e-8)
    close(rep.find("q1").deff, f"{variant}.s1.deff", 1e-8)
    close(rep.find("q1", kind="mean").estimate, f"{variant}.q1.mean", 1e-8)
    close(rep.find("q1", kind="mean").se, f"{variant}.q1.se", 1e-8)
    for i, code in enumerate(INDEX, 1):
        close(rep.find(code).estimate, f"{variant}.index.est[{i}]", 1e-8)
        close(rep.find(code).se, f"{variant}.index.se[{i}]", 1e-8)
        close(rep.find(code, {"sex": "F"}).se, f"{variant}.sexF.index.se[{i}]", 1e-8)
        for unit in ("A", "C"):
            close(rep.find(code, {"unit": unit}).estimate, f"{variant}.unit{unit}.index.est[{i}]",
                  1e-8)
            close(rep.find(code, {"unit": unit}).se, f"{variant}.unit{unit}.index.se[{i}]", 1e-8)
    diff = domain_difference(rep, "q1", {"sex": "F"}, {"sex": "M"})
    close(diff.se, f"{variant}.diff.sex.s1.se", 1e-8)


def test_raking_meets_margins():
    design = _raked("cal")
    sex = column(EXTRA_DATA, "sex")
    assert np.sum(design.weights[sex == "M"]) == pytest.approx(7670, rel=1e-12)
    assert np.sum(design.weights) == pytest.approx(15970, rel=1e-12)


def test_raking_refuses_bad_margins(monkeypatch):
    from analysis import RakingError, raking

    sex = column(EXTRA_DATA, "sex")
    design = _design("fpc")
    with pytest.raises(RakingError, match="absent from the data"):
        rake(design, [Margin("sex", sex, {"F": 10, "M": 10, "X": 5})])
    with pytest.raises(RakingError, match="without a population count"):
        rake(design, [Margin("sex", sex, {"F": 10})])
    with pytest.raises(RakingError, match="margins must agree"):
        rake(design, [Margin("sex", sex, {"F": 10, "M": 10}),
                      Margin("agegrp", column(EXTRA_DATA, "agegrp"),
                             {"18-34": 1, "35-54": 1, "55+": 1})])
    with pytest.raises(RakingError, match="did not converge"):
        rake(design, [Margin("sex", sex, {"F": 8300, "M": 7670})], bounds=(0.99, 1.01))
    monkeypatch.setattr(raking, "_MAX_MODEL_CELLS", 10)
    with pytest.raises(RakingError, match="too many"):
        rake(design, [Margin("sex", sex, {"F": 8300, "M": 7670})])
