"""A kiosk's offline queue sent when the network returns: wall time per rating, stored exactly once.

    .venv/bin/python benchmarks/kiosk_queue.py                          # SQLite in a temporary folder
    .venv/bin/python benchmarks/kiosk_queue.py --url "$URL_OF_AN_EMPTY_POSTGRESQL_DB"

Migrates a fresh database (the PostgreSQL schema ``public`` is dropped first: give it a throwaway
database), makes a counter-rating kiosk, and sends ``--n`` queued ratings (pressed 11 s apart,
over the default 10 s interval, as a tablet offline for hours would hold them) through Flask's
test client in batches of 20, as ``kiosk.js`` does; then sends the same queue again. Prints the
wall and CPU milliseconds per rating and checks that the first pass stored every rating and the
second stored none (all ``duplicate``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    """Seed, send the queue twice, print the figures; exit 1 if a rating was lost or doubled."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an empty throwaway database (default: SQLite in a temp folder)")
    parser.add_argument("--n", type=int, default=600, help="queued ratings (600 = 110 minutes offline)")
    args = parser.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp(prefix='sipas-kiosk-')}/kiosk.db"
    from benchmarks.form_cpu import _fresh
    _fresh(url)
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from survey import create_app
    from survey.extensions import db
    from survey.models import Response
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "kiosk-bench-" + "x" * 32,
                      "RATELIMIT_ENABLED": False})
    with app.app_context():
        upgrade()
        from tests.web.test_kiosk import make_kiosk
        code = make_kiosk()["code"]
    client = app.test_client()
    from tests.web.test_kiosk import page_token
    token = page_token(client, code, age=args.n * 11 + 60)
    now = int(time.time() * 1000)
    queue = [{"uuid": str(uuid.uuid4()), "answers": {"rating": [str(1 + i % 3)]}, "token": token,
              "pressed_at": now - (args.n - i) * 11_000, "lang": "vi"} for i in range(args.n)]
    figures = []
    for label in ("first send", "resend"):
        statuses: dict[str, int] = {}
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(queue), 20):
            body = {"sent_at": int(time.time() * 1000), "ratings": queue[start:start + 20], "blocked": []}
            for row in client.post(f"/k/{code}/ratings", json=body).get_json()["results"]:
                statuses[row["status"]] = statuses.get(row["status"], 0) + 1
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        figures.append((label, statuses, wall, cpu))
        print(f"{label}: {statuses} in {wall:.2f} s wall, {1000 * wall / args.n:.1f} ms wall and "
              f"{1000 * cpu / args.n:.1f} ms CPU per rating")
    with app.app_context():
        total = db.session.scalar(select(func.count(Response.id)).where(Response.channel == "kiosk"))
    ok = figures[0][1] == {"stored": args.n} and figures[1][1] == {"duplicate": args.n} and total == args.n
    print(f"{app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]}: {args.n} queued ratings, "
          f"{total} stored: {'exactly once' if ok else 'WRONG'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
