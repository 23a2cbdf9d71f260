"""Comparisons: differences between domains or periods, and rank intervals.

Overlapping confidence intervals are not a test; these functions give the difference with its
own standard error and p-value, and ranks with their uncertainty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from .engine import block_covariance
from .estimates import Estimate, Report
from .intervals import wald_interval

__all__ = ["Difference", "RankInterval", "difference", "domain_difference", "rank_intervals"]


@dataclass(frozen=True)
class Difference:
    """``a − b`` with its standard error, interval and two-sided p-value.

    Attributes
    ----------
    indicator, kind : str
    domain_a, domain_b : tuple of (variable, category) pairs
    estimate, se, ci_low, ci_high : float
        On the reporting scale of the estimates (percentage points for SIPAS indices).
    covariance : float
        ``Cov(a, b)`` used (0 for independent samples such as two periods).
    df : int
        The smaller of the two degrees of freedom.
    p_value : float
    """

    indicator: str
    kind: str
    domain_a: tuple[tuple[str, str], ...]
    domain_b: tuple[tuple[str, str], ...]
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    covariance: float
    df: int
    p_value: float


def difference(a: Estimate, b: Estimate, *, covariance: float = 0.0,
               level: float = 0.95) -> Difference:
    """Difference of two estimates of the same indicator.

    Parameters
    ----------
    a, b : Estimate
    covariance : float
        ``Cov(a, b)`` on the reporting scale; 0 for independent samples (two periods, or two
        units, which are different strata).
    level : float

    Returns
    -------
    Difference

    Notes
    -----
    ``Δ = a − b``, ``SE = √(V_a + V_b − 2 Cov)``, interval ``Δ ± t(df) SE`` and
    ``p = 2 P(T_df > |Δ| / SE)`` with ``df = min(df_a, df_b)``.
    """
    if (a.indicator, a.kind) != (b.indicator, b.kind):
        raise ValueError("a difference needs two estimates of the same indicator")
    delta = a.estimate - b.estimate
    se = float(np.sqrt(max(a.se**2 + b.se**2 - 2 * covariance, 0.0)))
    df = min(a.df, b.df)
    lo, hi = wald_interval(np.array(delta), np.array(se), np.array(df), level)
    if se > 0 and df > 0:
        p_value = float(2 * special.stdtr(df, -abs(delta) / se))  # = 2·scipy.stats.t.sf
    else:
        p_value = float("nan") if delta == 0 or df <= 0 else 0.0
    return Difference(a.indicator, a.kind, a.domain, b.domain, float(delta), se, float(lo),
                      float(hi), float(covariance), int(df), p_value)


def domain_difference(report: Report, indicator: str, domain_a: dict[str, str],
                      domain_b: dict[str, str], *, kind: str | None = None,
                      level: float = 0.95) -> Difference:
    """Difference between two domains of the same breakdown of one report.

    Parameters
    ----------
    report : Report
    indicator : str
    domain_a, domain_b : dict
        E.g. ``{"sex": "F"}`` and ``{"sex": "M"}``: domains that may share strata.
    kind : str, optional
        ``criterion``/``group`` (default) or ``mean``.
    level : float

    Returns
    -------
    Difference

    Notes
    -----
    The covariance comes from the cell sums: ``Cov = −Σ_h c_h T_ha T_hb / n_h`` for domains
    sharing strata (zero for two units), plus GREG terms after raking.
    """
    a = report.find(indicator, domain_a, kind)
    b = report.find(indicator, domain_b, kind)
    for part in report.blocks:
        pos_a = part.position(a.indicator, a.kind, a.domain)
        pos_b = part.position(b.indicator, b.kind, b.domain)
        if pos_a is not None and pos_b is not None:
            s = pos_a[1]
            cov = block_covariance(part.block, s, pos_a[0], pos_b[0]) * part.multiplier[s] ** 2
            return difference(a, b, covariance=cov, level=level)
    raise ValueError("both domains must come from the same breakdown of the report")


@dataclass(frozen=True)
class RankInterval:
    """Rank of one domain (1 = highest) with its simulated interval."""

    label: str
    estimate: float
    rank: int
    rank_low: int
    rank_high: int


def rank_intervals(labels: Sequence[str], estimates: Sequence[float], se: Sequence[float], *,
                   covariance: np.ndarray | None = None, level: float = 0.95,
                   draws: int = 10000, seed: int = 0) -> tuple[RankInterval, ...]:
    """Rank intervals by simulation from the estimated sampling distribution.

    Parameters
    ----------
    labels : sequence of str
    estimates, se : sequence of float
        Domains with a NaN estimate or SE are left out.
    covariance : ndarray, optional
        Full covariance matrix; default ``diag(se²)`` (independent units).
    level : float
    draws : int
    seed : int
        For ``np.random.default_rng``; results are reproducible.

    Returns
    -------
    tuple of RankInterval, in the order of ``labels`` (NaN ones omitted)

    Notes
    -----
    Draws ``θ* ~ N(θ̂, Σ)``, ranks each draw (1 = highest, ties by order), and reports the
    ``α/2`` and ``1 − α/2`` quantiles of each domain's rank.  A 12-response commune with a wide
    interval gets a wide rank interval instead of a spurious first place.
    """
    est = np.asarray(estimates, dtype=float)
    sd = np.asarray(se, dtype=float)
    ok = np.isfinite(est) & np.isfinite(sd)
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return ()
    rng = np.random.default_rng(seed)
    if covariance is None:
        sims = est[idx] + rng.standard_normal((draws, idx.size)) * sd[idx]
    else:
        cov = np.asarray(covariance, dtype=float)[np.ix_(idx, idx)]
        sims = rng.multivariate_normal(est[idx], cov, size=draws, method="eigh")
    ranks = np.empty_like(sims, dtype=np.int64)
    order = np.argsort(-sims, axis=1, kind="stable")
    np.put_along_axis(ranks, order, np.arange(1, idx.size + 1)[None, :], axis=1)
    alpha = 1 - level
    lo = np.quantile(ranks, alpha / 2, axis=0, method="inverted_cdf")
    hi = np.quantile(ranks, 1 - alpha / 2, axis=0, method="inverted_cdf")
    point = np.empty(idx.size, dtype=np.int64)
    point[np.argsort(-est[idx], kind="stable")] = np.arange(1, idx.size + 1)
    return tuple(RankInterval(str(labels[i]), float(est[i]), int(point[j]), int(lo[j]),
                              int(hi[j])) for j, i in enumerate(idx))
