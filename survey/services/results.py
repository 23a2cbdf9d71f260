"""Campaign results (kết quả khảo sát): weighted SIPAS indices straight from the database.

:func:`campaign_report` is the one entry point.  It reads included (not excluded) responses of a
campaign and returns an :class:`analysis.Report`, the same numbers ``sipas analyze`` prints for
the same data exported as CSV (:func:`export_analyze_input` writes that export).

Design and unweighted reports never bring responses into Python: per-stratum × domain sums come
from SQL (``GROUP BY`` on PostgreSQL, one streaming pass elsewhere, see
:mod:`survey.services.aggregate`).  Raking needs every respondent's calibration row, so a raked
report streams compact arrays instead (see ``docs/design-notes.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from sqlalchemy import and_, func, select, text

from analysis import IndexTree, Report

from ..extensions import db
from ..models import Campaign, PopulationCount, Response, Unit
from ..models.response import REVIEW_PREDICATE
from ..questionnaires import Questionnaire
from .questionnaires import questionnaire_of

WEIGHTINGS = ("unweighted", "design", "raked")
BUILTIN_VARIABLES = ("unit", "field", "counter")


class ResultsError(ValueError):
    """A report cannot be computed as asked (message says why, in terms a user can act on)."""


@dataclass(frozen=True)
class Scope:
    """Which responses of a campaign a report uses.

    ``n_responses``: all the campaign's responses (included or not), once counted.
    ``extras``: by-products of forming the sums that other parts of the results bundle use
    (``"improvement"``: :class:`results_improvement.ImprovementCounts` from the SQLite pass).
    """

    campaign: Campaign
    questionnaire: Questionnaire
    tree: IndexTree
    include_flagged: bool
    n_responses: int | None = None
    extras: dict = field(default_factory=dict, compare=False, repr=False)

    def filters(self) -> list:
        """SQL conditions on ``responses`` selecting the included responses."""
        conditions = [Response.campaign_id == self.campaign.id, Response.excluded.is_(False)]
        if not self.include_flagged:
            conditions.append(~flagged())
        return conditions


def flagged():
    """SQL condition: the response carries at least one integrity flag."""
    return and_(Response.flags.is_not(None), func.json_array_length(Response.flags) > 0)


def campaign_report(campaign_id: int, *, weighting: str = "unweighted",
                    by: Sequence[str | Sequence[str]] = (), include_flagged: bool = True,
                    margins: Mapping[str, Mapping[str, float]] | None = None,
                    bounds: tuple[float, float] | None = None, ci_method: str = "logit",
                    level: float = 0.95, papi_intervals: bool = False,
                    method: str = "auto", extras: dict | None = None) -> Report:
    """Every indicator of the campaign's index tree, overall and per domain, with SE and CI.

    Parameters
    ----------
    campaign_id : int
    weighting : {"unweighted", "design", "raked"}
        ``unweighted``: w = 1 (``equal`` is accepted too); ``design``: w = N_h / n_h with
        N_h the unit's transactions (:class:`PopulationCount`, all fields, the months of the
        campaign period) and fpc; ``raked``: those design weights (equal weights when no unit
        has population counts) raked to ``margins``.
    by : sequence
        Breakdowns: ``"unit"``, ``"field"``, ``"counter"`` or a questionnaire item code
        (``"sex"``, ``"age_group"``); a tuple (or ``"unit,field"``) crosses variables.
    include_flagged : bool
        Keep responses carrying integrity flags (the default; flags never exclude by
        themselves, a reviewer's exclusion does).
    margins : mapping variable -> {category: population}
        Raking margins (variables as in ``by``), required with ``weighting="raked"``.
    bounds : (L, U), optional
        Bounded raking.
    ci_method, level, papi_intervals :
        As :func:`analysis.analyse`.
    method : {"auto", "sql", "stream", "arrays"}
        How the sums are formed; ``auto`` is SQL on PostgreSQL and a streaming pass elsewhere.
        All give the same numbers (tests check it).
    extras : dict, optional
        Filled with by-products of the sums (see :class:`Scope`), e.g. ``"improvement"`` when
        the SQLite pass counted the improve-most question; absent keys mean "not formed".

    Returns
    -------
    analysis.Report
        ``settings`` adds ``campaign``, ``n_included``, ``n_excluded``, ``n_flagged`` (flagged
        among the non-excluded), ``include_flagged`` and ``strata``.

    Raises
    ------
    ResultsError
        Unknown campaign, weighting or breakdown variable; a unit without transactions under
        design weighting; no included response; raking that cannot be done.
    """
    from .aggregate import report_from_database

    scope = _scope(campaign_id, include_flagged, {} if extras is None else extras)
    weighting = "unweighted" if weighting == "equal" else weighting
    if weighting not in WEIGHTINGS:
        raise ResultsError(f"weighting must be one of {', '.join(WEIGHTINGS)}")
    if weighting == "raked" and not margins:
        raise ResultsError("raked weighting needs population margins")
    breakdowns = [_variables(scope, spec) for spec in by]
    counts, total = _response_counts(scope)
    scope = replace(scope, n_responses=total)
    if counts["n_included"] == 0:
        raise ResultsError("the campaign has no included response to analyse")
    report = report_from_database(scope, weighting=weighting, breakdowns=breakdowns,
                                  margins=margins, bounds=bounds, ci_method=ci_method,
                                  level=level, papi_intervals=papi_intervals, method=method)
    report.settings.update(campaign=scope.campaign.code, include_flagged=include_flagged,
                           strata="unit", **counts)
    return report


def export_analyze_input(campaign_id: int, fh, *, include_flagged: bool = True,
                         viewer=None) -> int:
    """Write the responses :func:`campaign_report` counts as ``sipas analyze`` input to ``fh``.

    The raw CSV export (UTF-8 with BOM, one row per response, ``unit`` and item-code columns;
    see :mod:`survey.services.exports.raw`) written to the binary file ``fh``; returns its size
    in bytes.  ``viewer`` limits it to a user's unit subtree.
    """
    from .exports.raw import raw_export
    from .exports.raw_csv import write_csv

    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise ResultsError(f"no campaign with id {campaign_id}")
    return write_csv(raw_export(campaign, viewer=viewer, include_flagged=include_flagged), fh)


def _scope(campaign_id: int, include_flagged: bool, extras: dict | None = None) -> Scope:
    """The campaign, its questionnaire and index tree."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise ResultsError(f"no campaign with id {campaign_id}")
    questionnaire = questionnaire_of(campaign.questionnaire_version)
    if not questionnaire.index_root:
        raise ResultsError(f"questionnaire {questionnaire.key} has no index tree")
    return Scope(campaign, questionnaire, IndexTree.from_questionnaire(questionnaire),
                 include_flagged, extras={} if extras is None else extras)


def _variables(scope: Scope, spec: str | Sequence[str]) -> tuple[str, ...]:
    """A breakdown's variable names, each checked: built-in or a choice item of the form."""
    names = tuple(v.strip() for v in (spec.split(",") if isinstance(spec, str) else spec))
    for name in names:
        item = scope.questionnaire.items.get(name)
        if name not in BUILTIN_VARIABLES and (item is None or item.type not in
                                              ("single_choice", "yes_no")):
            raise ResultsError(f"cannot break down by {name!r}: use unit, field, counter or a "
                               "single-choice question of the questionnaire")
    if not names or len(set(names)) != len(names):
        raise ResultsError("a breakdown needs distinct variable names")
    return names


def response_counts(scope: Scope) -> dict[str, int]:
    """``n_included``, ``n_excluded`` and ``n_flagged`` (flagged, not excluded)."""
    return _response_counts(scope)[0]


def _response_counts(scope: Scope) -> tuple[dict[str, int], int]:
    """:func:`response_counts` and the number of all the campaign's responses.

    An index-only count of the campaign's responses and its few rows in the partial review
    index (excluded or flagged: those not excluded are the flagged ones), instead of reading
    every response's flags (0.2 s at 1,000,000 responses).
    """
    total = int(db.session.scalar(select(func.count()).select_from(Response)
                                  .where(Response.campaign_id == scope.campaign.id)) or 0)
    rows = review_rows(scope.campaign.id)
    excluded = sum(1 for _, is_excluded in rows if is_excluded)
    flagged_kept = len(rows) - excluded
    kept = total - excluded
    included = kept if scope.include_flagged else kept - flagged_kept
    return {"n_included": included, "n_excluded": excluded, "n_flagged": flagged_kept}, total


def review_rows(campaign_id: int) -> list[tuple[int, bool]]:
    """``(id, excluded)`` of the campaign's excluded or flagged responses, in id order.

    Read from the partial index ``ix_responses_review`` (only those rows).  SQLite has no
    statistics to see that it is small and would walk the whole campaign index instead, so it
    is named there.
    """
    index = " INDEXED BY ix_responses_review" if db.engine.dialect.name == "sqlite" else ""
    rows = db.session.execute(text(
        f"SELECT id, excluded FROM responses{index} WHERE campaign_id = :campaign "
        f"AND ({REVIEW_PREDICATE}) ORDER BY id"), {"campaign": campaign_id})
    return [(int(i), bool(e)) for i, e in rows]


def unit_populations(scope: Scope) -> dict[int, float]:
    """N_h per unit id: transactions of every field over the months of the campaign period."""
    start = scope.campaign.starts_on.replace(day=1)
    end: date = scope.campaign.ends_on
    rows = db.session.execute(
        select(PopulationCount.unit_id, func.sum(PopulationCount.transactions))
        .where(PopulationCount.month >= start, PopulationCount.month <= end)
        .group_by(PopulationCount.unit_id)
    )
    return {unit_id: float(total) for unit_id, total in rows if total is not None}


def unit_codes(unit_ids: Sequence[int]) -> dict[int, str]:
    """Official code of each unit id."""
    rows = db.session.execute(select(Unit.id, Unit.code).where(Unit.id.in_(list(unit_ids))))
    return dict(rows.all())
