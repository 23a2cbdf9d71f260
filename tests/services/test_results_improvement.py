"""Improve-most counts (priority matrix): the SQLite pass's bit masks equal the grouped query.

Every test runs on SQLite and PostgreSQL (the ``app`` fixture); the pass itself is SQLite's.
"""

from __future__ import annotations

import numpy as np
import pytest

from survey.services import aggregate_sqlite
from survey.services.results import _scope
from survey.services.results_improvement import (
    IMPROVEMENT,
    ImprovementCounts,
    chosen_mask_sql,
    improvement_counts,
    improvement_item,
)
from survey.services.results_tables import campaign_results

from .results_data import seed_campaign

OPTIONS = ("e1", "e2", "e3", "e4", "e5")


def _with_wishes(seed: int = 5):
    """The results campaign plus improve-most answers of every shape; the expected counts.

    Per response: no answer row (skipped), an empty list, or one to three elements (some in
    an order other than the options').  Returns the campaign and ``{include_flagged:
    ImprovementCounts}`` counted here in Python from what was inserted.
    """
    rng = np.random.default_rng(seed)
    expected = {True: {}, False: {}}
    campaign = seed_campaign(more_answers=lambda responses: _wishes(rng, responses, expected))
    return campaign, {key: ImprovementCounts("improve", OPTIONS,
                                             {u: tuple(v) for u, v in sorted(per.items())})
                      for key, per in expected.items()}


def _wishes(rng, responses: list[dict], expected: dict) -> list[dict]:
    """The improve-most answers drawn for ``responses``, counted into ``expected``."""
    rows = []
    for rid, unit_id, excluded, flags in ((r["id"], r["unit_id"], r["excluded"], r["flags"])
                                          for r in responses):
        draw = rng.random()
        if draw < 0.2:
            continue  # skipped: no answer row
        chosen = [] if draw < 0.3 else sorted(
            rng.choice(OPTIONS, size=int(rng.integers(1, 4)), replace=False).tolist(),
            reverse=draw < 0.5)
        rows.append({"response_id": rid, "item_code": "improve", "rating": None,
                     "scale_points": None, "not_applicable": False, "number": None,
                     "choice": None, "choices": chosen, "text": None})
        for include_flagged in (True, False):
            if excluded or (flags and not include_flagged):
                continue
            counts = expected[include_flagged].setdefault(unit_id, [0] * 6)
            counts[0] += 1
            for k, code in enumerate(OPTIONS):
                counts[k + 1] += code in chosen
    return rows


def test_grouped_query_counts_every_answer_shape(app):
    with app.app_context():
        campaign, expected = _with_wishes()
        for include_flagged in (True, False):
            scope = _scope(campaign.id, include_flagged)
            item = improvement_item(scope.questionnaire, {g.code for g in scope.tree.groups})
            assert item.code == "improve"
            assert improvement_counts(campaign.id, item, include_flagged) == \
                expected[include_flagged]
    assert expected[True] != expected[False]  # the flagged ones make a difference


@pytest.mark.parametrize("split", ["one pass", "forked half", "thread half"])
def test_sqlite_pass_counts_equal_the_grouped_query(app, monkeypatch, split):
    if app.config["BACKEND"] != "sqlite":
        pytest.skip("the folded counts are the SQLite pass's")
    if split != "one pass":
        monkeypatch.setattr(aggregate_sqlite, "SPLIT_ABOVE", 0)
        monkeypatch.setattr(aggregate_sqlite, "FORK", split == "forked half")
    with app.app_context():
        campaign, expected = _with_wishes()
        for include_flagged in (True, False):
            scope = _scope(campaign.id, include_flagged)
            cells = aggregate_sqlite.sqlite_cells(scope, ["sex"], [(), ("sex",)])
            assert cells[IMPROVEMENT] == expected[include_flagged]


def test_page_shares_come_from_the_counts_on_both_databases(app, monkeypatch):
    """The weighted shares of the bundle: Σ w_h c_hk / Σ w_h a_h from the expected counts."""
    from survey.services import results_cache, results_ranking
    monkeypatch.setattr(results_cache, "cached_cells", lambda *args: args[-1]())  # no reuse
    if app.config["BACKEND"] == "sqlite":  # the pass's counts are used, no second query
        monkeypatch.setattr(results_ranking, "improvement_counts", None)
    with app.app_context():
        campaign, expected = _with_wishes()
        res = campaign_results(campaign.id, weighting="unweighted", compare_to="none",
                               include_flagged=False)
        counts = expected[False]
    answered = sum(v[0] for v in counts.per_unit.values())
    shares = {s.indicator: s for s in res.improvement}
    assert set(shares) == set(OPTIONS)
    for k, code in enumerate(OPTIONS):
        chosen = sum(v[k + 1] for v in counts.per_unit.values())
        assert shares[code].share == pytest.approx(100 * chosen / answered, rel=1e-12)
        assert shares[code].n_answered == answered


def test_codes_that_need_escaping_are_not_matched_in_sql():
    class Option:
        def __init__(self, code):
            self.code = code

    class Item:
        options = (Option("e1"), Option('e"2'))

    assert chosen_mask_sql(Item()) is None
    Item.options = (Option("e1"), Option("e2"))
    assert "instr(a.choices, '\"e2\"')" in chosen_mask_sql(Item())
