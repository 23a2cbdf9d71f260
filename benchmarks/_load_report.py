"""The table of ``benchmarks/load.py``: one line per database × server × concurrency."""

from __future__ import annotations


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


HEADER = (f"{'database':<10} {'server':<10} {'conc':>5} {'subs/s':>8} {'ratio':>6} {'p50 ms':>7} "
          f"{'p95 ms':>7} {'p99 ms':>7} {'errors':>6} {'client CPU':>10} {'CPU ms/sub: app':>15} "
          f"{'db':>5}")


def row(backend: str, target: str, concurrency: int, tally, duration: float,
        ceiling: float | None, cpu: tuple[float, float | None]) -> tuple[str, dict]:
    """One line of the table (``tally``: what the phones saw, a ``load.Tally``), and its figures."""
    rate = tally.submissions / duration
    figures = {"rate": rate, "p99": percentile(tally.latencies, 99), "errors": tally.errors,
               "ratio": rate / ceiling if ceiling else None}
    ratio = f"{figures['ratio']:.2f}" if ceiling else "-"
    line = (f"{backend:<10} {target:<10} {concurrency:>5} {rate:>8.1f} {ratio:>6} "
            f"{percentile(tally.latencies, 50):>7.1f} {percentile(tally.latencies, 95):>7.1f} "
            f"{figures['p99']:>7.1f} {tally.errors:>6} {tally.cpu / duration * 100:>9.0f}% "
            f"{_per(cpu[0], tally.stored):>15} {_per(cpu[1], tally.stored):>5}")
    return line, figures


def _per(seconds: float | None, submissions: int) -> str:
    """CPU milliseconds per submission, or '-'."""
    return f"{1000 * seconds / submissions:.1f}" if seconds is not None and submissions else "-"
