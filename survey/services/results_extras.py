"""Parts of the results bundle beyond one report: weighting choices, names, comparison.

Used by :mod:`survey.services.results_tables`; every number comes from
:func:`survey.services.results.campaign_report` and :func:`analysis.difference`.  Ranking and
the wish-for-improvement shares: :mod:`survey.services.results_ranking`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sqlalchemy import func, select

from analysis import Report, difference

from ..extensions import db
from ..models import (
    Campaign,
    PopulationCount,
    ProcedureField,
    QuestionnaireVersion,
    Response,
    Unit,
)
from .results import ResultsError, campaign_report

SIGNIFICANCE = 0.05


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
    pops = populations(campaign, list(counts))
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


def populations(campaign: Campaign, unit_ids: list[int]) -> dict[int, float]:
    """N_h of ``unit_ids`` over the campaign's months, summed as ``results.unit_populations``."""
    rows = db.session.execute(
        select(PopulationCount.unit_id, func.sum(PopulationCount.transactions))
        .where(PopulationCount.month >= campaign.starts_on.replace(day=1),
               PopulationCount.month <= campaign.ends_on,
               PopulationCount.unit_id.in_(unit_ids))
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


def auto_weighting(campaign: Campaign, options: tuple[Weighting, ...]
                    ) -> tuple[str, dict[str, str] | None]:
    """The campaign's own weighting if its data allow it, else unweighted with the reason."""
    own = "unweighted" if campaign.weighting == "equal" else campaign.weighting
    chosen = next(w for w in options if w.key == own)
    if chosen.available:
        return own, None
    return "unweighted", {
        "vi": f"Đợt khảo sát đặt cách gia quyền “{chosen.name}” nhưng chưa dùng được: "
              f"{chosen.note} Đang hiển thị kết quả không gia quyền.",
        "en": f"The campaign is set to “{chosen.name_en}”, which cannot be used yet: "
              f"{chosen.note_en} Showing unweighted results."}


def overall_scope(visible_units: Collection[int] | None) -> dict[str, str]:
    """What the overall figure covers, said plainly."""
    if visible_units is None:
        return {"vi": "Chung: tất cả các đơn vị được khảo sát trong đợt.",
                "en": "Overall: every unit surveyed in the campaign."}
    return {"vi": "Chung: toàn đợt khảo sát (tất cả các đơn vị được khảo sát, kể cả ngoài phạm vi "
                  "của bạn), để đối chiếu; bảng theo đơn vị chỉ gồm các đơn vị thuộc phạm vi của "
                  "bạn.",
            "en": "Overall: the whole campaign (every surveyed unit, including those outside your "
                  "scope), for reference; the unit tables list only the units in your scope."}


def explain(message: str) -> tuple[str, str]:
    """A report error in Vietnamese (and English) that says what to do."""
    if message.startswith("no transaction counts"):
        units = message.split("unit(s) ", 1)[-1].split(" in the campaign", 1)[0]
        return (f"Chưa có số hồ sơ đã trả kết quả của đơn vị {units} trong thời gian khảo sát, "
                "nên không tính được trọng số thiết kế. Hãy nhập số hồ sơ (mục Số hồ sơ) hoặc "
                "chọn “Không gia quyền”.", message)
    if message.startswith("population smaller"):
        return ("Số hồ sơ đã trả kết quả của một số đơn vị nhỏ hơn số phiếu: "
                + message.split(": ", 1)[-1] + ". Hãy kiểm tra số hồ sơ đã nhập.", message)
    if "no included response" in message:
        return ("Đợt khảo sát chưa có phiếu hợp lệ nào để tính kết quả.", message)
    if "needed for raking" in message or message.startswith("raking"):
        return ("Không hiệu chỉnh theo biên (raking) được: " + message, message)
    return ("Không tính được kết quả: " + message, message)
