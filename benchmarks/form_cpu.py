"""CPU milliseconds per submission of the public form, in one process, next to the ceiling app.

    .venv/bin/python benchmarks/form_cpu.py                          # SQLite in a temporary folder
    .venv/bin/python benchmarks/form_cpu.py --url "$URL_OF_AN_EMPTY_POSTGRESQL_DB"

Seeds a fresh database like ``benchmarks/load.py`` (the PostgreSQL schema ``public`` is dropped
first: give it a throwaway database), then sends ``--n`` submissions (GET the form, POST 22
answers with its token, each from a new browser) through Flask's test client and measures this
process's CPU time (``time.process_time``) around each request: no sockets, no other processes,
so the figure is steady on a busy machine. Best of three rounds (``--rounds``); with a
PostgreSQL on this machine, the CPU its processes spent per submission (mean of the rounds, read
in nanoseconds from ``/proc/<pid>/schedstat``) is printed too (autovacuum and the like included,
so give it a server of its own), and in brackets what the app's own connections spent in the
least of the rounds (the steadier figure for comparing two versions of the statements).
``--setup-sql "SQL; …"`` runs SQL after seeding (experiments on a scratch database: a dropped
index or constraint). The same loop against ``benchmarks/_ceiling_app.py`` is printed for
scale. ``--profile`` prints a cProfile listing (``PROFILE_FILTER=regex`` narrows it to matching
functions, ``PROFILE_SORT=tottime`` sorts it, ``PROFILE_DUMP=file`` keeps it).
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
    parser.add_argument("--rounds", type=int, default=3, help="rounds (the least is kept)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile listing instead")
    parser.add_argument("--setup-sql", help="SQL run after seeding (experiments on a scratch database)")
    args = parser.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp(prefix='sipas-form-cpu-')}/form.db"
    _fresh(url)
    from benchmarks.load import answer_bodies, migrate_and_seed
    codes = migrate_and_seed(url, 200)
    if args.setup_sql:
        _run_sql(url, args.setup_sql)
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

    postmaster = _postmaster(url)
    database = url.rsplit("/", 1)[-1].split("?")[0]

    def rounds(one, n) -> tuple[float, float | None]:
        """Least total CPU seconds of ``--rounds`` rounds of ``n`` calls in this process, and the
        database server's (mean per round, least of its app connections' per round; None unless
        the PostgreSQL runs on this machine)."""
        ours, theirs = [], []
        for _ in range(args.rounds):
            before = children_cpu_ns(postmaster, database)
            ours.append(sum(one() for _ in range(n)))
            theirs.append(_spent(before, children_cpu_ns(postmaster, database)))
        if not postmaster:
            return min(ours), None
        seen = [t[1] for t in theirs if t[1] > 0] or [0.0]  # the app connects in its first round
        return min(ours), (sum(t[0] for t in theirs) / len(theirs), min(seen))

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
        if os.environ.get("PROFILE_DUMP"):
            profile.dump_stats(os.environ["PROFILE_DUMP"])
        stats = pstats.Stats(profile).sort_stats(os.environ.get("PROFILE_SORT", "cumulative"))
        stats.print_stats(os.environ.get("PROFILE_FILTER", ""), 50)
        return 0
    sipas, sipas_db = rounds(lambda: submission(app.test_client()), args.n)

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

    base, base_db = rounds(lambda: ceiling_submission(ceiling.test_client()), args.n)
    backend = url.split(":", 1)[0].split("+")[0]
    print(f"{backend}: SIPAS {1000 * sipas / args.n:.2f} ms CPU per submission (GET + POST, "
          f"test client, best of {args.rounds} × {args.n}){_db(sipas_db, args.n)}; "
          f"ceiling app {1000 * base / args.n:.2f} ms{_db(base_db, args.n, connections=False)}")
    return 0


def _run_sql(url: str, sql: str) -> None:
    """Run ``sql`` (one or more statements) on the seeded database."""
    from sqlalchemy import create_engine, text
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(sql))
    engine.dispose()


def children_cpu_ns(pid: int | None, database: str = "") -> dict[int, tuple[int, bool]]:
    """CPU nanoseconds run so far by each living child of ``pid`` (Linux ``schedstat``: exact,
    where ``stat``'s clock ticks are 10 ms), and whether it is connected to ``database`` (the
    app's own connections, not autovacuum or the server's writers)."""
    found: dict[int, tuple[int, bool]] = {}
    if pid is None:
        return found
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            if int(stat[stat.rindex(")") + 2:].split()[1]) != pid:
                continue
            ran = int(Path(entry.path, "schedstat").read_text().split()[0])
            title = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue
        found[int(entry.name)] = (ran, bool(database) and f" {database} " in title)
    return found


def _spent(before: dict, after: dict) -> tuple[float, float]:
    """Seconds run between two readings by the processes alive at both: all, the app's."""
    total = ours = 0
    for pid, (ran, mine) in after.items():
        if pid in before:
            total += ran - before[pid][0]
            ours += (ran - before[pid][0]) if mine else 0
    return total / 1e9, ours / 1e9


def _db(seconds: tuple[float, float] | None, n: int, connections: bool = True) -> str:
    """`` + x.xx ms in PostgreSQL (y.yy in the app's connections)`` when the server's CPU was
    measured (the ceiling's engine may open a new connection per round: its share is left out)."""
    if seconds is None:
        return ""
    mine = f" ({1000 * seconds[1] / n:.2f} in the app's connections, least round)" if connections else ""
    return f" + {1000 * seconds[0] / n:.2f} ms in PostgreSQL{mine}"


def _postmaster(url: str) -> int | None:
    """PID of the PostgreSQL server behind ``url`` when it runs on this machine (its processes'
    CPU time is read from /proc), else None."""
    if not url.startswith("postgresql"):
        return None
    from sqlalchemy import create_engine, text
    engine = create_engine(url)
    try:
        with engine.connect() as conn:  # read while the backend lives
            backend = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            stat = Path(f"/proc/{backend}/stat").read_text()
    except OSError:
        return None  # another machine
    finally:
        engine.dispose()
    return int(stat[stat.rindex(")") + 2:].split()[1])


if __name__ == "__main__":
    sys.exit(main())
