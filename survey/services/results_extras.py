"""Parts of the results bundle beyond one report: weighting choices, comparison, ranking.

Used by :mod:`survey.services.results_tables`; every number comes from
:func:`survey.services.results.campaign_report`, :func:`analysis.difference` and
:func:`analysis.rank_intervals`.  The one figure computed here is the point share of
respondents who want an element improved (for the priority matrix), a weighted ratio of
counts grouped in SQL.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sqlalchemy import String, cast, func, select

from analysis import Report, difference, rank_intervals

from ..extensions import db
from ..models import (
    Answer,
    Campaign,
    CampaignUnit,
    PopulationCount,
    ProcedureField,
    QuestionnaireVersion,
    Response,
    Unit,
)
from .results import ResultsError, campaign_report, flagged

SIGNIFICANCE = 0.05
GROUPS = (("Cao", "High"), ("Trung bình cao", "Upper middle"),
          ("Trung bình thấp", "Lower middle"), ("Thấp", "Low"))


@dataclass(frozen=True)
class Weighting:
    """A weighting option, described in plain words with its formula."""

    key: str
    name: str
    name_en: str
    description: str
    description_en: str
    formula: str
    available: bool = True
    note: str | None = None
    note_en: str | None = None


@dataclass(frozen=True)
class ComparisonRow:
    """Change of one indicator in one domain against the earlier campaign."""

    indicator: str
    kind: str
    domain: str  # "" overall, else a unit code
    label: dict[str, str]
    current: float
    previous: float
    delta: float
    se: float
    lo: float
    hi: float
    p_value: float | None
    significant: bool


@dataclass(frozen=True)
class Comparison:
    """The earlier campaign compared with, and the changes (Δ = this − earlier)."""

    campaign_id: int
    campaign_code: str
    campaign_name: str
    period: tuple[str, str]
    rows: tuple[ComparisonRow, ...] = ()
    error: str | None = None
    error_en: str | None = None
    method: str = ("Δ = kỳ này − kỳ trước; hai mẫu độc lập: SE = √(SE₁² + SE₂²); khoảng tin cậy "
                   "95 % và giá trị p theo phân phối t với bậc tự do nhỏ hơn; “có ý nghĩa” khi "
                   "p < 0,05.")
    method_en: str = ("Δ = this period − earlier period; independent samples: SE = √(SE₁² + "
                      "SE₂²); 95 % interval and p-value from t with the smaller df; "
                      "“significant” when p < 0.05.")


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


def weighting_options(campaign: Campaign, margins: Mapping | None) -> tuple[Weighting, ...]:
    """The three weightings with their formulas and whether this campaign's data allow them."""
    counts = _unit_counts(campaign)
    design_note = _design_problem(campaign, counts)
    has_pop = design_note is None
    has_margins = bool(margins) or bool(population_margins(campaign, list(counts)))
    return (
        Weighting("unweighted", "Không gia quyền", "Unweighted",
                  "Mỗi phiếu hợp lệ có trọng số như nhau; kết quả là tỷ lệ trên tổng số phiếu.",
                  "Every valid response counts the same; results are shares of all responses.",
                  "w = 1;  P = Σ s / Σ r"),
        Weighting("design", "Gia quyền theo thiết kế (theo số hồ sơ)",
                  "Design-weighted (by transactions)",
                  "Mỗi phiếu của đơn vị h đại diện cho N_h ÷ n_h hồ sơ: đơn vị giải quyết nhiều "
                  "hồ sơ có tiếng nói lớn hơn trong kết quả chung, có hiệu chỉnh tổng thể hữu "
                  "hạn.",
                  "Each response of unit h stands for N_h ÷ n_h transactions: units handling "
                  "more dossiers weigh more in the overall result; finite population correction.",
                  "w_h = N_h / n_h  (N_h: hồ sơ đã trả kết quả của đơn vị trong kỳ, n_h: số "
                  "phiếu hợp lệ);  P = Σ w·s / Σ w·r",
                  has_pop, None if has_pop else design_note[0],
                  None if has_pop else design_note[1]),
        Weighting("raked", "Hiệu chỉnh theo biên (raking)", "Raked",
                  "Trọng số thiết kế được điều chỉnh lặp cho đến khi tổng trọng số theo từng "
                  "nhóm (ví dụ lĩnh vực thủ tục) khớp với số liệu tổng thể.",
                  "Design weights adjusted iteratively until weighted totals per group (e.g. "
                  "procedure field) match the population figures.",
                  "w_i = d_i · g_i,  Σ_i w_i·[i ∈ c] = N_c cho mọi nhóm c của mỗi biến biên; "
                  "phương sai theo calibrate(calfun=\"raking\")",
                  has_margins, None if has_margins else
                  "Không có số liệu biên để hiệu chỉnh: dữ liệu tổng thể chỉ có số hồ sơ theo "
                  "đơn vị, chưa có số hồ sơ theo lĩnh vực (hoặc theo giới tính, độ tuổi). Hãy "
                  "nhập số hồ sơ theo lĩnh vực để dùng cách này.",
                  None if has_margins else
                  "No margins to rake to: the population data hold transactions per unit only, "
                  "not per field (or sex, age group). Import transactions per field to use it."),
    )


def _unit_counts(campaign: Campaign) -> dict[int, int]:
    """Included responses per unit id (an index-only count, before the long pass)."""
    return dict(db.session.execute(
        select(Response.unit_id, func.count()).where(Response.campaign_id == campaign.id,
                                                     Response.excluded.is_(False))
        .group_by(Response.unit_id)).all())


def _design_problem(campaign: Campaign, counts: dict[int, int]) -> tuple[str, str] | None:
    """Why design weights cannot be used (Vietnamese, English), or None when they can.

    Every unit with included responses needs transactions N_h ≥ n_h over the campaign's months.
    """
    if not counts:
        return None
    pops = _populations(campaign, list(counts))
    codes = dict(db.session.execute(select(Unit.id, Unit.code)
                                    .where(Unit.id.in_(list(counts)))).all())
    missing = sorted(codes[u] for u in counts if u not in pops)
    if missing:
        units = ", ".join(missing)
        return (f"Chưa có số hồ sơ đã trả kết quả của đơn vị {units} trong thời gian khảo sát.",
                f"No transaction counts for unit(s) {units} in the campaign period.")
    short = sorted(codes[u] for u, n in counts.items() if pops[u] < n)
    if short:
        units = ", ".join(short)
        return (f"Số hồ sơ đã trả kết quả của đơn vị {units} nhỏ hơn số phiếu: hãy kiểm tra số "
                "hồ sơ đã nhập.",
                f"Transactions of unit(s) {units} are fewer than their responses: check the "
                "imported figures.")
    return None


def _campaign_units(campaign: Campaign):
    """SELECT of the campaign's unit ids."""
    return select(CampaignUnit.unit_id).where(CampaignUnit.campaign_id == campaign.id)


def _populations(campaign: Campaign, unit_ids: list[int] | None = None) -> dict[int, float]:
    """N_h over the campaign's months, summed as ``results.unit_populations`` does."""
    units = _campaign_units(campaign) if unit_ids is None else unit_ids
    rows = db.session.execute(
        select(PopulationCount.unit_id, func.sum(PopulationCount.transactions))
        .where(PopulationCount.month >= campaign.starts_on.replace(day=1),
               PopulationCount.month <= campaign.ends_on,
               PopulationCount.unit_id.in_(units))
        .group_by(PopulationCount.unit_id))
    return {u: float(t) for u, t in rows if t}


def population_margins(campaign: Campaign, unit_ids: list[int] | None = None
                       ) -> dict[str, dict[str, float]]:
    """Raking margins from the population data: transactions per procedure field, or {}.

    Summed over the units with included responses (``unit_ids``) and the campaign's months.
    """
    units = list(_unit_counts(campaign)) if unit_ids is None else unit_ids
    rows = db.session.execute(
        select(ProcedureField.code, func.sum(PopulationCount.transactions))
        .join(ProcedureField, ProcedureField.id == PopulationCount.field_id)
        .where(PopulationCount.month >= campaign.starts_on.replace(day=1),
               PopulationCount.month <= campaign.ends_on, PopulationCount.unit_id.in_(units))
        .group_by(ProcedureField.code))
    fields = {code: float(total) for code, total in rows if total}
    return {"field": fields} if fields else {}


def comparable_campaigns(campaign: Campaign, allowed: Collection[int] | None = None
                         ) -> tuple[tuple[int, str, str], ...]:
    """Earlier campaigns of the same questionnaire, most recent first: (id, code, name)."""
    family = select(QuestionnaireVersion.id).where(
        QuestionnaireVersion.questionnaire_id == campaign.questionnaire_version.questionnaire_id)
    stmt = (select(Campaign.id, Campaign.code, Campaign.name)
            .where(Campaign.questionnaire_version_id.in_(family), Campaign.id != campaign.id,
                   Campaign.starts_on < campaign.starts_on)
            .order_by(Campaign.starts_on.desc(), Campaign.id.desc()))
    rows = [tuple(r) for r in db.session.execute(stmt)]
    return tuple(r for r in rows if allowed is None or r[0] in allowed)


def domain_names(questionnaire, items: list[str]) -> dict[str, dict[str, dict[str, str]]]:
    """Display names of domain codes: units, fields and the answer options of ``items``."""
    names: dict[str, dict[str, dict[str, str]]] = {
        "unit": {code: {"vi": name, "en": name}
                 for code, name in db.session.execute(select(Unit.code, Unit.name))},
        "field": {code: {"vi": name, "en": name_en or name} for code, name, name_en in
                  db.session.execute(select(ProcedureField.code, ProcedureField.name,
                                            ProcedureField.name_en))},
    }
    for code in items:
        names[code] = {o.code: dict(o.label) for o in questionnaire.items[code].options}
    return names


def compare_reports(campaign: Campaign, report: Report, compare_to: int | str | None, *,
                    weighting: str, include_flagged: bool, ci: str, papi_compatible: bool,
                    margins: Mapping | None, visible: set[str] | None,
                    names: dict, allowed: Collection[int] | None = None,
                    cache: dict | None = None) -> Comparison | None:
    """Changes against the earlier campaign (``None`` = most recent comparable; ``"none"``).

    ``cache`` (campaign id → report) receives the earlier campaign's report for the trend.
    """
    if compare_to == "none":
        return None
    candidates = comparable_campaigns(campaign, allowed)
    if compare_to is None:
        if not candidates:
            return None
        earlier_id = candidates[0][0]
    else:
        try:
            earlier_id = int(compare_to)
        except (TypeError, ValueError) as exc:
            raise ResultsError("compare_to must be a campaign id or 'none'") from exc
        if earlier_id not in {c[0] for c in candidates}:
            raise ResultsError(f"campaign {earlier_id} is not an earlier campaign of the same "
                               "questionnaire")
    earlier = db.session.get(Campaign, earlier_id)
    head = dict(campaign_id=earlier.id, campaign_code=earlier.code, campaign_name=earlier.name,
                period=(earlier.starts_on.isoformat(), earlier.ends_on.isoformat()))
    try:
        before = campaign_report(earlier.id, weighting=weighting, by=["unit"],
                                 include_flagged=include_flagged, margins=margins,
                                 ci_method=ci, papi_intervals=papi_compatible)
    except ResultsError as exc:
        return Comparison(**head, error="Không tính được kết quả kỳ trước với cách gia quyền "
                                        "này: " + str(exc), error_en=str(exc))
    if cache is not None:
        cache[earlier.id] = before
    return Comparison(**head, rows=_difference_rows(report, before, visible, names))


def _difference_rows(now: Report, before: Report, visible: set[str] | None,
                     names: dict) -> tuple[ComparisonRow, ...]:
    """Δ for every indicator overall and per unit present (and shown) in both periods."""
    earlier = {(e.domain, e.indicator, e.kind): e for e in before.estimates
               if len(e.domain) <= 1}
    rows = []
    for est in now.estimates:
        if len(est.domain) > 1 or est.kind == "mean":
            continue
        if est.domain and (est.domain[0][0] != "unit"
                           or (visible is not None and est.domain[0][1] not in visible)):
            continue
        old = earlier.get((est.domain, est.indicator, est.kind))
        if old is None or "suppressed" in (est.flag, old.flag):
            continue
        if not all(math.isfinite(v) for v in (est.estimate, est.se, old.estimate, old.se)):
            continue
        diff = difference(est, old)
        code = est.domain[0][1] if est.domain else ""
        label = names.get(code, {"vi": code, "en": code}) if code else {"vi": "Chung",
                                                                         "en": "Overall"}
        p = diff.p_value if math.isfinite(diff.p_value) else None
        rows.append(ComparisonRow(est.indicator, est.kind, code, label, est.estimate,
                                  old.estimate, diff.estimate, diff.se, diff.ci_low,
                                  diff.ci_high, p, p is not None and p < SIGNIFICANCE))
    return tuple(rows)


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
                       include_flagged: bool) -> tuple[ImprovementShare, ...]:
    """Per element: weighted share choosing it in the "improve most" question, and its index.

    The item is the first multiple-choice question whose option codes name groups of the index
    tree (``improve`` in ``sipas-counter``).  Share = Σ_h w_h c_hk / Σ_h w_h a_h with a_h the
    unit's respondents who answered that question and c_hk those choosing element k; w_h as in
    the report (raked reports use the design weights here).
    """
    groups = {e.indicator for e in report.estimates if e.kind == "group"}
    item = next((i for i in questionnaire.items.values() if i.type == "multiple_choice"
                 and any(o.code in groups for o in i.options)), None)
    if item is None:
        return ()
    conditions = [Response.campaign_id == campaign.id, Response.excluded.is_(False),
                  Answer.item_code == item.code, Answer.choices.is_not(None)]
    if not include_flagged:
        conditions.append(~flagged())
    rows = db.session.execute(
        select(Response.unit_id, cast(Answer.choices, String), func.count())
        .join(Response, Response.id == Answer.response_id).where(*conditions)
        .group_by(Response.unit_id, cast(Answer.choices, String)))
    weight = _unit_weights(campaign, report, weighting)
    answered: float = 0.0
    chosen: dict[str, float] = {}
    counted = 0
    for unit_id, text, count in rows:
        w = weight.get(unit_id, 1.0)
        answered += w * count
        counted += count
        for code in set(json.loads(text) if text else []):
            chosen[code] = chosen.get(code, 0.0) + w * count
    if not answered:
        return ()
    overall = {e.indicator: e for e in report.estimates if not e.domain and e.kind == "group"}
    out = []
    for option in item.options:
        if option.code not in groups:
            continue
        est = overall.get(option.code)
        sat = est.estimate if est is not None and est.flag != "suppressed" else None
        out.append(ImprovementShare(option.code, dict(option.label),
                                    100.0 * chosen.get(option.code, 0.0) / answered, counted,
                                    sat if sat is None or math.isfinite(sat) else None))
    return tuple(out)


def _unit_weights(campaign: Campaign, report: Report, weighting: str) -> dict[int, float]:
    """w_h per unit id: 1, or N_h / n_h (n_h: the unit's respondents in the report)."""
    if weighting == "unweighted":
        return {}
    pops = _populations(campaign)
    code_to_id = dict(db.session.execute(select(Unit.code, Unit.id)).all())
    out = {}
    n_h: dict[int, int] = {}
    for est in report.estimates:
        if len(est.domain) == 1 and est.domain[0][0] == "unit":
            uid = code_to_id.get(est.domain[0][1])
            if uid is not None:
                n_h[uid] = max(n_h.get(uid, 0), est.n)
    for uid, n in n_h.items():
        if uid in pops and n:
            out[uid] = pops[uid] / n
    return out
