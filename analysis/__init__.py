"""Weighted SIPAS indices with confidence intervals that match R's ``survey`` package.

A pure numpy/scipy library: arrays and plain data in, frozen dataclasses out.  It never imports
Flask, SQLAlchemy or the ``survey`` web package.  The reference is R's ``survey`` (Lumley);
see ``../shared/spec/statistics.md``.

Typical use::

    design = design_weights(unit_codes, {"A": 800, "B": 3000})
    tree = IndexTree.from_questionnaire(questionnaire)
    report = analyse(design, tree, answers, breakdowns=[Breakdown.units()])
"""

from .compare import Difference, RankInterval, difference, domain_difference, rank_intervals
from .counts import (
    CellCounts,
    CountsAccumulator,
    RespondentVectors,
    analyse_counts,
    counts_from_values,
    counts_from_vectors,
    respondent_vectors,
    weighted_sums,
)
from .design import (
    Calibration,
    Design,
    design_weights,
    equal_weights,
    given_weights,
    stratum_index,
)
from .engine import Block, Stat, answer_sets, block_covariance, compute_block, stats_for
from .estimates import Breakdown, DomainBlock, Estimate, Report, analyse
from .higher import mean_of_units
from .intervals import (
    CI_METHODS,
    clopper_pearson,
    confidence_interval,
    korn_graubard,
    logit_interval,
    papi_interval,
    t_quantile,
    wald_interval,
    wilson_interval,
)
from .raking import Margin, RakingError, rake
from .sums import CellSums, Layout, cell_sums
from .tree import (
    Criterion,
    Group,
    IndexTree,
    TreeValues,
    criterion_values,
    evaluate_tree,
    score,
    score_answered,
)
from .variance import stratified_covariance, stratum_contribution

__all__ = [
    "CI_METHODS", "Block", "Breakdown", "Calibration", "CellCounts", "CellSums",
    "CountsAccumulator", "Criterion", "RespondentVectors", "counts_from_vectors",
    "respondent_vectors", "Design", "Difference", "DomainBlock", "Estimate", "Group",
    "IndexTree", "Layout", "Margin", "RakingError", "RankInterval", "Report", "Stat", "TreeValues",
    "analyse", "analyse_counts", "answer_sets", "block_covariance", "cell_sums", "clopper_pearson",
    "compute_block", "confidence_interval", "counts_from_values", "criterion_values",
    "design_weights", "difference",
    "domain_difference", "equal_weights", "evaluate_tree", "given_weights", "korn_graubard",
    "logit_interval", "mean_of_units", "papi_interval", "rake", "rank_intervals", "score",
    "score_answered", "stats_for", "stratified_covariance", "stratum_contribution", "stratum_index",
    "t_quantile", "wald_interval", "weighted_sums", "wilson_interval",
]
