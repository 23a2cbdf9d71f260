"""Sampling design: strata (units), weights and finite-population corrections.

Each unit (đơn vị) is surveyed independently: a stratified single-stage design in which every
respondent is its own primary sampling unit, as R's
``svydesign(ids=~1, strata=~unit, weights=~w, fpc=~N)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Calibration", "Design", "design_weights", "equal_weights", "given_weights", "stratum_index",
]


@dataclass(frozen=True, eq=False)
class Calibration:
    """What raking did to the weights; kept for the GREG variance.

    Attributes
    ----------
    model : ndarray, shape (n, p)
        Calibration model matrix: intercept, then treatment dummies of each margin.
    columns : tuple of str
        Column names of ``model`` (``"(Intercept)"``, ``"sex=M"``, ...).
    totals : ndarray, shape (p,)
        Population totals the calibrated weights reproduce.
    initial_weights : ndarray, shape (n,)
        Weights before calibration (``w0``).
    g : ndarray, shape (n,)
        Calibration factors; calibrated weight = ``g * w0``.
    bounds, trim : tuple of float or None
        Bounds used for bounded raking, and trimming applied afterwards.
    iterations : int
        Newton iterations used.
    """

    model: np.ndarray
    columns: tuple[str, ...]
    totals: np.ndarray
    initial_weights: np.ndarray
    g: np.ndarray
    bounds: tuple[float, float] | None = None
    trim: tuple[float, float] | None = None
    iterations: int = 0


@dataclass(frozen=True, eq=False)
class Design:
    """A stratified single-stage design with one respondent per PSU.

    Attributes
    ----------
    strata : ndarray of int, shape (n,)
        Stratum (unit) index of every respondent, ``0 .. H-1``.
    stratum_codes : tuple of str
        Unit code of each stratum index.
    weights : ndarray of float, shape (n,)
        Sampling weights (after calibration when ``kind == "raked"``).
    n_h : ndarray of int, shape (H,)
        Respondents per stratum, item non-response included.
    sampling_fraction : ndarray of float, shape (H,)
        ``f_h = n_h / N_h``; zero when there is no finite-population correction.
    population : ndarray of float or None, shape (H,)
        ``N_h`` when known.
    kind : str
        ``"equal"``, ``"design"``, ``"given"`` or ``"raked"``.
    calibration : Calibration or None
        Set by :func:`analysis.rake`.

    Notes
    -----
    The variance multiplier of stratum h is ``c_h = (1 - f_h) n_h / (n_h - 1)``; a stratum with
    ``n_h = 1`` is *lonely* and handled as R's ``options(survey.lonely.psu = "adjust")``
    (see :mod:`analysis.variance`).
    """

    strata: np.ndarray
    stratum_codes: tuple[str, ...]
    weights: np.ndarray
    n_h: np.ndarray
    sampling_fraction: np.ndarray
    population: np.ndarray | None
    kind: str
    calibration: Calibration | None = None

    @property
    def n(self) -> int:
        """Number of respondents."""
        return int(self.strata.shape[0])

    @property
    def n_strata(self) -> int:
        """Number of strata H."""
        return len(self.stratum_codes)

    @property
    def lonely(self) -> np.ndarray:
        """Boolean mask of strata with a single respondent."""
        return self.n_h == 1

    @property
    def has_fpc(self) -> bool:
        """Whether a finite-population correction is applied."""
        return bool(np.any(self.sampling_fraction > 0))

    def with_weights(self, weights: np.ndarray, calibration: Calibration) -> Design:
        """A copy with calibrated weights; strata and fpc unchanged."""
        return Design(self.strata, self.stratum_codes, np.asarray(weights, dtype=float),
                      self.n_h, self.sampling_fraction, self.population, "raked", calibration)


def stratum_index(codes: Sequence[str] | np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Map unit codes to ``0 .. H-1`` in sorted code order.

    Parameters
    ----------
    codes : sequence of str, length n
        Unit code of each respondent.

    Returns
    -------
    index : ndarray of int64, shape (n,)
    unique : tuple of str, length H, sorted

    Notes
    -----
    Sorted order matches R's default factor levels, so stratum h here is level h+1 in R.
    """
    if isinstance(codes, np.ndarray) and codes.dtype.kind in "iu":
        unique_int, index = np.unique(codes, return_inverse=True)
        return index.astype(np.int64).reshape(-1), tuple(str(u) for u in unique_int)
    items = codes.tolist() if isinstance(codes, np.ndarray) else list(codes)
    if not items or (isinstance(codes, np.ndarray) and codes.ndim != 1):
        raise ValueError("need a non-empty one-dimensional array of unit codes")
    # Dictionary factorisation is several times faster than sorting a million strings.
    seen: dict[str, int] = {}
    first = np.fromiter((seen.setdefault(str(c), len(seen)) for c in items), dtype=np.int64,
                        count=len(items))
    unique = sorted(seen)
    rank = np.empty(len(unique), dtype=np.int64)
    rank[[seen[u] for u in unique]] = np.arange(len(unique))
    return rank[first], tuple(unique)


def _counts(index: np.ndarray, n_strata: int) -> np.ndarray:
    """Respondents per stratum."""
    return np.bincount(index, minlength=n_strata).astype(np.int64)


def equal_weights(codes: Sequence[str] | np.ndarray) -> Design:
    """Equal weights ``w = 1`` and no finite-population correction.

    Parameters
    ----------
    codes : sequence of str
        Unit (stratum) code of each respondent.

    Returns
    -------
    Design

    Notes
    -----
    Variances are with-replacement (no fpc), as ``svydesign(ids=~1, strata=~unit)`` with
    ``weights = 1``.
    """
    index, unique = stratum_index(codes)
    n_h = _counts(index, len(unique))
    return Design(index, unique, np.ones(index.shape[0]), n_h, np.zeros(len(unique)), None,
                  "equal")


def given_weights(codes: Sequence[str] | np.ndarray, weights: Sequence[float] | np.ndarray
                  ) -> Design:
    """User-supplied sampling weights, no finite-population correction.

    Parameters
    ----------
    codes : sequence of str
        Unit code of each respondent.
    weights : sequence of float
        Positive sampling weights (not frequency weights).

    Returns
    -------
    Design

    Notes
    -----
    As ``svydesign(ids=~1, strata=~unit, weights=~weight)``: with-replacement variance.
    """
    index, unique = stratum_index(codes)
    w = np.asarray(weights, dtype=float)
    if w.shape != index.shape:
        raise ValueError("weights and unit codes differ in length")
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError("weights must be positive finite numbers")
    return Design(index, unique, w, _counts(index, len(unique)), np.zeros(len(unique)), None,
                  "given")


def design_weights(codes: Sequence[str] | np.ndarray, population: Mapping[str, float]) -> Design:
    """Design weights ``w = N_h / n_h`` with the finite-population correction ``f_h = n_h/N_h``.

    Parameters
    ----------
    codes : sequence of str
        Unit code of each respondent.
    population : mapping str -> float
        ``N_h``: transactions (hồ sơ đã trả kết quả) of each unit in the period.

    Returns
    -------
    Design

    Raises
    ------
    ValueError
        A unit in the data is missing from ``population`` or has ``N_h < n_h``.

    Notes
    -----
    ``n_h`` counts **all** respondents of the unit, including those who skipped an item, as
    ``svydesign(ids=~1, strata=~unit, fpc=~N)``.  Units in ``population`` without respondents
    are ignored.
    """
    index, unique = stratum_index(codes)
    n_h = _counts(index, len(unique))
    missing = [u for u in unique if u not in population]
    if missing:
        raise ValueError(f"units without a population count: {', '.join(missing)}")
    big_n = np.array([float(population[u]) for u in unique])
    bad = [u for u, N, n in zip(unique, big_n, n_h, strict=True) if not N >= n]
    if bad:
        raise ValueError(f"population smaller than the number of respondents: {', '.join(bad)}")
    w = (big_n / n_h)[index]
    return Design(index, unique, w, n_h, n_h / big_n, big_n, "design")
