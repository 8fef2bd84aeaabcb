"""How long the CLI takes to answer: `shotlist --help`, `validate` and `plan` of a small storyboard
(target: each <= 0.3 s wall), next to `python -c pass` as the baseline, all in one run.

Each command runs RUNS times in a fresh process; the median and the best are printed (the
best is what the code costs, the median what a user on this machine waits right now).
Bytecode is written as in an ordinary install (``PYTHONDONTWRITEBYTECODE`` is dropped), so
the runs measure importing, not compiling.

    .venv/bin/python benchmarks/bench_startup.py [RUNS]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STORYBOARD = ROOT / "examples" / "minimal.yaml"
SHOTLIST = str(Path(sys.executable).with_name("shotlist"))

COMMANDS = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "shotlist --help": [SHOTLIST, "--help"],
    "shotlist validate": [SHOTLIST, "validate", str(STORYBOARD)],
    "shotlist plan": [SHOTLIST, "plan", str(STORYBOARD)],
}


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True, cwd=ROOT, env=ENV)
    return time.perf_counter() - start


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    for argv in COMMANDS.values():
        wall(argv)  # warm the file cache (and write bytecode where allowed)
    for name, argv in COMMANDS.items():
        times = [wall(argv) for _ in range(runs)]
        print(f"{name}: median {statistics.median(times):.3f} s, best {min(times):.3f} s (target <= 0.3 s)")


if __name__ == "__main__":
    main()
