"""The report: every indicator of the index tree, overall and per domain, with SE, CI, deff.

This is the public entry point: :func:`analyse` takes a design, an index tree and the answers,
and returns a :class:`Report` of frozen :class:`Estimate` records.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .design import Design
from .engine import Block, answer_sets, compute_block
from .intervals import CI_METHODS, confidence_interval, papi_interval, wald_interval
from .sums import cell_sums
from .tree import IndexTree

__all__ = ["Breakdown", "DomainBlock", "Estimate", "Report", "analyse"]

SUPPRESS_BELOW = 10
LOW_N_BELOW = 30
MAX_HALF_WIDTH = 0.10


@dataclass(frozen=True, eq=False)
class Breakdown:
    """Domains formed by the categories of one or more respondent variables (crossed).

    Attributes
    ----------
    variables : tuple of str
        Column names, e.g. ``("unit",)`` or ``("unit", "sex")``.
    values : tuple of ndarray of str
        One array per variable, length n; an empty string means "missing": the respondent stays
        in the design but belongs to no domain of this breakdown.
    """

    variables: tuple[str, ...]
    values: tuple[np.ndarray, ...] = ()
    by_stratum: bool = False

    @classmethod
    def units(cls, name: str = "unit") -> Breakdown:
        """One domain per stratum (unit), labelled by the unit code."""
        return cls((name,), (), True)


@dataclass(frozen=True)
class Estimate:
    """One indicator in one domain.

    Attributes
    ----------
    domain : tuple of (variable, category) pairs
        Empty for the overall domain.
    indicator : str
        Node code of the index tree.
    kind : str
        ``criterion`` (share), ``mean`` (mean score 1..K) or ``group``.
    estimate, se, ci_low, ci_high : float
        On the reporting scale (percent for 0-1 indices when the tree says so); NaN when
        undefined.
    df : int
        ``degf(subset(design, domain))``: respondents in the domain minus strata it touches.
    n, n_answered : int
        Respondents in the domain; respondents with a valid answer (for a group: to at least
        one of its criteria).
    deff, n_eff : float
        Design effect against SRS without replacement, and ``n_answered / deff``.
    flag : str or None
        ``suppressed``, ``low_n`` or None.
    children, aggregate, weights, scale :
        How a group is formed.
    """

    domain: tuple[tuple[str, str], ...]
    indicator: str
    kind: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    df: int
    n: int
    n_answered: int
    deff: float
    n_eff: float
    flag: str | None
    children: tuple[str, ...] = ()
    aggregate: str | None = None
    weights: tuple[float, ...] | None = None
    scale: tuple[float, float] | None = None

    def to_dict(self) -> dict:
        """JSON-able dict (NaN becomes None)."""
        out: dict = {"domain": dict(self.domain), "indicator": self.indicator,
                     "kind": self.kind}
        for key in ("estimate", "se", "ci_low", "ci_high"):
            out[key] = _num(getattr(self, key))
        out.update(df=self.df, n=self.n, n_answered=self.n_answered, deff=_num(self.deff),
                   n_eff=_num(self.n_eff), flag=self.flag)
        if self.kind == "group":
            out["children"] = list(self.children)
            out["aggregate"] = self.aggregate
            if self.weights is not None:
                out["weights"] = list(self.weights)
            if self.scale is not None:
                out["scale"] = list(self.scale)
        return out


def _num(x: float) -> float | None:
    """Float or None for NaN/inf."""
    return float(x) if np.isfinite(x) else None


@dataclass(frozen=True, eq=False)
class DomainBlock:
    """The arrays behind one breakdown's estimates (kept for covariances)."""

    variables: tuple[str, ...]
    domains: tuple[tuple[tuple[str, str], ...], ...]
    block: Block
    multiplier: np.ndarray

    def position(self, indicator: str, kind: str, domain: tuple) -> tuple[int, int] | None:
        """(domain index, statistic index) of an estimate, or None when not in this block."""
        keys = [tuple(sorted(d)) for d in self.domains]
        key = tuple(sorted(domain))
        if key not in keys:
            return None
        s = next(i for i, st in enumerate(self.block.stats)
                 if st.code == indicator and st.kind == kind)
        return keys.index(key), s


@dataclass(frozen=True, eq=False)
class Report:
    """All estimates plus what is needed for comparisons between domains.

    Attributes
    ----------
    estimates : tuple of Estimate
        Overall domain first, then each breakdown's domains in sorted order; within a domain
        indicators in index-tree order (each criterion followed by its mean score).
    settings : dict
        Weighting, CI method, level and conventions, for the output file.
    """

    estimates: tuple[Estimate, ...]
    settings: dict
    blocks: tuple[DomainBlock, ...] = field(default=(), repr=False)

    def find(self, indicator: str, domain: dict[str, str] | None = None,
             kind: str | None = None) -> Estimate:
        """The estimate of ``indicator`` (criterion share by default) in ``domain``."""
        key = tuple(sorted((domain or {}).items()))
        for est in self.estimates:
            if (est.indicator == indicator and tuple(sorted(est.domain)) == key
                    and (kind is None and est.kind != "mean" or est.kind == kind)):
                return est
        raise KeyError(f"no estimate of {indicator!r} for domain {domain or 'overall'}")


def _domain_codes(breakdown: Breakdown, n: int) -> tuple[np.ndarray, list[tuple]]:
    """Domain index per row (-1 when any variable is missing) and sorted domain labels."""
    arrays = [np.asarray(v, dtype=object).astype(str) for v in breakdown.values]
    if any(a.shape != (n,) for a in arrays):
        raise ValueError(f"breakdown {breakdown.variables}: one value per respondent needed")
    missing = np.zeros(n, dtype=bool)
    for a in arrays:
        missing |= a == ""
    combined = arrays[0] if len(arrays) == 1 else np.array(
        ["\x1f".join(parts) for parts in zip(*arrays, strict=True)], dtype=object).astype(str)
    labels, index = np.unique(np.where(missing, "", combined), return_inverse=True)
    index = index.astype(np.int64)
    if labels.size and labels[0] == "":
        index = index - 1
        labels = labels[1:]
    return np.where(missing, -1, index), [tuple(lab.split("\x1f")) for lab in labels]


def analyse(design: Design, tree: IndexTree, values: np.ndarray, *,
            breakdowns: Sequence[Breakdown] = (), ci_method: str = "logit",
            level: float = 0.95, papi_intervals: bool = False) -> Report:
    """Estimate every indicator of ``tree``, overall and for each domain of each breakdown.

    Parameters
    ----------
    design : Design
    tree : IndexTree
    values : ndarray, shape (n, K)
        Column k holds the answers to criterion k's item (1..K, or 0/1 for yes/no); NaN = not
        answered (skipped or "không áp dụng").
    breakdowns : sequence of Breakdown
        Extra domains; the overall domain is always first.
    ci_method : {"logit", "beta", "wilson", "wald"}
        For criterion shares and 0-1 group indices.  Mean scores and scaled or summed (PAPI)
        groups use Wald with t(df).
    level : float
    papi_intervals : bool
        Report ``± 1.645 SE`` for every estimate (PAPI's "95% CI", really 90%).

    Returns
    -------
    Report

    Notes
    -----
    Weights are sampling weights, not frequency weights.  Domains multiply y and r by the
    domain indicator; respondents outside a domain stay in the design (zeros in their stratum).
    Flags use ``n_answered``: ``suppressed`` below ``tree.min_answers`` valid answers (10;
    15 for PAPI), in a domain inside a
    lonely stratum, or with no answer at all; ``low_n`` below 30 or when the CI half-width
    exceeds 10 % of the indicator's range (10 points on a percent scale).  Design effects are
    against SRS without replacement when the weights sum to more than the sample size (design
    or raked weights), otherwise against SRS with replacement (``deff = "replace"``).
    """
    if ci_method not in CI_METHODS:
        raise ValueError(f"ci_method must be one of {', '.join(CI_METHODS)}")
    values = np.asarray(values, dtype=float)
    if values.shape != (design.n, len(tree.criteria)):
        raise ValueError(f"values must have shape ({design.n}, {len(tree.criteria)})")
    sets = answer_sets(tree)
    replace = not float(np.sum(design.weights)) > design.n * (1 + 1e-12)
    # One pass with one cell per stratum serves the overall domain and any unit breakdown.
    strata_sums = cell_sums(design, tree, values, design.strata, design.n_strata, sets)
    overall = dataclasses.replace(strata_sums,
                                  cell_domain=np.zeros(design.n_strata, dtype=np.int64))
    plans = [((), [()], compute_block(overall, tree, 1, replace))]
    for breakdown in breakdowns:
        if breakdown.by_stratum:
            index, labels = design.strata, [(code,) for code in design.stratum_codes]
        else:
            index, labels = _domain_codes(breakdown, design.n)
        level_of_stratum = _stratum_levels(design, index, len(labels))
        if level_of_stratum is not None:
            sums = dataclasses.replace(strata_sums,
                                       cell_domain=level_of_stratum[strata_sums.cell_stratum])
        else:
            sums = cell_sums(design, tree, values, index, len(labels), sets)
        plans.append((breakdown.variables, labels, compute_block(sums, tree, len(labels),
                                                                  replace)))
    estimates: list[Estimate] = []
    blocks = []
    for variables, labels, block in plans:
        domains = [tuple(zip(variables, lab, strict=True)) for lab in labels]
        records, mult = _records(block, tree, domains, ci_method, level, papi_intervals)
        estimates.extend(records)
        blocks.append(DomainBlock(variables, tuple(domains), block, mult))
    settings = report_settings(design.kind, design.has_fpc, replace, tree, ci_method, level,
                               papi_intervals)
    if design.calibration is not None:
        cal = design.calibration
        settings["raking"] = {"columns": list(cal.columns), "bounds": cal.bounds,
                              "trim": cal.trim, "iterations": cal.iterations,
                              "variance": "GREG residuals (calibrate, calfun='raking')"}
    return Report(tuple(estimates), settings, tuple(blocks))


def report_settings(kind: str, fpc: bool, replace: bool, tree: IndexTree, ci_method: str,
                    level: float, papi_intervals: bool) -> dict:
    """The conventions a report states in its output (shared with :mod:`analysis.counts`)."""
    return {
        "weights": kind, "fpc": fpc, "ci_method": ci_method, "level": level,
        "papi_intervals": papi_intervals, "percent": tree.percent,
        "deff": "srswr" if replace else "srswor",
        "lonely_stratum": "adjust (survey.lonely.psu); the unit's own estimates suppressed",
        "p_exactly_0_or_1": "Clopper-Pearson with n = valid answers",
        "flag_rule": f"suppressed: n_answered < {tree.min_answers}, lonely stratum or no "
                     "answer; low_n: n_answered < 30 or CI half-width > 10% of the range",
        "interval": interval_label(ci_method, level, papi_intervals),
        "higher_level": "pooled with survey weights",
    }


def interval_label(ci_method: str, level: float, papi_intervals: bool) -> str:
    """Plain words for the intervals a report carries (PAPI-compatible ones say so)."""
    if papi_intervals:
        return ("PAPI-compatible: estimate ± 1.645·SE, what PAPI labels a 95% CI "
                "(really a 90% interval)")
    return (f"{level:.0%} confidence interval: {ci_method} for shares and 0–1 indices, "
            "Wald with t(df) for mean scores and PAPI points")


def _stratum_levels(design: Design, index: np.ndarray, n_levels: int) -> np.ndarray | None:
    """Domain of each stratum when the breakdown coincides one-to-one with the strata."""
    if n_levels != design.n_strata or np.any(index < 0):
        return None
    if np.unique(design.strata * n_levels + index).shape[0] != design.n_strata:
        return None
    level_of_stratum = np.zeros(design.n_strata, dtype=np.int64)
    level_of_stratum[design.strata] = index
    return level_of_stratum


def _records(block: Block, tree: IndexTree, domains: list, ci_method: str, level: float,
             papi: bool) -> tuple[list[Estimate], np.ndarray]:
    """Turn a block's arrays into Estimate records (CI, deff, flags, reporting scale)."""
    stats = block.stats
    groups = {g.code: g for g in tree.groups}
    points = {c.code: c.points for c in tree.criteria}
    se = np.sqrt(block.var)
    df = np.broadcast_to(block.df[:, None], block.value.shape)
    n = np.broadcast_to(block.n[:, None], block.value.shape)
    lo = np.full(block.value.shape, np.nan)
    hi = np.full(block.value.shape, np.nan)
    mult = np.ones(len(stats))
    width = np.ones(len(stats))
    for s, stat in enumerate(stats):
        rng = (1.0, float(points[stat.code])) if stat.kind == "mean" else tree.range_of(stat.code)
        width[s] = rng[1] - rng[0]
        unit_scale = rng == (0.0, 1.0)
        if unit_scale and tree.percent:
            mult[s] = 100.0
        col = (slice(None), s)
        if papi:
            lo[col], hi[col] = papi_interval(block.value[col], se[col])
        elif stat.kind == "mean" or not unit_scale:
            lo[col], hi[col] = wald_interval(block.value[col], se[col], df[col], level)
        else:
            lo[col], hi[col] = confidence_interval(ci_method, block.value[col], se[col], df[col],
                                                   n[col], block.n_answered[col], level)
    with np.errstate(divide="ignore", invalid="ignore"):
        deff = block.var / block.srs_var
        n_eff = block.n_answered / deff
        half = (hi - lo) / 2 / width
    flags = np.full(block.value.shape, None, dtype=object)
    low = (block.n_answered < LOW_N_BELOW) | ~(half <= MAX_HALF_WIDTH)
    flags[low] = "low_n"
    sup = ((block.n_answered < tree.min_answers) | block.single_lonely[:, None]
           | ~block.defined)
    flags[sup] = "suppressed"
    columns = [(a * mult).tolist() for a in (block.value, se, lo, hi)]
    columns += [block.n_answered.tolist(), deff.tolist(), n_eff.tolist(), flags.tolist()]
    df_list, n_list = block.df.tolist(), block.n.tolist()
    shape = []
    for stat in stats:
        group = groups.get(stat.code) if stat.kind == "group" else None
        shape.append((group.children, group.aggregate, group.weights, group.scale) if group
                     else ((), None, None, None))
    out: list[Estimate] = []
    for d, domain in enumerate(domains):
        est, se_d, lo_d, hi_d, n_ans, deff_d, n_eff_d, flag_d = (col[d] for col in columns)
        for s, stat in enumerate(stats):
            out.append(Estimate(domain, stat.code, stat.kind, est[s], se_d[s], lo_d[s], hi_d[s],
                                df_list[d], n_list[d], n_ans[s], deff_d[s], n_eff_d[s],
                                flag_d[s], *shape[s]))
    return out, mult
