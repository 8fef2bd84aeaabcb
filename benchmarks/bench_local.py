"""How fast the local previz engine renders, next to a raw ffmpeg encode.

Run: ``.venv/bin/python benchmarks/bench_local.py [--seconds 5] [--repeat 3]``

The baseline is ffmpeg encoding ``testsrc2`` (plus a sine tone when the shot
has sound) at the same size, frame rate and length with the engine's own
encoder settings (x264 preset, CRF, thread count), run in this process
alternately with each case, so the ratio measures what the engine adds:
decoding the reference, moving the camera, painting a scene, the caption and
the sound. Prints seconds per second of 720p output (lower is better), wall
clock and CPU time (ffmpeg's and this process's), and the ratios to the
baseline; the target (issue 17) is at most 1.5x for the heaviest case. CPU time
is steadier on a busy machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from shotlist.media.ffmpeg import ffmpeg_version, run_ffmpeg
from shotlist.providers.local.engine import (
    AAC_BITRATE,
    BITEXACT,
    X264_CRF,
    X264_PRESET,
    X264_THREADS,
    render_local,
)
from shotlist.request import CameraDirection, MediaRef, ShotRequest

WIDTH, HEIGHT, FPS = 1280, 720, 24
TARGET = 1.5  # issue 17: the heaviest case within 1.5x of the raw encode


def encode_args(dest: Path, *, audio: bool) -> list[str]:
    args = [
        "-c:v", "libx264", "-preset", X264_PRESET, "-crf", str(X264_CRF),
        "-threads:v", str(X264_THREADS), "-pix_fmt", "yuv420p",
        *(arg for key, value in BITEXACT.items() for arg in (f"-{key}", str(value))),
    ]  # fmt: skip
    if audio:
        args += ["-c:a", "aac", "-b:a", AAC_BITRATE, "-ar", "48000", "-ac", "2"]
    return [*args, "-f", "mp4", str(dest)]


def baseline(dest: Path, seconds: float, *, audio: bool) -> None:
    """testsrc2 (plus a sine when the shot has sound), encoded the engine's way."""
    inputs = ["-f", "lavfi", "-i", f"testsrc2=s={WIDTH}x{HEIGHT}:r={FPS}:d={seconds}"]
    if audio:
        inputs += ["-f", "lavfi", "-i", f"sine=f=220:r=48000:d={seconds}"]
    run_ffmpeg([*inputs, *encode_args(dest, audio=audio)], step="baseline encode")


def reference_image(dest: Path) -> Path:
    """A detailed 1920x1080 picture, the kind of still a storyboard references."""
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            "mandelbrot=s=1920x1080",
            "-frames:v",
            "1",
            "-update",
            "1",
            str(dest),
        ],
        step="making the reference image",
    )
    return dest


def shot(seconds: float, **changes: object) -> ShotRequest:
    fields: dict[str, object] = {
        "id": "bench",
        "provider": "local",
        "model": "previz",
        "prompt": "An old lighthouse keeper climbs the spiral stairs at dusk",
        "source_prompt": "An old lighthouse keeper climbs the spiral stairs at dusk",
        "duration": seconds,
        "seed": 1234,
        "width": WIDTH,
        "height": HEIGHT,
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "fps": FPS,
        "generate_audio": False,
        "caption": False,
    }
    fields.update(changes)
    return ShotRequest(**fields)  # type: ignore[arg-type]


def cam(move: str, *, angle: str | None = None) -> CameraDirection:
    return CameraDirection(move=move, angle=angle)


def timed(run: Callable[[], None]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (this process plus ffmpeg) of one run."""

    def cpu() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    wall, used = time.perf_counter(), cpu()
    run()
    return time.perf_counter() - wall, cpu() - used


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="clip length (default 5)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs (default 3)")
    ns = parser.parse_args()
    seconds, repeat = ns.seconds, ns.repeat
    with tempfile.TemporaryDirectory(prefix="shotlist-bench-") as tmp:
        root = Path(tmp)
        image = MediaRef("still", "image", "bench", path=reference_image(root / "still.png"))
        still = (image,)
        cases: list[tuple[str, ShotRequest, bool]] = [
            ("image + zoom in", shot(seconds, images=still, camera=cam("zoom_in")), False),
            ("image + pan right", shot(seconds, images=still, camera=cam("pan_right")), False),
            (
                "image + handheld, dutch",
                shot(seconds, images=still, camera=cam("handheld", angle="dutch")),
                False,
            ),
            ("procedural (seeded move)", shot(seconds), False),
            (
                "procedural + caption + audio",
                shot(seconds, caption=True, generate_audio=True, dialogue=("Not tonight.",)),
                True,
            ),
            (
                "image + orbit + caption + audio",
                shot(
                    seconds,
                    images=still,
                    camera=cam("orbit_left"),
                    caption=True,
                    generate_audio=True,
                ),
                True,
            ),
        ]
        print(f"ffmpeg: {ffmpeg_version()}")
        print(f"cpus: {os.cpu_count()}, {WIDTH}x{HEIGHT} @ {FPS} fps, {seconds:g} s clips")
        print(f"x264 preset {X264_PRESET}, crf {X264_CRF}, {X264_THREADS} threads")
        print()
        print("seconds of work per second of output (best of the runs); ratio = case / baseline")
        print(f"{'case':34} {'wall':>6} {'base':>6} {'ratio':>6}   {'cpu':>6} {'base':>6} {'ratio':>6}")
        worst, worst_cpu = 0.0, 0.0
        for name, request, audio in cases:
            # Baseline and case alternate, so load from elsewhere hits both alike.
            base_runs, case_runs = [], []
            for _ in range(repeat):
                base_runs.append(timed(partial(baseline, root / "base.mp4", seconds, audio=audio)))
                case_runs.append(timed(partial(render_local, request, root / "shot.mp4")))
            base_wall, base_cpu = (min(run[i] for run in base_runs) for i in (0, 1))
            wall, cpu = (min(run[i] for run in case_runs) for i in (0, 1))
            worst = max(worst, wall / base_wall)
            worst_cpu = max(worst_cpu, cpu / base_cpu)
            print(
                f"{name:34} {wall / seconds:6.3f} {base_wall / seconds:6.3f} {wall / base_wall:6.2f}"
                f"   {cpu / seconds:6.3f} {base_cpu / seconds:6.3f} {cpu / base_cpu:6.2f}"
            )
        print()
        print(f"worst ratio: wall clock {worst:.2f}, CPU {worst_cpu:.2f} (target <= {TARGET:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
