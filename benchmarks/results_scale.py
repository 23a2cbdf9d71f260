"""Benchmark: the full campaign report from PostgreSQL at 1,000,000 and 5,000,000 responses.

    .venv/bin/python benchmarks/results_scale.py [--sizes 1000000,5000000] [--units 700]
        [--url postgresql+psycopg://…] [--port 55450] [--keep]

Without ``--url`` a throwaway server is started with ``scripts/pg-temp`` (in a temporary folder,
127.0.0.1, the given port) and removed at the end unless ``--keep``.  The schema comes from
``sipas db upgrade`` (migrations).  Data are generated inside PostgreSQL
(``INSERT … SELECT … generate_series``, faster than COPY from Python since nothing crosses the
socket): 700 units of skewed sizes with transaction counts, ``sipas-counter`` responses with the
22 criteria (5 % skipped, 3 % "không áp dụng" on the items that allow it), the feedback, overall,
sex and age answers; 1 % excluded, 2 % flagged; then ``VACUUM ANALYZE``.  Each size is a
campaign of its own in one database (the report selects its campaign by index), so a size can
be measured again without reloading.

For each size a fresh Python process (so its peak RSS is its own) times
``campaign_report(weighting="design", by=("unit",))``: every criterion index and mean score, the
5 element indices and the SIPAS index with SE, CI, deff and flags, overall and for each unit,
summed per unit in SQL.  Printed: load time, table sizes, report wall time and the Python
process's peak RSS (``ru_maxrss``) before and after the report.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCH = 500_000


def _app(url: str):
    """An app bound to ``url`` (instance folder in a temporary directory)."""
    if "SIPAS_INSTANCE_PATH" not in os.environ:  # set by main(); a bare --measure makes one
        os.environ["SIPAS_INSTANCE_PATH"] = tempfile.mkdtemp(prefix="sipas-scale-")
    from survey import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "benchmark-only",
                       "RATELIMIT_ENABLED": False})


def _setup(url: str, n_units: int) -> None:
    """Migrate, then units, fields, counters and transactions (once)."""
    from datetime import date

    from flask_migrate import upgrade
    from sqlalchemy import func, select, text

    from survey.extensions import db
    from survey.models import Counter, PopulationCount, ProcedureField, Unit
    from survey.questionnaires import load_questionnaire
    from survey.services.questionnaires import publish_questionnaire

    app = _app(url)
    with app.app_context():
        upgrade()
        if db.session.scalar(select(func.count(Unit.id))):
            return
        publish_questionnaire(load_questionnaire("sipas-counter"), actor="bench")
        for code in ("ho_tich", "dat_dai", "xay_dung", "chung_thuc", "dang_ky_kinh_doanh"):
            db.session.add(ProcedureField(code=code, name=code))
        for u in range(n_units):
            unit = Unit(code=f"U{u:04d}", name=f"Đơn vị {u}", level="commune")
            db.session.add(unit)
            db.session.flush()
            db.session.add(Counter(unit_id=unit.id, code="Q1", name="Quầy 1"))
            for month in range(1, 13):
                # Large enough for 5M responses: N_h >= n_h at every size.
                db.session.add(PopulationCount(unit_id=unit.id, month=date(2026, month, 1),
                                               transactions=20000 + 37 * u))
        db.session.flush()
        db.session.execute(text(
            "CREATE TABLE IF NOT EXISTS bench_units AS SELECT row_number() OVER (ORDER BY u.id)"
            " - 1 AS k, u.id AS unit_id, c.id AS counter_id FROM units u "
            "JOIN counters c ON c.unit_id = u.id"))
        db.session.commit()


def _campaign(url: str, size: int) -> tuple[int, int, int]:
    """(campaign id, responses it holds, next free response id) of the size's campaign.

    Each size is its own campaign in the same database, so both can be measured again later
    and the report must pick its campaign out of a larger table.
    """
    from datetime import date

    from sqlalchemy import func, select

    from survey.extensions import db
    from survey.models import Campaign, QuestionnaireVersion, Response

    app = _app(url)
    with app.app_context():
        campaign = db.session.scalar(select(Campaign).filter_by(code=f"scale-{size}"))
        if campaign is None:
            version = db.session.scalar(select(QuestionnaireVersion).filter_by(
                questionnaire_id="sipas-counter"))
            campaign = Campaign(code=f"scale-{size}", name=f"Benchmark {size:,}",
                                questionnaire_version_id=version.id, starts_on=date(2026, 1, 1),
                                ends_on=date(2026, 12, 31))
            db.session.add(campaign)
            db.session.commit()
        held = db.session.scalar(select(func.count(Response.id)).filter_by(
            campaign_id=campaign.id))
        next_id = (db.session.scalar(select(func.max(Response.id))) or 0) + 1
        return campaign.id, held, next_id


def _load(url: str, campaign_id: int, first: int, last: int, n_units: int) -> None:
    """Responses with ids ``first..last`` and their answers, generated by PostgreSQL."""
    from sqlalchemy import select, text

    from survey.extensions import db
    from survey.models import Campaign, ProcedureField
    from survey.questionnaires import load_questionnaire
    from survey.services.answer_store import packed_sql

    q = load_questionnaire("sipas-counter")
    items = [n.item for n in q.criteria()]
    app = _app(url)
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        version = campaign.questionnaire_version
        fields = db.session.scalars(select(ProcedureField.id).order_by(ProcedureField.id)).all()
        values = ", ".join(f"('{code}', {str(q.items[code].allow_na).lower()})"
                           for code in items)
        for lo in range(first, last + 1, BATCH):
            hi = min(lo + BATCH - 1, last)
            with db.engine.begin() as conn:
                conn.execute(text("SET LOCAL session_replication_role = replica"))
                conn.execute(text(
                    "INSERT INTO responses (id, submission_uuid, receipt, campaign_id, "
                    "questionnaire_version_id, questionnaire_id, questionnaire_version, "
                    "content_hash, unit_id, counter_id, field_id, channel, language, "
                    "submitted_at, form_seconds, flags, excluded, exclusion_reason) "
                    "SELECT g.i, gen_random_uuid(), lpad(to_hex(g.i), 12, '0'), :c, :qv, :qid, "
                    ":qver, :hash, u.unit_id, u.counter_id, "
                    "CASE WHEN g.f < 0.9 THEN (:fields)[1 + floor(g.f / 0.9 * 5)::int] END, "
                    "'qr', 'vi', timestamptz '2026-01-01 00:00+00' + g.f * interval '300 days', "
                    "120, CASE WHEN g.i % 50 = 7 THEN '[\"too_fast\"]'::json ELSE '[]'::json END,"
                    " g.i % 100 = 3, CASE WHEN g.i % 100 = 3 THEN 'benchmark' END "
                    "FROM (SELECT i, random() AS f, floor(power(random(), 1.7) * :units)::int AS k"
                    " FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS i) g "
                    "JOIN bench_units u ON u.k = g.k"),
                    {"c": campaign_id, "qv": version.id, "qid": version.questionnaire_id,
                     "qver": version.version, "hash": version.content_hash, "fields": fields,
                     "units": n_units, "lo": lo, "hi": hi})
                conn.execute(text(packed_sql(
                    f"SELECT id AS response_id, code AS item_code, CASE WHEN na THEN NULL "
                    f"ELSE rating END AS rating, 5 AS scale_points, na AS not_applicable, "
                    f"NULL::bigint AS number, NULL AS choice, NULL::json AS choices, NULL AS text "
                    f"FROM (SELECT r.id, i.code, i.allow_na AND random() < 0.03 AS na, "
                    f"CASE WHEN random() < 0.62 + 0.3 * ((r.unit_id * 37) % 100) / 100.0 "
                    f"THEN 4 + (random() < 0.45)::int ELSE 1 + floor(random() * 3)::int END "
                    f"AS rating FROM responses r CROSS JOIN (VALUES {values}) AS i(code, allow_na)"
                    f" WHERE r.id BETWEEN :lo AND :hi AND random() >= 0.05) x UNION ALL "
                    "SELECT id, 'gave_feedback', NULL, NULL, false, 1, NULL, NULL, NULL "
                    "FROM responses WHERE id BETWEEN :lo AND :hi UNION ALL "
                    "SELECT id, 'overall', 2 + floor(random() * 4)::int, 5, false, NULL, NULL, "
                    "NULL, NULL FROM responses WHERE id BETWEEN :lo AND :hi UNION ALL "
                    "SELECT id, 'sex', NULL, NULL, false, NULL, CASE WHEN random() < 0.52 "
                    "THEN 'female' ELSE 'male' END, NULL, NULL FROM responses "
                    "WHERE id BETWEEN :lo AND :hi AND id % 10 < 7 UNION ALL "
                    "SELECT id, 'age_group', NULL, NULL, false, NULL, (ARRAY['age_18_24', "
                    "'age_25_34', 'age_35_49', 'age_50_60', 'over_60'])[1 + floor(random() * 5)"
                    "::int], NULL, NULL FROM responses WHERE id BETWEEN :lo AND :hi "
                    "AND id % 10 < 7")),
                    {"lo": lo, "hi": hi})
            print(f"  loaded responses {lo:,}–{hi:,}", flush=True)
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text("VACUUM ANALYZE responses"))
            conn.execute(text("VACUUM ANALYZE response_answers"))


def _sizes(url: str) -> dict:
    """Row counts of responses and answers, and their tables' sizes on disk (the answers'
    table is ``response_answers``, one row per response, under the view ``answers``)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        out = {view: {"rows": conn.execute(text(f"SELECT count(*) FROM {view}")).scalar(),
                      "bytes": conn.execute(text(f"SELECT pg_total_relation_size('{table}')")).scalar()}
               for view, table in (("responses", "responses"), ("answers", "response_answers"))}
    engine.dispose()
    return out


def measure(url: str, campaign_id: int, method: str) -> dict:
    """Time one report in this process; peak RSS before and after (MiB)."""
    from survey.extensions import db
    from survey.services.results import campaign_report

    app = _app(url)
    with app.app_context():
        db.session.execute(db.text("SELECT 1"))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.perf_counter()
        report = campaign_report(campaign_id, weighting="design", by=("unit",), method=method)
        wall = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        top = report.find("sipas")
    return {"wall": wall, "rss_before": before, "rss_peak": peak,
            "estimates": len(report.estimates), "n_included": report.settings["n_included"],
            "sipas": top.estimate, "se": top.se}


def _child(url: str, campaign_id: int, method: str) -> dict:
    """Run :func:`measure` in a fresh interpreter and parse its JSON line."""
    out = subprocess.run([sys.executable, __file__, "--measure", method, "--url", url,
                          "--campaign", str(campaign_id)], check=True, capture_output=True,
                         text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,5000000")
    parser.add_argument("--units", type=int, default=700)
    parser.add_argument("--url")
    parser.add_argument("--port", type=int, default=55450)
    parser.add_argument("--keep", action="store_true", help="keep the temporary server")
    parser.add_argument("--methods", default="sql", help="sql and/or stream, comma-separated")
    parser.add_argument("--load-only", action="store_true", help="load the data, measure nothing")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--campaign", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.url, args.campaign, args.measure)))
        return
    instance = tempfile.mkdtemp(prefix="sipas-scale-")
    os.environ["SIPAS_INSTANCE_PATH"] = instance  # children inherit it; removed at the end
    folder = None
    url = args.url
    if url is None:
        folder = tempfile.mkdtemp(prefix="sipas-pg-scale-")
        url = subprocess.run([str(ROOT / "scripts/pg-temp"), "start", folder, str(args.port)],
                             check=True, capture_output=True, text=True).stdout.strip()
        print(f"PostgreSQL: {url} (data in {folder})")
    try:
        _run(url, args)
    finally:
        shutil.rmtree(instance, ignore_errors=True)
        if folder and not args.keep:
            subprocess.run([str(ROOT / "scripts/pg-temp"), "stop", folder], check=False)
            shutil.rmtree(folder, ignore_errors=True)


def _run(url: str, args) -> None:
    """Load each size in turn and measure; print a table."""
    sizes = sorted(int(s) for s in args.sizes.split(","))
    _setup(url, args.units)
    rows = []
    for size in sizes:
        campaign_id, held, next_id = _campaign(url, size)
        if held < size:
            start = time.perf_counter()
            _load(url, campaign_id, next_id, next_id + size - held - 1, args.units)
            print(f"loaded {size:,} responses in {time.perf_counter() - start:.0f} s", flush=True)
        tables = _sizes(url)
        if args.load_only:
            continue
        for method in args.methods.split(","):
            result = _child(url, campaign_id, method)
            rows.append((size, method, tables, result))
            print(f"{size:>10,} {method:6} report {result['wall']:7.2f} s  peak RSS "
                  f"{result['rss_peak']:6.0f} MiB (before the report {result['rss_before']:.0f})",
                  flush=True)
    print()
    print("| campaign responses | database: responses / answers rows / size | method | "
          "report wall | Python peak RSS | estimates | SIPAS (SE) |")
    print("|---|---|---|---|---|---|---|")
    for size, method, tables, r in rows:
        gib = (tables["responses"]["bytes"] + tables["answers"]["bytes"]) / 2**30
        print(f"| {size:,} | {tables['responses']['rows']:,} / {tables['answers']['rows']:,} / "
              f"{gib:.1f} GiB | {method} | "
              f"{r['wall']:.1f} s | {r['rss_peak']:.0f} MiB (idle {r['rss_before']:.0f}) | "
              f"{r['estimates']:,} | {r['sipas']:.2f} ({r['se']:.3f}) |")


if __name__ == "__main__":
    main()
