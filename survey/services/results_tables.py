"""Results bundle (bảng kết quả): everything the results pages and the exports show, as plain rows.

:func:`campaign_results` is the one entry point.  Its numbers come ONLY from
:func:`survey.services.results.campaign_report` (the same numbers as ``sipas analyze`` on the
campaign's raw CSV), differences from :func:`analysis.difference` and rank intervals from
:func:`analysis.rank_intervals`.  Nothing here touches ORM objects for statistics; views and
exports only format these rows.

API (stable; the exports and the PDF read it)::

    res = campaign_results(campaign_id, weighting="design", compare_to=None,
                           include_flagged=True, ci="logit", papi_compatible=False,
                           margins=None, visible_units=None, demographics=None,
                           visible_campaigns=None)

- ``weighting``: ``"unweighted"`` (``"equal"`` accepted), ``"design"``, ``"raked"``, or
  ``"auto"``: the campaign's own setting when its data allow it, otherwise unweighted with
  ``res.weighting_note`` saying why (what the results page shows by default).  Raking
  needs margins: ``margins`` if given, otherwise the per-field transaction counts of the
  population data (``PopulationCount`` rows with a field); without either ``res.error`` says so
  and no numbers are given (``res.ok`` is False).
- ``compare_to``: ``None`` = the most recent earlier campaign of the same questionnaire (see
  :func:`comparable_campaigns`), ``"none"`` = no comparison, or a campaign id.
- ``visible_units``: unit ids the viewer may see (a unit manager's subtree); ``None`` = all.
  The overall rows are always the whole campaign (every surveyed unit), stated in
  ``res.overall_scope``; unit rows, rankings and unit comparisons list visible units only (ranks
  stay out of all units, e.g. "3/13").
- ``visible_campaigns``: campaign ids the viewer may see; earlier campaigns offered for the
  comparison are limited to them (``None`` = all).
- ``demographics``: demographic single-choice items to break down by (default: all of them).

``CampaignResults`` fields: ``indicators`` (index tree order, with ``scale`` ``"percent"``,
``"points"`` or ``"mean"`` and its range), ``overall`` (:class:`Row` per indicator),
``tables`` (:class:`Table`: ``unit``, ``field`` and each demographic single-choice item, one
:class:`Row` per domain × indicator), ``comparison`` (:class:`Comparison` or None),
``comparable`` (candidates), ``ranking`` (:class:`RankRow` for the root index), ``weighting``
(:class:`Weighting` in use) and ``weightings`` (all three, with availability), ``settings``
(``n_included``, ``n_excluded``, ``n_flagged``, ``ci_method``, ``level``, ``papi_intervals``,
``include_flagged``, ``higher_level``, ...) and ``improvement`` (share of respondents wanting
each element improved, for the priority matrix).  A :class:`Row` gives ``estimate``, ``se``,
``lo``, ``hi`` (``None`` when suppressed: never shown), ``n``, ``n_answered``, ``n_eff``,
``deff``, ``flag`` (``None``, ``"low_n"``, ``"suppressed"``), ``greyed`` and ``reason``
(Vietnamese, with ``reason_en``).  ``trend`` holds this campaign and up to four earlier ones of
the same questionnaire (oldest first, :class:`TrendPoint` with overall rows).  Charts of these
rows: :mod:`survey.services.report_charts`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from analysis import Estimate, IndexTree, Report

from ..extensions import db
from ..models import Campaign
from .results import ResultsError, campaign_report
from .results_extras import (
    Comparison,
    Weighting,
    auto_weighting,
    comparable_campaigns,
    compare_reports,
    domain_names,
    explain,
    overall_scope,
    population_margins,
    weighting_options,
)
from .results_improvement import IMPROVEMENT
from .results_ranking import ImprovementShare, RankRow, improvement_shares, rank_units

__all__ = ["CampaignResults", "Comparison", "ImprovementShare", "Indicator", "RankRow", "Row",
           "Table", "TrendPoint", "Weighting", "campaign_results", "comparable_campaigns"]

CI_CHOICES = ("logit", "beta", "wilson", "wald")
TREND_CAMPAIGNS = 5
REASONS = {
    "low_n": ("Ít phiếu: dưới 30 câu trả lời hợp lệ hoặc khoảng tin cậy rộng hơn ±10 % thang đo; "
              "chỉ để tham khảo",
              "Few answers: under 30 valid answers or a confidence interval wider than ±10 % of "
              "the scale; for reference only"),
    "suppressed": ("Không công bố: dưới 10 câu trả lời hợp lệ (bộ phiếu kiểu PAPI: dưới 15), "
                   "hoặc đơn vị chỉ có 1 phiếu",
                   "Not shown: under 10 valid answers (PAPI-style questionnaires: under 15), or a "
                   "unit with a single response"),
}


@dataclass(frozen=True)
class Indicator:
    """A node of the index tree as the pages show it."""

    code: str
    kind: str  # "index" (root), "group" (element), "criterion"
    depth: int
    label: dict[str, str]
    scale: str  # "percent" (0-100 %), "points" (PAPI-style L-U), "share" (0-1)
    low: float
    high: float
    parent: str | None = None

    @property
    def unit(self) -> str:
        """Unit of measure for labels: ``%`` or ``điểm``."""
        return "%" if self.scale == "percent" else ""


@dataclass(frozen=True)
class Row:
    """One indicator in one domain (overall, a unit, a field, a demographic group)."""

    indicator: str
    kind: str  # "criterion", "group" or "mean" (mean score 1..K)
    domain: str  # "" overall, else the domain's code
    label: dict[str, str]
    estimate: float | None
    se: float | None
    lo: float | None
    hi: float | None
    n: int
    n_answered: int
    n_eff: float | None
    deff: float | None
    df: int
    flag: str | None

    @property
    def shown(self) -> bool:
        """Suppressed figures are never shown."""
        return self.flag != "suppressed"

    @property
    def greyed(self) -> bool:
        """Low-n figures are shown greyed out with the reason."""
        return self.flag == "low_n"

    @property
    def reason(self) -> str | None:
        """Why the figure is greyed or hidden (Vietnamese)."""
        return REASONS[self.flag][0] if self.flag else None

    @property
    def reason_en(self) -> str | None:
        """Why the figure is greyed or hidden (English)."""
        return REASONS[self.flag][1] if self.flag else None


@dataclass(frozen=True)
class Table:
    """A breakdown: ``key`` (``unit``, ``field`` or an item code) and its rows."""

    key: str
    title: dict[str, str]
    domains: tuple[tuple[str, dict[str, str]], ...]  # (code, label) in display order
    rows: tuple[Row, ...]

    def row(self, domain: str, indicator: str, kind: str | None = None) -> Row | None:
        """The row of ``indicator`` (share/index unless ``kind``) in ``domain``."""
        for r in self.rows:
            if r.domain == domain and r.indicator == indicator and (
                    r.kind == kind if kind else r.kind != "mean"):
                return r
        return None


@dataclass(frozen=True)
class TrendPoint:
    """One campaign of the same questionnaire: its overall rows (for the trend chart)."""

    campaign_id: int
    code: str
    name: str
    period: tuple[str, str]
    rows: tuple[Row, ...]

    def row(self, indicator: str) -> Row | None:
        """The overall row of ``indicator`` (index or share, not the mean score)."""
        return next((r for r in self.rows if r.indicator == indicator and r.kind != "mean"),
                    None)


@dataclass(frozen=True)
class CampaignResults:
    """Everything a results page or export shows for one campaign (see the module docstring)."""

    campaign_id: int
    campaign_code: str
    campaign_name: str
    period: tuple[str, str]
    questionnaire: str
    root: str | None
    indicators: tuple[Indicator, ...]
    weighting: Weighting
    weightings: tuple[Weighting, ...]
    settings: dict
    overall_scope: dict[str, str]
    overall: tuple[Row, ...] = ()
    tables: tuple[Table, ...] = ()
    comparison: Comparison | None = None
    comparable: tuple[tuple[int, str, str], ...] = ()
    ranking: tuple[RankRow, ...] = ()
    ranking_note: dict[str, str] = field(default_factory=dict)
    improvement: tuple[ImprovementShare, ...] = ()
    trend: tuple[TrendPoint, ...] = ()
    weighting_note: dict[str, str] | None = None
    error: str | None = None
    error_en: str | None = None

    @property
    def ok(self) -> bool:
        """False when no numbers could be computed (``error`` says why)."""
        return self.error is None

    def indicator(self, code: str) -> Indicator:
        """The indicator with ``code``."""
        return next(i for i in self.indicators if i.code == code)

    def table(self, key: str) -> Table | None:
        """The breakdown table ``key`` (``unit``, ``field``, ``sex`` …), if present."""
        return next((t for t in self.tables if t.key == key), None)

    def overall_row(self, indicator: str, kind: str | None = None) -> Row | None:
        """The overall row of ``indicator``."""
        return next((r for r in self.overall if r.indicator == indicator and (
            r.kind == kind if kind else r.kind != "mean")), None)


def campaign_results(campaign_id: int, *, weighting: str = "unweighted",
                     compare_to: int | str | None = None, include_flagged: bool = True,
                     ci: str = "logit", papi_compatible: bool = False,
                     margins: Mapping[str, Mapping[str, float]] | None = None,
                     visible_units: Collection[int] | None = None,
                     demographics: Collection[str] | None = None,
                     visible_campaigns: Collection[int] | None = None) -> CampaignResults:
    """The results bundle of one campaign (see the module docstring for every field).

    Raises
    ------
    ResultsError
        Unknown campaign, weighting or CI method (bad input a page answers with 4xx).  A report
        that cannot be computed for this data (e.g. design weights without transaction counts)
        does not raise: ``error`` says why, in Vietnamese and English.
    """
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise ResultsError(f"no campaign with id {campaign_id}")
    weighting = "unweighted" if weighting == "equal" else weighting
    if ci not in CI_CHOICES:
        raise ResultsError(f"ci must be one of {', '.join(CI_CHOICES)}")
    from .questionnaires import questionnaire_of

    questionnaire = questionnaire_of(campaign.questionnaire_version)
    tree = IndexTree.from_questionnaire(questionnaire)
    options = weighting_options(campaign, margins)
    note = None
    if weighting == "auto":
        weighting, note = auto_weighting(campaign, options)
    chosen = next((w for w in options if w.key == weighting), None)
    if chosen is None:
        raise ResultsError("weighting must be one of auto, unweighted, design, raked")
    base = dict(campaign_id=campaign.id, campaign_code=campaign.code, campaign_name=campaign.name,
                period=(campaign.starts_on.isoformat(), campaign.ends_on.isoformat()),
                questionnaire=f"{questionnaire.id} v{questionnaire.version}",
                root=tree.root, indicators=_indicators(tree, questionnaire),
                weighting=chosen, weightings=options,
                overall_scope=overall_scope(visible_units), weighting_note=note,
                comparable=comparable_campaigns(campaign, visible_campaigns))
    if not chosen.available:
        return CampaignResults(settings={}, error=chosen.note, error_en=chosen.note_en, **base)
    items = _demographic_items(questionnaire, demographics)
    use_margins = margins or (population_margins(campaign) if weighting == "raked" else None)
    extras: dict = {}
    try:
        report = campaign_report(campaign.id, weighting=weighting,
                                 by=["unit", "field", *items], include_flagged=include_flagged,
                                 margins=use_margins, ci_method=ci,
                                 papi_intervals=papi_compatible, extras=extras)
    except ResultsError as exc:
        vi, en = explain(str(exc))
        return CampaignResults(settings={}, error=vi, error_en=en, **base)
    names = domain_names(questionnaire, items)
    visible = _visible_codes(report, visible_units)
    tables = _tables(report, questionnaire, items, names, visible)
    settings = dict(report.settings)
    cache: dict[int, Report] = {}
    comparison = compare_reports(campaign, report, compare_to, weighting=weighting,
                                 include_flagged=include_flagged, ci=ci,
                                 papi_compatible=papi_compatible, margins=margins,
                                 visible=visible, names=names.get("unit", {}),
                                 allowed=visible_campaigns, cache=cache)
    ranking, note = rank_units(report, tree.root, names.get("unit", {}), visible)
    overall = tuple(_row(e, {}) for e in report.estimates if not e.domain)
    points = _trend(campaign, overall, cache, visible_campaigns, weighting=weighting,
                    include_flagged=include_flagged, ci=ci, papi_compatible=papi_compatible,
                    margins=margins)
    return CampaignResults(
        settings=settings, overall=overall, trend=points,
        tables=tables, comparison=comparison, ranking=ranking, ranking_note=note,
        improvement=improvement_shares(campaign, questionnaire, report, weighting,
                                       include_flagged, extras.get(IMPROVEMENT)), **base)


def _trend(campaign: Campaign, overall: tuple[Row, ...], cache: dict[int, Report],
           allowed: Collection[int] | None, **options) -> tuple[TrendPoint, ...]:
    """This campaign and up to ``TREND_CAMPAIGNS - 1`` earlier ones, oldest first.

    An earlier campaign whose report cannot be computed with these options (e.g. no
    transaction counts for design weights) is left out.
    """
    points = [TrendPoint(campaign.id, campaign.code, campaign.name,
                         (campaign.starts_on.isoformat(), campaign.ends_on.isoformat()), overall)]
    for ident, _code, _name in comparable_campaigns(campaign, allowed)[:TREND_CAMPAIGNS - 1]:
        earlier = db.session.get(Campaign, ident)
        report = cache.get(ident)
        if report is None:
            try:
                report = campaign_report(ident, weighting=options["weighting"], by=(),
                                         include_flagged=options["include_flagged"],
                                         margins=options["margins"], ci_method=options["ci"],
                                         papi_intervals=options["papi_compatible"])
            except ResultsError:
                continue
        points.append(TrendPoint(earlier.id, earlier.code, earlier.name,
                                 (earlier.starts_on.isoformat(), earlier.ends_on.isoformat()),
                                 tuple(_row(e, {}) for e in report.estimates if not e.domain)))
    return tuple(reversed(points))


def _indicators(tree: IndexTree, questionnaire) -> tuple[Indicator, ...]:
    """Index-tree nodes in questionnaire order with their labels, depth and scale."""
    parent = {child: g.code for g in tree.groups for child in g.children}
    crit_item = {c.code: c.item for c in tree.criteria}
    out = []
    for code in tree.order:
        depth, up = 0, parent.get(code)
        while up is not None:
            depth, up = depth + 1, parent.get(up)
        low, high = tree.range_of(code)
        if (low, high) == (0.0, 1.0):
            scale = "percent" if tree.percent else "share"
            low, high = (0.0, 100.0) if tree.percent else (low, high)
        else:
            scale = "points"
        node = next(n for n in questionnaire.index_nodes if n.code == code)
        label = node.label or (questionnaire.items[crit_item[code]].text if code in crit_item
                               else {"vi": code, "en": code})
        kind = "criterion" if code in crit_item else ("index" if code == tree.root else "group")
        out.append(Indicator(code, kind, depth, dict(label), scale, low, high, parent.get(code)))
    return tuple(out)


def _demographic_items(questionnaire, wanted: Collection[str] | None) -> list[str]:
    """Single-choice demographic items (sex, age group …) to break down by."""
    items = [code for code, item in questionnaire.items.items()
             if item.demographic and item.type == "single_choice"]
    return [c for c in items if wanted is None or c in wanted]


def _visible_codes(report: Report, visible_units: Collection[int] | None) -> set[str] | None:
    """Unit codes the viewer may see, or None for all."""
    if visible_units is None:
        return None
    from .results import unit_codes

    return set(unit_codes(list(visible_units)).values())


def _tables(report: Report, questionnaire, items: list[str], names: dict,
            visible: set[str] | None) -> tuple[Table, ...]:
    """One table per breakdown, domains in display order (units by name)."""
    titles = {"unit": {"vi": "Theo đơn vị", "en": "By unit"},
              "field": {"vi": "Theo lĩnh vực thủ tục", "en": "By procedure field"}}
    for code in items:
        text = questionnaire.items[code].text
        titles[code] = {"vi": f"Theo {text['vi'].lower()}", "en": f"By {text['en'].lower()}"}
    rows: dict[str, list[Row]] = {key: [] for key in ["unit", "field", *items]}
    for est in report.estimates:
        if len(est.domain) != 1:
            continue
        key, code = est.domain[0]
        if key not in rows or (key == "unit" and visible is not None and code not in visible):
            continue
        rows[key].append(_row(est, names.get(key, {}).get(code, {"vi": code, "en": code})))
    out = []
    for key, found in rows.items():
        seen: dict[str, dict[str, str]] = {}
        for r in found:
            seen.setdefault(r.domain, r.label)
        if not seen and key not in ("unit", "field"):
            continue  # a demographic question nobody answered
        order = _domain_order(key, seen, names.get(key, {}))
        out.append(Table(key, titles[key], tuple((c, seen[c]) for c in order), tuple(found)))
    return tuple(out)


def _domain_order(key: str, seen: dict[str, dict[str, str]], names: dict) -> list[str]:
    """Units and fields by name; answer options in questionnaire order."""
    if key in ("unit", "field"):
        return sorted(seen, key=lambda c: seen[c]["vi"])
    position = {code: i for i, code in enumerate(names)}
    return sorted(seen, key=lambda c: position.get(c, len(position)))


def _num(x: float) -> float | None:
    """A finite float or None."""
    return float(x) if x is not None and math.isfinite(x) else None


def _row(est: Estimate, label: dict[str, str]) -> Row:
    """An estimate as a row; a suppressed figure carries no numbers at all."""
    domain = est.domain[0][1] if est.domain else ""
    hidden = est.flag == "suppressed"
    numbers = [None if hidden else _num(v) for v in (est.estimate, est.se, est.ci_low,
                                                      est.ci_high)]
    return Row(est.indicator, est.kind, domain, label or {"vi": "Chung", "en": "Overall"},
               *numbers, est.n, est.n_answered, None if hidden else _num(est.n_eff),
               None if hidden else _num(est.deff), est.df, est.flag)
