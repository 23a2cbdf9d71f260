"""SQL text for campaign results: one row per response, or per-stratum × domain sums.

Answers are read long (one typed row per response × item, see ``docs/design-notes.md``; on
PostgreSQL unnested from ``response_answers``, one row of arrays per response).
The *pivot* turns a response's criterion answers into a few 64-bit integers: every item gets a
4-bit slot holding ``v = answer − lo + 1`` (1..K; 0 = not answered, skipped or "không áp dụng"),
15 items per integer.  It is built with ``bit_or`` (PostgreSQL) or ``SUM`` (SQLite; an item
appears once per response, so the two agree) over a join with a small ``VALUES`` table giving
each item's slot, shift and ``lo``, so no per-item ``CASE`` runs on every answer row.

The *grouped* query then decodes the slots, forms the criterion scores ``y`` (as integers:
top-2 box ``v ≥ K − lo``; scaled scores times their denominator) and answered indicators ``r``,
and sums per stratum × domain (``GROUP BY GROUPING SETS``) the co-response cross-products the
variance needs.  Two cross-products of a criterion pair come out of one 32-bit ``SUM``: with
``q_j = r_j + y_j 2^W``, ``Σ q_j r_k = Σ r_j r_k + 2^W Σ y_j r_k`` and
``Σ q_j y_k = Σ r_j y_k + 2^W Σ y_j y_k``; ``2^W`` exceeds any cell's low sum, so both are read
back exactly.  Each row value fits an ``integer`` and PostgreSQL sums integers into a 64-bit
state, several times faster than summing ``bigint`` (a 128-bit state); see
``docs/design-notes.md`` for the measurements that chose this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from analysis import IndexTree

SLOT_BITS = 4
PER_SLOT = 15  # 60 of 63 usable bits
BUILTIN = {"unit": "r.unit_id", "field": "r.field_id", "counter": "r.counter_id"}


@dataclass(frozen=True)
class Item:
    """A criterion item's place in the pivot."""

    code: str
    slot: int
    shift: int
    lo: int


@dataclass(frozen=True)
class Pivot:
    """What the pivot selects: criterion items (slots) and breakdown variables."""

    items: tuple[Item, ...]
    variables: tuple[str, ...]
    n_slots: int

    @classmethod
    def build(cls, tree: IndexTree, variables: Sequence[str]) -> Pivot:
        """Slots in criterion order; each distinct item once."""
        items: list[Item] = []
        seen: set[str] = set()
        for crit in tree.criteria:
            if crit.item in seen:
                continue
            seen.add(crit.item)
            i = len(items)
            items.append(Item(crit.item, i // PER_SLOT, SLOT_BITS * (i % PER_SLOT),
                              0 if crit.binary else 1))
        n_slots = (len(items) + PER_SLOT - 1) // PER_SLOT
        return cls(tuple(items), tuple(v for v in variables if v != "unit"), n_slots)

    def item(self, code: str) -> Item:
        """The slot of an item."""
        return next(i for i in self.items if i.code == code)


def variable_column(name: str) -> str:
    """Column alias of a breakdown variable in the pivot."""
    return f"v_{name}"


def pivot_sql(pivot: Pivot, dialect: str, include_flagged: bool) -> str:
    """One row per included response: ``h`` (unit id), variables, slots ``s0..``.

    Answers are packed per response first (``GROUP BY response_id`` over ``answers`` alone,
    semi-joined to the campaign's included responses), and only the packed rows are joined to
    ``responses``: joining each of the ~25 answer rows of a response to ``responses`` costs
    more (see ``docs/design-notes.md``).  On PostgreSQL the answers are unnested from
    ``response_answers`` directly, only the four arrays read here: the view ``answers``
    unnests all eight (a report at 1M responses, alternating: 16.6–19.8 s against 21.0–21.8 s).
    Parameters ``:campaign``, ``:item0..`` and ``:var0..`` are bound by the caller
    (:func:`pivot_params`).
    """
    postgres = dialect == "postgresql"
    agg = "bit_or" if postgres else "SUM"
    answers, response_id = (
        ("response_answers w CROSS JOIN LATERAL unnest(w.item_code, w.rating, w.number, w.choice)"
         " AS a(item_code, rating, number, choice)", "w.response_id") if postgres
        else ("answers a", "a.response_id"))
    var_items = [v for v in pivot.variables if v not in BUILTIN]
    values = ", ".join([f"(:item{n}, {i.slot}, {i.shift}, {i.lo})"
                        for n, i in enumerate(pivot.items)]
                       + [f"(:var{n}, -1, 0, 0)" for n in range(len(var_items))])
    slots = [f"{agg}((CAST(COALESCE(a.rating, a.number) AS BIGINT) - m.lo + 1) << m.shift) "
             f"FILTER (WHERE m.slot = {s}) AS s{s}" for s in range(pivot.n_slots)]
    packed = [f"{response_id} AS response_id"] + slots
    cols = ["r.unit_id AS h"]
    for name in pivot.variables:
        if name in BUILTIN:
            cols.append(f"{BUILTIN[name]} AS {variable_column(name)}")
    for n, name in enumerate(var_items):
        packed.append(f"MAX(COALESCE(a.choice, CAST(a.number AS VARCHAR))) "
                      f"FILTER (WHERE a.item_code = :var{n}) AS {variable_column(name)}")
        cols.append(f"p.{variable_column(name)}")
    cols += [f"p.s{s}" for s in range(pivot.n_slots)]
    where = "r.campaign_id = :campaign AND r.excluded = false"
    if not include_flagged:
        where += " AND (r.flags IS NULL OR json_array_length(r.flags) = 0)"
    return (f"WITH m(item, slot, shift, lo) AS (VALUES {values}), "
            f"p AS (SELECT {', '.join(packed)} FROM {answers} JOIN m ON m.item = a.item_code "
            f"WHERE {response_id} IN (SELECT r.id FROM responses r WHERE {where}) "
            f"GROUP BY {response_id}) "
            f"SELECT {', '.join(cols)} FROM responses r LEFT JOIN p ON p.response_id = r.id "
            f"WHERE {where}")


def pivot_params(pivot: Pivot, campaign_id: int) -> dict:
    """Bind values for :func:`pivot_sql`."""
    params: dict = {"campaign": campaign_id}
    params.update({f"item{n}": i.code for n, i in enumerate(pivot.items)})
    var_items = [v for v in pivot.variables if v not in BUILTIN]
    params.update({f"var{n}": v for n, v in enumerate(var_items)})
    return params


def score_sql(nib: str, crit, lo: int) -> tuple[str, int, float]:
    """(SQL of the integer score y' for an answered slot value, its maximum, denominator).

    ``y = y' / denominator`` reproduces :func:`analysis.score_answered`.
    """
    x = f"({nib} + {lo - 1})"
    k = crit.points
    if crit.scoring == "top2":
        return f"CASE WHEN {x} >= {k - 1} THEN 1 ELSE 0 END", 1, 1.0
    if crit.scoring == "normalised":
        return f"CASE WHEN {nib} > 0 THEN {x} - 1 ELSE 0 END", k - 1, float(k - 1)
    if crit.scoring == "share":
        return f"CASE WHEN {nib} > 0 THEN {x} ELSE 0 END", max(k - 1, 1), 1.0
    if crit.binary:
        return f"CASE WHEN {nib} > 0 THEN 1 - {x} ELSE 0 END", 1, 1.0
    return f"CASE WHEN {nib} > 0 THEN {k} - {x} ELSE 0 END", k - 1, float(k - 1)


def grouped_sql(pivot: Pivot, tree: IndexTree, sets: Sequence[Sequence[str]], group_sets: list,
                width: int, pivot_text: str) -> tuple[str, list[tuple[int, int]]]:
    """Per-cell sums over the pivot, ``GROUP BY GROUPING SETS``; returns (SQL, pairs).

    Columns: ``g`` (GROUPING mask over the variables), ``h``, the variables, ``n``, then per
    criterion pair ``j ≤ k`` (in ``pairs`` order) ``SUM(q_j r_k)`` and ``SUM(q_j y_k)`` with
    ``q_j = r_j + y_j 2^width``, ``SUM(x)`` and ``SUM(x²)`` per mean-score criterion, and one
    count per multi-criterion answer set.  ``OFFSET 0`` keeps PostgreSQL from inlining the
    per-row columns into every aggregate that uses them (each is computed once per row).
    """
    var_cols = [variable_column(v) for v in pivot.variables]
    nib, cols = [], []
    for k, crit in enumerate(tree.criteria):
        item = pivot.item(crit.item)
        nib.append(f"((COALESCE(p.s{item.slot}, 0) >> {item.shift}) & 15)::integer AS n{k}")
        score, _, _ = score_sql(f"q.n{k}", crit, item.lo)
        cols.append(f"CASE WHEN q.n{k} > 0 THEN 1 ELSE 0 END AS r{k}")
        cols.append(f"({score}) AS y{k}")
        if crit.has_mean_score:
            cols.append(f"CASE WHEN q.n{k} > 0 THEN q.n{k} + {item.lo - 1} ELSE 0 END AS x{k}")
    k_count = len(tree.criteria)
    qcols = [f"t.r{k} + t.y{k} * {1 << width} AS q{k}" for k in range(k_count)]
    pairs = [(j, k) for j in range(k_count) for k in range(j, k_count)]
    aggs = ["COUNT(*) AS n"]
    for j, k in pairs:
        aggs += [f"SUM(q{j} * r{k})", f"SUM(q{j} * y{k})"]
    for k, crit in enumerate(tree.criteria):
        if crit.has_mean_score:
            aggs += [f"SUM(x{k})", f"SUM(x{k} * x{k})"]
    for members in sets:
        cond = " OR ".join(f"(s{slot} & {mask}) <> 0" for slot, mask in
                           _slot_masks(pivot, members).items())
        aggs.append(f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)")
    grouping = f"GROUPING({', '.join(var_cols)})" if var_cols else "0"
    sets_sql = ", ".join("(" + ", ".join(["h"] + [variable_column(v) for v in gs]) + ")"
                         for gs in group_sets)
    slots = [f"s{s}" for s in range(pivot.n_slots)]
    keys = ["h"] + var_cols
    inner = ", ".join([f"p.{c}" for c in keys]
                      + [f"COALESCE(p.{s}, 0) AS {s}" for s in slots] + nib)
    middle = ", ".join([f"q.{c}" for c in keys + slots] + cols)
    outer = ", ".join([f"t.{c}" for c in keys + slots]
                      + [f"t.{c.split(' AS ')[1]}" for c in cols] + qcols)
    sql = (f"SELECT {grouping} AS g, h, {', '.join(var_cols + aggs)} FROM ("
           f"SELECT {outer} FROM (SELECT {middle} FROM (SELECT {inner} FROM ({pivot_text}) p "
           f"OFFSET 0) q OFFSET 0) t OFFSET 0) u GROUP BY GROUPING SETS ({sets_sql})")
    return sql, pairs


def _slot_masks(pivot: Pivot, items: Sequence[str]) -> dict[int, int]:
    """Bit mask per slot covering the nibbles of ``items``."""
    masks: dict[int, int] = {}
    for code in items:
        item = pivot.item(code)
        masks[item.slot] = masks.get(item.slot, 0) | (15 << item.shift)
    return masks
