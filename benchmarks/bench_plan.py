"""How long `shotlist plan` takes on generated storyboards (target: 500 shots under 1 s, and
linear: the time per shot at 10,000 shots within 1.5x of that at 500).

Prints the wall time of the whole plan in this process (load, expand, validate,
resolve references, map, hash, look up the lock and cache), next to the time of
just reading the YAML with PyYAML as the baseline, for each size, and the growth
of the time per shot from the first size to the last.

    .venv/bin/python benchmarks/bench_plan.py [SHOTS ...]    # default: 500 2000 10000
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import yaml

from shotlist import pipeline


def storyboard(shots: int) -> str:
    lines = [
        "version: 1",
        "title: Bench",
        "vars: {hero: a lighthouse keeper}",
        "defaults: {provider: lumenfall, duration: 5, seed: 1}",
        "references: {keeper: refs/keeper.png}",
        "templates:",
        "  closeup: {camera: {shot: close_up, move: push_in, speed: slow}, duration: 4}",
        "shots:",
    ]
    for i in range(shots // 2):
        lines += [
            f"  - id: shot-{i}",
            f"    prompt: '{{{{ hero }}}} (@keeper) looks at wave {i}'",
            "    camera: {move: pan_left, speed: medium}",
        ]
    lines += [
        "  - id: 'loop-{{ n }}'",
        "    use: closeup",
        f"    each: {{n: {list(range(shots - shots // 2))}}}",
        "    prompt: 'Wave {{ n }} breaks'",
    ]
    return "\n".join(lines) + "\n"


def plan_once(shots: int) -> tuple[float, float]:
    """(plan seconds, yaml.safe_load seconds) for a generated storyboard of ``shots`` shots."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "refs").mkdir()
        (folder / "refs" / "keeper.png").write_bytes(b"\x89PNG" + bytes(200_000))
        path = folder / "film.yaml"
        path.write_text(storyboard(shots), encoding="utf-8")
        start = time.perf_counter()
        yaml.safe_load(path.read_text())
        baseline = time.perf_counter() - start
        start = time.perf_counter()
        result = pipeline.plan(path, env={})
        elapsed = time.perf_counter() - start
    assert len(result.shots) == shots
    return elapsed, baseline


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [500, 2000, 10000]
    per_shot = []
    for shots in sizes:
        elapsed, baseline = plan_once(shots)
        per_shot.append(elapsed / shots)
        print(
            f"plan of {shots} shots: {elapsed:.3f} s ({elapsed / shots * 1000:.2f} ms/shot); "
            f"yaml.safe_load alone: {baseline:.3f} s; ratio {elapsed / baseline:.1f}x"
        )
    if len(sizes) > 1:
        growth = per_shot[-1] / per_shot[0]
        print(f"time per shot, {sizes[-1]} vs {sizes[0]} shots: {growth:.2f}x (target <= 1.5x: linear)")


if __name__ == "__main__":
    main()
