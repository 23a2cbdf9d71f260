"""Benchmark: the progress dashboard of one campaign with 1,000,000 responses in 700 units.

    .venv/bin/python benchmarks/dashboard.py [--responses 1000000] [--units 700] [--port 55451]
        [--url postgresql+psycopg://… --reset | --reuse]

Without ``--url`` a throwaway PostgreSQL server is started with ``scripts/pg-temp`` in a
temporary folder (127.0.0.1, ``--port``) and removed at the end. With ``--url`` the schema
``public`` of that database is dropped first, so it needs ``--reset`` as a confirmation; or
``--reuse`` measures again on data an earlier ``--reset`` run left there.

The schema comes from the migrations. One province with ``--units`` wards (one counter and one
QR code each), a year-long campaign with targets, 12 months of transactions per ward, scans
per code and day, and responses generated inside PostgreSQL (``INSERT … SELECT …
generate_series``; ward sizes skewed, 2 % flagged, 1 % excluded, spread over 320 days).
Answers are not generated: the dashboard never reads them.

Printed: load time, then the median of 3 runs of ``campaign_progress`` for the province admin
(every ward and counter, the daily series), of its two scans of the responses (per unit ×
counter, per local day), and of the whole page (``GET /admin/campaigns/<id>/progress``, HTML
with the SVG chart and both tables), with the load average (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _app(url: str):
    """An app bound to ``url`` (instance folder in a temporary directory)."""
    os.environ.setdefault("SIPAS_INSTANCE_PATH", tempfile.mkdtemp(prefix="sipas-dash-"))
    from survey import create_app
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "benchmark-only",
                       "RATELIMIT_ENABLED": False, "TESTING": True})


def _build(app, n_units: int) -> int:
    """Migrate and create the province, wards, counters, codes, campaign, targets, transactions."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from survey.extensions import db
    from survey.models import (
        Campaign,
        CampaignUnit,
        Counter,
        EntryPoint,
        PopulationCount,
        Unit,
        User,
    )
    from survey.questionnaires import load_questionnaire
    from survey.services.questionnaires import publish_questionnaire
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()
        version, _ = publish_questionnaire(load_questionnaire("sipas-counter"))
        province = Unit(code="P", name="Tỉnh Thử", level="province")
        db.session.add(province)
        db.session.flush()
        campaign = Campaign(code="bench", name="Đợt đo", questionnaire_version_id=version.id,
                            starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31))
        db.session.add(campaign)
        db.session.flush()
        for i in range(n_units):
            unit = Unit(code=f"W{i:04d}", name=f"Phường {i}", level="ward", parent_id=province.id)
            db.session.add(unit)
            db.session.flush()
            counter = Counter(unit_id=unit.id, code="Q1", name="Quầy 1")
            db.session.add(counter)
            db.session.flush()
            db.session.add(EntryPoint(code=f"B{i:07d}", campaign_id=campaign.id, unit_id=unit.id,
                                      counter_id=counter.id))
            db.session.add(CampaignUnit(campaign_id=campaign.id, unit_id=unit.id, target_n=380))
            for month in range(1, 13):
                db.session.add(PopulationCount(unit_id=unit.id, month=date(2026, month, 1),
                                               transactions=300 + i % 200))
        admin = User(username="noivu", role="admin", unit_id=province.id, active=True, failed_logins=0)
        admin.set_password("benchmark only password")
        db.session.add(admin)
        db.session.commit()
        return campaign.id


def _responses(app, campaign_id: int, n: int, n_units: int) -> None:
    """Responses and scans generated inside PostgreSQL, then VACUUM ANALYZE."""
    from sqlalchemy import text

    from survey.extensions import db
    with app.app_context():
        first = db.session.execute(text(
            "SELECT min(e.id), min(e.unit_id), min(e.counter_id), min(v.id), min(v.content_hash) "
            "FROM entry_points e, questionnaire_versions v WHERE e.campaign_id = :c"),
            {"c": campaign_id}).one()
        entry0, unit0, counter0, version_id, content_hash = first
        db.session.execute(text("""
            INSERT INTO responses (submission_uuid, receipt, entry_point_id, campaign_id,
                questionnaire_version_id, questionnaire_id, questionnaire_version, content_hash,
                unit_id, counter_id, channel, language, submitted_at, form_seconds, flags,
                excluded, exclusion_reason)
            SELECT gen_random_uuid(), lpad(to_hex(g), 12, '0'), :e0 + k, :c, :v, 'sipas-counter', 1,
                   :h, :u0 + k, :q0 + k, 'qr', 'vi',
                   timestamptz '2026-01-01 01:00+00' + (random() * 320) * interval '1 day',
                   60 + (g % 300),
                   CASE WHEN g % 50 = 0 THEN '["too_fast"]'::json ELSE '[]'::json END,
                   g % 100 = 7, CASE WHEN g % 100 = 7 THEN 'benchmark' END
            FROM (SELECT g, floor(:units * power(random(), 2))::int AS k
                  FROM generate_series(1, :n) AS g) AS s"""),
            {"e0": entry0, "c": campaign_id, "v": version_id, "h": content_hash, "u0": unit0,
             "q0": counter0, "units": n_units, "n": n})
        db.session.execute(text("""
            INSERT INTO scan_counts (entry_point_id, day, shard, scans)
            SELECT e.id, date '2026-01-01' + d, 0, 1 + (e.id + d) % 9
            FROM entry_points e, generate_series(0, 319) AS d WHERE e.campaign_id = :c"""),
            {"c": campaign_id})
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


def _measure(app, campaign_id: int) -> tuple[float, float, float, float, int, int]:
    """Median seconds of the service, its two scans and the page (3 runs each), bytes, responses."""
    from sqlalchemy import select

    from survey.extensions import db
    from survey.models import Campaign, User
    from survey.services.progress import _response_tallies, campaign_progress, daily_responses
    with app.app_context():
        admin = db.session.scalar(select(User).filter_by(username="noivu"))
        campaign = db.session.get(Campaign, campaign_id)
        service, tallies, daily = [], [], []
        for _ in range(3):
            start = time.perf_counter()
            result = campaign_progress(campaign, admin)
            service.append(time.perf_counter() - start)
            start = time.perf_counter()
            _response_tallies(campaign.id, admin)
            tallies.append(time.perf_counter() - start)
            start = time.perf_counter()
            daily_responses(campaign, admin, date(2026, 12, 31))
            daily.append(time.perf_counter() - start)
        total = result.total.tally.submissions
        session_id = admin.get_id()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"], session["_fresh"] = session_id, True
    page, size = [], 0
    for _ in range(3):
        start = time.perf_counter()
        response = client.get(f"/admin/campaigns/{campaign_id}/progress")
        page.append(time.perf_counter() - start)
        assert response.status_code == 200, response.status_code
        size = len(response.data)
    return (statistics.median(service), statistics.median(tallies), statistics.median(daily),
            statistics.median(page), size, total)


def main() -> None:
    """Build, load, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--units", type=int, default=700)
    parser.add_argument("--port", type=int, default=55451, help="port of the throwaway server")
    parser.add_argument("--url", help="an existing PostgreSQL database (its schema is dropped)")
    parser.add_argument("--reset", action="store_true", help="confirm dropping --url's schema")
    parser.add_argument("--reuse", action="store_true", help="measure data already at --url")
    args = parser.parse_args()
    if args.url and not (args.reset or args.reuse):
        parser.error("--url drops the schema of that database: add --reset to confirm (or --reuse)")
    folder = None
    url = args.url
    if url is None:
        folder = tempfile.mkdtemp(prefix="sipas-dash-pg-")
        url = subprocess.run([str(ROOT / "scripts/pg-temp"), "start", folder, str(args.port)],
                             check=True, capture_output=True, text=True).stdout.strip()
    try:
        app = _app(url)
        start = time.perf_counter()
        campaign_id = 1
        if not args.reuse:
            campaign_id = _build(app, args.units)
            _responses(app, campaign_id, args.responses, args.units)
        load = time.perf_counter() - start
        service, tallies, daily, page, size, total = _measure(app, campaign_id)
        print(f"dashboard benchmark: {total:,} responses, {args.units} units/counters, PostgreSQL, "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        if not args.reuse:
            print(f"  load (schema, units, responses, scans, VACUUM ANALYZE): {load:.1f} s")
        print(f"  campaign_progress (all units, counters, 320+ days): {service:.3f} s (median of 3)")
        print(f"    of which the scan per unit × counter {tallies:.3f} s, per local day {daily:.3f} s")
        print(f"  GET /admin/campaigns/{campaign_id}/progress: {page:.3f} s, {size:,} bytes (median of 3)")
    finally:
        if folder:
            subprocess.run([str(ROOT / "scripts/pg-temp"), "stop", folder], check=False)
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
