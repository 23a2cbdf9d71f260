"""The results bundle: the numbers of ``campaign_report`` and ``sipas analyze``, arranged for pages.

Every test runs on SQLite and PostgreSQL (the ``app`` fixture).
"""

from __future__ import annotations

import json
import math
import re
import uuid
from datetime import UTC, date, datetime

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats
from sqlalchemy import func, select

from survey.analyze_cmd import analyze_command
from survey.extensions import db
from survey.models import Answer, Campaign, ProcedureField, Response, Unit
from survey.services import aggregate_sqlite, report_charts
from survey.services.answer_store import store_answers
from survey.services.demo import CAMPAIGN_CODE, load_demo
from survey.services.exports import ExportOptions, write_export
from survey.services.results import ResultsError, campaign_report
from survey.services.results_tables import campaign_results

from .results_data import seed_campaign

FIELDS = (("estimate", "estimate"), ("se", "se"), ("lo", "ci_low"), ("hi", "ci_high"),
          ("n_answered", "n_answered"), ("n_eff", "n_eff"), ("flag", "flag"))


def _close(a, b) -> bool:
    """Equal to 1e-9 relative; None and None/NaN count as equal."""
    if a is None or b is None:
        return a is None and (b is None or (isinstance(b, float) and math.isnan(b)))
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@pytest.fixture
def demo(app):
    """The demo campaign (11 units, sex and age answered by ~70 %, wishes for improvement)."""
    with app.app_context():
        load_demo(responses=900)
        db.session.commit()
        return db.session.scalar(select(Campaign.id).filter_by(code=CAMPAIGN_CODE))


def test_demo_results_equal_sipas_analyze_on_the_raw_csv_export(app, demo, tmp_path):
    """Overall, per unit, field, sex and age group: every row = ``sipas analyze`` on the CSV."""
    raw, pop = tmp_path / "raw.csv", tmp_path / "pop.csv"
    with app.app_context():
        campaign = db.session.get(Campaign, demo)
        write_export("csv", campaign, raw, options=ExportOptions())
        res = campaign_results(demo, weighting="design", compare_to="none")
        report = campaign_report(demo, weighting="design", by=["unit", "field", "sex",
                                                               "age_group"])
        from survey.services.results import _scope as scope_of
        from survey.services.results import unit_codes, unit_populations
        pops = unit_populations(scope_of(demo, True))
        codes = unit_codes(list(pops))
    pop.write_text("unit,population\n" + "".join(f"{codes[u]},{n:.0f}\n" for u, n in pops.items()),
                   encoding="utf-8")
    args = [str(raw), "--questionnaire", "sipas-counter", "--population", str(pop)]
    for by in ("unit", "field", "sex", "age_group"):
        args += ["--by", by]
    out = CliRunner().invoke(analyze_command, args)
    assert out.exit_code == 0, out.output
    analysed = {(tuple(e["domain"].items()), e["indicator"], e["kind"]): e
                for e in json.loads(out.output)["estimates"]}
    assert res.ok and res.weighting.key == "design"
    checked = 0
    rows = [((), r) for r in res.overall]
    for table in res.tables:
        rows += [(((table.key, r.domain),), r) for r in table.rows]
    for domain, row in rows:
        want = analysed[(domain, row.indicator, row.kind)]
        assert row.n == want["n"]
        for mine, theirs in FIELDS:
            expected = None if row.flag == "suppressed" and mine != "n_answered" \
                and mine != "flag" else want[theirs]
            assert _close(getattr(row, mine), expected), (domain, row.indicator, mine)
        checked += 1
    assert checked == len(report.estimates)  # every estimate of the report is in a table
    assert {t.key for t in res.tables} >= {"unit", "field", "sex", "age_group"}
    assert res.settings["n_included"] == report.settings["n_included"]


def test_low_n_and_suppressed_rows_and_the_reasons(app):
    with app.app_context():
        campaign = seed_campaign()
        res = campaign_results(campaign.id, weighting="design", compare_to="none")
    units = res.table("unit")
    r4 = units.row("R4", "sipas")  # a single respondent: suppressed, no numbers at all
    assert r4.flag == "suppressed" and not r4.shown
    assert (r4.estimate, r4.se, r4.lo, r4.hi, r4.n_eff) == (None,) * 5
    assert "dưới 10" in r4.reason
    r3 = units.row("R3", "c1_1")
    assert r3.flag == "low_n" and r3.greyed and r3.estimate is not None and "30" in r3.reason
    assert [code for code, _ in units.domains] == ["R1", "R2", "R3", "R4"]


def test_weightings_are_described_and_raking_says_why_it_cannot_run(app):
    with app.app_context():
        campaign = seed_campaign()  # per-field transactions exist; some responses lack a field
        res = campaign_results(campaign.id, weighting="raked", compare_to="none")
    assert [w.key for w in res.weightings] == ["unweighted", "design", "raked"]
    assert all(w.description and w.formula for w in res.weightings)
    assert res.weighting.available  # margins from the per-field transactions
    assert not res.ok and "raking" in res.error and "field" in res.error


def test_raked_results_equal_the_raked_report(app, demo):
    with app.app_context():
        fields = dict(db.session.execute(
            select(Response.field_id, func.count()).where(Response.campaign_id == demo)
            .group_by(Response.field_id)).all())
        codes = dict(db.session.execute(select(ProcedureField.id, ProcedureField.code)).all())
        margins = {"field": {codes[f]: 1000.0 * (1 + k) for k, f in enumerate(sorted(fields))}}
        none = campaign_results(demo, weighting="raked", compare_to="none")
        res = campaign_results(demo, weighting="raked", compare_to="none", margins=margins)
        report = campaign_report(demo, weighting="raked", by=["unit"], margins=margins)
    assert not none.ok and "Không có số liệu biên" in none.error  # demo: per-unit counts only
    assert res.ok and res.weighting.key == "raked"
    assert _close(res.overall_row("sipas").estimate, report.find("sipas").estimate)
    assert _close(res.table("unit").row("SD-P1", "e2").hi,
                  report.find("e2", {"unit": "SD-P1"}).ci_high)


def test_comparison_with_an_earlier_campaign_and_its_significance(app):
    with app.app_context():
        earlier = seed_campaign(seed=7)
        later = _later_campaign(earlier)
        res = campaign_results(later, weighting="unweighted")
        assert res.comparable[0][0] == earlier.id
        before = campaign_report(earlier.id, by=["unit"])
        now = campaign_report(later, by=["unit"])
    comp = res.comparison
    assert comp is not None and comp.campaign_id == earlier.id and comp.rows
    row = next(r for r in comp.rows if r.domain == "" and r.indicator == "sipas")
    a, b = now.find("sipas"), before.find("sipas")
    se = math.sqrt(a.se ** 2 + b.se ** 2)
    assert row.delta == pytest.approx(a.estimate - b.estimate)
    assert row.se == pytest.approx(se)
    df = min(a.df, b.df)
    p = 2 * stats.t.sf(abs(row.delta) / se, df)
    assert row.p_value == pytest.approx(p) and row.significant == (p < 0.05)
    assert any(r.significant for r in comp.rows) and not all(r.significant for r in comp.rows)
    assert all(r.significant == (r.p_value is not None and r.p_value < 0.05) for r in comp.rows)
    assert "R4" not in {r.domain for r in comp.rows}  # suppressed: no change shown
    with app.app_context():
        assert campaign_results(later, compare_to="none").comparison is None
        with pytest.raises(ResultsError):
            campaign_results(earlier.id, compare_to=later)  # later, not earlier
        trend = campaign_results(later).trend
    assert [p.campaign_id for p in trend] == [earlier.id, later]
    chart = report_charts.trend(res)
    assert not chart.empty and len(chart.rows) == 2


def test_ranking_gives_quartile_groups_only_where_rank_intervals_allow(app, demo):
    with app.app_context():
        res = campaign_results(demo, weighting="unweighted", compare_to="none")
    ranking = res.ranking
    assert [r.rank for r in ranking] == list(range(1, len(ranking) + 1))
    m = ranking[0].of
    for r in ranking:
        assert r.rank_low <= r.rank <= r.rank_high
        group = {min(3, (k - 1) * 4 // m) for k in (r.rank_low, r.rank_high)}
        if len(group) == 1:
            assert r.group == ("Cao", "Trung bình cao", "Trung bình thấp", "Thấp")[group.pop()]
        else:
            assert r.group is None
    assert any(r.group for r in ranking) and any(r.group is None for r in ranking)


def test_manager_scope_lists_only_visible_units(app, demo):
    with app.app_context():
        p1 = db.session.scalar(select(Unit.id).filter_by(code="SD-P1"))
        res = campaign_results(demo, compare_to="none", visible_units={p1})
        full = campaign_results(demo, compare_to="none")
    assert [c for c, _ in res.table("unit").domains] == ["SD-P1"]
    assert [r.unit for r in res.ranking] == ["SD-P1"] and res.ranking[0].of == len(full.ranking)
    assert res.overall == full.overall and "toàn đợt" in res.overall_scope["vi"]


def test_improvement_shares_count_the_wish_question(app, demo):
    with app.app_context():
        res = campaign_results(demo, weighting="unweighted", compare_to="none")
        wishes = db.session.scalars(
            select(Answer.choices).join(Response, Response.id == Answer.response_id)
            .where(Answer.item_code == "improve", Response.excluded.is_(False))).all()
    shares = {s.indicator: s for s in res.improvement}
    assert set(shares) == {"e1", "e2", "e3", "e4", "e5"}
    for code, share in shares.items():
        assert share.share == pytest.approx(100 * sum(code in w for w in wishes) / len(wishes))
        assert share.satisfaction == pytest.approx(res.overall_row(code).estimate)
    chart = report_charts.priority_matrix(res)
    assert not chart.empty and len(chart.rows) == 5


def test_charts_are_safe_svg_with_vietnamese_and_png(app, demo):
    with app.app_context():
        res = campaign_results(demo, weighting="design", compare_to="none")
    charts = [report_charts.unit_bars(res), report_charts.element_profile(res, "SD-P1"),
              report_charts.priority_matrix(res)]
    for chart in charts:
        svg = chart.svg()
        assert svg.startswith("<svg") and 'role="img"' in svg
        for bad in ("style=", "<style", "<script", "onload", "xlink:href", "<metadata"):
            assert bad not in svg, (chart.key, bad)
        assert chart.title in svg  # <title>, read by screen readers
        assert chart.png()[:8] == b"\x89PNG\r\n\x1a\n"
        assert chart.svg_bytes().startswith(b"<?xml")
        assert chart.rows and len(chart.headers) == len(chart.rows[0])
    ids = [i for c in charts for i in re.findall(r'id="([^"]+)"', c.svg())]
    assert len(ids) == len(set(ids))  # several charts on one page: no duplicate ids
    assert "Phường 1" in {row[0] for row in charts[0].rows}


@pytest.mark.parametrize("fork", [True, False], ids=["forked half", "thread half"])
def test_sqlite_pass_split_over_two_connections_gives_the_same_report(app, monkeypatch, fork):
    if app.config["BACKEND"] != "sqlite":
        pytest.skip("the split pass is the SQLite path")
    from survey.services import results_cache
    monkeypatch.setattr(results_cache, "cached_cells", lambda *args: args[-1]())  # no reuse
    monkeypatch.setattr(aggregate_sqlite, "FORK", fork)
    with app.app_context():
        campaign = seed_campaign()
        one = campaign_report(campaign.id, weighting="design", by=["unit", "field", "sex"])
        monkeypatch.setattr(aggregate_sqlite, "SPLIT_ABOVE", 0)
        two = campaign_report(campaign.id, weighting="design", by=["unit", "field", "sex"])
    assert [e.to_dict() for e in one.estimates] == [e.to_dict() for e in two.estimates]
    # A helper connection that cannot open the file: its half is counted on the session's.
    monkeypatch.setattr(aggregate_sqlite, "_file_path", lambda: "/nonexistent/sipas.db")
    with app.app_context():
        three = campaign_report(campaign.id, weighting="design", by=["unit", "field", "sex"])
    assert [e.to_dict() for e in one.estimates] == [e.to_dict() for e in three.estimates]


def test_sqlite_pass_counts_the_half_of_a_child_that_died(app, monkeypatch):
    if app.config["BACKEND"] != "sqlite":
        pytest.skip("the split pass is the SQLite path")
    import os

    from survey.services import results_cache
    monkeypatch.setattr(results_cache, "cached_cells", lambda *args: args[-1]())  # no reuse
    with app.app_context():
        campaign = seed_campaign()
        one = campaign_report(campaign.id, weighting="design", by=["unit", "sex"])
        monkeypatch.setattr(aggregate_sqlite, "SPLIT_ABOVE", 0)
        monkeypatch.setattr(aggregate_sqlite._Half, "_work", lambda self: os._exit(3))
        two = campaign_report(campaign.id, weighting="design", by=["unit", "sex"])
    assert [e.to_dict() for e in one.estimates] == [e.to_dict() for e in two.estimates]


def test_sqlite_pass_stops_its_child_when_its_own_half_fails(app, monkeypatch):
    if app.config["BACKEND"] != "sqlite":
        pytest.skip("the split pass is the SQLite path")
    import os

    from survey.services import results_cache
    monkeypatch.setattr(results_cache, "cached_cells", lambda *args: args[-1]())  # no reuse
    monkeypatch.setattr(aggregate_sqlite, "SPLIT_ABOVE", 0)
    started = []
    real_fork = aggregate_sqlite._Half.fork

    def fork(half):
        started.append(half)
        return real_fork(half)

    def failing(conn, *args):
        if os.getpid() == parent:  # the parent's half fails; the child's would work
            raise RuntimeError("disk went away")
        return real_run(conn, *args)

    parent, real_run = os.getpid(), aggregate_sqlite._run
    monkeypatch.setattr(aggregate_sqlite._Half, "fork", fork)
    monkeypatch.setattr(aggregate_sqlite, "_run", failing)
    with app.app_context():
        campaign = seed_campaign()
        with pytest.raises(RuntimeError, match="disk went away"):
            campaign_report(campaign.id, weighting="design", by=["unit"])
    assert len(started) == 1 and started[0].pid is None  # killed and waited for
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child left behind


def _later_campaign(earlier: Campaign) -> int:
    """A later campaign of the same questionnaire on the same units, R1 clearly happier."""
    later = Campaign(code="res-later", name="Kết quả kỳ sau",
                     questionnaire_version_id=earlier.questionnaire_version_id,
                     starts_on=date(2026, 7, 1), ends_on=date(2026, 12, 31))
    db.session.add(later)
    db.session.flush()
    rng = np.random.default_rng(11)
    version = earlier.questionnaire_version
    items = [f"c{e}_{i}" for e, m in ((1, 4), (2, 5), (3, 6), (4, 3)) for i in range(1, m + 1)]
    units = dict(db.session.execute(select(Unit.code, Unit.id)).all())
    for code, n, level in (("R1", 80, 0.95), ("R2", 40, 0.65), ("R3", 30, 0.75)):
        for _ in range(n):
            response = Response(
                submission_uuid=str(uuid.uuid4()), receipt=uuid.uuid4().hex[:12],
                campaign_id=later.id, questionnaire_version_id=version.id,
                questionnaire_id=version.questionnaire_id,
                questionnaire_version=version.version, content_hash=version.content_hash,
                unit_id=units[code], channel="paper", language="vi",
                submitted_at=datetime(2026, 8, 1, tzinfo=UTC), flags=[], excluded=False)
            db.session.add(response)
            db.session.flush()
            store_answers([
                {"response_id": response.id, "item_code": item, "scale_points": 5,
                 "rating": int(rng.choice([4, 5]) if rng.random() < level else rng.choice([1, 2, 3]))}
                for item in items])
    db.session.commit()
    return later.id


def test_counts_are_reused_until_the_included_responses_change(app, monkeypatch):
    from survey.services import aggregate_sums

    def no_pass(*args, **kwargs):
        raise AssertionError("the sums were formed again")

    with app.app_context():
        campaign = seed_campaign()
        first = campaign_report(campaign.id, weighting="design", by=["unit", "field"])
        monkeypatch.setattr(aggregate_sums, "_stream_cells", no_pass)
        monkeypatch.setattr(aggregate_sums, "_sql_cells", no_pass)
        again = campaign_report(campaign.id, weighting="unweighted", by=["unit", "field"])
        assert again.find("sipas").n == first.find("sipas").n  # same responses, new weights
        assert again.find("sipas").estimate != first.find("sipas").estimate
        response = db.session.scalar(select(Response).where(
            Response.campaign_id == campaign.id, Response.excluded.is_(False)))
        response.excluded, response.exclusion_reason = True, "thử"
        db.session.commit()
        with pytest.raises(AssertionError, match="formed again"):
            campaign_report(campaign.id, weighting="design", by=["unit", "field"])


def test_stored_counts_follow_which_responses_are_left_out_not_just_their_id_sum(app, monkeypatch):
    """Excluding 5 and 7 instead of 4 and 8 keeps the count, id sum and id range: sums again."""
    from survey.services import aggregate_sums

    def no_pass(*args, **kwargs):
        raise AssertionError("the sums were formed again")

    with app.app_context():
        campaign = seed_campaign()
        ids = db.session.scalars(select(Response.id).where(Response.campaign_id == campaign.id)
                                 .order_by(Response.id)).all()
        start = next(k for k in range(1, len(ids) - 4) if ids[k + 3] - ids[k] == 3)
        a, b, c, d = ids[start:start + 4]

        def exclude(*chosen):
            for response in db.session.scalars(select(Response).where(Response.id.in_([a, b, c, d]))):
                response.excluded = response.id in chosen
                response.exclusion_reason = "thử" if response.id in chosen else None
            db.session.commit()

        exclude(a, d)
        campaign_report(campaign.id, weighting="unweighted", by=["unit"])
        monkeypatch.setattr(aggregate_sums, "_stream_cells", no_pass)
        monkeypatch.setattr(aggregate_sums, "_sql_cells", no_pass)
        campaign_report(campaign.id, weighting="design", by=["unit"])  # same responses: reused
        exclude(b, c)  # same number, id sum, lowest and highest id of the included responses
        with pytest.raises(AssertionError, match="formed again"):
            campaign_report(campaign.id, weighting="unweighted", by=["unit"])
