"""Stage 1: per-cell sufficient sums (a cell is one stratum × one domain of a breakdown).

Everything the estimates and their variances need comes from these sums, so the same second
stage (:mod:`analysis.variance`, :mod:`analysis.engine`) can be fed from numpy (here) or from an
SQL ``GROUP BY unit, domain`` over stored answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .design import Design
from .tree import IndexTree, score

__all__ = ["CellSums", "Layout", "cell_sums"]

_CHUNK_ROWS = 1 << 17


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
    strat_f, strat_a : ndarray or None, shapes (H, p, p), (H, p)
        After raking: ``Σ_h w² x x'`` and ``Σ_h w x`` over every respondent of the stratum.
    ainv : ndarray or None, shape (p, p)
        ``(X' W0 X)^+``.
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
    strat_f: np.ndarray | None = None
    strat_a: np.ndarray | None = None
    ainv: np.ndarray | None = None

    @property
    def calibrated(self) -> bool:
        """Whether GREG residual terms are present."""
        return self.ainv is not None


def _columns(values: np.ndarray, tree: IndexTree, layout: Layout) -> np.ndarray:
    """The u matrix (rows × m) for a block of answers (rows × K, NaN = not answered)."""
    rows = values.shape[0]
    u = np.empty((rows, layout.width))
    k_count = layout.n_criteria
    for k, crit in enumerate(tree.criteria):
        y, r = score(values[:, k], crit)
        u[:, k] = y
        u[:, k_count + k] = r
    for j, k in enumerate(layout.mean_of):
        u[:, layout.x(j)] = np.nan_to_num(values[:, k], nan=0.0)
    return u


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
    Rows are sorted by cell once; each cell's Gram matrices are one BLAS call (a single one when
    the weights are constant within the cell, as with design weights, since then
    ``Σ w² u u' = w Σ w u u'``).  Memory is bounded by processing ``2**17`` rows at a time.
    """
    layout = Layout.for_tree(tree)
    m = layout.width
    cell_key = np.where(domain >= 0, design.strata * n_domains + domain, -1)
    keep = np.flatnonzero(cell_key >= 0)
    order = keep[np.argsort(cell_key[keep], kind="stable")]
    keys, counts = np.unique(cell_key[order], return_counts=True)
    n_cells = keys.shape[0]
    starts = np.concatenate([[0], np.cumsum(counts)])
    cal = design.calibration
    p = cal.model.shape[1] if cal is not None else 0
    t = np.zeros((n_cells, m))
    g1 = np.zeros((n_cells, m, m))
    g2 = np.zeros((n_cells, m, m))
    n_sets = answer_sets.shape[0]
    n_any = np.zeros((n_cells, n_sets))
    w_any = np.zeros((n_cells, n_sets))
    e = np.zeros((n_cells, m, p)) if cal is not None else None
    dmat = np.zeros((n_cells, p, m)) if cal is not None else None
    sets_t = answer_sets.T.astype(float)
    weights = design.weights
    c0 = 0
    while c0 < n_cells:
        c1 = int(np.searchsorted(starts, starts[c0] + _CHUNK_ROWS, side="right")) - 1
        c1 = max(c1, c0 + 1)
        rows = order[starts[c0]:starts[c1]]
        u = _columns(values[rows], tree, layout)
        w = weights[rows]
        wu = u * w[:, None]
        local = starts[c0:c1] - starts[c0]
        t[c0:c1] = np.add.reduceat(wu, local, axis=0)
        k_count = layout.n_criteria
        anyset = (u[:, k_count:2 * k_count] @ sets_t) > 0
        n_any[c0:c1] = np.add.reduceat(anyset.astype(float), local, axis=0)
        w_any[c0:c1] = np.add.reduceat(anyset * w[:, None], local, axis=0)
        if cal is not None:
            xm = cal.model[rows]
            w0 = cal.initial_weights[rows]
        for c in range(c0, c1):
            a, b = starts[c] - starts[c0], starts[c + 1] - starts[c0]
            seg, wseg = u[a:b], w[a:b]
            if wseg[0] == wseg.min() == wseg.max():
                gram = seg.T @ seg
                g1[c] = wseg[0] * gram
                g2[c] = wseg[0] * g1[c]
            else:
                g1[c] = seg.T @ wu[a:b]
                g2[c] = wu[a:b].T @ wu[a:b]
            if cal is not None:
                e[c] = (wu[a:b] * wseg[:, None]).T @ xm[a:b]
                dmat[c] = (xm[a:b] * w0[a:b, None]).T @ seg
        c0 = c1
    strat_f = strat_a = ainv = None
    if cal is not None:
        strat_f, strat_a = _stratum_model_sums(design)
        model = cal.model
        ainv = np.linalg.pinv((model * cal.initial_weights[:, None]).T @ model)
    return CellSums(layout, keys // n_domains, keys % n_domains, counts.astype(np.int64), t, g1,
                    g2, answer_sets, n_any, w_any, design.n_h, design.sampling_fraction, e, dmat,
                    strat_f, strat_a, ainv)


def _stratum_model_sums(design: Design) -> tuple[np.ndarray, np.ndarray]:
    """``Σ w² x x'`` and ``Σ w x`` of the calibration model over each whole stratum."""
    model = design.calibration.model  # type: ignore[union-attr]
    p = model.shape[1]
    w = design.weights
    order = np.argsort(design.strata, kind="stable")
    starts = np.concatenate([[0], np.cumsum(design.n_h)])
    f = np.zeros((design.n_strata, p, p))
    a = np.zeros((design.n_strata, p))
    for h in range(design.n_strata):
        rows = order[starts[h]:starts[h + 1]]
        wx = model[rows] * w[rows, None]
        f[h] = wx.T @ wx
        a[h] = wx.sum(axis=0)
    return f, a
