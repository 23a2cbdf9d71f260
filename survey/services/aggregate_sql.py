"""SQL text for campaign results: one row per response, or per-stratum × domain sums.

Answers are stored long (one typed row per response × item, see ``docs/design-notes.md``).
The *pivot* turns a response's criterion answers into a few 64-bit integers: every item gets a
4-bit slot holding ``v = answer − lo + 1`` (1..K; 0 = not answered, skipped or "không áp dụng"),
15 items per integer.  It is built with ``bit_or`` (PostgreSQL) or ``SUM`` (SQLite; an item
appears once per response, so the two agree) over a join with a small ``VALUES`` table giving
each item's slot, shift and ``lo``, so no per-item ``CASE`` runs on every answer row.

The *grouped* query then decodes the slots, forms the criterion scores ``y`` (as integers:
top-2 box ``v ≥ K − lo``; scaled scores times their denominator) and answered indicators ``r``,
and sums per stratum × domain (``GROUP BY GROUPING SETS``) the co-response cross-products the
variance needs.  Four cross-products of a criterion pair come out of one ``SUM`` of two packed
integers ``a_j = r_j + y_j B`` and ``b_k = r_k + y_k B²``:
``a_j b_k = r_j r_k + y_j r_k B + r_j y_k B² + y_j y_k B³``; with ``B`` larger than any cell's
``Σ y r`` the four sums are read back exactly as base-``B`` digits of the (numeric) total.
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

    Parameters ``:campaign`` (id) and ``:item0..`` (item codes) are bound by the caller.
    """
    agg = "bit_or" if dialect == "postgresql" else "SUM"
    values = ", ".join(f"(:item{n}, {i.slot}, {i.shift}, {i.lo})"
                       for n, i in enumerate(pivot.items))
    slots = [f"{agg}((CAST(COALESCE(a.rating, a.number) AS BIGINT) - m.lo + 1) << m.shift) "
             f"FILTER (WHERE m.slot = {s}) AS s{s}" for s in range(pivot.n_slots)]
    cols, group = ["r.unit_id AS h"], ["r.id", "r.unit_id"]
    var_items = [v for v in pivot.variables if v not in BUILTIN]
    for name in pivot.variables:
        if name in BUILTIN:
            cols.append(f"{BUILTIN[name]} AS {variable_column(name)}")
            group.append(BUILTIN[name])
    for n, name in enumerate(var_items):
        cols.append(f"MAX(COALESCE(a.choice, CAST(a.number AS VARCHAR))) "
                    f"FILTER (WHERE a.item_code = :var{n}) AS {variable_column(name)}")
    wanted = ", ".join([f":item{n}" for n in range(len(pivot.items))]
                       + [f":var{n}" for n in range(len(var_items))])
    flags = "" if include_flagged else \
        " AND (r.flags IS NULL OR json_array_length(r.flags) = 0)"
    return (f"WITH m(item, slot, shift, lo) AS (VALUES {values}) "
            f"SELECT {', '.join(cols + slots)} FROM responses r "
            f"LEFT JOIN answers a ON a.response_id = r.id AND a.item_code IN ({wanted}) "
            f"LEFT JOIN m ON m.item = a.item_code "
            f"WHERE r.campaign_id = :campaign AND r.excluded = false{flags} "
            f"GROUP BY {', '.join(group)}")


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
                base: int, pivot_text: str) -> tuple[str, list[tuple[int, int]]]:
    """Per-cell sums over the pivot, ``GROUP BY GROUPING SETS``; returns (SQL, pairs).

    Columns: ``g`` (GROUPING mask over the variables), ``h``, the variables, ``n``, one packed
    ``SUM(a_j b_k)`` per criterion pair ``j ≤ k`` (in ``pairs`` order), ``SUM(x)`` and
    ``SUM(x²)`` per mean-score criterion, then one count per multi-criterion answer set.
    """
    var_cols = [variable_column(v) for v in pivot.variables]
    nib, ab = [], []
    for k, crit in enumerate(tree.criteria):
        item = pivot.item(crit.item)
        slot = f"COALESCE(p.s{item.slot}, 0)"
        nib.append(f"(({slot} >> {item.shift}) & 15) AS n{k}")
        score, _, _ = score_sql(f"q.n{k}", crit, item.lo)
        r = f"CASE WHEN q.n{k} > 0 THEN 1 ELSE 0 END"
        ab.append(f"CAST({r} AS BIGINT) + ({score}) * {base} AS a{k}")
        ab.append(f"CAST({r} AS BIGINT) + ({score}) * {base * base} AS b{k}")
        if crit.has_mean_score:
            ab.append(f"CASE WHEN q.n{k} > 0 THEN q.n{k} + {item.lo - 1} ELSE 0 END AS x{k}")
    masks = []
    for s in range(pivot.n_slots):
        masks.append(f"COALESCE(p.s{s}, 0) AS s{s}")
    k_count = len(tree.criteria)
    pairs = [(j, k) for j in range(k_count) for k in range(j, k_count)]
    aggs = ["COUNT(*) AS n"] + [f"SUM(a{j} * b{k})" for j, k in pairs]
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
    inner_cols = ", ".join(["p.h"] + [f"p.{c}" for c in var_cols] + masks + nib)
    mid_cols = ", ".join(["q.h"] + [f"q.{c}" for c in var_cols]
                         + [f"q.s{s}" for s in range(pivot.n_slots)] + ab)
    sql = (f"SELECT {grouping} AS g, h, {', '.join(var_cols + aggs)} "
           f"FROM (SELECT {mid_cols} FROM (SELECT {inner_cols} FROM ({pivot_text}) p) q) t "
           f"GROUP BY GROUPING SETS ({sets_sql})")
    return sql, pairs


def _slot_masks(pivot: Pivot, items: Sequence[str]) -> dict[int, int]:
    """Bit mask per slot covering the nibbles of ``items``."""
    masks: dict[int, int] = {}
    for code in items:
        item = pivot.item(code)
        masks[item.slot] = masks.get(item.slot, 0) | (15 << item.shift)
    return masks
