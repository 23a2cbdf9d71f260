"""Unweighted per-cell counts and sums: what a database ``GROUP BY`` returns.

When weights are constant within a stratum (equal weights, or design weights ``N_h / n_h``),
every weighted sum of :class:`analysis.sums.CellSums` is the stratum's weight times an
unweighted sum: ``Σ w u = w_h Σ u``, ``Σ w u u' = w_h Σ u u'``, ``Σ w² u u' = w_h² Σ u u'``.
So the database only has to count and add integers per stratum × domain cell; this module turns
those :class:`CellCounts` into :class:`CellSums` and then into the same :class:`Report` as
:func:`analysis.analyse`.  Raked weights differ within a stratum and need respondent rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .engine import answer_sets, compute_block
from .estimates import DomainBlock, Estimate, Report, _records, report_settings
from .sums import CellSums, Layout
from .tree import IndexTree, score_answered

__all__ = ["CellCounts", "CountsAccumulator", "RespondentVectors", "analyse_counts",
           "counts_from_values", "counts_from_vectors", "respondent_vectors", "weighted_sums"]


@dataclass(frozen=True, eq=False)
class CellCounts:
    """Unweighted sums per cell (stratum h × domain d) of one breakdown.

    With ``v = [y_1..y_K | r_1..r_K]`` (scores and answered indicators of the K criteria):

    Attributes
    ----------
    cell_stratum, cell_domain : ndarray of int, shape (C,)
    n : ndarray of int, shape (C,)
        Respondents in the cell.
    total : ndarray, shape (C, 2K)
        ``Σ v``.
    gram : ndarray, shape (C, 2K, 2K)
        ``Σ v v'`` (co-response cross-products of every pair of criteria).
    xsum, xsq : ndarray, shape (C, J)
        ``Σ x_j`` and ``Σ x_j²`` of the raw answers of the J mean-score criteria (0 when not
        answered).
    n_any : ndarray, shape (C, A)
        Respondents answering at least one criterion of each answer set
        (:func:`analysis.engine.answer_sets`).
    """

    cell_stratum: np.ndarray
    cell_domain: np.ndarray
    n: np.ndarray
    total: np.ndarray
    gram: np.ndarray
    xsum: np.ndarray
    xsq: np.ndarray
    n_any: np.ndarray


def weighted_sums(counts: CellCounts, layout: Layout, w_h: np.ndarray, n_h: np.ndarray,
                  f_h: np.ndarray, sets: np.ndarray) -> CellSums:
    """:class:`CellSums` for stratum-constant weights ``w_h`` (see the module docstring)."""
    k2, m = 2 * layout.n_criteria, layout.width
    cells = counts.n.shape[0]
    w = w_h[counts.cell_stratum].astype(float)
    t = np.zeros((cells, m))
    gram = np.zeros((cells, m, m))
    t[:, :k2] = counts.total
    gram[:, :k2, :k2] = counts.gram
    if layout.mean_of:
        xcol = k2 + np.arange(len(layout.mean_of))
        rcol = np.array([layout.r(k) for k in layout.mean_of])
        t[:, xcol] = counts.xsum
        gram[:, xcol, xcol] = counts.xsq
        gram[:, xcol, rcol] = counts.xsum
        gram[:, rcol, xcol] = counts.xsum
    return CellSums(layout, counts.cell_stratum.astype(np.int64),
                    counts.cell_domain.astype(np.int64), counts.n.astype(np.int64),
                    t * w[:, None], gram * w[:, None, None], gram * (w * w)[:, None, None],
                    sets, counts.n_any.astype(float), counts.n_any * w[:, None],
                    n_h, f_h)


def analyse_counts(tree: IndexTree, stratum_codes: Sequence[str], n_h: np.ndarray,
                   population: np.ndarray | None, strata: CellCounts,
                   breakdowns: Sequence[tuple[tuple[str, ...], list[tuple[str, ...]],
                                              CellCounts | None]] = (),
                   *, ci_method: str = "logit", level: float = 0.95,
                   papi_intervals: bool = False) -> Report:
    """The :func:`analysis.analyse` report from per-cell counts.

    Parameters
    ----------
    tree : IndexTree
    stratum_codes : sequence of str, length H, sorted
    n_h : ndarray of int, shape (H,)
        Respondents per stratum (item non-response included).
    population : ndarray, shape (H,), or None
        ``N_h`` for design weights ``N_h / n_h`` with fpc; None for equal weights.
    strata : CellCounts
        One cell per stratum (``cell_stratum`` = stratum index); serves the overall domain
        and a unit breakdown.
    breakdowns : sequence of (variables, labels, CellCounts or None)
        Labels in sorted order; ``None`` counts mean "one domain per stratum" (by unit).
    ci_method, level, papi_intervals :
        As :func:`analysis.analyse`.

    Returns
    -------
    Report
        Equal to ``analyse(design, tree, values, ...)`` on the respondent rows the counts were
        made from (to rounding: sums are added in a different order).
    """
    n_h = np.asarray(n_h, dtype=np.int64)
    if population is None:
        w_h, f_h, kind = np.ones(len(n_h)), np.zeros(len(n_h)), "equal"
    else:
        big_n = np.asarray(population, dtype=float)
        w_h, f_h, kind = big_n / n_h, n_h / big_n, "design"
    layout = Layout.for_tree(tree)
    sets = answer_sets(tree)
    replace = not float(np.sum(w_h * n_h)) > float(n_h.sum()) * (1 + 1e-12)
    base = weighted_sums(strata, layout, w_h, n_h, f_h, sets)
    overall = _with_domain(base, np.zeros_like(base.cell_stratum))
    plans = [((), [()], compute_block(overall, tree, 1, replace))]
    for variables, labels, counts in breakdowns:
        if counts is None:
            sums = _with_domain(base, base.cell_stratum)
        else:
            sums = weighted_sums(counts, layout, w_h, n_h, f_h, sets)
        plans.append((variables, labels, compute_block(sums, tree, len(labels), replace)))
    estimates: list[Estimate] = []
    blocks = []
    for variables, labels, block in plans:
        domains = [tuple(zip(variables, lab, strict=True)) for lab in labels]
        records, mult = _records(block, tree, domains, ci_method, level, papi_intervals)
        estimates.extend(records)
        blocks.append(DomainBlock(variables, tuple(domains), block, mult))
    settings = report_settings(kind, bool(np.any(f_h > 0)), replace, tree, ci_method, level,
                               papi_intervals)
    return Report(tuple(estimates), settings, tuple(blocks))


def _with_domain(sums: CellSums, domain: np.ndarray) -> CellSums:
    """The same sums with other domain labels."""
    import dataclasses

    return dataclasses.replace(sums, cell_domain=np.asarray(domain, dtype=np.int64))


def counts_from_values(tree: IndexTree, values: np.ndarray, key: np.ndarray,
                       sets: np.ndarray | None = None) -> tuple[np.ndarray, CellCounts]:
    """Counts of respondent rows grouped by an integer cell key (-1 = no cell).

    Parameters
    ----------
    tree : IndexTree
    values : ndarray, shape (n, K)
        Criterion answers, NaN when not answered.
    key : ndarray of int, shape (n,)
    sets : ndarray of bool, shape (A, K), optional

    Returns
    -------
    keys : ndarray of int, shape (C,)
        Sorted distinct keys; the returned counts' ``cell_stratum``/``cell_domain`` are left
        zero for the caller to fill from them.
    counts : CellCounts

    Notes
    -----
    Integer-valued sums are exact in float64 below 2**53, so counts from chunks add up to the
    counts of the whole, whatever the chunking.
    """
    return counts_from_vectors(respondent_vectors(tree, values, sets), key)


@dataclass(frozen=True, eq=False)
class RespondentVectors:
    """Per-respondent rows the counts add up: ``v = [y | r]``, mean-score answers, answer sets.

    Computed once per chunk of respondents and shared by every breakdown's grouping
    (:func:`counts_from_vectors`).
    """

    v: np.ndarray
    xm: np.ndarray
    anyset: np.ndarray


def respondent_vectors(tree: IndexTree, values: np.ndarray,
                       sets: np.ndarray | None = None) -> RespondentVectors:
    """Scores ``y``, answered flags ``r``, raw mean-score answers and answer-set flags."""
    sets = answer_sets(tree) if sets is None else sets
    layout = Layout.for_tree(tree)
    k_count = len(tree.criteria)
    answered = ~np.isnan(values)
    x = np.where(answered, values, 0.0)
    v = np.empty((values.shape[0], 2 * k_count))
    for k, crit in enumerate(tree.criteria):
        v[:, k] = score_answered(x[:, k], crit) * answered[:, k]
    v[:, k_count:] = answered
    xm = x[:, list(layout.mean_of)]
    anyset = ((answered.astype(float) @ sets.T.astype(float)) > 0).astype(float)
    return RespondentVectors(v, xm, anyset)


def counts_from_vectors(vectors: RespondentVectors, key: np.ndarray
                        ) -> tuple[np.ndarray, CellCounts]:
    """:func:`counts_from_values` from precomputed :class:`RespondentVectors`."""
    keep = np.flatnonzero(key >= 0)
    keys, cell = np.unique(key[keep], return_inverse=True)
    order = keep[np.argsort(cell, kind="stable")]
    cell = np.sort(cell, kind="stable")
    v, xm, anyset = vectors.v[order], vectors.xm[order], vectors.anyset[order]
    k_count = v.shape[1] // 2
    n_cells = keys.shape[0]
    n = np.bincount(cell, minlength=n_cells)
    starts = np.concatenate([[0], np.cumsum(n)])
    gram = np.empty((n_cells, 2 * k_count, 2 * k_count))
    for c in range(n_cells):
        seg = v[starts[c]:starts[c + 1]]
        gram[c] = seg.T @ seg
    zeros = np.zeros(n_cells, dtype=np.int64)
    first = starts[:-1]  # rows are sorted by cell and every cell has one: segment sums
    return keys, CellCounts(zeros, zeros.copy(), n.astype(np.int64),
                            _segment_sums(v, first), gram, _segment_sums(xm, first),
                            _segment_sums(xm * xm, first), _segment_sums(anyset, first))


def _segment_sums(rows: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Column sums of consecutive row segments starting at ``first`` (all non-empty)."""
    if rows.shape[1] == 0 or first.shape[0] == 0:
        return np.zeros((first.shape[0], rows.shape[1]))
    return np.add.reduceat(rows, first, axis=0).astype(float)


class CountsAccumulator:
    """Adds :class:`CellCounts` of successive chunks, cell by cell (keys ``h * D + d``)."""

    def __init__(self, n_domains: int):
        self.n_domains = n_domains
        self.merged_cells = 0
        self.parts: list[tuple[np.ndarray, CellCounts]] = []

    def add(self, keys: np.ndarray, counts: CellCounts) -> None:
        """Keep one chunk's counts (merged in :meth:`result`)."""
        self.parts.append((keys, counts))
        if sum(k.shape[0] for k, _ in self.parts) > 4 * max(self.merged_cells, 256):
            self._compact()

    def _compact(self) -> None:
        """Merge the kept chunks into one, so memory stays proportional to the cells."""
        merged_keys, merged = self._merge()
        self.parts = [(merged_keys, merged)]
        self.merged_cells = merged_keys.shape[0]

    def _merge(self) -> tuple[np.ndarray, CellCounts]:
        """Sum every kept chunk into one set of cells."""
        all_keys = np.concatenate([k for k, _ in self.parts])
        keys, where = np.unique(all_keys, return_inverse=True)
        fields = ("n", "total", "gram", "xsum", "xsq", "n_any")
        out = {}
        for name in fields:
            first = getattr(self.parts[0][1], name)
            acc = np.zeros((keys.shape[0],) + first.shape[1:], dtype=first.dtype)
            pos = 0
            for k, counts in self.parts:
                np.add.at(acc, where[pos:pos + k.shape[0]], getattr(counts, name))
                pos += k.shape[0]
            out[name] = acc
        return keys, CellCounts(keys // self.n_domains, keys % self.n_domains, **out)

    def result(self) -> CellCounts:
        """All chunks' counts, one row per cell in key order."""
        return self._merge()[1]
