"""Benchmark: the review queue and a review decision on a large campaign in PostgreSQL.

    .venv/bin/python benchmarks/review_queue.py --url postgresql+psycopg://…/DB [--size 200000]

The data are those of ``benchmarks/results_scale.py`` (same generator, reused: 700 units,
``sipas-counter`` answers, 2 % flagged ``too_fast``, 1 % excluded), loaded once into the given
database (an empty one: the schema is made by the migrations). Then, as an admin of the whole
tree, timed over several runs (median):

- the queue's first page (50 flagged-or-excluded responses, newest first) with its counts and
  per-row answers summary, i.e. what ``GET /admin/review`` computes;
- the "waiting for a decision" filter and a page deep in the list;
- one response's answers and decision history (``/admin/responses/<id>``);
- an exclusion and a re-inclusion with their audit entries, each committed.

Printed figures are wall times on this machine; PostgreSQL on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import results_scale as scale  # noqa: E402  (the shared data generator)

RUNS = 7


def _median_ms(action, runs: int = RUNS) -> float:
    """Median wall time of ``action()`` in milliseconds (one warm-up run first)."""
    action()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _admin(campaign_id: int):
    """An admin at a root unit above every benchmark unit (created once)."""
    from sqlalchemy import select, update

    from survey.extensions import db
    from survey.models import Unit, User
    root = db.session.scalar(select(Unit).filter_by(code="BENCH-ROOT"))
    if root is None:
        root = Unit(code="BENCH-ROOT", name="Tỉnh thử", level="province")
        db.session.add(root)
        db.session.flush()
        db.session.execute(update(Unit).where(Unit.id != root.id, Unit.parent_id.is_(None))
                           .values(parent_id=root.id))
        user = User(username="bench.admin", role="admin", unit_id=root.id, active=True,
                    failed_logins=0)
        user.set_password("benchmark only, never used to log in")
        db.session.add(user)
        db.session.commit()
    return db.session.scalar(select(User).filter_by(username="bench.admin"))


def measure(url: str, campaign_id: int) -> dict:
    """Time the queue, the detail and a decision; return the figures."""
    from sqlalchemy import func, select

    from survey.extensions import db
    from survey.models import Response
    from survey.services import review

    app = scale._app(url)
    figures = {}
    with app.app_context():
        admin = _admin(campaign_id)
        total = db.session.scalar(select(func.count(Response.id)).filter_by(campaign_id=campaign_id))

        def first_page():
            page = review.queue(campaign_id, admin)
            review.queue_rows(page.responses)
            review.queue_counts(campaign_id, admin)
            return page

        page = first_page()
        figures["responses"] = total
        figures["in_queue"] = page.total
        figures["queue_first_page_ms"] = _median_ms(first_page)
        figures["queue_pending_ms"] = _median_ms(lambda: review.queue(campaign_id, admin, status="pending"))
        deep = max(1, page.pages // 2)
        figures["queue_middle_page_ms"] = _median_ms(lambda: review.queue(campaign_id, admin, page=deep))
        target = page.responses[0]
        figures["detail_ms"] = _median_ms(lambda: (review.answer_rows(target), review.history(target)))

        def decide():
            response = db.session.get(Response, target.id)
            if response.excluded:
                review.include(response, "benchmark: đưa lại", user=admin, actor=admin.username)
            else:
                review.exclude(response, "benchmark: loại thử", user=admin, actor=admin.username)
            db.session.commit()

        figures["decision_ms"] = _median_ms(decide)   # warm-up + 7 runs: an even number, left as it was
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="an empty PostgreSQL database (or one loaded before)")
    parser.add_argument("--size", type=int, default=200_000, help="responses in the campaign")
    parser.add_argument("--units", type=int, default=700)
    args = parser.parse_args()
    scale._setup(args.url, args.units)
    campaign_id, held, next_id = scale._campaign(args.url, args.size)
    if held < args.size:
        start = time.perf_counter()
        scale._load(args.url, campaign_id, next_id, next_id + args.size - held - 1, args.units)
        print(f"loaded {args.size - held:,} responses in {time.perf_counter() - start:.0f} s")
    figures = measure(args.url, campaign_id)
    print(f"review queue, {figures['responses']:,} responses in the campaign, "
          f"{figures['in_queue']:,} flagged or excluded (median of {RUNS} runs):")
    print(f"  first page (50 rows + counts + answer summary): {figures['queue_first_page_ms']:.1f} ms")
    print(f"  'waiting for a decision' filter, first page:    {figures['queue_pending_ms']:.1f} ms")
    print(f"  a page in the middle of the queue:              {figures['queue_middle_page_ms']:.1f} ms")
    print(f"  response detail (answers + history):            {figures['detail_ms']:.1f} ms")
    print(f"  exclude or re-include, audited and committed:   {figures['decision_ms']:.1f} ms")


if __name__ == "__main__":
    main()
