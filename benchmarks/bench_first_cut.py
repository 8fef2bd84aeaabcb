"""The cold path of the cut (issue 17): the first stitch of shots that are all new, against one
single-pass full re-encode of the same cut, all in one run.

    .venv/bin/python benchmarks/bench_first_cut.py [--work DIR] [--case NAME ...]

Cases (the cut's size is the clips' own, so the baseline does the same work):

* ``720p``:  40 shots of 5 s at 1280x720
* ``short``: 200 shots of 1 s at 320x180 (a long film of short shots)
* ``growth``: 40 shots of 1 s at 320x180, to show how the cost grows from 40 to 200 shots

For each: the first stitch with hard cuts from an empty stitch cache, against one
``ffmpeg -f concat`` of the clips re-encoded in a single pass (x264 veryfast crf 18 and
AAC, as the cut encodes) (target <= 1.0x); the same stitch again with nothing changed,
against ``ffmpeg -f concat -c copy`` (target <= 2x); the restitch after one shot
changed, against the full re-encode (target <= 0.10x).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from shotlist.cut.stitch import CutSettings, CutShot, stitch_cut
from shotlist.media.ffmpeg import run_ffmpeg

FPS = 24
X264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p"]
AAC = ["-c:a", "aac", "-aac_coder", "fast", "-b:a", "192k", "-ar", "48000", "-ac", "2"]


@dataclass(frozen=True)
class Case:
    name: str
    shots: int
    seconds: float
    width: int
    height: int


CASES = {
    "720p": Case("720p", 40, 5.0, 1280, 720),
    "growth": Case("growth", 40, 1.0, 320, 180),
    "short": Case("short", 200, 1.0, 320, 180),
}


def make_clip(path: Path, index: int, case: Case) -> None:
    """A clip with its own picture and broadband sound (as bench_stitch makes them)."""
    if path.exists():
        return
    size, d = f"{case.width}x{case.height}", case.seconds
    picture = f"testsrc2=s={size}:r={FPS}:d={d},hue=h={index * 37 % 360}"
    noise = f"anoisesrc=c=pink:a=0.05:seed={index + 1}:r=48000:d={d}"
    tone = f"sine=f={220 + 20 * (index % 40)}:r=48000:d={d}"
    mix = "[2:a]volume=0.2[t];[1:a][t]amix=inputs=2:normalize=0,aformat=channel_layouts=stereo[a]"
    staged = path.with_suffix(".tmp.mp4")
    run_ffmpeg(
        ["-f", "lavfi", "-i", picture, "-f", "lavfi", "-i", noise, "-f", "lavfi", "-i", tone,
         "-filter_complex", mix, "-map", "0:v", "-map", "[a]", *X264, *AAC, str(staged)],
        step="making a benchmark clip",
    )  # fmt: skip
    staged.rename(path)


def make_shots(folder: Path, case: Case) -> tuple[list[CutShot], CutShot]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"shot{i:03d}.mp4" for i in range(case.shots + 1)]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda a: make_clip(a[1], a[0], case), enumerate(paths)))
    shots = [
        CutShot(id=p.stem, clip=p, clip_sha256=hashlib.sha256(p.read_bytes()).hexdigest()) for p in paths
    ]
    return shots[: case.shots], shots[case.shots]


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def concat(clips: Sequence[Path], output: Path, codec: Sequence[str]) -> None:
    listing = output.with_suffix(".txt")
    listing.write_text("".join(f"file '{c.resolve()}'\n" for c in clips))
    run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(listing), *codec, str(output)], step="baseline")


def line(name: str, ours: float, baseline_name: str, baseline: float, target: str) -> str:
    return (
        f"{name:<40} {ours:7.2f} s   {baseline_name:<24} {baseline:7.2f} s   "
        f"{ours / baseline:6.3f}x  ({target})"
    )


def run_case(case: Case, work: Path) -> list[str]:
    shots, replacement = make_shots(work / f"shots-{case.name}", case)
    clips = [s.clip for s in shots]
    out = work / "out"
    out.mkdir(parents=True, exist_ok=True)
    cache = work / f"cache-{case.name}"
    settings = CutSettings(case.width, case.height, FPS, loudness=None)

    def stitch(which: Sequence[CutShot], name: str) -> None:
        stitch_cut(which, settings, work_dir=cache, output=out / name)

    full = timed(lambda: concat(clips, out / "full.mp4", [*X264, *AAC]))
    shutil.rmtree(cache, ignore_errors=True)
    first = timed(lambda: stitch(shots, "first.mp4"))
    copy = timed(lambda: concat(clips, out / "copy.mp4", ["-c", "copy"]))
    again = timed(lambda: stitch(shots, "again.mp4"))
    changed = [*shots[:-5], replace(replacement, id=shots[-5].id), *shots[-4:]]
    restitch = timed(lambda: stitch(changed, "re.mp4"))
    label = f"{case.shots} x {case.seconds:g} s {case.width}x{case.height}"
    return [
        line(f"{label}: first cut", first, "full re-encode", full, "<= 1.0x"),
        line(f"{label}: restitch, one shot changed", restitch, "full re-encode", full, "<= 0.10x"),
        line(f"{label}: hard cuts, cached shots", again, "concat -c copy", copy, "<= 2x"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "shotlist-bench-first")
    parser.add_argument("--case", action="append", choices=sorted(CASES))
    args = parser.parse_args()
    for name in args.case or ["growth", "short", "720p"]:
        for result in run_case(CASES[name], args.work):
            print(result, flush=True)


if __name__ == "__main__":
    main()
