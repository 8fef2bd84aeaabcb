"""A long film of short shots through the whole path (issue 17), against plain ffmpeg, in one run.

    .venv/bin/python benchmarks/bench_many.py [SHOTS ...]     # default: 40 200

For each size, a storyboard of SHOTS local previz shots of 1 s at 320x180 (procedural
scenes, captions, ambience; hard cuts, no loudness pass), in a fresh folder:

* the local previz (``render`` without the cut), against SHOTS raw ``testsrc2`` + noise
  encodes of the same size and length, two at a time, encoded the engine's way
  (target <= 2x at 200 shots);
* the first cut of those shots (``stitch``), against one ``ffmpeg -f concat`` full
  re-encode of the same clips (target <= 1.0x);
* the peak memory of this process over a whole render of the film, cut included
  (target < 300 MB at 200 shots).
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from shotlist import pipeline
from shotlist.media.ffmpeg import run_ffmpeg
from shotlist.providers.local.engine import AAC_BITRATE, BITEXACT, X264_CRF, X264_PRESET, X264_THREADS

WIDTH, HEIGHT, FPS, SECONDS = 320, 180, 24, 1


def storyboard(shots: int) -> str:
    lines = [
        "version: 1",
        "defaults: {provider: local, duration: 1}",
        f"cut: {{size: {WIDTH}x{HEIGHT}, fps: {FPS}, loudness: null}}",
        "shots:",
    ]
    size = f"{WIDTH}x{HEIGHT}"
    for i in range(shots):
        lines.append(f"  - {{id: s{i:03d}, prompt: 'A boat crosses the bay, take {i}', size: {size}}}")
    return "\n".join(lines) + "\n"


BITEXACT_ARGS = [arg for key, value in BITEXACT.items() for arg in (f"-{key}", str(value))]


def raw_encode(dest: Path, index: int) -> None:
    picture = f"testsrc2=s={WIDTH}x{HEIGHT}:r={FPS}:d={SECONDS},noise=alls=20:allf=t"
    sound = f"anoisesrc=c=pink:a=0.05:seed={index + 1}:r=48000:d={SECONDS}"
    run_ffmpeg(
        ["-f", "lavfi", "-i", picture, "-f", "lavfi", "-i", sound,
         "-c:v", "libx264", "-preset", X264_PRESET, "-crf", str(X264_CRF), "-threads:v", str(X264_THREADS),
         "-pix_fmt", "yuv420p", *BITEXACT_ARGS,
         "-c:a", "aac", "-b:a", AAC_BITRATE, "-ar", "48000", "-ac", "2",
         "-f", "mp4", str(dest)],
        step="raw encode",
    )  # fmt: skip


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def line(name: str, ours: float, baseline_name: str, baseline: float, target: str) -> str:
    return (
        f"{name:<34} {ours:7.2f} s   {baseline_name:<30} {baseline:7.2f} s   "
        f"{ours / baseline:6.3f}x  ({target})"
    )


def run(shots: int, work: Path) -> None:
    folder = work / f"film{shots}"
    folder.mkdir()
    path = folder / "film.yaml"
    path.write_text(storyboard(shots), encoding="utf-8")
    env = {"SHOTLIST_CACHE_DIR": str(folder / ".shotlist")}
    previz = timed(lambda: pipeline.render(path, stitch=False, env=env))
    raw = folder / "raw"
    raw.mkdir()
    with ThreadPoolExecutor(2) as pool:
        baseline = timed(lambda: list(pool.map(lambda i: raw_encode(raw / f"{i}.mp4", i), range(shots))))
    first_cut = timed(lambda: pipeline.stitch(path, env=env))
    clips = sorted((folder / ".shotlist").rglob("*.mp4"))
    clips = [c for c in clips if "/cut/" not in str(c)][:shots]
    listing = folder / "clips.txt"
    listing.write_text("".join(f"file '{c}'\n" for c in clips))
    full = timed(
        lambda: run_ffmpeg(
            ["-f", "concat", "-safe", "0", "-i", str(listing), "-c:v", "libx264", "-preset", "veryfast",
             "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "192k", str(folder / "full.mp4")],
            step="full re-encode",
        )
    )  # fmt: skip
    raw_name = f"{shots} raw encodes, 2 at a time"
    print(line(f"{shots} x 1 s: local previz", previz, raw_name, baseline, "<= 2x"))
    print(line(f"{shots} x 1 s: first cut", first_cut, "full re-encode", full, "<= 1.0x"), flush=True)


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [40, 200]
    with tempfile.TemporaryDirectory(prefix="shotlist-many-") as tmp:
        for shots in sizes:
            run(shots, Path(tmp))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process over the renders and cuts: {peak:.0f} MB (target < 300 MB)")


if __name__ == "__main__":
    main()
