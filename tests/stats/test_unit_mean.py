"""Mean of the units' own indices (Bộ Nội vụ's higher-level value) from R's per-unit results.

Units are separate strata sampled independently, so the mean of H unit estimates has variance
Σ V_h / H². The per-unit values and SEs come from R (``svyby`` and ``svycontrast`` per stratum
in oracle-demo.R); the average is then checked against the same combination of R's numbers.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from analysis import Breakdown, analyse, mean_of_units
from survey.analyze_cmd import analyze_command

from .helpers import (
    DEMO_DATA,
    DEMO_RESULTS,
    FIXTURES,
    RTOL,
    answers,
    column,
    demo_tree,
    reference_design,
)
from .helpers import reference as ref


@pytest.mark.parametrize("design_name", ["wr", "fpc"])
def test_overall_index_mean_of_units_matches_r_per_unit_values(design_name):
    r = ref(DEMO_RESULTS)
    design = reference_design(DEMO_DATA, design_name)
    tree = demo_tree()
    report = analyse(design, tree, answers(DEMO_DATA), breakdowns=[Breakdown.units()])
    by_code = {(e.indicator, e.kind): e for e in mean_of_units(report, tree)}
    # Per unit: [1] = e1, [2] = e2, [3] = overall (oracle-demo.R, delta method per stratum).
    flags = {(e.indicator, e.domain[0][1]): e.flag for e in report.estimates
             if e.domain and e.kind == "group"}
    assert flags[("e2", "A")] == "suppressed"  # 9 answers to q3 in unit A: left out
    for code, k in (("e1", 1), ("e2", 2), ("overall", 3)):
        used = [h for h in "ABC" if flags[(code, h)] != "suppressed"]
        est = [r[f"{design_name}.index.stratum{h}.est[{k}]"] for h in used]
        se = [r[f"{design_name}.index.stratum{h}.se[{k}]"] for h in used]
        got = by_code[(code, "group")]
        assert got.estimate == pytest.approx(np.mean(est), rel=RTOL)
        assert got.se == pytest.approx(math.sqrt(sum(s * s for s in se)) / len(used), rel=RTOL)
        assert math.isnan(got.deff)
    assert by_code[("overall", "group")].df == 42 - 3 and by_code[("overall", "group")].n == 42


def test_mean_of_units_differs_from_pooled_and_leaves_out_suppressed_units():
    design = reference_design(DEMO_DATA, "fpc")
    tree = demo_tree()
    report = analyse(design, tree, answers(DEMO_DATA), breakdowns=[Breakdown.units()])
    pooled = report.find("overall", kind="group")
    averaged = {(e.indicator, e.kind): e for e in mean_of_units(report, tree)}
    assert averaged[("overall", "group")].estimate != pytest.approx(pooled.estimate, rel=1e-3)
    # Unit A has 9 answers to q1 (suppressed), so q1's mean is over B and C only.
    unit = {e.domain[0][1]: e for e in report.estimates
            if e.domain and e.indicator == "q1" and e.kind == "criterion"}
    assert unit["A"].flag == "suppressed"
    assert averaged[("q1", "criterion")].estimate == pytest.approx(
        (unit["B"].estimate + unit["C"].estimate) / 2, rel=RTOL)


def test_analyze_overall_unit_mean_option(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("unit,q1,q2,q3\n" + "\n".join(
        f"{r},{a},{b},{c}" for r, a, b, c in zip(
            column(DEMO_DATA, "stratum"), column(DEMO_DATA, "q1"), column(DEMO_DATA, "q2"),
            column(DEMO_DATA, "q3"), strict=True)) + "\n", encoding="utf-8")
    result = CliRunner().invoke(analyze_command, [str(data), "--questionnaire",
                                                  str(FIXTURES / "r-demo.yaml"),
                                                  "--overall", "unit-mean"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert "mean of the units" in doc["settings"]["higher_level"]
    assert all(e["domain"] == {} for e in doc["estimates"])  # no --by unit asked
    overall = next(e for e in doc["estimates"] if e["indicator"] == "overall")
    r = ref(DEMO_RESULTS)
    assert overall["estimate"] == pytest.approx(
        100 * np.mean([r[f"wr.index.stratum{h}.est[3]"] for h in "ABC"]), rel=RTOL)
