"""Benchmark of the render engine's scheduling (issue 5, quoted in the README).

    .venv/bin/python benchmarks/bench_engine.py [--without-progress]

1. 40 shots at 2 s simulated provider latency, concurrency 8: the ideal
   schedule is 5 waves x 2 s = 10 s; the target is within 1.05x of it, with or
   without progress reports (without them, polling learns the latency from the
   first completions).
2. The same render again with nothing changed: 0 jobs submitted, under 2 s.
3. One shot's prompt changed: exactly 1 job submitted.

The provider is the in-process double of the tests (real waiting, real
MP4 files, the real store with fsync), with the engine's default ``Timing``.
``--without-progress`` makes the double report no progress, so polling
learns the latency from the first completions instead. Exits 1 if a target
is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from provider_double import ProviderDouble, make_request, make_tiny_clip

from shotlist.engine import RenderReport, Timing, render_shots
from shotlist.request import ShotRequest
from shotlist.store.cache import Store

SHOTS = 40
LATENCY = 2.0
CONCURRENCY = 8
IDEAL = (SHOTS // CONCURRENCY) * LATENCY
RATIO_TARGET = 1.05
UNCHANGED_TARGET = 2.0


async def timed_render(
    requests: list[ShotRequest], store: Store, double: ProviderDouble
) -> tuple[RenderReport, float]:
    started = time.perf_counter()
    report = await render_shots(
        requests,
        store=store,
        providers={double.name: double},
        concurrency=CONCURRENCY,
        timing=Timing(),
    )
    return report, time.perf_counter() - started


async def bench(work: Path, report_progress: bool) -> bool:
    clip = make_tiny_clip(work / "clip.mp4")
    store = Store(work / ".shotlist")
    double = ProviderDouble(clip, latency=LATENCY, report_progress=report_progress)
    requests = [make_request(f"shot-{i:02d}") for i in range(SHOTS)]

    first, elapsed = await timed_render(requests, store, double)
    ratio = elapsed / IDEAL
    print(
        f"cold render: {SHOTS} shots, {LATENCY:g} s latency, concurrency {CONCURRENCY}: "
        f"{elapsed:.2f} s (ideal {IDEAL:g} s), ratio {ratio:.3f} (target <= {RATIO_TARGET}); "
        f"submitted {first.submitted}, polls {double.poll_calls}"
    )

    again, unchanged = await timed_render(requests, store, double)
    print(
        f"unchanged render: submitted {again.submitted}, {unchanged:.3f} s "
        f"(target 0 and < {UNCHANGED_TARGET:g} s)"
    )

    requests[17] = make_request("shot-17", "the same shot, re-lit at dawn")
    edited, edit_time = await timed_render(requests, store, double)
    print(f"one shot changed: submitted {edited.submitted} (target 1), {edit_time:.2f} s")

    return (
        first.ok
        and first.submitted == SHOTS
        and ratio <= RATIO_TARGET
        and again.submitted == 0
        and unchanged < UNCHANGED_TARGET
        and edited.submitted == 1
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--without-progress",
        action="store_true",
        help="the provider reports no progress (plain backoff polling)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shotlist-bench-") as work:
        ok = asyncio.run(bench(Path(work), report_progress=not args.without_progress))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
