"""Properties of the estimators, and a row-by-row re-implementation of the variance formula."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis import (
    Breakdown,
    Criterion,
    Group,
    IndexTree,
    analyse,
    block_covariance,
    given_weights,
)

from .helpers import demo_tree

SETTINGS = settings(max_examples=int(os.environ.get("SIPAS_HYPOTHESIS_EXAMPLES", 40)),
                    deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def samples(draw, min_units: int = 1):
    """A small stratified sample: units, positive weights, answers 1..5 with NaN, a domain."""
    seed = draw(st.integers(0, 2**32 - 1))
    n_units = draw(st.integers(min_units, 5))
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 15, n_units)
    units = np.repeat([f"u{h}" for h in range(n_units)], sizes)
    n = units.shape[0]
    values = rng.integers(1, 6, (n, 3)).astype(float)
    values[rng.random((n, 3)) < draw(st.sampled_from([0.0, 0.2, 0.5]))] = np.nan
    values[0] = [5.0, 4.0, 1.0]  # every criterion has at least one answer
    weights = rng.uniform(0.5, 50.0, n)
    sex = rng.choice(["F", "M"], n)
    return units, weights, values, sex


def _report(units, weights, values, sex, tree=None, **kw):
    return analyse(given_weights(units, weights), tree or demo_tree(), values,
                   breakdowns=[Breakdown.units(), Breakdown(("sex",), (sex,))], **kw)


def _numbers(report) -> np.ndarray:
    return np.array([[e.estimate, e.se, e.ci_low, e.ci_high] for e in report.estimates])


@SETTINGS
@given(samples(), st.floats(1e-3, 1e3))
def test_scaling_all_weights_changes_nothing(sample, factor):
    units, weights, values, sex = sample
    a = _numbers(_report(units, weights, values, sex))
    b = _numbers(_report(units, weights * factor, values, sex))
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@SETTINGS
@given(samples(), st.integers(0, 2**32 - 1))
def test_permuting_rows_changes_nothing(sample, seed):
    units, weights, values, sex = sample
    perm = np.random.default_rng(seed).permutation(units.shape[0])
    a = _report(units, weights, values, sex)
    b = _report(units[perm], weights[perm], values[perm], sex[perm])
    key = [(e.domain, e.indicator, e.kind) for e in a.estimates]
    assert key == [(e.domain, e.indicator, e.kind) for e in b.estimates]
    np.testing.assert_allclose(_numbers(a), _numbers(b), rtol=1e-9, atol=1e-12)
    deff = np.array([[e.deff, e.n_eff, e.df, e.n, e.n_answered] for e in a.estimates])
    deff_b = np.array([[e.deff, e.n_eff, e.df, e.n, e.n_answered] for e in b.estimates])
    np.testing.assert_allclose(deff, deff_b, rtol=1e-9)


@SETTINGS
@given(samples())
def test_index_of_identical_criteria_equals_the_criterion(sample):
    units, weights, values, sex = sample
    same = np.repeat(values[:, :1], 3, axis=1)
    tree = IndexTree(tuple(Criterion(c, "q1") for c in ("a", "b", "c")),
                     (Group("g", ("a", "b", "c")), Group("w", ("a", "b"), weights=(1.0, 3.0)),
                      Group("top", ("g", "w"))), "top")
    rep = _report(units, weights, same, sex, tree)
    for est in rep.estimates:
        if est.kind == "mean":
            continue
        ref = rep.find("a", dict(est.domain))
        for field in ("estimate", "se", "ci_low", "ci_high", "deff", "n_answered"):
            assert getattr(est, field) == pytest.approx(getattr(ref, field), rel=1e-9,
                                                        abs=1e-12, nan_ok=True), field


def naive_variance(units, weights, values, domain, fpc=None) -> dict[str, float]:
    """Row-level z_i and V = Σ_h c_h [Σ z² − (Σ z)²/n_h] for the demo tree (no shortcuts)."""
    codes, h = np.unique(units, return_inverse=True)
    r = ~np.isnan(values)
    y = np.where(r, values >= 4, False).astype(float)
    d = domain.astype(float)
    big_x = (weights[:, None] * r * d[:, None]).sum(axis=0)
    p = (weights[:, None] * y * d[:, None]).sum(axis=0) / big_x
    grads = {"q1": [1, 0, 0], "q2": [0, 1, 0], "q3": [0, 0, 1], "e1": [.5, .5, 0],
             "e2": [0, 0, 1], "overall": [.25, .25, .5]}
    out = {}
    for code, g in grads.items():
        z = (np.array(g) * weights[:, None] * d[:, None] * (y - p * r) / big_x).sum(axis=1)
        v = 0.0
        for k in range(codes.shape[0]):
            zk = z[h == k]
            n_h = zk.shape[0]
            f = 0.0 if fpc is None else fpc[k]
            if n_h == 1:
                v += (1 - f) * zk[0] ** 2
            else:
                v += (1 - f) * n_h / (n_h - 1) * (np.sum(zk**2) - np.sum(zk) ** 2 / n_h)
        out[code] = float(np.sqrt(v))
    return out


@SETTINGS
@given(samples())
def test_one_pass_sums_equal_row_level_linearisation(sample):
    """Unequal weights inside a unit take the general Gram path; lonely units included."""
    units, weights, values, sex = sample
    units = units.copy()
    units[-1] = "lonely"
    rep = _report(units, weights, values, sex)
    for domain, mask in (({}, np.ones(units.shape[0], bool)), ({"sex": "F"}, sex == "F")):
        if not np.any(mask & ~np.isnan(values).any(axis=1)):
            continue
        want = naive_variance(units, weights, values, mask)
        for code, se in want.items():
            got = rep.find(code, domain)
            if np.isfinite(got.estimate) and np.all(
                    ~np.isnan(values[mask]).all(axis=0)):
                assert got.se == pytest.approx(se, rel=1e-9, abs=1e-14), (code, domain)


@SETTINGS
@given(samples(min_units=2))
def test_covariance_of_a_domain_with_itself_is_its_variance(sample):
    units, weights, values, sex = sample
    rep = _report(units, weights, values, sex)
    part = rep.blocks[2]
    for s in range(len(part.block.stats)):
        for d in range(len(part.domains)):
            var = part.block.var[d, s]
            if np.isfinite(var):  # (a variance at rounding level is reported as exactly 0)
                assert block_covariance(part.block, s, d, d) == pytest.approx(var, rel=1e-9,
                                                                               abs=1e-12)


def test_criterion_without_answers_in_a_domain_drops_out_of_the_mean():
    units = np.array(["a"] * 6)
    values = np.array([[5, 4, np.nan]] * 3 + [[1, 2, np.nan]] * 3, dtype=float)
    rep = analyse(given_weights(units, np.ones(6)), demo_tree(), values)
    assert np.isnan(rep.find("e2").estimate) and rep.find("e2").flag == "suppressed"
    assert rep.find("overall").estimate == rep.find("e1").estimate
    assert rep.find("overall").se == rep.find("e1").se


def test_estimates_are_frozen():
    units = np.array(["a"] * 4)
    rep = analyse(given_weights(units, np.ones(4)), demo_tree(),
                  np.array([[5, 4, 1]] * 2 + [[1, 2, 5]] * 2, dtype=float))
    with pytest.raises(dataclasses.FrozenInstanceError):
        rep.estimates[0].estimate = 0.0  # type: ignore[misc]
