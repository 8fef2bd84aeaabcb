"""Watch mode: time from a save to the new cut for a one-shot edit, next to a full render.

Run: ``.venv/bin/python benchmarks/bench_watch.py [--storyboard FILE] [--shot ID] [--repeat 3]``

The storyboard (default: examples/lighthouse) is copied to a temporary folder with an
empty cache. First ``pipeline.render`` renders it from scratch with the local engine,
as ``shotlist render`` does: every shot, then the cut. Then a watch session starts on
the same folder, and each repeat changes the prompt of one shot (a real save: the
file truncated and written) and measures until the session yields the new cut. A
cycle's parts come from its events: noticing the save (debounce included), planning,
rendering the one shot, stitching. Prints each time and the ratio of the save-to-cut
median to the full render.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from shotlist import pipeline
from shotlist.events import Event, ShotDownloaded, ShotSubmitted, StitchFinished, StitchStarted
from shotlist.watchmode.session import Cycle, CyclePlanned, CycleStarted, WatchOptions, watch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STORYBOARD = ROOT / "examples" / "lighthouse" / "lighthouse.yaml"


@dataclass
class Clock:
    """When each event of the current cycle arrived (perf_counter seconds)."""

    marks: dict[str, float] = field(default_factory=dict)

    def hook(self, event: Event) -> None:
        names = {
            CycleStarted: "noticed",
            CyclePlanned: "planned",
            ShotSubmitted: "submitted",
            ShotDownloaded: "rendered",
            StitchStarted: "stitching",
            StitchFinished: "stitched",
        }
        for kind, name in names.items():
            if isinstance(event, kind):
                self.marks.setdefault(name, time.perf_counter())


def copy_project(storyboard: Path, into: Path) -> Path:
    """The storyboard's folder without its renders (out/, .shotlist/, the lock)."""
    target = into / storyboard.parent.name
    shutil.copytree(
        storyboard.parent,
        target,
        ignore=shutil.ignore_patterns("out", ".shotlist", "*.lock", "__pycache__"),
    )
    return target / storyboard.name


def edit_prompt(text: str, shot: str, take: int) -> str:
    """The storyboard with `` (take N)`` added to the first prompt after ``id: shot``."""
    pattern = re.compile(rf"(- id: {re.escape(shot)}\n(?:[ \t]+.*\n)*?[ \t]+prompt: )(.*)\n")
    match = pattern.search(text)
    if match is None:
        raise SystemExit(f"no shot {shot!r} with a plain prompt line in the storyboard")
    prompt = match.group(2)
    quote = prompt[0] if prompt[:1] in ("'", '"') else ""
    body = prompt[len(quote) : len(prompt) - len(quote)] if quote else prompt
    return text[: match.start(2)] + f"{quote}{body} (take {take}){quote}" + text[match.end(2) :]


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def save(path: Path, text: str) -> None:
    """An editor's plain save: the file truncated, then written."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write(text)


def full_render(film: Path) -> tuple[float, int]:
    started = time.perf_counter()
    result = pipeline.render(film)
    return time.perf_counter() - started, len(result.shots)


async def watch_edits(film: Path, shot: str, repeat: int) -> list[tuple[float, dict[str, float], Cycle]]:
    clock = Clock()
    stop = asyncio.Event()
    cycles = watch(film, WatchOptions.resolve(), hook=clock.hook, stop_event=stop)
    results = []
    try:
        first = await anext(cycles)
        assert first.ok, first.errors
        text = read(film)
        for take in range(1, repeat + 1):
            clock.marks.clear()
            edited = edit_prompt(text, shot, take)
            saved = time.perf_counter()
            save(film, edited)
            cycle = await anext(cycles)
            done = time.perf_counter()
            assert cycle.outcome == "built", (cycle.outcome, cycle.errors)
            assert cycle.rendered == (shot,), cycle.rendered
            parts = {name: at - saved for name, at in clock.marks.items()}
            results.append((done - saved, parts, cycle))
    finally:
        stop.set()
        await cycles.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storyboard", type=Path, default=DEFAULT_STORYBOARD)
    parser.add_argument("--shot", default="establishing", help="the shot whose prompt is edited")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-watch-") as work:
        film = copy_project(args.storyboard.resolve(), Path(work))
        print(f"storyboard: {args.storyboard} (copied, empty cache); edited shot: {args.shot}")
        full, shots = full_render(film)
        print(f"full render, {shots} shots + cut:   {full:6.2f} s")
        results = asyncio.run(watch_edits(film, args.shot, args.repeat))
        print("save -> new cut, one shot edited (noticed / planned / rendered / stitched, from the save):")
        for i, (total, parts, _) in enumerate(results, 1):
            steps = " / ".join(
                f"{parts.get(k, float('nan')):.2f}" for k in ("noticed", "planned", "rendered", "stitched")
            )
            print(f"  edit {i}: {total:6.2f} s   ({steps})")
        median = statistics.median(r[0] for r in results)
        print(f"median save -> cut:              {median:6.2f} s")
        print(f"ratio to the full render:        {median / full:6.2f}  ({full / median:.1f}x faster)")


if __name__ == "__main__":
    sys.exit(main())
