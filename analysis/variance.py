"""Stage 2: Taylor-linearised variance of a stratified design from per-stratum sums.

For a statistic with linearised values ``z_i`` (one respondent = one PSU),

    V = Σ_h c_h [ Σ_{i∈h} z_i² − (Σ_{i∈h} z_i)² / n_h ],   c_h = (1 − f_h) n_h / (n_h − 1),

exactly as R's ``svyrecvar`` for ``svydesign(ids=~1, strata=~unit, fpc=~N)``.  Only the stratum
totals ``T_h = Σ z_i`` and ``Q_h = Σ z_i²`` enter, so the sums may come from numpy or SQL.
"""

from __future__ import annotations

import numpy as np

__all__ = ["stratum_contribution", "stratified_covariance"]


def stratum_contribution(t1: np.ndarray, t2: np.ndarray, q12: np.ndarray, n_h: np.ndarray,
                         f_h: np.ndarray) -> np.ndarray:
    """Contribution of strata to the covariance of two linearised statistics.

    Parameters
    ----------
    t1, t2 : ndarray
        Stratum totals ``Σ z1``, ``Σ z2`` (any shape, broadcast together).
    q12 : ndarray
        Stratum cross-products ``Σ z1 z2``.
    n_h, f_h : ndarray
        Respondents and sampling fraction of each stratum (broadcast with the above).

    Returns
    -------
    ndarray
        ``c_h (q12 − t1 t2 / n_h)``; for a lonely stratum (``n_h = 1``) ``(1 − f_h) q12``.

    Notes
    -----
    Lonely strata follow R's ``options(survey.lonely.psu = "adjust")``: the single PSU is
    centred at the grand mean instead of its stratum mean.  Survey 4.1 centres at zero, which
    is the grand mean of the linearised values of every ratio, mean and index estimator here
    (they sum to zero over the sample); after raking the residuals need not sum to zero and
    the zero centring of R is kept.  With ``f_h = 1`` (every transaction sampled) a stratum
    adds nothing.
    """
    n_h = np.asarray(n_h, dtype=float)
    lonely = n_h == 1
    safe_n = np.where(lonely, 2.0, n_h)
    scale = np.where(lonely, 1.0 - f_h, (1.0 - f_h) * safe_n / (safe_n - 1.0))
    centred = np.where(lonely, q12, q12 - t1 * t2 / safe_n)
    return scale * centred


def stratified_covariance(stratum: np.ndarray, t1: np.ndarray, t2: np.ndarray,
                          q12: np.ndarray, n_h: np.ndarray, f_h: np.ndarray) -> np.ndarray:
    """Sum stratum contributions: ``Cov(θ1, θ2) = Σ_h c_h (Q12_h − T1_h T2_h / n_h)``.

    Parameters
    ----------
    stratum : ndarray of int, shape (C,)
        Stratum of each row of ``t1``/``t2``/``q12`` (each stratum at most once).
    t1, t2, q12 : ndarray, shape (C, ...)
    n_h, f_h : ndarray, shape (H,)

    Returns
    -------
    ndarray, shape (...)

    Notes
    -----
    With ``t1 = t2`` and ``q12 = Q`` this is the variance.  Two domains sharing strata but no
    respondents have ``q12 = 0`` and covariance ``−Σ_h c_h T_hd T_he / n_h``.
    """
    contrib = stratum_contribution(t1, t2, q12, _expand(n_h[stratum], t1),
                                   _expand(f_h[stratum], t1))
    return contrib.sum(axis=0)


def _expand(per_row: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Reshape a (C,) array to broadcast against (C, ...)."""
    return per_row.reshape(per_row.shape + (1,) * (like.ndim - 1))
