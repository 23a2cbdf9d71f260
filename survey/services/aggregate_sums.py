"""Per-stratum × domain sums from the database, then the report (design or equal weights).

Two ways to the same :class:`analysis.CellCounts`, chosen by :func:`report_from_sums`:

- ``sql``: PostgreSQL sums every cell with ``GROUP BY GROUPING SETS`` (:mod:`aggregate_sql`);
  Python receives one row per stratum × domain cell.
- ``stream``: one pass over a server-side cursor of compact per-response rows (a unit id, the
  breakdown values and one or two 64-bit integers of packed answers), added into per-cell
  counts chunk by chunk; memory holds one chunk and the cells, never all the rows.

Both feed :func:`analysis.analyse_counts`, which applies the stratum-constant weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select, text

from analysis import (
    CellCounts,
    CountsAccumulator,
    Report,
    analyse_counts,
    answer_sets,
    counts_from_values,
)

from ..extensions import db
from ..models import Counter, ProcedureField, Response
from .aggregate_sql import (
    Pivot,
    grouped_sql,
    pivot_params,
    pivot_sql,
    score_sql,
    variable_column,
)
from .results import ResultsError, Scope, unit_codes, unit_populations

PARTITION = 20_000
WORK_MEM = "64MB"
LABEL_BASE = 1 << 24


@dataclass(frozen=True, eq=False)
class RawCells:
    """Cells of one grouping: unit id and raw label (ids or answer codes) of each cell."""

    unit_id: np.ndarray
    labels: list[tuple]
    counts: CellCounts


def report_from_sums(scope: Scope, *, weighting: str, breakdowns: Sequence[tuple[str, ...]],
                     ci_method: str, level: float, papi_intervals: bool, method: str) -> Report:
    """The report from per-cell sums formed by ``method`` (``sql`` or ``stream``)."""
    variables = sorted({v for b in breakdowns for v in b if v != "unit"})
    pivot = Pivot.build(scope.tree, variables)
    groupings = [()] + sorted({_grouping(b) for b in breakdowns if b != ("unit",)})
    if method == "sql":
        if db.engine.dialect.name != "postgresql":
            raise ResultsError("SQL-side sums need PostgreSQL; use method='stream'")
        compute = lambda: _sql_cells(scope, pivot, groupings)  # noqa: E731
    elif method == "stream":
        compute = lambda: _stream_cells(scope, pivot, groupings)  # noqa: E731
    else:
        raise ResultsError(f"unknown method {method!r}")
    from .results_cache import cached_cells

    raw = cached_cells(scope, method, pivot.variables, groupings, compute)
    from .results_improvement import IMPROVEMENT

    if IMPROVEMENT in raw:  # formed by the SQLite pass along with the cells
        scope.extras[IMPROVEMENT] = raw[IMPROVEMENT]
    return _finish(scope, weighting, breakdowns, raw, ci_method, level, papi_intervals)


def _grouping(breakdown: tuple[str, ...]) -> tuple[str, ...]:
    """The non-unit variables of a breakdown (cells are always within a unit)."""
    return tuple(sorted(v for v in breakdown if v != "unit"))


# --- SQL: GROUP BY in PostgreSQL -------------------------------------------------------------

def _sql_cells(scope: Scope, pivot: Pivot, groupings: list[tuple[str, ...]]
               ) -> dict[tuple[str, ...], RawCells | None]:
    """Run the grouped query and decode its packed sums into counts per grouping."""
    tree = scope.tree
    per_unit = (select(func.count().label("n")).where(*scope.filters())
                .group_by(Response.unit_id).subquery())
    largest = db.session.scalar(select(func.max(per_unit.c.n))) or 1
    scores = [score_sql("v", c, 0 if c.binary else 1)[1:] for c in tree.criteria]
    top = max(m for m, _ in scores)
    width = max(1, math.ceil(math.log2(largest * top + 1)))
    if top + top * top * (1 << width) >= 2**31:
        raise ResultsError(f"a unit has {largest} responses, too many to pack the SQL sums; "
                           "use method='stream'")
    sets = answer_sets(tree)
    multi = [i for i in range(sets.shape[0]) if sets[i].sum() > 1]
    members = [[tree.criteria[k].item for k in np.flatnonzero(sets[i])] for i in multi]
    sql, pairs = grouped_sql(pivot, tree, members, groupings, width,
                             pivot_sql(pivot, "postgresql", scope.include_flagged))
    params = pivot_params(pivot, scope.campaign.id)
    # JIT compiling ~500 aggregates costs more than it saves (10 s measured); a larger sort/hash
    # budget keeps the per-response packing in memory longer.  Both only for this transaction.
    db.session.execute(text("SET LOCAL jit = off"))
    db.session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    rows = db.session.execute(text(sql), params).all()
    dens = np.array([d for _, d in scores])
    mask_of = {_mask(pivot.variables, g): g for g in groupings}
    out: dict[tuple[str, ...], list] = {g: [] for g in groupings}
    for row in rows:
        out[mask_of[row[0]]].append(row)
    n_vars = len(pivot.variables)
    return {g: _decode(out[g], g, pivot, tree, sets, multi, pairs, width, dens, n_vars)
            if out[g] else None for g in groupings}


def _mask(variables: Sequence[str], grouping: tuple[str, ...]) -> int:
    """PostgreSQL's ``GROUPING(v1, .., vn)`` for a grouping set: 1 bits for absent columns."""
    bits = 0
    for pos, name in enumerate(variables):
        if name not in grouping:
            bits |= 1 << (len(variables) - 1 - pos)
    return bits


def _decode(rows: list, grouping: tuple[str, ...], pivot: Pivot, tree, sets: np.ndarray,
            multi: list[int], pairs: list[tuple[int, int]], width: int, dens: np.ndarray,
            n_vars: int) -> RawCells:
    """Split the packed pair sums (vectorised) → Gram matrices and totals of ``[y | r]``."""
    k_count = len(tree.criteria)
    n_cells = len(rows)
    var_pos = [pivot.variables.index(v) for v in grouping]
    first = 2 + n_vars
    sums = np.array([[v or 0 for v in row[first:]] for row in rows],
                    dtype=np.int64).reshape(n_cells, -1)
    n = sums[:, 0]
    a, c = sums[:, 1:1 + 2 * len(pairs):2], sums[:, 2:2 + 2 * len(pairs):2]
    low = (1 << width) - 1
    j, k = (np.array(v) for v in zip(*pairs, strict=True))
    rj, rk = k_count + j, k_count + k
    gram = np.zeros((n_cells, 2 * k_count, 2 * k_count))
    for (row, col), value in (((rj, rk), a & low), ((j, rk), (a >> width) / dens[j]),
                              ((rj, k), (c & low) / dens[k]),
                              ((j, k), (c >> width) / (dens[j] * dens[k]))):
        gram[:, row, col] = value
        gram[:, col, row] = value
    rest = sums[:, 1 + 2 * len(pairs):]
    n_mean = sum(crit.has_mean_score for crit in tree.criteria)
    diag = np.arange(k_count)
    total = np.concatenate([gram[:, diag, k_count + diag], gram[:, k_count + diag,
                                                                k_count + diag]], axis=1)
    n_any = np.zeros((n_cells, sets.shape[0]))
    n_any[:, multi] = rest[:, 2 * n_mean:]
    single = [i for i in range(sets.shape[0]) if i not in multi]
    n_any[:, single] = total[:, k_count + np.argmax(sets[single], axis=1)]
    zeros = np.zeros(n_cells, dtype=np.int64)
    counts = CellCounts(zeros, zeros, n, total, gram, rest[:, 0:2 * n_mean:2].astype(float),
                        rest[:, 1:2 * n_mean:2].astype(float), n_any)
    unit_id = np.array([row[1] for row in rows], dtype=np.int64)
    return RawCells(unit_id, [tuple(row[2 + p] for p in var_pos) for row in rows], counts)


# --- stream: one pass over a server-side cursor ----------------------------------------------

def _stream_cells(scope: Scope, pivot: Pivot, groupings: list[tuple[str, ...]]
                  ) -> dict[tuple[str, ...], RawCells | None]:
    """Add per-cell counts chunk by chunk over the pivot's rows."""
    dialect = db.engine.dialect.name
    if dialect == "sqlite":  # one ordered pass packed in SQL (aggregate_sqlite.py)
        from .aggregate_sqlite import sqlite_cells
        return sqlite_cells(scope, pivot.variables, groupings)
    tree = scope.tree
    sets = answer_sets(tree)
    stmt = text(pivot_sql(pivot, dialect, scope.include_flagged))
    if dialect == "postgresql":
        # Every row is read: plan for the whole result, not a cursor's first 10 %.
        db.session.execute(text("SET LOCAL cursor_tuple_fraction = 1.0"))
        db.session.execute(text("SET LOCAL jit = off"))
        db.session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    options = {"stream_results": True, "yield_per": PARTITION}
    result = db.session.connection().execute(stmt.execution_options(**options),
                                             pivot_params(pivot, scope.campaign.id))
    cols = list(result.keys())
    slot_at = [cols.index(f"s{s}") for s in range(pivot.n_slots)]
    var_at = {v: cols.index(variable_column(v)) for v in pivot.variables}
    acc = {g: CountsAccumulator(LABEL_BASE) for g in groupings}
    label_ids: dict[tuple[str, ...], dict[tuple, int]] = {g: {} for g in groupings}
    for part in result.partitions(PARTITION):
        unit = np.fromiter((r[0] for r in part), dtype=np.int64, count=len(part))
        slots = np.array([[r[i] or 0 for i in slot_at] for r in part], dtype=np.int64)
        values = _unpack(pivot, tree, slots.reshape(len(part), pivot.n_slots))
        for g in groupings:
            ids = label_ids[g]
            label = np.fromiter(
                (-1 if any(r[var_at[v]] is None for v in g)
                 else ids.setdefault(tuple(r[var_at[v]] for v in g), len(ids)) for r in part),
                dtype=np.int64, count=len(part))
            key = np.where(label >= 0, unit * LABEL_BASE + label, -1)
            keys, counts = counts_from_values(tree, values, key, sets)
            if keys.size:
                acc[g].add(keys, counts)
    out = {}
    for g in groupings:
        if not acc[g].parts:
            if not g:
                raise ResultsError("the campaign has no included response to analyse")
            out[g] = None  # nobody answered this breakdown's questions: no domains
            continue
        counts = acc[g].result()
        names = {i: lab for lab, i in label_ids[g].items()}
        out[g] = RawCells(counts.cell_stratum, [names[int(d)] for d in counts.cell_domain],
                          counts)
    return out


def _unpack(pivot: Pivot, tree, slots: np.ndarray) -> np.ndarray:
    """Criterion answers (NaN when not answered) from the packed slot integers."""
    values = np.full((slots.shape[0], len(tree.criteria)), np.nan)
    for k, crit in enumerate(tree.criteria):
        item = pivot.item(crit.item)
        v = (slots[:, item.slot] >> item.shift) & 15
        values[:, k] = np.where(v > 0, v + item.lo - 1, np.nan)
    return values


# --- both: strata, weights, labels -----------------------------------------------------------

def _finish(scope: Scope, weighting: str, breakdowns: Sequence[tuple[str, ...]],
            raw: dict[tuple[str, ...], RawCells | None], ci_method: str, level: float,
            papi_intervals: bool) -> Report:
    """Order strata by unit code, attach N_h, label and sort domains, then analyse."""
    base = raw[()]
    code_of = unit_codes(base.unit_id.tolist())
    order = sorted(range(len(base.unit_id)), key=lambda c: code_of[int(base.unit_id[c])])
    stratum_of = {int(base.unit_id[c]): h for h, c in enumerate(order)}
    codes = [code_of[int(base.unit_id[c])] for c in order]
    n_h = base.counts.n[order]
    population = None
    if weighting == "design":
        pops = unit_populations(scope)
        missing = [code_of[int(u)] for u in base.unit_id[order] if int(u) not in pops]
        if missing:
            raise ResultsError("no transaction counts for unit(s) " + ", ".join(missing)
                               + " in the campaign period: import them or use unweighted")
        population = np.array([pops[int(u)] for u in base.unit_id[order]])
        short = [c for c, big_n, n in zip(codes, population, n_h, strict=True) if big_n < n]
        if short:
            raise ResultsError("population smaller than the number of respondents: "
                               + ", ".join(short))
    strata = _reindex(base.counts, order, np.arange(len(order)), np.zeros(len(order)))
    names = _label_names(scope, breakdowns, code_of)
    plans = []
    for variables in breakdowns:
        if variables == ("unit",):
            plans.append((variables, [(c,) for c in codes], None))
            continue
        cells = raw[_grouping(variables)]
        if cells is None:  # no respondent in any domain of this breakdown
            continue
        plans.append(_domains(variables, cells, stratum_of, code_of, names))
    return analyse_counts(scope.tree, codes, n_h, population, strata, plans,
                          ci_method=ci_method, level=level, papi_intervals=papi_intervals)


def _domains(variables: tuple[str, ...], cells: RawCells, stratum_of: dict, code_of: dict,
             names: dict) -> tuple[tuple[str, ...], list[tuple[str, ...]], CellCounts]:
    """Display labels (codes) of a breakdown's cells, sorted as :func:`analysis.analyse` does."""
    grouping = _grouping(variables)
    shown = []
    for unit_id, raw in zip(cells.unit_id.tolist(), cells.labels, strict=True):
        by_var = dict(zip(grouping, raw, strict=True))
        parts = []
        for v in variables:
            value = code_of[unit_id] if v == "unit" else by_var[v]
            parts.append(names[v].get(value, "") if v in names else
                         ("" if value is None else str(value)))
        shown.append(tuple(parts))
    keep = [c for c, lab in enumerate(shown) if all(p != "" for p in lab)]
    labels = sorted({shown[c] for c in keep}, key="\x1f".join)
    index = {lab: d for d, lab in enumerate(labels)}
    # Cells in (stratum, domain) order, so both paths add them up in the same order and give
    # bit-identical numbers.
    keep.sort(key=lambda c: (stratum_of[int(cells.unit_id[c])], index[shown[c]]))
    strata = np.array([stratum_of[int(cells.unit_id[c])] for c in keep], dtype=np.int64)
    domain = np.array([index[shown[c]] for c in keep], dtype=np.int64)
    return variables, labels, _reindex(cells.counts, keep, strata, domain)


def _label_names(scope: Scope, breakdowns, code_of: dict) -> dict[str, dict]:
    """Raw id → code for the built-in variables that are ids (field, counter)."""
    used = {v for b in breakdowns for v in b}
    names: dict[str, dict] = {}
    if "field" in used:
        names["field"] = dict(db.session.execute(select(ProcedureField.id,
                                                        ProcedureField.code)).all())
    if "counter" in used:
        rows = db.session.execute(select(Counter.id, Counter.unit_id, Counter.code))
        names["counter"] = {cid: f"{code_of.get(uid, uid)}/{code}" for cid, uid, code in rows}
    return names


def _reindex(counts: CellCounts, rows, stratum: np.ndarray, domain: np.ndarray) -> CellCounts:
    """A subset of cells in a given order with new stratum and domain indices."""
    rows = np.asarray(rows, dtype=np.int64)
    return CellCounts(np.asarray(stratum, dtype=np.int64), np.asarray(domain, dtype=np.int64),
                      counts.n[rows], counts.total[rows], counts.gram[rows], counts.xsum[rows],
                      counts.xsq[rows], counts.n_any[rows])

