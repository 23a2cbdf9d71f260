"""Interval formulas, flags, differences between periods and rank intervals."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analysis import (
    analyse,
    clopper_pearson,
    confidence_interval,
    design_weights,
    difference,
    equal_weights,
    rank_intervals,
    wilson_interval,
)

from .helpers import demo_tree


def test_clopper_pearson_matches_scipy_exact():
    for x, n in ((0, 7), (3, 7), (7, 7), (12, 40)):
        lo, hi = clopper_pearson(np.array(x), np.array(n), 0.95)
        ref = stats.binomtest(x, n).proportion_ci(0.95, method="exact")
        assert (float(lo), float(hi)) == pytest.approx((ref.low, ref.high), rel=1e-12, abs=1e-15)


def test_p_at_zero_or_one_falls_back_to_clopper_pearson_on_the_answers():
    for method in ("logit", "beta", "wilson", "wald"):
        lo, hi = confidence_interval(method, np.array([1.0, 0.0]), np.zeros(2), np.array([9, 9]),
                                     np.array([12, 12]), np.array([10, 10]), 0.95)
        assert lo[0] == pytest.approx(0.025 ** (1 / 10)) and hi[0] == 1.0
        assert lo[1] == 0.0 and hi[1] == pytest.approx(1 - 0.025 ** (1 / 10))


def test_wilson_reduces_to_the_classic_score_interval():
    """With V = p(1-p)/n and a normal quantile: prop.test(5, 10, correct=FALSE), 90 %."""
    lo, hi = wilson_interval(np.array(0.5), np.array(0.025), np.array(np.inf), 0.90)
    assert (float(lo), float(hi)) == pytest.approx((0.2692718, 0.7307282), abs=5e-8)


def test_undefined_df_gives_no_interval():
    lo, hi = confidence_interval("logit", np.array([0.4]), np.array([0.1]), np.array([0]),
                                 np.array([1]), np.array([1]), 0.95)
    assert np.isnan(lo[0]) and np.isnan(hi[0])


def _flags(n: int, satisfied: int, per_unit: int | None = None):
    units = np.array(["a"] * n if per_unit is None else [f"u{i // per_unit}" for i in range(n)])
    values = np.full((n, 3), 3.0)
    values[:satisfied] = 5.0
    pop = {u: 10.0 * np.sum(units == u) for u in np.unique(units)}
    return analyse(design_weights(units, pop), demo_tree(percent=True), values)


def test_flags():
    assert _flags(8, 4).find("q1").flag == "suppressed"          # n < 10
    assert _flags(25, 12).find("q1").flag == "low_n"             # n < 30
    assert _flags(60, 30).find("q1").flag == "low_n"             # CI half-width > 10 points
    big = _flags(2000, 1000, per_unit=200).find("q1")
    assert big.flag is None and big.ci_high - big.ci_low < 20
    assert big.estimate == pytest.approx(50.0)                  # percent scale


def test_difference_between_two_periods_is_independent():
    tree = demo_tree(percent=True)
    units = np.array(["a"] * 40)
    before = np.tile([[5.0, 4, 3], [2, 3, 4]], (20, 1))
    after = np.tile([[5.0, 4, 3], [5, 5, 4]], (20, 1))
    a = analyse(equal_weights(units), tree, after).find("overall")
    b = analyse(equal_weights(units), tree, before).find("overall")
    diff = difference(a, b)
    assert diff.estimate == pytest.approx(a.estimate - b.estimate)
    assert diff.se == pytest.approx(np.hypot(a.se, b.se))
    assert diff.df == 39 and diff.ci_low < diff.estimate < diff.ci_high
    t = diff.estimate / diff.se
    assert diff.p_value == pytest.approx(2 * stats.t.sf(abs(t), 39))
    with pytest.raises(ValueError):
        difference(a, analyse(equal_weights(units), tree, after).find("q1"))


def test_rank_intervals_are_reproducible_and_honest():
    labels = ["ward (900)", "commune (12)", "town (400)"]
    est, se = [80.0, 95.0, 85.0], [1.0, 12.0, 1.5]
    first = rank_intervals(labels, est, se, seed=3)
    assert first == rank_intervals(labels, est, se, seed=3)
    by = {r.label: r for r in first}
    assert by["commune (12)"].rank == 1
    assert (by["commune (12)"].rank_low, by["commune (12)"].rank_high) == (1, 3)
    assert by["ward (900)"].rank_low >= 2
    assert rank_intervals(["x", "y"], [1.0, np.nan], [0.1, 0.1])[0].rank == 1
