"""Who wants which element improved: the counts behind the priority matrix's shares.

The "improve most" question (``improve`` in ``sipas-counter``) is the first multiple-choice item
whose option codes name groups of the index tree.  What is counted, per unit: the included
respondents who answered it (a stored choice list, possibly empty) and, for each option, those
whose list names it.  Two ways give the same :class:`ImprovementCounts` (a test compares them):

- :func:`improvement_counts`: a grouped query on any database (unit × stored choice list);
- the SQLite results pass (:mod:`survey.services.aggregate_sqlite`) folds the question into its
  one scan of the answers as a bit mask per response (:func:`chosen_mask_sql`), so a large
  campaign needs no second join of responses to answers (1.1 s at 1,000,000 responses).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import String, cast, func, select

from ..extensions import db
from ..models import Answer, Response
from .results import flagged

# Option codes that appear in the stored JSON text exactly as '"code"' (no escaping needed).
PLAIN_CODE = re.compile(r"[A-Za-z0-9_]+\Z")
IMPROVEMENT = "improvement"  # the key of the counts in the pass's cells and in Scope.extras


@dataclass(frozen=True)
class ImprovementCounts:
    """Per unit id: ``(answered, chosen option 1, …, chosen option k)`` (options in order)."""

    item: str
    options: tuple[str, ...]
    per_unit: dict[int, tuple[int, ...]]


def improvement_item(questionnaire, group_codes: Collection[str]):
    """The "improve most" item: the first multiple-choice question naming index groups."""
    return next((i for i in questionnaire.items.values() if i.type == "multiple_choice"
                 and any(o.code in group_codes for o in i.options)), None)


def improvement_counts(campaign_id: int, item, include_flagged: bool) -> ImprovementCounts:
    """The counts by a grouped query (one row per unit and distinct stored choice list)."""
    conditions = [Response.campaign_id == campaign_id, Response.excluded.is_(False),
                  Answer.item_code == item.code, Answer.choices.is_not(None)]
    if not include_flagged:
        conditions.append(~flagged())
    rows = db.session.execute(
        select(Response.unit_id, cast(Answer.choices, String), func.count())
        .join(Response, Response.id == Answer.response_id).where(*conditions)
        .group_by(Response.unit_id, cast(Answer.choices, String)))
    options = tuple(o.code for o in item.options)
    sums: dict[int, list[int]] = {}
    for unit_id, text, count in rows:
        named = set(json.loads(text) if text else [])
        row = sums.setdefault(unit_id, [0] * (len(options) + 1))
        row[0] += count
        for k, code in enumerate(options):
            if code in named:
                row[k + 1] += count
    return ImprovementCounts(item.code, options, {u: tuple(v) for u, v in sorted(sums.items())})


def chosen_mask_sql(item) -> str | None:
    """SQL (SQLite, answer row ``a``) for the bit mask the pass sums per response.

    0 when the row stores no choice list; otherwise bit 0 set (answered) and bit ``k + 1`` for
    each option ``k`` in the list, found as the quoted code in the stored JSON text.  None when
    an option code could not be found that way (then the query above is used).
    """
    codes = [o.code for o in item.options]
    if not all(PLAIN_CODE.match(c) for c in codes):
        return None
    bits = " + ".join(f"{1 << (k + 1)} * (instr(a.choices, '\"{c}\"') > 0)"
                      for k, c in enumerate(codes))
    return f"(CASE WHEN a.choices IS NULL THEN 0 ELSE 1 + {bits} END)"


def counts_from_masks(item, unit_ids, masks) -> dict[int, list[int]]:
    """Per unit: answered and chosen counts of a batch's (unit id, mask) pairs (numpy arrays)."""
    import numpy as np

    answered = masks > 0
    units, masks = unit_ids[answered], masks[answered]
    out: dict[int, list[int]] = {}
    if not units.size:
        return out
    ids, where = np.unique(units, return_inverse=True)
    bits = (masks[:, None] >> np.arange(len(item.options) + 1)) & 1
    totals = np.zeros((ids.shape[0], bits.shape[1]), dtype=np.int64)
    np.add.at(totals, where, bits)
    for unit_id, row in zip(ids.tolist(), totals.tolist(), strict=True):
        out[unit_id] = row
    return out


def merged(item, parts: list[dict[int, list[int]]]) -> ImprovementCounts:
    """Counts of several batches (or halves of the pass) added up."""
    sums: dict[int, list[int]] = {}
    for part in parts:
        for unit_id, row in part.items():
            acc = sums.setdefault(unit_id, [0] * len(row))
            for k, value in enumerate(row):
                acc[k] += value
    return ImprovementCounts(item.code, tuple(o.code for o in item.options),
                             {u: tuple(v) for u, v in sorted(sums.items())})
