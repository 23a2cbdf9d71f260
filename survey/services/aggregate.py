"""From stored answers to an :class:`analysis.Report`: choose how the sums are formed.

``sql`` (PostgreSQL): per-stratum × domain sums by ``GROUP BY`` in the database.
``stream`` (any database): the same sums accumulated in one pass over a server-side cursor.
``arrays``: respondent-level arrays and :func:`analysis.analyse` (raking needs it, and so do
PAPI trees with count or anchored criteria, whatever ``method`` says).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from analysis import (
    Breakdown,
    Margin,
    RakingError,
    Report,
    analyse,
    design_weights,
    equal_weights,
    rake,
)

from ..extensions import db
from .aggregate_rows import read_respondents
from .results import ResultsError, Scope, unit_codes, unit_populations

METHODS = ("auto", "sql", "stream", "arrays")


def report_from_database(scope: Scope, *, weighting: str, breakdowns: Sequence[tuple[str, ...]],
                         margins: Mapping[str, Mapping[str, float]] | None,
                         bounds: tuple[float, float] | None, ci_method: str, level: float,
                         papi_intervals: bool, method: str) -> Report:
    """Dispatch to the SQL, streaming or array path (see the module docstring)."""
    if method not in METHODS:
        raise ResultsError(f"method must be one of {', '.join(METHODS)}")
    if weighting == "raked" or method == "arrays" or scope.tree.needs_rows:
        # Raking calibrates each respondent; PAPI count/anchored criteria combine several items
        # or score numbers beyond the packed 1..15 slots: both need respondent rows.
        return _report_from_arrays(scope, weighting, breakdowns, margins, bounds, ci_method,
                                   level, papi_intervals)
    from .aggregate_sums import report_from_sums

    if method == "auto":
        method = "sql" if db.engine.dialect.name == "postgresql" else "stream"
    return report_from_sums(scope, weighting=weighting, breakdowns=breakdowns,
                            ci_method=ci_method, level=level, papi_intervals=papi_intervals,
                            method=method)


def populations_by_code(scope: Scope) -> dict[str, float]:
    """N_h keyed by unit code (units with transactions in the campaign period)."""
    pops = unit_populations(scope)
    code_of = unit_codes(list(pops))
    return {code_of[u]: n for u, n in pops.items() if u in code_of}


def _report_from_arrays(scope: Scope, weighting: str, breakdowns: Sequence[tuple[str, ...]],
                        margins: Mapping[str, Mapping[str, float]] | None,
                        bounds: tuple[float, float] | None, ci_method: str, level: float,
                        papi_intervals: bool) -> Report:
    """Respondent-level arrays → design (raked if asked) → :func:`analysis.analyse`."""
    names = sorted({v for b in breakdowns for v in b} | set(margins or {}))
    data = read_respondents(scope, names)
    units = data.unit_codes
    if weighting == "unweighted":
        design = equal_weights(units)
    else:
        pops = populations_by_code(scope)
        present = sorted(set(units.tolist()))
        missing = [u for u in present if u not in pops]
        if weighting == "design" or len(missing) < len(present):
            if missing:
                raise ResultsError("no transaction counts for unit(s) " + ", ".join(missing)
                                   + " in the campaign period: import them or use unweighted")
            try:
                design = design_weights(units, pops)
            except ValueError as exc:
                raise ResultsError(str(exc)) from exc
        else:
            design = equal_weights(units)
    if weighting == "raked":
        design = _raked(design, data.variables, margins or {}, bounds)
    out = []
    for names_ in breakdowns:
        if names_ == ("unit",):
            out.append(Breakdown.units())
        else:
            out.append(Breakdown(names_, tuple(data.variables[v] for v in names_)))
    return analyse(design, scope.tree, data.values, breakdowns=out, ci_method=ci_method,
                   level=level, papi_intervals=papi_intervals)


def _raked(design, variables: dict[str, np.ndarray], margins: Mapping[str, Mapping[str, float]],
           bounds: tuple[float, float] | None):
    """Rake to the margins; every respondent needs a category of every raked variable."""
    built = []
    for var, totals in margins.items():
        values = variables[var]
        if np.any(values == ""):
            raise ResultsError(f"{int(np.sum(values == ''))} included responses have no answer "
                               f"to {var!r}, needed for raking: rake on answered variables only")
        built.append(Margin(var, values, {str(k): float(v) for k, v in totals.items()}))
    try:
        return rake(design, built, bounds=bounds)
    except RakingError as exc:
        raise ResultsError(f"raking: {exc}") from exc
