"""Benchmark the cut against its baselines, all run in this process on the same shots.

    .venv/bin/python benchmarks/bench_stitch.py [--work DIR] [--moviepy-shots N]

40 shots of 5 s, 1280x720 at 24 fps with sound, already in the cut's format
(the "normalized shots" of issue 6), are generated once into the work folder.
Normalizing them into the stitch cache is done once, untimed, and reported.
For hard cuts with nothing over the whole cut this includes encoding each shot's
sound to AAC once (kept beside its PCM); the timed hard-cut stitch joins the
picture, encodes the few packets around each join and splices the rest.
With a loudness target, music, transitions or cut fades the whole sound track
is mixed and encoded at stitch time (those change the sound across joins).
Then, each against its baseline:

* hard cuts                 vs ``ffmpeg -f concat -c copy`` of the same files      (target <= 2x)
* 39 crossfades of 0.5 s    vs one full re-encode through xfade/acrossfade        (target <= 0.25x)
                            vs MoviePy concatenate_videoclips + write_videofile   (target >= 5x faster)
* restitch after one shot changes  vs the full re-encode                          (target <= 0.10x)

MoviePy is slow; it runs on the first ``--moviepy-shots`` shots and its time is
scaled by output length to 40 shots (its cost is per output frame), and our
stitch is timed on the same subset too, for a direct comparison. Needs moviepy
in the environment (``pip install moviepy``; not a dependency of shotlist).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from shotlist.cut.stitch import CutSettings, CutShot, TransitionSpec, stitch_cut
from shotlist.events import Event, StitchStep
from shotlist.media.ffmpeg import run_ffmpeg
from shotlist.media.probe import probe

SHOTS = 40
SECONDS = 5.0
WIDTH, HEIGHT, FPS = 1280, 720, 24
CROSSFADE = 0.5
X264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p"]
AAC = [
    "-c:a",
    "aac",
    "-aac_coder",
    "fast",
    "-b:a",
    "192k",
    "-ar",
    "48000",
    "-ac",
    "2",
]  # as the stitch encodes


def make_clip(path: Path, index: int) -> None:
    """A 5 s 720p clip with its own picture and sound, in the cut's format.

    The sound is broadband, like the speech, ambience and music of generated
    clips: pink noise under a tone of the clip's own pitch.
    """
    if path.exists():
        return
    picture = f"testsrc2=s={WIDTH}x{HEIGHT}:r={FPS}:d={SECONDS},hue=h={index * 37 % 360}"
    noise = f"anoisesrc=c=pink:a=0.05:seed={index + 1}:r=48000:d={SECONDS}"
    tone = f"sine=f={220 + 20 * index}:r=48000:d={SECONDS}"
    mix = "[2:a]volume=0.2[t];[1:a][t]amix=inputs=2:normalize=0,aformat=channel_layouts=stereo[a]"
    staged = path.with_suffix(".tmp.mp4")
    run_ffmpeg(
        ["-f", "lavfi", "-i", picture, "-f", "lavfi", "-i", noise, "-f", "lavfi", "-i", tone,
         "-filter_complex", mix, "-map", "0:v", "-map", "[a]", *X264, *AAC, str(staged)],
        step="making a benchmark clip",
    )  # fmt: skip
    staged.rename(path)


def make_shots(folder: Path) -> tuple[list[CutShot], CutShot]:
    """The 40 shots, plus one more clip to swap in for the restitch run."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"shot{i:02d}.mp4" for i in range(SHOTS + 1)]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(make_clip, paths, range(len(paths))))
    shots = [
        CutShot(id=p.stem, clip=p, clip_sha256=hashlib.sha256(p.read_bytes()).hexdigest()) for p in paths
    ]
    return shots[:SHOTS], shots[SHOTS]


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def raw_concat(clips: Sequence[Path], output: Path) -> None:
    listing = output.with_suffix(".txt")
    listing.write_text("".join(f"file '{c.resolve()}'\n" for c in clips))
    run_ffmpeg(
        ["-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(output)],
        step="raw concat",
    )


def full_reencode(clips: Sequence[Path], output: Path) -> None:
    """The whole cut through one xfade/acrossfade chain, encoded like the stitch encodes."""
    inputs = [arg for c in clips for arg in ("-i", str(c))]
    graph, video, audio, length = [], "[0:v]", "[0:a]", SECONDS
    for index in range(1, len(clips)):
        offset = length - CROSSFADE
        graph.append(
            f"{video}[{index}:v]xfade=transition=fade:duration={CROSSFADE}:offset={offset}[v{index}]"
        )
        graph.append(f"{audio}[{index}:a]acrossfade=d={CROSSFADE}[a{index}]")
        video, audio, length = f"[v{index}]", f"[a{index}]", offset + SECONDS
    run_ffmpeg(
        [*inputs, "-filter_complex", ";".join(graph), "-map", video, "-map", audio,
         *X264, *AAC, str(output)],
        step="full re-encode",
    )  # fmt: skip


def moviepy_cut(clips: Sequence[Path], output: Path) -> None:
    from moviepy import VideoFileClip, concatenate_videoclips, vfx

    sources = [VideoFileClip(str(c)) for c in clips]
    faded = [sources[0]] + [s.with_effects([vfx.CrossFadeIn(CROSSFADE)]) for s in sources[1:]]
    cut = concatenate_videoclips(faded, method="compose", padding=-CROSSFADE)
    cut.write_videofile(
        str(output), fps=FPS, codec="libx264", preset="veryfast", audio_codec="aac",
        threads=2, logger=None,
    )  # fmt: skip
    for source in sources:
        source.close()


def stitch(shots: Sequence[CutShot], settings: CutSettings, work: Path, output: Path) -> list[Event]:
    events: list[Event] = []
    stitch_cut(shots, settings, work_dir=work, output=output, hook=events.append)
    return events


def cold(cache: Path, *parts: str) -> None:
    """Forget cached windows and encoded sound, so a timed run does all the cut's work."""
    for part in parts or ("windows", "tracks"):
        shutil.rmtree(cache / part, ignore_errors=True)


def decoded_seconds(path: Path) -> float:
    """How long the sound of ``path`` plays, counted in decoded samples (as a player plays it)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.sample_rate


def normalized_count(events: Sequence[Event]) -> int:
    return sum(1 for e in events if isinstance(e, StitchStep) and e.step == "normalizing")


def line(name: str, ours: float, baseline_name: str, baseline: float, target: str) -> str:
    ratio = ours / baseline
    return f"{name:<34} {ours:7.2f} s   {baseline_name:<26} {baseline:7.2f} s   {ratio:6.3f}x  ({target})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "shotlist-bench")
    parser.add_argument("--moviepy-shots", type=int, default=6)
    args = parser.parse_args()
    work: Path = args.work
    out = work / "out"
    out.mkdir(parents=True, exist_ok=True)
    shots, replacement = make_shots(work / "shots")
    clips = [s.clip for s in shots]
    cache = work / "cache"

    hard = CutSettings(WIDTH, HEIGHT, FPS, loudness=None)
    hard_loud = replace(hard, loudness=-14.0)
    fades = replace(hard, transition=TransitionSpec("crossfade", CROSSFADE))
    fades_loud = replace(fades, loudness=-14.0)

    # Normalizing once (what happens as each shot arrives), untimed against any target.
    shutil.rmtree(cache, ignore_errors=True)
    first_hard = timed(lambda: stitch(shots, hard, cache, out / "warm.mp4"))
    first_fades = timed(lambda: stitch(shots, fades, cache, out / "warm.mp4"))

    results = []
    raw = timed(lambda: raw_concat(clips, out / "raw.mp4"))
    cold(cache)
    ours_hard = timed(lambda: stitch(shots, hard, cache, out / "hard.mp4"))
    cold(cache)
    ours_hard_loud = timed(lambda: stitch(shots, hard_loud, cache, out / "hard-loud.mp4"))
    join_only = timed(lambda: stitch(shots, hard_loud, cache, out / "hard-loud.mp4"))
    results.append(line("hard cuts", ours_hard, "raw concat -c copy", raw, "<= 2x"))
    results.append(line("hard cuts, loudness -14", ours_hard_loud, "raw concat -c copy", raw, "<= 2x"))
    results.append(line("hard cuts again, nothing changed", join_only, "raw concat -c copy", raw, "-"))

    full = timed(lambda: full_reencode(clips, out / "full.mp4"))
    cold(cache)
    ours_fades = timed(lambda: stitch(shots, fades, cache, out / "fades.mp4"))
    cold(cache)
    ours_fades_loud = timed(lambda: stitch(shots, fades_loud, cache, out / "fades-loud.mp4"))
    results.append(line("39 crossfades", ours_fades, "full xfade re-encode", full, "<= 0.15x"))
    results.append(
        line("39 crossfades, loudness -14", ours_fades_loud, "full xfade re-encode", full, "<= 0.25x")
    )

    changed = [*shots[:20], replace(replacement, id=shots[20].id), *shots[21:]]
    events: list[Event] = []
    restitch = timed(lambda: events.extend(stitch(changed, fades_loud, cache, out / "re.mp4")))
    results.append(line("restitch, one shot changed", restitch, "full xfade re-encode", full, "<= 0.10x"))

    subset = args.moviepy_shots
    if subset:  # --moviepy-shots 0 leaves MoviePy out (it is not a dependency of shotlist)
        mp = timed(lambda: moviepy_cut(clips[:subset], out / "moviepy.mp4"))
        cold(cache)
        ours_subset = timed(lambda: stitch(shots[:subset], fades, cache, out / "subset.mp4"))
        scale = (SHOTS * (SECONDS - CROSSFADE) + CROSSFADE) / (subset * (SECONDS - CROSSFADE) + CROSSFADE)
        mp_label = f"MoviePy, {subset} shots"
        results.append(line(f"{subset} crossfades (MoviePy subset)", ours_subset, mp_label, mp, "<= 0.2x"))
        scaled = f"MoviePy scaled x{scale:.2f}"
        results.append(line("39 crossfades", ours_fades, scaled, mp * scale, "<= 0.2x"))

    cut = probe(out / "fades-loud.mp4")
    print(f"{SHOTS} shots of {SECONDS:g} s at {WIDTH}x{HEIGHT} {FPS} fps; cut {cut.duration:.2f} s")
    print(f"first stitch, normalizing all 40 shots: {first_hard:.2f} s (hard cuts),"
          f" {first_fades:.2f} s (crossfades: keyframes at the windows)")  # fmt: skip
    print(f"restitch normalized {normalized_count(events)} shot(s)")
    for name, path in (("raw concat", out / "raw.mp4"), ("hard-cut stitch", out / "hard.mp4")):
        drift = decoded_seconds(path) - (probe(path).video_duration or 0)
        print(f"{name}: the decoded sound ends {drift * 1000:+.0f} ms from the picture's end")
    print(*results, sep="\n")


if __name__ == "__main__":
    main()
