"""Raking (calibration to population margins) with optional bounds and trimming.

Reproduces R's ``calibrate(design, ~v1 + v2 + ..., population, calfun = "raking")``: the same
weights, and the same GREG-residual variance (see :mod:`analysis.variance`), not ``rake()``'s
iterative post-stratification variance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .design import Calibration, Design

__all__ = ["Margin", "RakingError", "rake"]

_MAX_MODEL_CELLS = 64_000_000  # dense model matrix of at most 512 MB


class RakingError(ValueError):
    """Margins are inconsistent with the data, or raking did not converge."""


@dataclass(frozen=True, eq=False)
class Margin:
    """A population margin: counts per category of one respondent variable.

    Attributes
    ----------
    variable : str
        Column name (``"sex"``, ``"age_group"`` ...).
    values : ndarray of str, shape (n,)
        Category of each respondent.
    totals : mapping str -> float
        Population count of each category (from census or transaction records).
    """

    variable: str
    values: np.ndarray
    totals: Mapping[str, float]


def _model_matrix(margins: Sequence[Margin], n: int) -> tuple[np.ndarray, tuple[str, ...],
                                                                np.ndarray]:
    """Intercept plus treatment dummies (first sorted level dropped) and their totals."""
    columns = ["(Intercept)"]
    blocks = [np.ones((n, 1))]
    grand = None
    totals: list[float] = []
    for margin in margins:
        values = np.asarray(margin.values, dtype=object).astype(str)
        if values.shape != (n,):
            raise RakingError(f"margin {margin.variable!r}: one category per respondent needed")
        in_data = set(np.unique(values).tolist())
        unknown = sorted(in_data - set(margin.totals))
        if unknown:
            raise RakingError(f"margin {margin.variable!r}: categories in the data without a "
                              f"population count: {', '.join(unknown)}")
        absent = sorted(c for c in margin.totals if c not in in_data)
        if absent:
            raise RakingError(f"margin {margin.variable!r}: categories absent from the data: "
                              f"{', '.join(absent)}")
        levels = sorted(margin.totals)
        if any(not float(margin.totals[c]) > 0 for c in levels):
            raise RakingError(f"margin {margin.variable!r}: population counts must be positive")
        total = float(sum(float(margin.totals[c]) for c in levels))
        if grand is None:
            grand = total
        elif abs(total - grand) > 1e-9 * max(grand, 1.0):
            raise RakingError(f"margin {margin.variable!r} sums to {total:g}, "
                              f"the first margin to {grand:g}: margins must agree")
        for level in levels[1:]:
            columns.append(f"{margin.variable}={level}")
            blocks.append((values == level).astype(float)[:, None])
            totals.append(float(margin.totals[level]))
    return np.hstack(blocks), tuple(columns), np.array([grand, *totals])


def _raking_g(model: np.ndarray, w0: np.ndarray, totals: np.ndarray,
              bounds: tuple[float, float], epsilon: float, max_iter: int) -> tuple[np.ndarray, int]:
    """Newton iterations for g = clip(exp(X eta), L, U) with sum(w0 g x) = totals."""
    ww = w0.copy()
    sample_total = model.T @ ww
    scale = 1.0
    ratios = totals / sample_total
    if np.min(ratios) > 20:
        # As R's grake: weights far below the population scale are first rescaled, and bounds
        # are then read relative to the rescaled weights.
        scale = float(np.mean(ratios))
        ww = ww * scale
    lo, hi = bounds
    eta = np.zeros(model.shape[1])

    def evaluate(eta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        u = model @ eta
        with np.errstate(over="ignore"):
            e = np.exp(u)
        g = np.clip(e, lo, hi)
        deriv = np.where((e > lo) & (e < hi), e, 0.0)
        return g, deriv, totals - model.T @ (ww * g)

    g, deriv, misfit = evaluate(eta)
    new_size = np.max(np.abs(misfit) / (1 + np.abs(totals)))
    if new_size < epsilon:
        return g * scale, 0
    for iteration in range(1, max_iter + 1):
        tmat = (model * (ww * deriv)[:, None]).T @ model
        step = np.linalg.pinv(tmat, rcond=256 * np.finfo(float).eps) @ misfit
        size = np.max(np.abs(misfit) / (1 + np.abs(totals)))
        for _ in range(30):
            g_new, d_new, m_new = evaluate(eta + step)
            new_size = np.max(np.abs(m_new) / (1 + np.abs(totals)))
            if np.all(np.isfinite(g_new)) and np.isfinite(new_size) and new_size < size * 1.0001:
                break
            step = step / 2
        eta = eta + step
        g, deriv, misfit = g_new, d_new, m_new
        if new_size < epsilon:
            return g * scale, iteration
    raise RakingError(f"raking did not converge in {max_iter} iterations "
                      f"(relative misfit {new_size:.3g}); relax the bounds or check the margins")


def rake(design: Design, margins: Sequence[Margin], *, bounds: tuple[float, float] | None = None,
         trim: tuple[float, float] | None = None, epsilon: float = 1e-12,
         max_iter: int = 100) -> Design:
    """Calibrate the design's weights to population margins by raking.

    Parameters
    ----------
    design : Design
        Starting design (equal or design weights); its strata and fpc are kept.
    margins : sequence of Margin
        One or more margins; every margin must sum to the same population total.
    bounds : (L, U), optional
        Bounded raking: calibration factors ``g = w / w0`` restricted to ``[L, U]`` while the
        margins are still met exactly, as ``calibrate(..., bounds = c(L, U))``.
    trim : (L, U), optional
        Trim ``g`` to ``[L, U]`` after raking and spread the trimmed weight evenly (in
        proportion to ``w0``) over the untrimmed respondents, as ``calibrate(..., trim=)``;
        margins then hold only approximately, the total exactly.
    epsilon : float
        Convergence: every ``|misfit| / (1 + |total|)`` below this.
    max_iter : int
        Newton iterations allowed.

    Returns
    -------
    Design
        ``kind == "raked"``, with :class:`~analysis.design.Calibration` attached.

    Raises
    ------
    RakingError
        Unknown or absent categories, margins that disagree, or no convergence.

    Notes
    -----
    The model matrix is an intercept plus treatment dummies of every margin, the population
    vector ``(N, N_{v=l}, ...)``.  Raking solves ``sum_i w0_i g_i x_i = T`` with
    ``g_i = exp(x_i' eta)`` (clipped to the bounds) by Newton's method, as R's ``grake``; the
    solution does not depend on the choice of dummies.  When every ``T_j / sum(w0 x_j)``
    exceeds 20, the starting weights are first rescaled by the mean ratio (as ``grake``), so
    bounds are relative to the rescaled weights.  The variance uses the residuals of the
    linearised variable regressed on the model matrix, as ``svyrecvar`` does for
    ``calibrate()`` designs.
    """
    if not margins:
        raise RakingError("raking needs at least one margin")
    for name, pair in (("bounds", bounds), ("trim", trim)):
        if pair is not None and not (0 <= pair[0] < 1 < pair[1]):
            raise RakingError(f"{name} must be (L, U) with 0 <= L < 1 < U")
    categories = 1 + sum(len(m.totals) - 1 for m in margins)
    if design.n * categories > _MAX_MODEL_CELLS:
        raise RakingError(f"{categories} calibration categories for {design.n} respondents is "
                          "too many to rake here; rake on fewer categories (design weights "
                          "from the population file already reproduce each unit's total)")
    model, columns, totals = _model_matrix(margins, design.n)
    w0 = design.weights
    g, iterations = _raking_g(model, w0, totals, bounds or (-np.inf, np.inf), epsilon, max_iter)
    if trim is not None:
        trimmed = np.clip(g, trim[0], trim[1])
        outside = (g < trim[0]) | (g > trim[1])
        if np.any(outside):
            surplus = np.sum((g - trimmed) * w0)
            trimmed[~outside] += surplus / np.sum(w0[~outside])
            g = trimmed
    calibration = Calibration(model, columns, totals, w0, g, bounds, trim, iterations)
    return design.with_weights(w0 * g, calibration)
