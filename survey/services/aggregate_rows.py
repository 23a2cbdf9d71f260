"""Respondent-level arrays of a campaign, read in one streaming pass (for raking).

Raking calibrates every respondent's weight, so it needs one row per respondent: the stratum,
the answers to the criteria and the raked variables.  They are streamed from a server-side
cursor in partitions straight into preallocated numpy arrays (8 bytes per criterion answer);
no ORM object and no Python list of rows is ever built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from analysis import criterion_values

from ..extensions import db
from ..models import Answer, Counter, ProcedureField, Response
from .results import ResultsError, Scope, unit_codes

PARTITION = 50_000


@dataclass(frozen=True, eq=False)
class Respondents:
    """Included respondents in response-id order.

    Attributes
    ----------
    unit_codes : ndarray of object (str), shape (n,)
    values : ndarray of float, shape (n, K)
        Criterion values (:func:`analysis.criterion_values`), NaN when skipped or not
        applicable.
    variables : dict str -> ndarray of object (str), shape (n,)
        Breakdown / raking variables, ``""`` when missing.
    """

    unit_codes: np.ndarray
    values: np.ndarray
    variables: dict[str, np.ndarray]


def read_respondents(scope: Scope, variables: Sequence[str]) -> Respondents:
    """Stream the included responses and their criterion / variable answers into arrays."""
    ids, units, fields, counters = _responses(scope)
    n = ids.shape[0]
    tree = scope.tree
    columns = {code: np.full(n, np.nan) for code in tree.items}
    item_vars = [v for v in variables if v not in ("unit", "field", "counter")]
    labels = {v: np.full(n, "", dtype=object) for v in item_vars}
    stmt = (select(Answer.response_id, Answer.item_code, Answer.rating, Answer.number,
                   Answer.choice)
            .join(Response, Response.id == Answer.response_id)
            .where(*scope.filters(), Answer.item_code.in_(list(columns) + item_vars)))
    for part in stream(stmt):
        for rid, code, rating, number, choice in part:
            row = int(np.searchsorted(ids, rid))
            if code in labels:
                labels[code][row] = choice if choice is not None else (
                    "" if number is None else str(number))
            if code in columns:
                value = rating if rating is not None else number
                if value is not None:
                    columns[code][row] = value
    values = criterion_values(tree, columns)
    code_of = unit_codes(np.unique(units).tolist())
    out_vars = dict(labels)
    out_vars["unit"] = np.array([code_of[u] for u in units.tolist()], dtype=object)
    if "field" in variables:
        out_vars["field"] = _lookup(fields, _field_codes())
    if "counter" in variables:
        out_vars["counter"] = _lookup(counters, _counter_codes(code_of))
    return Respondents(out_vars["unit"], values, out_vars)


def stream(stmt, params: dict | None = None, size: int = PARTITION):
    """Partitions of ``size`` rows from a server-side cursor (never the whole result at once).

    ``stream_results`` is set on the statement: with psycopg 3 an ORM ``yield_per`` alone
    still fetched every row into memory before the first partition (measured).
    """
    options = {"stream_results": True, "yield_per": size}
    return db.session.connection().execute(stmt.execution_options(**options),
                                           params or {}).partitions(size)


def _responses(scope: Scope) -> tuple[np.ndarray, ...]:
    """Ids (sorted), unit, field and counter ids (-1 when none) of the included responses."""
    stmt = (select(Response.id, Response.unit_id, Response.field_id, Response.counter_id)
            .where(*scope.filters()).order_by(Response.id))
    chunks = []
    for part in stream(stmt):
        chunks.append(np.array([[-1 if v is None else v for v in row] for row in part],
                               dtype=np.int64).reshape(-1, 4))
    if not chunks:
        raise ResultsError("the campaign has no included response to analyse")
    table = np.concatenate(chunks)
    return table[:, 0], table[:, 1], table[:, 2], table[:, 3]


def _lookup(ids: np.ndarray, codes: dict[int, str]) -> np.ndarray:
    """Codes for an id array (``""`` for -1 / unknown)."""
    out = np.full(ids.shape[0], "", dtype=object)
    for ident, code in codes.items():
        out[ids == ident] = code
    return out


def _field_codes() -> dict[int, str]:
    """Procedure field id -> code."""
    return dict(db.session.execute(select(ProcedureField.id, ProcedureField.code)).all())


def _counter_codes(unit_code: dict[int, str]) -> dict[int, str]:
    """Counter id -> ``UNIT/COUNTER`` code (counter codes are unique within a unit only)."""
    rows = db.session.execute(select(Counter.id, Counter.unit_id, Counter.code))
    return {cid: f"{unit_code.get(uid, uid)}/{code}" for cid, uid, code in rows}
