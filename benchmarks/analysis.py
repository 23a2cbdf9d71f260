"""Benchmark: the full SIPAS report for 1,000,000 responses over 700 units.

    .venv/bin/python benchmarks/analysis.py [--responses 1000000] [--units 700] [--seed 1]

Generates (not timed) answers to the 22 sipas-counter criteria (5 elements of 4, 5, 6, 3, 4
criteria; SIPAS = mean of the elements) with 10 % of items skipped and transaction counts per
unit, then times design weights plus every criterion index and mean score, the 5 element
indices and the overall index, each overall and per unit, with SE, CI (logit), deff, n_eff and
flags.  Prints wall time and peak resident memory (``resource.getrusage``; on Linux the
peak mark is reset after generation so the figure is the report's, input arrays included).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis import (  # noqa: E402
    Breakdown,
    Criterion,
    Group,
    IndexTree,
    analyse,
    design_weights,
)

ELEMENTS = (4, 5, 6, 3, 4)


def sipas_counter_tree() -> IndexTree:
    """22 criteria c{e}_{j}, elements e1..e5 (means), root sipas = mean of the elements."""
    criteria, groups = [], []
    for e, size in enumerate(ELEMENTS, 1):
        codes = tuple(f"c{e}_{j}" for j in range(1, size + 1))
        criteria.extend(Criterion(code, code) for code in codes)
        groups.append(Group(f"e{e}", codes))
    groups.append(Group("sipas", tuple(g.code for g in groups)))
    return IndexTree(tuple(criteria), tuple(groups), "sipas", True)


def generate(n: int, n_units: int, seed: int) -> tuple[np.ndarray, dict[str, float], np.ndarray]:
    """Unit code per response, transactions per unit, answers (n × 22, NaN = skipped)."""
    rng = np.random.default_rng(seed)
    size = rng.gamma(2.0, 1.0, n_units)
    unit = rng.choice(n_units, size=n, p=size / size.sum())
    codes = np.array([f"U{u:04d}" for u in range(n_units)])
    counts = np.bincount(unit, minlength=n_units)
    population = {codes[u]: float(max(counts[u], 1) * rng.uniform(1.5, 20.0))
                  for u in range(n_units)}
    shift = rng.normal(0.0, 0.5, n_units)[unit]
    latent = rng.normal(1.0, 1.0, (n, sum(ELEMENTS))) + shift[:, None]
    answers = np.clip(np.round(3.0 + latent), 1, 5)
    answers[rng.random(answers.shape) < 0.10] = np.nan
    return codes[unit], population, answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--units", type=int, default=700)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    tree = sipas_counter_tree()
    units, population, answers = generate(args.responses, args.units, args.seed)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report_peak = _reset_peak()
    start = time.perf_counter()
    design = design_weights(units, population)
    report = analyse(design, tree, answers, breakdowns=[Breakdown.units()])
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    flags = {f: sum(e.flag == f for e in report.estimates) for f in ("suppressed", "low_n")}
    overall = report.find("sipas")
    print(f"responses {args.responses:,} | units {args.units} | criteria {len(tree.criteria)} "
          f"| estimates {len(report.estimates):,} (flags: {flags})")
    print(f"SIPAS overall {overall.estimate:.2f} % "
          f"[{overall.ci_low:.2f}, {overall.ci_high:.2f}], deff {overall.deff:.3f}")
    print(f"wall time (design weights + full report): {wall:.3f} s")
    if report_peak:
        # the peak mark was reset after generation, so getrusage now covers the report only
        print(f"peak RSS during the report: {peak:.0f} MiB (getrusage; the input arrays "
              f"account for {report_peak:.0f} MiB; generating them peaked at "
              f"{rss_before:.0f} MiB)")
    else:
        print(f"peak RSS: {peak:.0f} MiB (getrusage, data generation included)")


def _status(key: str) -> float:
    """A /proc/self/status memory figure in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> float:
    """Reset the kernel's peak-RSS mark (Linux ``clear_refs``), so ``getrusage`` afterwards
    reports the report's own peak; return the RSS at that moment, or 0 when not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return 0.0
    return _status("VmRSS")


if __name__ == "__main__":
    main()
