"""Reports from per-cell counts (what SQL returns) equal reports from respondent rows."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import (
    Breakdown,
    CountsAccumulator,
    Criterion,
    Group,
    IndexTree,
    analyse,
    analyse_counts,
    answer_sets,
    counts_from_values,
    design_weights,
    equal_weights,
)


def tree() -> IndexTree:
    """Two elements of top-2 criteria plus a normalised criterion and a yes/no share."""
    crit = (Criterion("a1", "a1"), Criterion("a2", "a2"), Criterion("b1", "b1"),
            Criterion("b2", "b2", scoring="normalised"),
            Criterion("y", "y", scoring="share", points=2, binary=True))
    groups = (Group("A", ("a1", "a2")), Group("B", ("b1", "b2", "y")), Group("root", ("A", "B")))
    return IndexTree(crit, groups, "root", True)


def data(seed: int = 4, n: int = 900):
    """Units of unequal size (one lonely), skips, a sex variable with missing values."""
    rng = np.random.default_rng(seed)
    units = np.array([f"U{u}" for u in rng.choice(6, size=n, p=[.3, .25, .2, .15, .0999, .0001])])
    units[0] = "U9"  # a lonely stratum
    values = rng.integers(1, 6, size=(n, 5)).astype(float)
    values[:, 4] = rng.integers(0, 2, size=n)
    values[rng.random(values.shape) < 0.1] = np.nan
    sex = rng.choice(["male", "female", ""], size=n)
    return units, values, sex


def cells(t, values, key, chunks):
    """Counts accumulated over ``chunks`` row chunks."""
    acc = CountsAccumulator(1 << 20)
    sets = answer_sets(t)
    for part in np.array_split(np.arange(values.shape[0]), chunks):
        keys, counts = counts_from_values(t, values[part], key[part], sets)
        acc.add(keys, counts)
    return acc.result()


@pytest.mark.parametrize("weighting", ["equal", "design"])
@pytest.mark.parametrize("chunks", [1, 7])
def test_counts_give_the_analyse_report(weighting, chunks):
    """Overall, by unit and by sex: every field equal to analyse() on the rows."""
    t = tree()
    units, values, sex = data()
    codes = sorted(set(units))
    pop = {u: 5000.0 + 100 * i for i, u in enumerate(codes)}
    design = design_weights(units, pop) if weighting == "design" else equal_weights(units)
    ref = analyse(design, t, values, breakdowns=[Breakdown.units(),
                                                 Breakdown(("sex",), (sex,))])
    strata_key = design.strata.astype(np.int64) * (1 << 20)
    strata = cells(t, values, strata_key, chunks)
    labels = sorted(set(sex) - {""})
    sex_index = np.array([labels.index(s) if s else -1 for s in sex])
    by_sex = cells(t, values, np.where(sex_index >= 0, strata_key + sex_index, -1), chunks)
    population = np.array([pop[c] for c in codes]) if weighting == "design" else None
    got = analyse_counts(t, codes, strata.n, population, strata,
                         [(("unit",), [(c,) for c in codes], None),
                          (("sex",), [(s,) for s in labels], by_sex)])
    assert len(got.estimates) == len(ref.estimates)
    assert got.settings == ref.settings
    for a, b in zip(got.estimates, ref.estimates, strict=True):
        assert (a.domain, a.indicator, a.kind, a.n, a.n_answered, a.df, a.flag) == \
            (b.domain, b.indicator, b.kind, b.n, b.n_answered, b.df, b.flag)
        for key in ("estimate", "se", "ci_low", "ci_high", "deff", "n_eff"):
            assert getattr(a, key) == pytest.approx(getattr(b, key), rel=1e-11, abs=1e-13,
                                                    nan_ok=True), (a.indicator, key)


def test_chunking_does_not_change_the_counts():
    """Integer sums added chunk by chunk are exactly the sums of the whole."""
    t = tree()
    units, values, _ = data(seed=9)
    key = np.unique(units, return_inverse=True)[1].astype(np.int64)
    one, many = cells(t, values, key, 1), cells(t, values, key, 13)
    for name in ("n", "total", "gram", "xsum", "xsq", "n_any"):
        np.testing.assert_array_equal(getattr(one, name), getattr(many, name))
