"""How long `shotlist plan` takes on a generated 500-shot storyboard (target: under 1 s).

Prints the wall time of the whole command in this process (load, expand, validate,
resolve references, map, hash, look up the lock and cache), next to the time of
just reading the YAML with PyYAML as the baseline.

    .venv/bin/python benchmarks/bench_plan.py [SHOTS]
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


def main() -> None:
    shots = int(sys.argv[1]) if len(sys.argv) > 1 else 500
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
    print(
        f"plan of {shots} shots: {elapsed:.3f} s (target < 1 s); yaml.safe_load alone: {baseline:.3f} s; "
        f"ratio {elapsed / baseline:.1f}x"
    )


if __name__ == "__main__":
    main()
