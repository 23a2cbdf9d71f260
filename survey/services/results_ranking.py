"""Ranking of units (xếp hạng) and the shares wanting each element improved (priority matrix).

Ranks come from :func:`analysis.rank_intervals` on the report's unit estimates; a PAPI-style
quartile group is given only where the whole rank interval lies in one group.  The one figure
computed here is the point share of respondents naming an element in the "improve most"
question, a weighted ratio of per-unit counts (:mod:`survey.services.results_improvement`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import select

from analysis import Report, rank_intervals

from ..extensions import db
from ..models import Campaign, Unit
from .results_extras import populations
from .results_improvement import ImprovementCounts, improvement_counts, improvement_item

GROUPS = (("Cao", "High"), ("Trung bình cao", "Upper middle"),
          ("Trung bình thấp", "Lower middle"), ("Thấp", "Low"))


@dataclass(frozen=True)
class RankRow:
    """A unit's rank on the root index, its rank interval and quartile group if allowed."""

    unit: str
    label: dict[str, str]
    estimate: float
    rank: int
    rank_low: int
    rank_high: int
    of: int
    group: str | None
    group_en: str | None
    flag: str | None


@dataclass(frozen=True)
class ImprovementShare:
    """Share (percent) of respondents who want an element improved, beside its index."""

    indicator: str
    label: dict[str, str]
    share: float
    n_answered: int
    satisfaction: float | None


def rank_units(report: Report, root: str | None, names: dict, visible: set[str] | None
               ) -> tuple[tuple[RankRow, ...], dict[str, str]]:
    """Units ranked on the root index with 95 % rank intervals; quartile groups if allowed."""
    units = [e for e in report.estimates if root and len(e.domain) == 1
             and e.domain[0][0] == "unit" and e.indicator == root and e.kind != "mean"
             and e.flag != "suppressed" and math.isfinite(e.estimate) and math.isfinite(e.se)]
    intervals = rank_intervals([e.domain[0][1] for e in units], [e.estimate for e in units],
                               [e.se for e in units])
    m = len(intervals)
    flag_of = {e.domain[0][1]: e.flag for e in units}
    rows = []
    for ri in sorted(intervals, key=lambda r: r.rank):
        if visible is not None and ri.label not in visible:
            continue
        group = _quartile(ri.rank_low, m) if m >= 4 else None
        if group is not None and group != _quartile(ri.rank_high, m):
            group = None
        rows.append(RankRow(ri.label, names.get(ri.label, {"vi": ri.label, "en": ri.label}),
                            ri.estimate, ri.rank, ri.rank_low, ri.rank_high, m,
                            GROUPS[group][0] if group is not None else None,
                            GROUPS[group][1] if group is not None else None,
                            flag_of.get(ri.label)))
    note = {"vi": (f"{m} đơn vị được xếp hạng theo giá trị ước lượng (1 = cao nhất). Khoảng hạng "
                   "95 % mô phỏng 10.000 lần từ phân phối lấy mẫu của các ước lượng; nhóm "
                   "tứ phân vị (Cao / Trung bình cao / Trung bình thấp / Thấp) chỉ ghi khi cả "
                   "khoảng hạng nằm trong cùng một nhóm, nếu không thì để trống. Đơn vị có số "
                   "liệu không công bố không được xếp hạng."),
            "en": (f"{m} units ranked by their estimate (1 = highest). 95 % rank intervals from "
                   "10,000 draws of the estimates' sampling distribution; a quartile group "
                   "(High / Upper middle / Lower middle / Low) is given only when the whole rank "
                   "interval lies in one group, otherwise left empty. Units whose figures are "
                   "suppressed are not ranked.")}
    return tuple(rows), note


def _quartile(rank: int, m: int) -> int:
    """Quartile group (0 = Cao … 3 = Thấp) of a rank among ``m`` units."""
    return min(3, (rank - 1) * 4 // m)


def improvement_shares(campaign: Campaign, questionnaire, report: Report, weighting: str,
                       include_flagged: bool, counts: ImprovementCounts | None = None
                       ) -> tuple[ImprovementShare, ...]:
    """Per element: weighted share choosing it in the "improve most" question, and its index.

    The item: :func:`results_improvement.improvement_item` (``improve`` in ``sipas-counter``).
    Share = Σ_h w_h c_hk / Σ_h w_h a_h with a_h the unit's respondents who answered that
    question and c_hk those choosing element k; w_h as in the report (raked reports use the
    design weights here).  ``counts``: the per-unit counts when the results pass formed them
    (:class:`ImprovementCounts` for this item), otherwise they are queried.
    """
    groups = {e.indicator for e in report.estimates if e.kind == "group"}
    item = improvement_item(questionnaire, groups)
    if item is None:
        return ()
    if counts is None or counts.item != item.code:
        counts = improvement_counts(campaign.id, item, include_flagged)
    weight = _unit_weights(campaign, report, weighting) if counts.per_unit else {}
    answered: float = 0.0
    chosen = [0.0] * len(counts.options)
    counted = 0
    for unit_id, (n_answered, *n_chosen) in sorted(counts.per_unit.items()):
        w = weight.get(unit_id, 1.0)
        answered += w * n_answered
        counted += n_answered
        for k, n in enumerate(n_chosen):
            chosen[k] += w * n
    if not answered:
        return ()
    share_of = dict(zip(counts.options, chosen, strict=True))
    overall = {e.indicator: e for e in report.estimates if not e.domain and e.kind == "group"}
    out = []
    for option in item.options:
        if option.code not in groups:
            continue
        est = overall.get(option.code)
        sat = est.estimate if est is not None and est.flag != "suppressed" else None
        out.append(ImprovementShare(option.code, dict(option.label),
                                    100.0 * share_of[option.code] / answered, counted,
                                    sat if sat is None or math.isfinite(sat) else None))
    return tuple(out)


def _unit_weights(campaign: Campaign, report: Report, weighting: str) -> dict[int, float]:
    """w_h per unit id: 1, or N_h / n_h (n_h: the unit's respondents in the report)."""
    if weighting == "unweighted":
        return {}
    code_to_id = dict(db.session.execute(select(Unit.code, Unit.id)).all())
    out = {}
    n_h: dict[int, int] = {}
    for est in report.estimates:
        if len(est.domain) == 1 and est.domain[0][0] == "unit":
            uid = code_to_id.get(est.domain[0][1])
            if uid is not None:
                n_h[uid] = max(n_h.get(uid, 0), est.n)
    pops = populations(campaign, list(n_h))
    for uid, n in n_h.items():
        if uid in pops and n:
            out[uid] = pops[uid] / n
    return out
