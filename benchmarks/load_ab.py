"""Load A/B: the app of two checkouts, alternately, against one ceiling and one database.

    .venv/bin/python benchmarks/load_ab.py /path/to/checkout-a /path/to/checkout-b [--rounds 4]
        [--duration 8] [--limits-a local://] [--limits-b local://]

A throwaway PostgreSQL (``scripts/pg-temp``) is migrated by this checkout and seeded as
``benchmarks/load.py`` does; then the ceiling and each checkout's app run under gunicorn with the
same settings (``load.gunicorn``, each with its own code and config file, so both checkouts need
this checkout's schema). Each round measures the ceiling, then A and B at 50 phones, in the order
A B, B A, A B, … (so neither always runs on the fresher database), and prints the ratio, p99 and
CPU per submission of each; at the end the mean ratio of each. Used for the fifth round's A/B
figures in README ("Load benchmark"). Everything on 127.0.0.1; it stops after
``rounds × 3 × (2 + duration)`` seconds of load.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import load as L  # noqa: E402  (needs the checkout on sys.path)


def main() -> None:
    """Parse the options, run the rounds, print a line per run and the means."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per run")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--limits-a", default="local://", help="SIPAS_RATELIMIT_STORAGE_URI of A")
    parser.add_argument("--limits-b", default="local://", help="SIPAS_RATELIMIT_STORAGE_URI of B")
    args = parser.parse_args()
    bodies = L.answer_bodies(200)
    logs = Path(tempfile.mkdtemp(prefix="sipas-load-ab-"))
    ratios: dict[str, list[float]] = {"A": [], "B": []}
    with L.postgres(None, 0) as (url, db_pid):
        codes = L.migrate_and_seed(url, 2000)
        with L.gunicorn("ceiling", url, 2, logs) as ceiling, \
                L.gunicorn("app", url, 2, logs, args.limits_a, root=args.a.resolve()) as a, \
                L.gunicorn("app", url, 2, logs, args.limits_b, root=args.b.resolve()) as b:
            for number in range(args.rounds):
                tally = L.load(ceiling[0], codes, bodies, args.concurrency, 2, args.duration, 2, 30)
                ceiling_rate = tally.submissions / args.duration
                for name, (port, pid) in (("A", a), ("B", b)) if number % 2 == 0 else (("B", b), ("A", a)):
                    before = L.children_cpu(pid), L.children_cpu(db_pid)
                    tally = L.load(port, codes, bodies, args.concurrency, 2, args.duration, 2, 30)
                    app_ms = (L.children_cpu(pid) - before[0]) / max(tally.stored, 1) * 1e3
                    db_ms = (L.children_cpu(db_pid) - before[1]) / max(tally.stored, 1) * 1e3
                    latencies = sorted(tally.latencies)
                    p99 = latencies[int(len(latencies) * 0.99)] * 1e3 if latencies else float("nan")
                    rate = tally.submissions / args.duration
                    ratios[name].append(rate / ceiling_rate)
                    print(f"round {number} {name}: {rate:6.1f}/s, ceiling {ceiling_rate:6.1f}/s, "
                          f"ratio {rate / ceiling_rate:.3f}, p99 {p99:5.1f} ms, CPU ms/submission "
                          f"app {app_ms:.2f} db {db_ms:.2f}, errors {tally.errors}", flush=True)
    for name, values in ratios.items():
        print(f"{name} mean ratio {sum(values) / len(values):.3f}: "
              + ", ".join(f"{value:.3f}" for value in values))


if __name__ == "__main__":
    main()
