"""Loaders for the R reference data in tests/stats/fixtures.

``fixtures/oracle-demo/`` is a copy of the project's shared reference (``oracle-demo.R`` with its
data and results), kept in the repository so the tests run from any clone.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import numpy as np

from analysis import Criterion, Design, Group, IndexTree, design_weights, given_weights

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = FIXTURES / "oracle-demo"
DEMO_DATA = SHARED / "r-demo-data.csv"
DEMO_RESULTS = SHARED / "r-demo-results.csv"
EXTRA_DATA = FIXTURES / "r-extra-data.csv"
EXTRA_RESULTS = FIXTURES / "r-extra-results.csv"

# R's own tolerances: 1e-9 relative; logit CI bounds 1e-7 (svyglm stops at 1e-8).
RTOL = 1e-9
RTOL_LOGIT = 1e-7


@lru_cache
def rows(path: Path) -> tuple[dict[str, str], ...]:
    """CSV rows as dicts."""
    with path.open(newline="", encoding="utf-8") as fh:
        return tuple(csv.DictReader(fh))


@lru_cache
def reference(path: Path) -> dict[str, float]:
    """key -> value of an R results file (``NaN`` kept as float nan)."""
    return {r["key"]: float(r["value"]) for r in rows(path)}


def column(path: Path, name: str) -> np.ndarray:
    """One column as a str array."""
    return np.array([r[name] for r in rows(path)])


def answers(path: Path, items: tuple[str, ...] = ("q1", "q2", "q3")) -> np.ndarray:
    """Item answers as floats, NaN for empty cells."""
    return np.array([[float(r[q]) if r[q] not in ("", "NA") else np.nan for q in items]
                     for r in rows(path)])


def demo_tree(percent: bool = False, scoring: str = "top2") -> IndexTree:
    """The demo index tree: e1 = mean(q1, q2), e2 = q3, overall = mean(e1, e2)."""
    return IndexTree(
        tuple(Criterion(q, q, scoring) for q in ("q1", "q2", "q3")),
        (Group("e1", ("q1", "q2")), Group("e2", ("q3",)), Group("overall", ("e1", "e2"))),
        "overall", percent)


def population(path: Path) -> dict[str, float]:
    """N_h per unit from the data file."""
    return {r["stratum"]: float(r["N_h"]) for r in rows(path)}


def reference_design(path: Path, name: str) -> Design:
    """The R script's design: ``wr`` = its weights column without fpc, ``fpc`` = N_h/n_h with fpc."""
    units = column(path, "stratum")
    if name == "wr":
        return given_weights(units, column(path, "w").astype(float))
    return design_weights(units, population(path))
