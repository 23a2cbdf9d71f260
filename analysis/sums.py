"""Stage 1: per-cell sufficient sums (a cell is one stratum × one domain of a breakdown).

Everything the estimates and their variances need comes from these sums, so the same second
stage (:mod:`analysis.variance`, :mod:`analysis.engine`) can be fed from numpy (here) or from an
SQL ``GROUP BY unit, domain`` over stored answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .design import Design
from .tree import Criterion, IndexTree, score_answered
from .variance import stratum_contribution

__all__ = ["CellSums", "Layout", "cell_sums"]

_CHUNK_ROWS = 1 << 12


@dataclass(frozen=True)
class Layout:
    """Columns ``u`` of the sums: ``y_1..y_K`` (scores), ``r_1..r_K`` (answered), then ``x_j``
    (raw 1..K answer times ``r``) for each criterion with a mean score.

    Attributes
    ----------
    n_criteria : int
        K.
    mean_of : tuple of int
        For mean-score column j, the criterion index it belongs to.
    """

    n_criteria: int
    mean_of: tuple[int, ...]

    @property
    def width(self) -> int:
        """Number of columns m."""
        return 2 * self.n_criteria + len(self.mean_of)

    def y(self, k: int) -> int:
        """Column of criterion k's score."""
        return k

    def r(self, k: int) -> int:
        """Column of criterion k's answered indicator."""
        return self.n_criteria + k

    def x(self, j: int) -> int:
        """Column of mean-score j's raw value."""
        return 2 * self.n_criteria + j

    @classmethod
    def for_tree(cls, tree: IndexTree) -> Layout:
        """Layout for a tree: mean scores for every criterion on a 1..K scale."""
        return cls(len(tree.criteria),
                   tuple(k for k, c in enumerate(tree.criteria) if c.has_mean_score))


@dataclass(frozen=True, eq=False)
class CellSums:
    """Sufficient sums per cell (stratum h × domain d) of one breakdown.

    Attributes
    ----------
    layout : Layout
    cell_stratum, cell_domain : ndarray of int, shape (C,)
    n : ndarray of int, shape (C,)
        Respondents in the cell (item non-response included).
    t : ndarray, shape (C, m)
        ``Σ w u``.
    g1 : ndarray, shape (C, m, m)
        ``Σ w u u'`` (for the SRS variance in the design effect).
    g2 : ndarray, shape (C, m, m)
        ``Σ w² u u'`` (for the design variance).
    answer_sets : ndarray of bool, shape (A, K)
        Criterion sets whose "answered at least one" counts are kept.
    n_any, w_any : ndarray, shape (C, A)
        Respondents answering at least one criterion of each set, and their ``Σ w``.
    n_h, f_h : ndarray, shape (H,)
        Design respondents and sampling fraction of every stratum.
    e, dmat : ndarray or None, shapes (C, m, p), (C, p, m)
        After raking: ``Σ w² u x'`` and ``Σ w0 x u'`` (x = calibration model row).
    f_bar, strat_a : ndarray or None, shapes (p, p), (H, p)
        After raking: ``Σ_h c_h Σ_{i∈h} w² x x'`` (c_h the stratum's variance multiplier) and
        ``Σ_{i∈h} w x`` over every respondent of each stratum.
    ainv : ndarray or None, shape (p, p)
        ``(X' W0 X)^+``.

    Notes
    -----
    Feeding from SQL: ``GROUP BY unit, domain`` over one row per response gives every field —
    ``COUNT(*)`` for ``n``; ``SUM(w * u_j)`` for ``t``; ``SUM(w * u_j * u_k)`` and
    ``SUM(w * w * u_j * u_k)`` for the Gram matrices (only the pairs described in
    :func:`cell_sums` are needed); ``SUM(CASE WHEN <any answered> ...)`` for ``n_any``/``w_any``;
    ``n_h`` and ``f_h`` come from the design.  :func:`analysis.engine.compute_block` is the
    second stage and does not care where the sums came from.
    """

    layout: Layout
    cell_stratum: np.ndarray
    cell_domain: np.ndarray
    n: np.ndarray
    t: np.ndarray
    g1: np.ndarray
    g2: np.ndarray
    answer_sets: np.ndarray
    n_any: np.ndarray
    w_any: np.ndarray
    n_h: np.ndarray
    f_h: np.ndarray
    e: np.ndarray | None = None
    dmat: np.ndarray | None = None
    f_bar: np.ndarray | None = None
    strat_a: np.ndarray | None = None
    ainv: np.ndarray | None = None

    @property
    def calibrated(self) -> bool:
        """Whether GREG residual terms are present."""
        return self.ainv is not None


def _scorer(tree: IndexTree) -> list[tuple[Criterion, slice | np.ndarray]]:
    """Criteria grouped by identical scoring rules, so each group is scored in one operation."""
    groups: dict[tuple, list[int]] = {}
    for k, crit in enumerate(tree.criteria):
        groups.setdefault((crit.scoring, crit.points, crit.binary), []).append(k)
    return [(tree.criteria[ks[0]], _as_slice(ks)) for ks in groups.values()]


def _as_slice(cols: list[int]) -> slice | np.ndarray:
    """A slice for consecutive columns (cheaper than fancy indexing)."""
    if cols == list(range(cols[0], cols[-1] + 1)):
        return slice(cols[0], cols[-1] + 1)
    return np.array(cols)


def _core(values: np.ndarray, scorer: list, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """``[y | r | 1]`` (rows × 2K+1) and the raw answers x of mean-score columns (rows × J)."""
    rows, k_count = values.shape
    answered = ~np.isnan(values)
    x = np.where(answered, values, 0.0)
    core = np.empty((rows, 2 * k_count + 1))
    for crit, cols in scorer:
        if crit.scoring == "top2":  # NaN >= K - 1 is False: no masking needed
            core[:, cols] = values[:, cols] >= crit.points - 1
        else:
            core[:, cols] = score_answered(x[:, cols], crit) * answered[:, cols]
    core[:, k_count:2 * k_count] = answered
    core[:, 2 * k_count] = 1.0
    return core, x[:, list(layout.mean_of)]


def _sort_cells(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows in cell order (stable; radix sort on small integer keys), cell keys, counts."""
    keep = np.flatnonzero(key >= 0)
    keys, compact = np.unique(key[keep], return_inverse=True)
    small = compact.astype(np.int16 if keys.shape[0] < 2**15 else np.int64)
    order = keep[np.argsort(small, kind="stable")]
    counts = np.bincount(compact, minlength=keys.shape[0])
    return order, keys, counts


def cell_sums(design: Design, tree: IndexTree, values: np.ndarray, domain: np.ndarray,
              n_domains: int, answer_sets: np.ndarray) -> CellSums:
    """Compute the sufficient sums of one breakdown in a single pass over the respondents.

    Parameters
    ----------
    design : Design
    tree : IndexTree
    values : ndarray, shape (n, K)
        Answer to criterion k's item (NaN = not answered).
    domain : ndarray of int, shape (n,)
        Domain of every respondent in this breakdown, ``-1`` for none (missing category).
    n_domains : int
    answer_sets : ndarray of bool, shape (A, K)

    Returns
    -------
    CellSums

    Notes
    -----
    Rows are sorted by cell once; per cell the Gram matrix of ``[y | r | 1]`` is one BLAS call
    (one for both weightings when the weights are constant within the cell, as with design
    weights, since then ``Σ w² u u' = w Σ w u u'``), and the ``1`` column yields ``t``.
    Mean-score columns keep only the cross-products their variance needs: ``x_j`` with itself
    and with its own ``r`` (``Σ w x r = Σ w x``); other ``x`` entries of ``g1``/``g2`` are 0.
    Rows are processed in cache-sized blocks of ``2**12``; a cell may span blocks.
    """
    layout = Layout.for_tree(tree)
    k_count, m = layout.n_criteria, layout.width
    n_mean = len(layout.mean_of)
    key = np.where(domain >= 0, design.strata * n_domains + domain, -1)
    order, keys, counts = _sort_cells(key)
    n_cells = keys.shape[0]
    starts = np.concatenate([[0], np.cumsum(counts)])
    cal = design.calibration
    p = cal.model.shape[1] if cal is not None else 0
    width = 2 * k_count + 1
    core1 = np.zeros((n_cells, width, width))
    core2 = np.zeros((n_cells, width, width))
    xsum = np.zeros((n_cells, 2 * n_mean, 2))
    single = answer_sets.sum(axis=1) == 1
    single_col = np.argmax(answer_sets, axis=1)
    multi = answer_sets[~single].T.astype(float)
    any_sums = np.zeros((n_cells, answer_sets.shape[0], 2))
    e = np.zeros((n_cells, m, p)) if cal is not None else None
    dmat = np.zeros((n_cells, p, m)) if cal is not None else None
    weights = design.weights
    scorer = _scorer(tree)
    total = starts[-1]
    for pos in range(0, total, _CHUNK_ROWS):
        end = min(pos + _CHUNK_ROWS, total)
        rows = order[pos:end]
        core, xj = _core(values[rows], scorer, layout)
        xx = np.hstack([xj, xj * xj])
        r = core[:, k_count:2 * k_count]
        anyset = np.empty((rows.shape[0], answer_sets.shape[0]))
        anyset[:, single] = r[:, single_col[single]]
        anyset[:, ~single] = (r @ multi) > 0
        w = weights[rows]
        ones_w = np.stack([np.ones_like(w), w, w * w], axis=1)
        if cal is not None:
            u = np.hstack([core[:, :2 * k_count], xj])
            xm, w0 = cal.model[rows], cal.initial_weights[rows]
        c = int(np.searchsorted(starts, pos, side="right")) - 1
        while c < n_cells and starts[c] < end:
            # the rows of cell c inside this chunk (a cell may span several chunks)
            a, b = max(starts[c], pos) - pos, min(starts[c + 1], end) - pos
            seg, wseg = core[a:b], w[a:b]
            if wseg[0] == wseg.min() == wseg.max():
                gram = seg.T @ seg
                core1[c] += wseg[0] * gram
                core2[c] += wseg[0] * wseg[0] * gram
            else:
                wsg = seg * wseg[:, None]
                core1[c] += seg.T @ wsg
                core2[c] += wsg.T @ wsg
            xsum[c] += xx[a:b].T @ ones_w[a:b, 1:]
            any_sums[c] += anyset[a:b].T @ ones_w[a:b, :2]
            if cal is not None:
                e[c] += (u[a:b] * (wseg * wseg)[:, None]).T @ xm[a:b]
                dmat[c] += (xm[a:b] * w0[a:b, None]).T @ u[a:b]
            c += 1
    t, g1, g2 = _assemble(layout, core1, core2, xsum)
    f_bar = strat_a = ainv = None
    if cal is not None:
        f_bar, strat_a = _stratum_model_sums(design)
        model = cal.model
        ainv = np.linalg.pinv((model * cal.initial_weights[:, None]).T @ model)
    return CellSums(layout, keys // n_domains, keys % n_domains, counts.astype(np.int64), t, g1,
                    g2, answer_sets, any_sums[:, :, 0], any_sums[:, :, 1], design.n_h,
                    design.sampling_fraction, e, dmat, f_bar, strat_a, ainv)


def _assemble(layout: Layout, core1: np.ndarray, core2: np.ndarray, xsum: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spread the core Gram matrices and mean-score sums into the ``u`` layout."""
    n_cells = core1.shape[0]
    k2, m, n_mean = 2 * layout.n_criteria, layout.width, len(layout.mean_of)
    t = np.zeros((n_cells, m))
    g1 = np.zeros((n_cells, m, m))
    g2 = np.zeros((n_cells, m, m))
    t[:, :k2] = core1[:, k2, :k2]
    g1[:, :k2, :k2] = core1[:, :k2, :k2]
    g2[:, :k2, :k2] = core2[:, :k2, :k2]
    if n_mean:
        xcol = k2 + np.arange(n_mean)
        rcol = np.array([layout.r(k) for k in layout.mean_of])
        t[:, xcol] = xsum[:, :n_mean, 0]
        for g, col in ((g1, 0), (g2, 1)):
            g[:, xcol, xcol] = xsum[:, n_mean:, col]
            g[:, xcol, rcol] = xsum[:, :n_mean, col]
            g[:, rcol, xcol] = xsum[:, :n_mean, col]
    return t, g1, g2


def _stratum_model_sums(design: Design) -> tuple[np.ndarray, np.ndarray]:
    """``Σ_h c_h Σ_{i∈h} w² x x'`` (p × p) and ``Σ_{i∈h} w x`` per stratum (H × p)."""
    model = design.calibration.model  # type: ignore[union-attr]
    w = design.weights
    c_h = stratum_contribution(0.0, 0.0, 1.0, design.n_h, design.sampling_fraction)
    f_bar = (model * (c_h[design.strata] * w * w)[:, None]).T @ model
    a = np.zeros((design.n_strata, model.shape[1]))
    np.add.at(a, design.strata, model * w[:, None])
    return f_bar, a
