"""Benchmark: the raw CSV export and the results page of a 1,000,000-response campaign in SQLite.

    .venv/bin/python benchmarks/exports.py [--responses 1000000] [--keep DIR]

A temporary folder gets a SQLite database built by the migrations and the Sa Đéc demo (11
units, 13 counters, 100 responses through the demo loader); then ``--responses`` more responses
of the demo questionnaire are generated inside SQLite (``INSERT … SELECT`` over a recursive
counter: ~25 answers each, 8 % skipped, 4 % "không áp dụng", the feedback block for 30 %, a
comment on 5 %, 2 % flagged, 1 % excluded); the demo's transaction counts are scaled up
so that every unit has more transactions than respondents (design weights).

Each measurement runs in a new Python process (a cold start: imports, app, first query), and
the child reports its own wall time and peak RSS (``ru_maxrss``):

- ``csv``: ``sipas export --format csv`` to a file in the folder (the same service the web job
  and the CLI use); targets ≤ 60 s and < 300 MB;
- ``results``: a Flask test-client GET of the results page of the campaign, logged in as the
  demo's Nội vụ admin; target ≤ 10 s.

The folder is removed at the end unless ``--keep`` names one (then the data is reused).
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

CSV_SECONDS, CSV_MB, PAGE_SECONDS = 60.0, 300.0, 10.0


def _app(folder: Path):
    """The app on ``folder``/sipas.db (instance folder = ``folder``)."""
    os.environ["SIPAS_INSTANCE_PATH"] = str(folder)
    from survey import create_app
    return create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'sipas.db'}",
                       "SECRET_KEY": "benchmark-only", "RATELIMIT_ENABLED": False,
                       "TESTING": True, "WTF_CSRF_ENABLED": False})


def build(folder: Path, n: int) -> None:
    """Migrate, load the demo and generate ``n`` responses with their answers in SQL."""
    from flask_migrate import upgrade
    from sqlalchemy import select, text

    from survey.extensions import db
    from survey.models import Campaign, EntryPoint
    from survey.services.demo import CAMPAIGN_CODE, load_demo
    app = _app(folder)
    with app.app_context():
        upgrade()
        load_demo(responses=100)
        db.session.commit()
        campaign = db.session.scalar(select(Campaign).filter_by(code=CAMPAIGN_CODE))
        entries = db.session.execute(
            select(EntryPoint.id, EntryPoint.unit_id, EntryPoint.counter_id)
            .filter_by(campaign_id=campaign.id, kind="static").order_by(EntryPoint.id)).all()
        version = campaign.questionnaire_version
        base = db.session.scalar(text("SELECT max(id) FROM responses"))
        with db.engine.begin() as conn:
            raw = conn.connection.dbapi_connection
            raw.execute("PRAGMA synchronous=OFF")
            raw.executescript(_generate_sql(n, base, campaign.id, version, entries))
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # readers then see one file
        db.engine.dispose()


def _generate_sql(n: int, base: int, campaign_id: int, version, entries) -> str:
    """SQLite script: entry-point table, responses, then answers per (response, item)."""
    ep_rows = ", ".join(f"({k}, {e}, {u}, {c})" for k, (e, u, c) in enumerate(entries))
    ratings = [f"c{e}_{i}" for e, m in ((1, 4), (2, 5), (3, 6), (4, 3), (5, 4))
               for i in range(1, m + 1)] + ["overall"]
    items = ", ".join(f"({k}, '{code}', {int(code.startswith('c5_'))}, "
                      f"{int(code not in ('c1_1', 'c2_1', 'c2_2', 'c2_3', 'overall'))})"
                      for k, code in enumerate(ratings))
    return f"""
CREATE TEMP TABLE ep(k INTEGER PRIMARY KEY, id INTEGER, unit_id INTEGER, counter_id INTEGER);
INSERT INTO ep VALUES {ep_rows};
CREATE TEMP TABLE it(k INTEGER, code TEXT, feedback INTEGER, na INTEGER);
INSERT INTO it VALUES {items};
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n})
INSERT INTO responses (id, submission_uuid, receipt, entry_point_id, campaign_id,
  questionnaire_version_id, questionnaire_id, questionnaire_version, content_hash, unit_id,
  counter_id, field_id, channel, language, submitted_at, form_seconds, flags, excluded,
  exclusion_reason)
SELECT {base} + s.i, printf('%032x', {base} + s.i), printf('B%015d', s.i), ep.id, {campaign_id},
  {version.id}, '{version.questionnaire_id}', {version.version}, '{version.content_hash}',
  ep.unit_id, ep.counter_id, 1 + s.i % 5, 'qr', 'vi',
  datetime('2026-01-02 01:00:00', '+' || (s.i * 27) || ' seconds'), 60 + s.i % 300,
  CASE WHEN s.i % 50 = 7 THEN '["too_fast"]' ELSE '[]' END,
  s.i % 100 = 3, CASE WHEN s.i % 100 = 3 THEN 'trùng lặp' END
FROM s JOIN ep ON ep.k = s.i % {len(entries)};
INSERT INTO answers (response_id, item_code, rating, scale_points, not_applicable, number, choice,
  choices, text)
SELECT r.id, 'gave_feedback', NULL, NULL, 0, (r.id % 10 < 3), NULL, NULL, NULL
FROM responses r WHERE r.id > {base};
INSERT INTO answers (response_id, item_code, rating, scale_points, not_applicable, number, choice,
  choices, text)
SELECT id, code, CASE WHEN u < 4 AND na THEN NULL WHEN v < 82 THEN 4 + v % 2 ELSE 1 + v % 3 END,
  5, u < 4 AND na, NULL, NULL, NULL, NULL
FROM (SELECT r.id AS id, it.code AS code, it.na AS na,
        ((r.id * 1103515245 + it.k * 12345) >> 8) % 100 AS u,
        ((r.id * 69069 + it.k * 1013904223) >> 5) % 100 AS v
      FROM responses r CROSS JOIN it
      WHERE r.id > {base} AND NOT (it.feedback AND r.id % 10 >= 3))
WHERE u >= 8 OR (na AND u < 4);
INSERT INTO answers (response_id, item_code, rating, scale_points, not_applicable, number, choice,
  choices, text)
SELECT r.id, 'comment', NULL, NULL, 0, NULL, NULL, NULL, 'Cán bộ hướng dẫn tận tình, chu đáo'
FROM responses r WHERE r.id > {base} AND r.id % 20 = 1;
UPDATE population_counts SET transactions = transactions * {max(1, -(-n // 10_000))};
"""


def _measure(kind: str, folder: Path) -> dict:
    """In this (child) process: run one measurement, return wall seconds and peak RSS."""
    start = time.perf_counter()
    if kind == "csv":
        from survey.cli_export import export_to_file
        app = _app(folder)
        with app.app_context():
            rows = export_to_file("sadec-2026", "csv", folder / "export.csv")
        detail = {"rows": rows, "bytes": (folder / "export.csv").stat().st_size}
    else:
        detail = _results_page(folder)
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the results pass's forked half
    return {"seconds": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "child_cpu": children.ru_utime + children.ru_stime,
            "peak_mb": usage.ru_maxrss / 1024, **detail}


def _results_page(folder: Path, query: str = "") -> dict:
    """GET the campaign's results page (``query``: e.g. ``?weighting=unweighted``) as the demo
    admin (logged in through the session)."""
    from sqlalchemy import select

    from survey.extensions import db
    from survey.models import Campaign, User
    from survey.services.demo import CAMPAIGN_CODE
    app = _app(folder)
    with app.app_context():
        campaign_id = db.session.scalar(select(Campaign.id).filter_by(code=CAMPAIGN_CODE))
        user = db.session.scalar(select(User).filter_by(username="noivu"))
        session_id = user.get_id()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_id
        session["_fresh"] = True
    response = client.get(f"/admin/campaigns/{campaign_id}/results{query}")
    return {"status": response.status_code, "bytes": len(response.data)}


def _child(kind: str, folder: Path) -> dict:
    """Run a measurement in a new process and read its JSON line."""
    out = subprocess.run([sys.executable, __file__, "--measure", kind, "--keep", str(folder)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{kind} measurement failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Build (or reuse) the data, measure both in child processes, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="folder to keep (and reuse) the database in")
    parser.add_argument("--only", choices=["csv", "results"], help="measure one of the two")
    parser.add_argument("--measure", choices=["csv", "results"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(_measure(args.measure, args.keep)))
        return
    folder = args.keep or Path(tempfile.mkdtemp(prefix="sipas-exports-"))
    try:
        if not (folder / "sipas.db").exists():
            folder.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            build(folder, args.responses)
            print(f"generated {args.responses:,} responses in {time.perf_counter() - start:.1f} s "
                  f"({(folder / 'sipas.db').stat().st_size / 2**20:,.0f} MiB of SQLite)")
        _report(None if args.only == "results" else _child("csv", folder),
                None if args.only == "csv" else _child("results", folder))
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            (folder / "export.csv").unlink(missing_ok=True)


def _report(csv_run: dict | None, page: dict | None) -> None:
    """Print the figures and the verdict against the targets (SQLite runs inside the process,
    so the CPU time includes the database's work)."""
    if csv_run:
        ok = csv_run["seconds"] <= CSV_SECONDS and csv_run["peak_mb"] < CSV_MB
        print(f"raw CSV export: {csv_run['rows']:,} rows, {csv_run['bytes'] / 2**20:,.1f} MiB in "
              f"{csv_run['seconds']:.1f} s wall ({csv_run['cpu']:.1f} s CPU), peak RSS "
              f"{csv_run['peak_mb']:.0f} MiB (target ≤ {CSV_SECONDS:.0f} s, < {CSV_MB:.0f} MB): "
              f"{'OK' if ok else 'MISSED'}")
    if page:
        ok = page["seconds"] <= PAGE_SECONDS and page["status"] == 200
        print(f"results page, cold start: HTTP {page['status']}, {page['bytes']:,} bytes in "
              f"{page['seconds']:.1f} s wall ({page['cpu']:.1f} s CPU + {page['child_cpu']:.1f} s "
              f"in the pass's child process), peak RSS "
              f"{page['peak_mb']:.0f} MiB (target ≤ {PAGE_SECONDS:.0f} s): {'OK' if ok else 'MISSED'}")
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (2 cores shared)")


if __name__ == "__main__":
    main()
