"""CPU milliseconds per submission of the public form, in one process, next to the ceiling app.

    .venv/bin/python benchmarks/form_cpu.py                          # SQLite in a temporary folder
    .venv/bin/python benchmarks/form_cpu.py --url "$URL_OF_AN_EMPTY_POSTGRESQL_DB"

Seeds a fresh database like ``benchmarks/load.py`` (the PostgreSQL schema ``public`` is dropped
first: give it a throwaway database), then sends ``--n`` submissions (GET the form, POST 22
answers with its token, each from a new browser) through Flask's test client and measures this
process's CPU time (``time.process_time``) around each request: no sockets, no other processes,
so the figure is steady on a busy machine. Best of three rounds; the same loop against
``benchmarks/_ceiling_app.py`` is printed for scale. ``--profile`` prints a cProfile listing
(``PROFILE_FILTER=regex`` narrows it to matching functions).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TOKEN = re.compile(r'name="token" value="([^"]+)"')


def _fresh(url: str) -> None:
    """Empty the PostgreSQL schema (SQLite files are new anyway)."""
    if url.startswith("postgresql"):
        from sqlalchemy import create_engine, text
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()


def main() -> int:
    """Seed, warm up, measure SIPAS and the ceiling, print ms per submission."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an empty throwaway database (default: SQLite in a temp folder)")
    parser.add_argument("--n", type=int, default=300, help="submissions per round")
    parser.add_argument("--profile", action="store_true", help="print a cProfile listing instead")
    args = parser.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp(prefix='sipas-form-cpu-')}/form.db"
    _fresh(url)
    from benchmarks.load import answer_bodies, migrate_and_seed
    codes = migrate_and_seed(url, 200)
    bodies = answer_bodies(50)
    from survey import create_app
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "form-cpu-" + "x" * 32})
    rng = random.Random(1)

    def submission(client) -> float:
        code = rng.choice(codes)
        ip = f"198.18.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        env = {"REMOTE_ADDR": ip}
        t0 = time.process_time()
        page = client.get(f"/s/{code}", headers={"Accept-Language": "vi"}, environ_base=env)
        t1 = time.process_time()
        body = rng.choice(bodies) + "&token=" + TOKEN.search(page.get_data(as_text=True)).group(1)
        t2 = time.process_time()
        resp = client.post(f"/s/{code}", data=body, content_type="application/x-www-form-urlencoded",
                           environ_base=env)
        t3 = time.process_time()
        if page.status_code != 200 or resp.status_code != 200 or b'class="receipt"' not in resp.data:
            raise SystemExit(f"unexpected answer {page.status_code}/{resp.status_code}")
        return (t1 - t0) + (t3 - t2)

    def rounds(one, n) -> float:
        """Best (least) total CPU seconds of three rounds of ``n`` calls."""
        return min(sum(one() for _ in range(n)) for _ in range(3))

    for _ in range(30):
        submission(app.test_client())
    if args.profile:
        import cProfile
        import pstats
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        for _ in range(args.n):
            submission(app.test_client())
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(os.environ.get("PROFILE_FILTER", ""), 50)
        return 0
    sipas = rounds(lambda: submission(app.test_client()), args.n)

    os.environ["SIPAS_DATABASE_URL"] = url
    from benchmarks._ceiling_app import create_app as create_ceiling
    ceiling = create_ceiling()

    def ceiling_submission(client) -> float:
        code = rng.choice(codes)
        t0 = time.process_time()
        page = client.get(f"/s/{code}")
        token = TOKEN.search(page.get_data(as_text=True)).group(1)
        client.post(f"/s/{code}", data=rng.choice(bodies) + "&token=" + token,
                    content_type="application/x-www-form-urlencoded")
        return time.process_time() - t0

    base = rounds(lambda: ceiling_submission(ceiling.test_client()), args.n)
    backend = url.split(":", 1)[0].split("+")[0]
    print(f"{backend}: SIPAS {1000 * sipas / args.n:.2f} ms CPU per submission (GET + POST, "
          f"test client, best of 3 × {args.n}); ceiling app {1000 * base / args.n:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
