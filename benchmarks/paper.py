"""Benchmark: paper questionnaires — print a batch, type forms in, import a file.

    .venv/bin/python benchmarks/paper.py [--count 100] [--typed 200] [--rows 1000] [--url DB_URL]

Builds the demo province in a temporary SQLite database (or migrates the empty database at
``--url``, e.g. a throwaway PostgreSQL), then times, for one ward of the demo campaign:

- ``print``: COUNT A4 forms of ``sipas-counter`` (serials, one single-use QR each, audit entry)
  rendered to one PDF, as ``sipas paper`` does;
- ``entry``: TYPED forms entered one by one as the entry screen's POST does (find the serial,
  check the codes, store the response, commit), per form;
- ``import``: a ROWS-row CSV of new serials validated and stored in one transaction.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TYPED = {"field": "1", "c1_1": "4", "c1_2": "5", "c1_3": "0", "c1_4": "4", "c2_1": "5", "c2_2": "4",
         "c2_3": "3", "c2_4": "0", "c2_5": "4", "c3_1": "5", "c3_2": "5", "c3_3": "4", "c3_4": "4",
         "c3_5": "2", "c3_6": "5", "c4_1": "4", "c4_2": "4", "c4_3": "5", "gave_feedback": "0",
         "overall": "4", "improve": "2 3", "comment": "Cán bộ nhiệt tình.", "sex": "2", "age_group": "5"}


def main() -> int:
    """Run the three measurements and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="forms to print")
    parser.add_argument("--typed", type=int, default=200, help="forms to type in")
    parser.add_argument("--rows", type=int, default=1000, help="rows of the imported file")
    parser.add_argument("--url", help="an EMPTY database to migrate and use (default: temporary SQLite)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="sipas-paper-bench-"))
    os.environ["SIPAS_INSTANCE_PATH"] = str(workdir)
    from flask_migrate import upgrade
    from sqlalchemy import select

    from survey import create_app
    from survey.extensions import db
    from survey.models import Campaign, CampaignUnit, PaperForm, Unit
    from survey.services.demo import load_demo
    from survey.services.paper import Actor, create_batch, find_form, print_batch
    from survey.services.paper_entry import enter_form
    from survey.services.paper_import import import_paper

    url = args.url or f"sqlite:///{workdir / 'bench.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "benchmark",
                      "PUBLIC_BASE_URL": "https://khaosat.sadec.dongthap.gov.vn"})
    actor = Actor("benchmark")
    with app.app_context():
        upgrade()
        load_demo(responses=10)
        db.session.commit()
        campaign = db.session.scalar(select(Campaign).order_by(Campaign.id))
        unit = db.session.scalar(select(Unit).join(CampaignUnit, CampaignUnit.unit_id == Unit.id)
                                 .where(CampaignUnit.campaign_id == campaign.id).order_by(Unit.id))

        start = time.perf_counter()
        _batch, pdf = print_batch(campaign=campaign, unit=unit, counter=None, count=args.count,
                                  double_entry=False, actor=actor, base_url=app.config["PUBLIC_BASE_URL"])
        db.session.commit()
        printed = time.perf_counter() - start
        import pypdf
        pages = len(pypdf.PdfReader(io.BytesIO(pdf)).pages)
        print(f"print:  {args.count} forms, {pages} A4 pages, {len(pdf) / 1e6:.2f} MB in {printed:.2f} s "
              f"({printed / args.count * 1000:.0f} ms per form)")

        batch = create_batch(campaign=campaign, unit=unit, counter=None, count=args.typed,
                             double_entry=False, actor=actor)
        db.session.commit()
        serials = list(db.session.scalars(select(PaperForm.serial).filter_by(batch_id=batch.id)))
        start = time.perf_counter()
        for serial in serials:
            enter_form(find_form(serial), TYPED, actor=actor)
            db.session.commit()
        typed = time.perf_counter() - start
        print(f"entry:  {args.typed} forms typed in one by one in {typed:.2f} s "
              f"({typed / args.typed * 1000:.1f} ms per form, commit included)")

        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["unit", "serial", *TYPED])
        for i in range(args.rows):
            writer.writerow([unit.code, f"BENCH-{i:06d}", *TYPED.values()])
        data = buffer.getvalue().encode("utf-8")
        start = time.perf_counter()
        summary = import_paper(data, "bench.csv", campaign=campaign, user=None, actor=actor,
                               allow_new_serials=True)
        db.session.commit()
        imported = time.perf_counter() - start
        print(f"import: {summary.rows} rows ({len(data) / 1e3:.0f} kB CSV) validated and stored in "
              f"{imported:.2f} s ({imported / summary.rows * 1000:.1f} ms per row)")
        print(f"database: {db.engine.dialect.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
