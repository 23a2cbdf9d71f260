"""The results service gives ``sipas analyze``'s numbers, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import update

from survey.analyze_cmd import analyze_command
from survey.extensions import db
from survey.models import PopulationCount, Response, Unit
from survey.services.results import ResultsError, campaign_report

from .results_data import export_for_analyze, seed_campaign

MIXED = Path(__file__).parent / "fixtures" / "mixed-scoring.v1.yaml"
FIELDS = ("estimate", "se", "ci_low", "ci_high", "df", "n", "n_answered", "deff", "n_eff",
          "flag")


def analyze(*args: str) -> dict:
    """Run ``sipas analyze`` and parse its JSON."""
    result = CliRunner().invoke(analyze_command, [*args, "--questionnaire", "sipas-counter"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_same(report, document: dict, rtol: float = 1e-10) -> None:
    """Every estimate of the CLI's JSON equals the report's, field by field."""
    mine = [e.to_dict() for e in report.estimates]
    theirs = document["estimates"]
    assert [(e["domain"], e["indicator"], e["kind"]) for e in mine] == \
        [(e["domain"], e["indicator"], e["kind"]) for e in theirs]
    for a, b in zip(mine, theirs, strict=True):
        for key in FIELDS:
            x, y = a[key], b[key]
            if isinstance(x, float) and isinstance(y, float):
                assert x == pytest.approx(y, rel=rtol, abs=1e-12), (a["indicator"], key)
            else:
                assert x == y, (a["domain"], a["indicator"], key)


@pytest.mark.parametrize("method", ["auto", "stream", "arrays"])
def test_design_weighted_report_equals_sipas_analyze(app, tmp_path, method):
    """Design weights from the period's transactions, domains unit and field, N/A and skips."""
    with app.app_context():
        campaign = seed_campaign()
        data, pop = export_for_analyze(campaign, tmp_path)
        report = campaign_report(campaign.id, weighting="design", by=("unit", "field"),
                                 method=method)
        document = analyze(str(data), "--population", str(pop), "--by", "unit", "--by", "field")
        assert_same(report, document)
        assert report.settings["weights"] == "design" and report.settings["fpc"]


def test_unweighted_crossed_domains_equal_sipas_analyze(app, tmp_path):
    """Equal weights with a crossed unit × sex breakdown and a demographic breakdown."""
    with app.app_context():
        campaign = seed_campaign(seed=11)
        data, _ = export_for_analyze(campaign, tmp_path)
        report = campaign_report(campaign.id, by=("unit,sex", "age_group"))
        document = analyze(str(data), "--by", "unit,sex", "--by", "age_group")
        assert_same(report, document)


def test_counts_exclusions_and_flags(app, tmp_path):
    """Excluded responses never count; flagged ones only when asked; the counts are reported."""
    with app.app_context():
        campaign = seed_campaign(seed=3)
        all_rows = db.session.query(Response).filter_by(campaign_id=campaign.id).all()
        excluded = sum(r.excluded for r in all_rows)
        flagged = sum(bool(r.flags) and not r.excluded for r in all_rows)
        assert excluded and flagged
        report = campaign_report(campaign.id)
        s = report.settings
        assert (s["n_included"], s["n_excluded"], s["n_flagged"]) == \
            (len(all_rows) - excluded, excluded, flagged)
        assert report.find("sipas").n == len(all_rows) - excluded
        strict = campaign_report(campaign.id, include_flagged=False, weighting="design")
        assert strict.settings["n_included"] == len(all_rows) - excluded - flagged
        data, pop = export_for_analyze(campaign, tmp_path, include_flagged=False)
        assert_same(strict, analyze(str(data), "--population", str(pop)))
        # Excluding one more response changes the report: exclusion is read live.
        victim = next(r for r in all_rows if not r.excluded)
        db.session.execute(update(Response).where(Response.id == victim.id)
                           .values(excluded=True, exclusion_reason="kiểm tra"))
        db.session.commit()
        assert campaign_report(campaign.id).settings["n_excluded"] == excluded + 1


def test_raked_report_equals_sipas_analyze(app, tmp_path):
    """Raking to sex margins (respondents without sex dropped first, as raking needs it)."""
    with app.app_context():
        campaign = seed_campaign(seed=5)
        db.session.execute(update(Response).where(Response.campaign_id == campaign.id,
                                                  ~Response.answers.any(item_code="sex"))
                           .values(excluded=True, exclusion_reason="không có giới tính"))
        db.session.commit()
        data, pop = export_for_analyze(campaign, tmp_path)
        margins_csv = tmp_path / "margins.csv"
        margins_csv.write_text("variable,category,population\nsex,male,700\nsex,female,900\n")
        report = campaign_report(campaign.id, weighting="raked", by=("unit",),
                                 margins={"sex": {"male": 700, "female": 900}})
        document = analyze(str(data), "--population", str(pop), "--rake", "sex", "--margins",
                           str(margins_csv), "--by", "unit")
        assert_same(report, document)
        assert report.settings["weights"] == "raked"


def test_bad_requests_are_refused_clearly(app):
    """Unknown weighting or variable, a unit without transactions, missing raking answers."""
    with app.app_context():
        campaign = seed_campaign(seed=2)
        with pytest.raises(ResultsError, match="weighting"):
            campaign_report(campaign.id, weighting="magic")
        with pytest.raises(ResultsError, match="comment"):
            campaign_report(campaign.id, by=("comment",))
        with pytest.raises(ResultsError, match="no campaign"):
            campaign_report(999_999)
        with pytest.raises(ResultsError, match="sex"):
            campaign_report(campaign.id, weighting="raked", margins={"sex": {"male": 1,
                                                                            "female": 1}})
        np.testing.assert_equal(campaign_report(campaign.id).find("sipas").n > 0, True)
        r2 = db.session.query(Unit).filter_by(code="R2").one()
        db.session.query(PopulationCount).filter_by(unit_id=r2.id).delete()
        db.session.commit()
        for method in ("auto", "arrays"):
            with pytest.raises(ResultsError, match="no transaction counts for unit.*R2"):
                campaign_report(campaign.id, weighting="design", method=method)


def test_sql_and_streaming_sums_agree(app):
    """GROUP BY in PostgreSQL and the one-pass stream give the same numbers (design weights,
    unit, field, crossed unit × sex and age domains, N/A, skipped items, a lonely stratum)."""
    with app.app_context():
        campaign = seed_campaign(seed=19)
        by = ("unit", "field", "unit,sex", "age_group", "counter")
        stream = campaign_report(campaign.id, weighting="design", by=by, method="stream")
        arrays = campaign_report(campaign.id, weighting="design", by=by, method="arrays")
        others = [arrays]
        if app.config["BACKEND"] == "postgres":
            others.append(campaign_report(campaign.id, weighting="design", by=by, method="sql"))
        else:
            with pytest.raises(ResultsError, match="PostgreSQL"):
                campaign_report(campaign.id, method="sql")
        for other in others:
            assert len(other.estimates) == len(stream.estimates) > 1000
            for a, b in zip(stream.estimates, other.estimates, strict=True):
                assert (a.domain, a.indicator, a.kind, a.n, a.n_answered, a.df, a.flag) == \
                    (b.domain, b.indicator, b.kind, b.n, b.n_answered, b.df, b.flag)
                for key in ("estimate", "se", "ci_low", "ci_high", "deff"):
                    x, y = getattr(a, key), getattr(b, key)
                    if other is arrays:  # respondent rows: the same sums in another order
                        assert x == pytest.approx(y, rel=1e-12, abs=1e-12, nan_ok=True), key
                    else:  # the same integer counts in the same order: bit for bit
                        assert x == y or (np.isnan(x) and np.isnan(y)), key
        # The same figures on SQLite and PostgreSQL (and, above, by SQL): both databases count
        # the same integers (pinned to 1e-13 only to allow another numpy build).
        overall, land = stream.find("sipas"), stream.find("e3", {"field": "dat_dai"})
        pinned = (63.13519573720938, 1.9367154466562224, 63.24894014099124, 3.5947645402161674)
        assert (overall.estimate, overall.se, land.estimate, land.se) == pytest.approx(pinned,
                                                                                      rel=1e-13)
        lonely = stream.find("sipas", {"unit": "R4"})
        assert lonely.flag == "suppressed" and lonely.n == 1


def seed_mixed(n: int = 150, seed: int = 23) -> int:
    """A campaign on the mixed-scoring questionnaire with random answers; returns its id."""
    from datetime import date

    from sqlalchemy import insert

    from survey.models import Campaign
    from survey.questionnaires import load_questionnaire
    from survey.services.answer_store import store_answers
    from survey.services.questionnaires import publish_questionnaire

    from .results_data import _answer

    rng = np.random.default_rng(seed)
    q = load_questionnaire(str(MIXED))
    version, _ = publish_questionnaire(q)
    campaign = Campaign(code="mixed", name="Trộn", questionnaire_version_id=version.id,
                        starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31))
    units = [Unit(code=f"M{i}", name=f"Đơn vị {i}", level="ward") for i in range(3)]
    db.session.add_all([campaign, *units])
    db.session.flush()
    rows, answers = [], []
    for i in range(n):
        unit = units[int(rng.choice(3, p=[0.5, 0.3, 0.2]))]
        rows.append({"submission_uuid": f"00000000-0000-4000-8000-{i:012d}",
                     "receipt": f"M{i:07d}", "campaign_id": campaign.id,
                     "questionnaire_version_id": version.id, "questionnaire_id": q.id,
                     "questionnaire_version": 1, "content_hash": q.content_hash,
                     "unit_id": unit.id, "channel": "qr", "language": "vi",
                     "submitted_at": datetime(2026, 5, 1, tzinfo=UTC), "flags": [],
                     "excluded": False})
        for code, lo, hi in (("s1", 1, 5), ("s2", 1, 5), ("k4", 1, 4), ("yn", 0, 1)):
            draw = rng.random()
            if draw < 0.1:
                continue
            if code == "s1" and draw < 0.15:
                answers.append(_answer(i, code, not_applicable=True, scale_points=5))
            elif code == "yn":
                answers.append(_answer(i, code, number=int(rng.integers(lo, hi + 1))))
            else:
                answers.append(_answer(i, code, rating=int(rng.integers(lo, hi + 1)),
                                       scale_points=hi))
        if rng.random() < 0.8:
            answers.append(_answer(i, "sex", choice=str(rng.choice(["male", "female"]))))
    ids = db.session.scalars(insert(Response).returning(Response.id,
                                                        sort_by_parameter_order=True), rows).all()
    for row in answers:
        row["response_id"] = ids[row["response_id"]]
    store_answers(answers)
    db.session.commit()
    return campaign.id


def test_every_scoring_rule_gives_the_same_numbers_by_every_path(app):
    """top2, normalised, reversed, share; one item in two criteria; scaled and summed groups."""
    with app.app_context():
        campaign_id = seed_mixed()
        by = ("unit", "sex")
        reference = campaign_report(campaign_id, by=by, method="arrays")
        methods = ["stream"] + (["sql"] if app.config["BACKEND"] == "postgres" else [])
        for method in methods:
            got = campaign_report(campaign_id, by=by, method=method)
            assert len(got.estimates) == len(reference.estimates)
            for a, b in zip(got.estimates, reference.estimates, strict=True):
                assert (a.domain, a.indicator, a.kind, a.n, a.n_answered, a.flag) == \
                    (b.domain, b.indicator, b.kind, b.n, b.n_answered, b.flag)
                for key in ("estimate", "se", "ci_low", "ci_high", "deff"):
                    assert getattr(a, key) == pytest.approx(getattr(b, key), rel=1e-12,
                                                            abs=1e-12, nan_ok=True), (method, key)
        total = reference.find("total")
        assert total.aggregate == "sum" and 0 < total.estimate < 11 and total.se > 0
