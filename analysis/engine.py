"""Stage 2: estimates, linearised variances and SRS variances of every indicator, per domain.

Each indicator is ``θ = const + Σ_k g_k N_k / D_k`` (ratios of weighted totals), so its
linearised value for respondent i is ``z_i = w_i u_i' c`` with a coefficient vector ``c`` over
the sum columns ``u`` (see :class:`analysis.sums.Layout`).  All moments follow from the cell
sums: ``Σ z = t' c``, ``Σ z² = c' G2 c``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .sums import CellSums
from .tree import IndexTree, evaluate_tree
from .variance import stratified_covariance, stratum_contribution

__all__ = ["Block", "Stat", "answer_sets", "block_covariance", "compute_block", "stats_for"]

_ROUNDING = 256 * np.finfo(float).eps


@dataclass(frozen=True)
class Stat:
    """One reported indicator: ``kind`` is ``criterion``, ``mean`` or ``group``."""

    code: str
    kind: str
    answer_set: int
    criterion: int = -1
    mean_column: int = -1


def answer_sets(tree: IndexTree) -> np.ndarray:
    """Criterion sets for "answered at least one": one per criterion, then one per group."""
    n_crit = len(tree.criteria)
    rows = [np.eye(n_crit, dtype=bool)[k] for k in range(n_crit)]
    for group in tree.groups:
        row = np.zeros(n_crit, dtype=bool)
        row[list(tree.descendants(group.code))] = True
        rows.append(row)
    return np.array(rows).reshape(len(rows), n_crit)


def stats_for(tree: IndexTree) -> tuple[Stat, ...]:
    """Indicators in questionnaire order: each criterion followed by its mean score."""
    crit_index = tree.criterion_index()
    group_index = {g.code: len(tree.criteria) + i for i, g in enumerate(tree.groups)}
    means = {k: j for j, k in enumerate(k for k, c in enumerate(tree.criteria)
                                        if c.has_mean_score)}
    out: list[Stat] = []
    for code in tree.order:
        if code in crit_index:
            k = crit_index[code]
            out.append(Stat(code, "criterion", k, k))
            if k in means:
                out.append(Stat(code, "mean", k, k, means[k]))
        elif code in group_index:
            out.append(Stat(code, "group", group_index[code]))
    return tuple(out)


@dataclass(frozen=True, eq=False)
class Block:
    """Results for the D domains of one breakdown; arrays are (D, S) unless noted.

    Attributes
    ----------
    stats : tuple of Stat
    value, var, srs_var : ndarray
        Estimate (natural scale), design variance, SRS-without-replacement variance
        (``srs_var`` uses with-replacement SRS when ``srs_replace``).
    defined : ndarray of bool
    n_answered : ndarray of int
    n, df : ndarray of int, shape (D,)
        Respondents in the domain and ``n - strata touched``.
    single_lonely : ndarray of bool, shape (D,)
        Domain lies within one stratum that has a single respondent.
    coef : ndarray, shape (D, S, m)
        Linearisation coefficients, kept for covariances.
    """

    stats: tuple[Stat, ...]
    value: np.ndarray
    var: np.ndarray
    srs_var: np.ndarray
    defined: np.ndarray
    n_answered: np.ndarray
    n: np.ndarray
    df: np.ndarray
    single_lonely: np.ndarray
    coef: np.ndarray
    sums: CellSums


def _scatter(index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Sum rows of ``values`` into ``size`` bins by ``index``."""
    out = np.zeros((size,) + values.shape[1:])
    np.add.at(out, index, values)
    return out


def compute_block(sums: CellSums, tree: IndexTree, n_domains: int,
                  srs_replace: bool = False) -> Block:
    """Estimates and variances of every indicator in every domain of a breakdown.

    Parameters
    ----------
    sums : CellSums
    tree : IndexTree
    n_domains : int
    srs_replace : bool
        Design effects against SRS with replacement (used when weights are not scaled to a
        population, e.g. equal weights).

    Returns
    -------
    Block

    Notes
    -----
    Criterion ``P_k = Σ w y_k / Σ w r_k``; mean score ``M = Σ w x r / Σ w r``; groups as
    :func:`analysis.tree.evaluate_tree`.  Coefficients: ``c[y_k] = g_k / X_k``,
    ``c[r_k] = −g_k P_k / X_k``.  The SRS variance generalises ``svymean(deff = TRUE)``:
    ``V_srs = Σ_A w_i e_i² (W_A − n_A) / (n_A − 1)`` with ``e_i = u_i' c`` (unweighted
    influence) and A the respondents of the domain answering at least one criterion of the
    indicator (``n_A``, ``W_A = Σ_A w``); for a single criterion this is exactly R's value.
    """
    layout = sums.layout
    stats = stats_for(tree)
    dom = sums.cell_domain
    tot = _scatter(dom, sums.t, n_domains)
    n = np.bincount(dom, weights=sums.n, minlength=n_domains).astype(np.int64)
    touched = np.bincount(dom, weights=(sums.n > 0), minlength=n_domains).astype(np.int64)
    lonely_cells = sums.n_h[sums.cell_stratum] == 1
    single_lonely = (touched == 1) & (np.bincount(dom, weights=lonely_cells,
                                                  minlength=n_domains) == 1)
    n_any = _scatter(dom, sums.n_any, n_domains)
    w_any = _scatter(dom, sums.w_any, n_domains)
    k_count = layout.n_criteria
    den = tot[:, k_count:2 * k_count]
    crit_ok = den > 0
    safe_den = np.where(crit_ok, den, 1.0)
    ratio = np.where(crit_ok, tot[:, :k_count] / safe_den, 0.0)
    nodes = evaluate_tree(tree, ratio, crit_ok)
    s_count, m = len(stats), layout.width
    coef = np.zeros((n_domains, s_count, m))
    value = np.full((n_domains, s_count), np.nan)
    defined = np.zeros((n_domains, s_count), dtype=bool)
    kk = np.arange(k_count)
    for s, stat in enumerate(stats):
        if stat.kind == "mean":
            k, j = stat.criterion, stat.mean_column
            ok = crit_ok[:, k]
            mean = np.where(ok, tot[:, layout.x(j)] / safe_den[:, k], np.nan)
            coef[:, s, layout.x(j)] = np.where(ok, 1.0 / safe_den[:, k], 0.0)
            coef[:, s, layout.r(k)] = np.where(ok, -mean / safe_den[:, k], 0.0)
            value[:, s], defined[:, s] = mean, ok
            continue
        node = nodes[stat.code]
        grad = np.where(crit_ok, node.gradient / safe_den, 0.0)
        grad = np.where(node.defined[:, None], grad, 0.0)
        coef[:, s, kk] = grad
        coef[:, s, k_count + kk] = -grad * ratio
        value[:, s], defined[:, s] = node.value, node.defined
    t_cell, q_cell, srs_cell, q_bound, srs_bound = _cell_moments(sums, coef)
    if sums.calibrated:
        var = _calibrated_variance(sums, coef, t_cell, q_cell)
    else:
        contrib = stratum_contribution(t_cell, t_cell, q_cell,
                                       sums.n_h[sums.cell_stratum][:, None],
                                       sums.f_h[sums.cell_stratum][:, None])
        var = _scatter(dom, contrib, n_domains)
    # A variance within rounding error of zero (every linearised value equal, e.g. p = 1) is
    # zero: the bound is Σ_h c_h (|c|'G2|c| + (|c|'t)²/n_h), times 256 machine epsilons.
    noise = _scatter(dom, stratum_contribution(0.0, 0.0, q_bound,
                                               sums.n_h[sums.cell_stratum][:, None],
                                               sums.f_h[sums.cell_stratum][:, None]), n_domains)
    var = np.where(var <= _ROUNDING * noise, 0.0, var)
    set_of = np.array([st.answer_set for st in stats])
    n_a, w_a = n_any[:, set_of], w_any[:, set_of]
    srs_num = _scatter(dom, srs_cell, n_domains)
    srs_num = np.where(srs_num <= _ROUNDING * _scatter(dom, srs_bound, n_domains), 0.0, srs_num)
    factor = w_a if srs_replace else w_a - n_a
    with np.errstate(divide="ignore", invalid="ignore"):
        srs_var = np.where((n_a > 1) & (srs_num > 0), srs_num * factor / (n_a - 1), np.nan)
    srs_var = np.where(defined, srs_var, np.nan)
    return Block(stats, value, np.where(defined, var, np.nan), srs_var, defined,
                 n_a.astype(np.int64), n, n - touched, single_lonely, coef, sums)


def _cell_moments(sums: CellSums, coef: np.ndarray, chunk: int = 512
                  ) -> tuple[np.ndarray, ...]:
    """Per cell and statistic: ``Σ z``, ``Σ z²``, ``Σ w e²`` and rounding bounds of the last two
    (``|c|'G|c|`` plus ``(|c|'t)²/n_h``; every sum column is non-negative), chunked over cells."""
    n_cells = sums.t.shape[0]
    shape = (n_cells, coef.shape[1])
    t_cell, q_cell, srs_cell, q_bound, srs_bound = (np.empty(shape) for _ in range(5))
    n_h = sums.n_h[sums.cell_stratum].astype(float)
    for a in range(0, n_cells, chunk):
        b = min(a + chunk, n_cells)
        cc = coef[sums.cell_domain[a:b]]
        ac = np.abs(cc)
        t_cell[a:b] = np.einsum("csm,cm->cs", cc, sums.t[a:b])
        q_cell[a:b] = np.einsum("csm,csm->cs", np.matmul(cc, sums.g2[a:b]), cc)
        srs_cell[a:b] = np.einsum("csm,csm->cs", np.matmul(cc, sums.g1[a:b]), cc)
        abs_t = np.einsum("csm,cm->cs", ac, sums.t[a:b])
        q_bound[a:b] = (np.einsum("csm,csm->cs", np.matmul(ac, sums.g2[a:b]), ac)
                        + abs_t**2 / n_h[a:b, None])
        srs_bound[a:b] = np.einsum("csm,csm->cs", np.matmul(ac, sums.g1[a:b]), ac)
    return t_cell, q_cell, srs_cell, q_bound, srs_bound


def _calibrated_variance(sums: CellSums, coef: np.ndarray, t_cell: np.ndarray,
                         q_cell: np.ndarray) -> np.ndarray:
    """Variance with GREG residuals ``z − w x'β`` (R's ``calibrate`` designs), all domains.

    Notes
    -----
    ``β_d = (X'W0X)^+ Σ_{i∈d} w0 x_i e_i``.  In stratum h, ``T_h = τ_h − a_h'β`` and
    ``Q_h = κ_h − 2 ε_h + β'F_hβ`` (τ, κ, ε from the domain's cell, zero where it has none), so
    ``V = Σ_cells [c_h (κ − 2ε) − λ_h (τ² − 2 τ a_h'β)] + β' (Σ_h c_h F_h − λ_h a_h a_h') β``
    with ``λ_h = c_h / n_h`` (0 for a lonely stratum, which is not centred).  Every stratum
    contributes, in or out of the domain, through the last term.
    """
    n_domains = coef.shape[0]
    n_h = sums.n_h.astype(float)
    lonely = n_h == 1
    c_h = stratum_contribution(0.0, 0.0, 1.0, n_h, sums.f_h)
    lam = np.where(lonely, 0.0, c_h / np.where(lonely, 1.0, n_h))
    dsum = _scatter(sums.cell_domain, sums.dmat, n_domains)
    beta = np.einsum("dsm,dpm->dsp", coef, dsum) @ sums.ainv.T
    cell_beta = beta[sums.cell_domain]
    eps = np.einsum("csm,cmp,csp->cs", coef[sums.cell_domain], sums.e, cell_beta)
    a_beta = np.einsum("cp,csp->cs", sums.strat_a[sums.cell_stratum], cell_beta)
    h = sums.cell_stratum
    per_cell = (c_h[h, None] * (q_cell - 2 * eps)
                - lam[h, None] * (t_cell**2 - 2 * t_cell * a_beta))
    middle = sums.f_bar - np.einsum("h,hp,hq->pq", lam, sums.strat_a, sums.strat_a)
    return (_scatter(sums.cell_domain, per_cell, n_domains)
            + np.einsum("dsp,pq,dsq->ds", beta, middle, beta))


def _stratum_terms(block: Block, s: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                          np.ndarray | None]:
    """For statistic s in domain d: per-stratum ``Σ z`` (H,), the domain's cells, the
    coefficient vector and (after raking) β."""
    sums = block.sums
    n_strata = sums.n_h.shape[0]
    cells = np.flatnonzero(sums.cell_domain == d)
    c = block.coef[d, s]
    t_h = np.zeros(n_strata)
    t_h[sums.cell_stratum[cells]] = sums.t[cells] @ c
    beta = None
    if sums.calibrated:
        beta = sums.ainv @ sums.dmat[cells].sum(axis=0) @ c
        t_h = t_h - sums.strat_a @ beta
    return t_h, cells, c, beta


def block_covariance(block: Block, s: int, d1: int, d2: int) -> float:
    """Covariance of statistic s between domains d1 and d2 of one breakdown.

    Notes
    -----
    ``Cov = Σ_h c_h (Σ_{i∈h} z1 z2 − T_h1 T_h2 / n_h)``.  Domains of one breakdown share no
    respondent, so without raking ``Σ z1 z2 = 0`` and ``Cov = −Σ_h c_h T_h1 T_h2 / n_h`` over
    the strata both touch; with ``d1 == d2`` this is the variance.  After raking the GREG
    residual terms ``−w x'β`` add cross-products in every stratum.
    """
    sums = block.sums
    n_strata = sums.n_h.shape[0]
    t1, cells1, c1, beta1 = _stratum_terms(block, s, d1)
    t2, cells2, c2, beta2 = _stratum_terms(block, s, d2)
    q = np.zeros(n_strata)
    shared = np.intersect1d(cells1, cells2)
    np.add.at(q, sums.cell_stratum[shared], np.einsum("m,cmn,n->c", c1, sums.g2[shared], c2))
    if sums.calibrated:
        np.add.at(q, sums.cell_stratum[cells1],
                  -np.einsum("m,cmp,p->c", c1, sums.e[cells1], beta2))
        np.add.at(q, sums.cell_stratum[cells2],
                  -np.einsum("m,cmp,p->c", c2, sums.e[cells2], beta1))
    cov = float(stratified_covariance(np.arange(n_strata), t1, t2, q, sums.n_h, sums.f_h))
    if sums.calibrated:
        cov += float(beta1 @ sums.f_bar @ beta2)  # Σ_h c_h β1' F_h β2
    return cov
