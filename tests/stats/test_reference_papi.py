"""PAPI D5/D6 scores equal R's ``survey`` results (tests/stats/r/papi-d5-d6.R).

The R script generates the answers (seeded), computes every respondent's z-scores itself from
the raw items, and estimates the indicators with ``svymean`` and the sub-dimensions, dimensions
and total with ``svycontrast`` (delta method).  Here the same CSV goes through the shipped
questionnaire ``papi-d5-d6`` and :mod:`analysis`, directly and through ``sipas analyze``.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from analysis import Breakdown, IndexTree, analyse, criterion_values, design_weights, given_weights
from survey.analyze_cmd import analyze_command
from survey.questionnaires import load_questionnaire

from .helpers import FIXTURES, RTOL, column, reference, rows

DATA = FIXTURES / "papi-data.csv"
POP = FIXTURES / "papi-pop.csv"
REF = reference(FIXTURES / "papi-results.csv")
GROUPS = tuple((FIXTURES / "papi-groups.txt").read_text(encoding="utf-8").split())
UNITS = ("A", "B", "C", "D")
QUESTIONNAIRE = load_questionnaire("papi-d5-d6")
TREE = IndexTree.from_questionnaire(QUESTIONNAIRE)
CRITERIA = tuple(c.code for c in TREE.criteria)


def close(value: float, key: str) -> None:
    """Agreement with R to 1e-9 relative (1e-15 absolute for R's exact zeros)."""
    assert value == pytest.approx(REF[key], rel=RTOL, abs=1e-15), key


def _values() -> np.ndarray:
    columns = {code: np.array([float(r[code]) if r[code] else np.nan for r in rows(DATA)])
               for code in TREE.items}
    return criterion_values(TREE, columns)


def _design(name: str):
    units = column(DATA, "unit")
    pops = {r["unit"]: float(r["population"]) for r in rows(POP)}
    if name == "fpc":
        return design_weights(units, pops)
    counts = {u: int(np.sum(units == u)) for u in UNITS}
    return given_weights(units, np.array([pops[u] / counts[u] for u in units]))


@pytest.fixture(scope="module", params=["fpc", "wr"])
def report(request):
    return request.param, analyse(_design(request.param), TREE, _values(),
                                  breakdowns=[Breakdown.units()])


def _domain(dom: str) -> dict:
    return {} if dom == "all" else {"unit": dom}


def test_tree_is_the_papi_module():
    """4 + 4 sub-dimensions on 0.25-2.5, dimensions 1-10, total 2-20, 15-answer rule."""
    assert TREE.root == "papi" and not TREE.percent and TREE.min_answers == 15
    for dim in ("d5", "d6"):
        group = next(g for g in TREE.groups if g.code == dim)
        assert group.aggregate == "sum" and len(group.children) == 4
        assert TREE.range_of(dim) == (1.0, 10.0)
        for sub in group.children:
            assert TREE.range_of(sub) == (0.25, 2.5)
    assert TREE.range_of("papi") == (2.0, 20.0)
    assert set(GROUPS) == {g.code for g in TREE.groups}


def test_indicators_equal_svymean_of_z(report):
    """Each indicator = svymean of its z over the respondents who answered, every domain."""
    dn, rep = report
    for dom in ("all",) + UNITS:
        for code in CRITERIA:
            est = rep.find(code, _domain(dom))
            key = f"{dn}.{dom}.{code}"
            close(est.estimate, f"{key}.est")
            close(est.se, f"{key}.se")
            assert est.n_answered == REF[f"{key}.n"], key


def test_scores_equal_svycontrast(report):
    """Sub-dimensions, dimensions, total and the D4-linked mean: estimate, SE and df."""
    dn, rep = report
    for dom in ("all",) + UNITS:
        assert rep.find("papi", _domain(dom)).df == REF[f"{dn}.{dom}.degf"]
        for i, code in enumerate(GROUPS, 1):
            est = rep.find(code, _domain(dom))
            close(est.estimate, f"{dn}.{dom}.groups.est[{i}]")
            close(est.se, f"{dn}.{dom}.groups.se[{i}]")


def test_true_95_interval_by_default_and_papi_compatible_option(report):
    """Default: Wald with t(df) (confint(svycontrast, df = degf)) for scores on points (the
    0-1 D4-linked share keeps the logit interval of shares); option: ± 1.645 SE for all."""
    dn, rep = report
    papi = analyse(_design(dn), TREE, _values(), papi_intervals=True)
    assert "95% confidence interval" in rep.settings["interval"]
    assert papi.settings["papi_intervals"] and "1.645" in papi.settings["interval"]
    for i, code in enumerate(GROUPS, 1):
        est = rep.find(code)
        if TREE.range_of(code) != (0.0, 1.0):
            close(est.ci_low, f"{dn}.all.groups.lo[{i}]")
            close(est.ci_high, f"{dn}.all.groups.hi[{i}]")
        alt = papi.find(code)
        close(alt.ci_low, f"{dn}.all.groups.papi.lo[{i}]")
        close(alt.ci_high, f"{dn}.all.groups.papi.hi[{i}]")


def test_scores_on_points_not_percent(report):
    _, rep = report
    d5, total = rep.find("d5"), rep.find("papi")
    assert 1 <= d5.estimate <= 10 and 2 <= total.estimate <= 20
    assert d5.scale == (1.0, 10.0) and d5.aggregate == "sum"
    assert rep.find("d5_1").scale == (0.25, 2.5)
    assert 0 <= rep.find("d5_1_quality").estimate <= 1  # an indicator's z mean, not ×100
    assert total.estimate == pytest.approx(rep.find("d5").estimate + rep.find("d6").estimate)


def test_fewer_than_15_answers_is_suppressed(report):
    """The PAPI rule: an indicator with < 15 answers in a domain is flagged ``suppressed``."""
    _, rep = report
    seen = 0
    for dom in UNITS:
        for code in CRITERIA:
            est = rep.find(code, _domain(dom))
            assert (est.flag == "suppressed") == (est.n_answered < 15), (code, dom)
            seen += est.n_answered < 15
    assert seen > 0  # the generated data has such cells (e.g. construction permits in unit D)
    assert "n_answered < 15" in rep.settings["flag_rule"]


def test_count_and_anchored_scores():
    """x/C over the criteria answered; walking minutes anchored 60 → 0, 0 → 1, clipped."""
    quality = next(c for c in TREE.criteria if c.code == "d5_1_quality")
    walk = next(c for c in TREE.criteria if c.code == "d6_2_walk")
    cols = {code: np.full(4, np.nan) for code in TREE.items}
    cols["d5_1_c1"][:] = [1, 1, np.nan, 0]
    cols["d5_1_c2"][:] = [1, 0, np.nan, np.nan]
    cols["d5_1_c3"][:] = [1, 0, np.nan, np.nan]
    cols["d5_1_c4"][:] = [0, 0, np.nan, np.nan]
    cols["d6_2_walk"][:] = [0, 15, 90, np.nan]
    values = criterion_values(TREE, cols)
    k_q, k_w = TREE.criteria.index(quality), TREE.criteria.index(walk)
    np.testing.assert_array_equal(values[:, k_q], [0.75, 0.25, np.nan, 0.0])
    from analysis import score
    y, r = score(values[:, k_w], walk)
    np.testing.assert_allclose(y, [1.0, 0.75, 0.0, 0.0])
    np.testing.assert_array_equal(r, [1, 1, 1, 0])


def _run(*args: str) -> dict:
    result = CliRunner().invoke(analyze_command, [str(DATA), "--questionnaire", "papi-d5-d6",
                                                  "--population", str(POP), *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _pick(document: dict, code: str, domain: dict) -> dict:
    return next(e for e in document["estimates"]
                if e["indicator"] == code and e["domain"] == domain and e["kind"] != "mean")


def test_sipas_analyze_gives_r_numbers():
    """``sipas analyze papi-data.csv --questionnaire papi-d5-d6 --population papi-pop.csv``."""
    document = _run("--by", "unit")
    assert document["settings"]["percent"] is False and document["settings"]["fpc"] is True
    for dom in ("all",) + UNITS:
        for i, code in enumerate(GROUPS, 1):
            est = _pick(document, code, _domain(dom))
            close(est["estimate"], f"fpc.{dom}.groups.est[{i}]")
            close(est["se"], f"fpc.{dom}.groups.se[{i}]")
        for code in CRITERIA:
            est = _pick(document, code, _domain(dom))
            close(est["estimate"], f"fpc.{dom}.{code}.est")
            close(est["se"], f"fpc.{dom}.{code}.se")
    d5 = _pick(document, "d5", {})
    assert d5["aggregate"] == "sum" and d5["scale"] == [1.0, 10.0]
    assert document["questionnaire"]["index"]["min_answers"] == 15


def test_sipas_analyze_papi_intervals_are_labelled():
    document = _run("--papi-intervals")
    assert document["settings"]["papi_intervals"] is True
    assert document["settings"]["interval"].startswith("PAPI-compatible")
    for i, code in enumerate(GROUPS, 1):
        est = _pick(document, code, {})
        close(est["ci_low"], f"fpc.all.groups.papi.lo[{i}]")
        close(est["ci_high"], f"fpc.all.groups.papi.hi[{i}]")
        assert math.isclose(est["ci_high"] - est["estimate"], 1.645 * est["se"], rel_tol=1e-12)
