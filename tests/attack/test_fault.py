"""The fault benchmark in small: SIGKILLed gunicorn, retrying clients, nothing lost or doubled."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_fault_benchmark_loses_nothing_after_three_sigkills():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "fault.py"), "--clients", "3", "--forms", "8",
         "--kills", "3", "--timeout", "240"],
        capture_output=True, text=True, timeout=300, check=False)
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    figures = re.search(r"acknowledged (\d+) of (\d+), stored (\d+), lost (\d+), duplicates (\d+)",
                        done.stdout)
    acknowledged, total, stored, lost, duplicates = map(int, figures.groups())
    assert acknowledged == total == stored == 24 and lost == duplicates == 0
    assert int(re.search(r"kills \(SIGKILL master\+workers\): (\d+)", done.stdout).group(1)) >= 3
