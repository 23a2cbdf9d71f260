"""The numbers both reports (XLSX and PDF) show: the results bundle, the weights, the scope.

Numbers come only from :func:`survey.services.results_tables.campaign_results` (itself
:func:`survey.services.results.campaign_report`), so the reports, the results pages and
``sipas analyze`` on the raw CSV agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace

from sqlalchemy import select

from ...extensions import db
from ...models import Campaign, Response
from ..results import ResultsError, unit_codes, unit_populations
from ..results_tables import CampaignResults, Row, campaign_results
from ..scope import visible_unit_ids
from . import ExportError, ExportOptions

FLAG_WORDS = {"low_n": "Ít phiếu (chỉ tham khảo)", "suppressed": "Không công bố"}
KIND_WORDS = {"criterion": "Tiêu chí", "group": "Chỉ số thành phần", "mean": "Điểm trung bình"}


@dataclass(frozen=True)
class WeightRow:
    """A unit's design weight: N_h transactions, n_h respondents, w_h = N_h / n_h."""

    unit: str
    name: str
    population: float | None
    respondents: int
    weight: float | None


@dataclass(frozen=True)
class ReportData:
    """The results bundle with what the reports add: weights per unit and the viewer's scope."""

    campaign: Campaign
    results: CampaignResults
    options: ExportOptions
    weights: tuple[WeightRow, ...]
    scoped: bool


def report_data(campaign: Campaign, options: ExportOptions, viewer=None) -> ReportData:
    """Compute the bundle once for a report (``viewer``: unit rows of their subtree only)."""
    visible = None
    if viewer is not None:
        visible = set(db.session.scalars(visible_unit_ids(viewer)).all())
        surveyed = set(db.session.scalars(select(Response.unit_id).distinct().where(
            Response.campaign_id == campaign.id)).all())
        if surveyed <= visible:
            visible = None  # the viewer sees every unit of the campaign: no scope to state
    try:
        results = campaign_results(
            campaign.id, weighting=options.weighting,
            compare_to=options.compare_to if options.compare_to is not None else "none",
            include_flagged=options.include_flagged, ci=options.ci, visible_units=visible,
            papi_compatible=options.papi_compatible)
    except ResultsError as exc:
        raise ExportError(str(exc)) from exc
    if not results.ok:
        raise ExportError(results.error)
    return ReportData(campaign, results, options, _weights(campaign, results),
                      scoped=visible is not None)


def _weights(campaign: Campaign, results: CampaignResults) -> tuple[WeightRow, ...]:
    """N_h, n_h and w_h of every unit in the unit table (n_h: respondents of the root row)."""
    table = results.table("unit")
    if table is None:
        return ()
    populations = unit_populations(SimpleNamespace(campaign=campaign))
    code_to_id = {code: uid for uid, code in unit_codes(list(populations)).items()}
    out = []
    for code, label in table.domains:
        row = table.row(code, results.root) if results.root else None
        n = row.n if row else 0
        population = populations.get(code_to_id.get(code))
        weight = None
        if results.weighting.key == "unweighted":
            weight = 1.0
        elif population and n and results.weighting.key == "design":
            weight = population / n
        out.append(WeightRow(code, label.get("vi", code), population, n, weight))
    return tuple(out)


def value(x: float | None) -> float | None:
    """A finite number or None (empty cell)."""
    return x if x is not None and math.isfinite(x) else None


def flag_text(row: Row) -> str:
    """The note beside a greyed or hidden figure."""
    return f"{FLAG_WORDS[row.flag]}: {row.reason}" if row.flag else ""


def below_threshold(data: ReportData) -> list[tuple[str, str, Row]]:
    """Units whose root index is low-n or suppressed: (code, name, row)."""
    table = data.results.table("unit")
    if table is None or data.results.root is None:
        return []
    out = []
    for code, label in table.domains:
        row = table.row(code, data.results.root)
        if row is not None and row.flag:
            out.append((code, label.get("vi", code), row))
    return out


def tree_order(data: ReportData) -> dict[str, int]:
    """Position of each indicator when the tree is read top-down (index, element, its criteria)."""
    children: dict[str | None, list[str]] = {}
    for ind in data.results.indicators:
        children.setdefault(ind.parent, []).append(ind.code)
    order: list[str] = []

    def visit(code: str) -> None:
        order.append(code)
        for child in children.get(code, []):
            visit(child)

    for top in children.get(None, []):
        visit(top)
    return {code: k for k, code in enumerate(order)}


def ordered(data: ReportData, rows) -> list:
    """Rows in top-down tree order, a criterion's share before its mean score."""
    position = tree_order(data)
    return sorted(rows, key=lambda r: (position.get(r.indicator, len(position)), r.kind == "mean"))
