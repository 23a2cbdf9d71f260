"""Higher-level values as the mean of the units' own indices (how Bộ Nội vụ aggregates).

The pooled estimate of :func:`analysis.analyse` weights every respondent by N_h/n_h, so a large
unit counts for more. Bộ Nội vụ instead forms a province's (or the nation's) value as the plain
mean of its units' indices, each unit counting once; sipas.md §3 makes that the default for a
higher level. This module derives it from the per-unit estimates of a report.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .estimates import LOW_N_BELOW, MAX_HALF_WIDTH, Estimate, Report
from .intervals import confidence_interval, papi_interval, wald_interval
from .tree import IndexTree

__all__ = ["mean_of_units"]


def mean_of_units(report: Report, tree: IndexTree, *, variable: str = "unit",
                  ci_method: str = "logit", level: float = 0.95,
                  papi_intervals: bool = False) -> tuple[Estimate, ...]:
    """The unweighted mean over units of each indicator, with its SE and CI.

    Parameters
    ----------
    report : Report
        Must contain the per-unit breakdown (``Breakdown.units(variable)``).
    tree : IndexTree
        The tree the report was computed with (for each indicator's range).
    variable : str
        Name of the unit breakdown's variable.
    ci_method, level, papi_intervals :
        As in :func:`analysis.analyse`.

    Returns
    -------
    tuple of Estimate
        One per indicator and kind, with the empty (overall) domain, in report order.

    Notes
    -----
    ``θ = (1/H) Σ_h θ_h`` over the H units whose own estimate is not suppressed (a unit with a
    lonely stratum or fewer than 10 answers has no reliable value to average). Units are
    separate strata, sampled independently, so ``V(θ) = (1/H²) Σ_h V(θ_h)``; ``df = Σ_h df_h``,
    ``n`` and ``n_answered`` are sums over the units used. The design effect is not defined for
    this non-survey-weighted mean and is reported as NaN.
    """
    by_indicator: dict[tuple[str, str], list[Estimate]] = defaultdict(list)
    order: list[tuple[str, str]] = []
    for est in report.estimates:
        if tuple(name for name, _ in est.domain) != (variable,):
            continue
        key = (est.indicator, est.kind)
        if key not in order:
            order.append(key)
        if est.flag != "suppressed" and np.isfinite(est.estimate) and np.isfinite(est.se):
            by_indicator[key].append(est)
    if not order:
        raise ValueError(f"the report has no per-{variable} breakdown")
    percent = bool(report.settings.get("percent"))
    out = []
    for indicator, kind in order:
        units = by_indicator[(indicator, kind)]
        template = next(e for e in report.estimates if (e.indicator, e.kind) == (indicator, kind))
        out.append(_average(units, template, tree, kind, percent, ci_method, level,
                            papi_intervals))
    return tuple(out)


def _average(units: list[Estimate], template: Estimate, tree: IndexTree, kind: str,
             percent: bool, ci_method: str, level: float, papi: bool) -> Estimate:
    """One indicator's mean over ``units`` (reporting scale in, reporting scale out)."""
    h = len(units)
    shape = dict(children=template.children, aggregate=template.aggregate,
                 weights=template.weights, scale=template.scale)
    if h == 0:
        nan = float("nan")
        return Estimate((), template.indicator, kind, nan, nan, nan, nan, 0, 0, 0, nan, nan,
                        "suppressed", **shape)
    est = float(np.mean([u.estimate for u in units]))
    se = float(np.sqrt(np.sum([u.se ** 2 for u in units])) / h)
    df = int(sum(u.df for u in units))
    n = int(sum(u.n for u in units))
    answered = int(sum(u.n_answered for u in units))
    lo_hi = (1.0, float(_points(tree, template.indicator))) if kind == "mean" \
        else tree.range_of(template.indicator)
    unit_scale = lo_hi == (0.0, 1.0)
    mult = 100.0 if unit_scale and percent and kind != "mean" else 1.0
    if papi:
        lo, hi = papi_interval(np.array(est), np.array(se))
    elif kind == "mean" or not unit_scale:
        lo, hi = wald_interval(np.array(est), np.array(se), np.array(df), level)
    else:
        lo, hi = confidence_interval(ci_method, np.array(est / mult), np.array(se / mult),
                                     np.array(df), np.array(n), np.array(answered), level)
        lo, hi = lo * mult, hi * mult
    half = (float(hi) - float(lo)) / 2 / mult / (lo_hi[1] - lo_hi[0])
    flag = "low_n" if answered < LOW_N_BELOW or not half <= MAX_HALF_WIDTH else None
    return Estimate((), template.indicator, kind, est, se, float(lo), float(hi), df, n, answered,
                    float("nan"), float("nan"), flag, **shape)


def _points(tree: IndexTree, code: str) -> int:
    """Scale points of a criterion (for the range of its mean score)."""
    return next(c.points for c in tree.criteria if c.code == code)
