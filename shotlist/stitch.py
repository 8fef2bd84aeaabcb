"""The cut: rendered shots in, one film out, with its subtitles and editor timeline.

The pipeline, each step in its own place::

    probe the clips ─► plan_cut (frames, windows)          stitch_plan  (pure)
    normalize each clip once, cached  ─┐                   stitch_video / stitch_audio
    render transition and fade windows ├─ ffmpeg, cached   (argument builders, pure)
    mix the sound, measure loudness   ─┘
    join: picture copied, sound encoded once ─► the cut   this module (effects)
    subtitles and timeline                  ─► beside it  export (pure)

The picture is never re-encoded as a whole: normalized clips are split at IDR
frames where transitions and fades begin, only those windows are re-encoded,
and the concat demuxer joins every piece with ``-c copy``. The sound is always
mixed from sample-exact PCM and encoded once (see ``stitch_audio`` for why).

``work_dir`` is a cache that outlives runs: normalized clips are kept under a
key of the clip's sha256 and every setting that shapes them, windows under the
keys of their inputs. Restitching after one shot changes re-normalizes that
shot only and re-renders only the windows that touch it.

The cut is written atomically: a failed stitch leaves the previous cut as it
was and raises :class:`~shotlist.errors.StitchError` naming the ffmpeg step.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shotlist import export
from shotlist.errors import FFmpegError, ShotlistError, StitchError
from shotlist.events import Hook, Notice, StitchFinished, StitchStarted, StitchStep, ignore
from shotlist.media import MediaInfo, ffmpeg_version, probe, run_ffmpeg, run_ffmpeg_capture
from shotlist.stitch_audio import (
    LIMITED_TOLERANCE_LU,
    Loudness,
    leveling,
    limit_args,
    mix_args,
    normalize_audio_graph,
    normalize_audio_output,
    parse_ebur128,
)
from shotlist.stitch_plan import CutPlan, ShotTiming, plan_cut
from shotlist.stitch_video import (
    FIT_MODES,
    XFADE_TRANSITIONS,
    Encoding,
    concat_list,
    fade_args,
    join_args,
    normalize_video_args,
    piece_names,
    transition_args,
)

__all__ = [
    "FIT_MODES",
    "TRANSITION_TYPES",
    "CutResult",
    "CutSettings",
    "CutShot",
    "TransitionSpec",
    "stitch_cut",
]

TRANSITION_TYPES: tuple[str, ...] = ("cut", *XFADE_TRANSITIONS)

# Bump when normalization or window rendering changes what they write.
_CACHE_VERSION = 1
# The font bundled for burnt-in subtitles, so they render on machines without system fonts.
_FONTS_DIR = Path(__file__).parent / "assets" / "fonts"
_FONT_FAMILY = "DejaVu Sans"


@dataclass(frozen=True)
class TransitionSpec:
    """How the cut passes from the previous shot into this one.

    ``type`` is one of :data:`TRANSITION_TYPES`; ``duration`` is the overlap in
    seconds, which shortens the cut by as much. A ``cut`` (or a duration of 0)
    has no overlap.
    """

    type: str
    duration: float = 0.0

    def __post_init__(self) -> None:
        if self.type not in TRANSITION_TYPES:
            raise ValueError(
                f"unknown transition {self.type!r}; expected one of {', '.join(TRANSITION_TYPES)}"
            )
        if self.duration < 0:
            raise ValueError(f"transition duration must be >= 0, not {self.duration}")


@dataclass(frozen=True)
class CutShot:
    """One rendered shot as the cut uses it.

    ``trim_start``/``trim_end`` are in/out points in seconds inside the clip
    (``None``: its start/end). ``transition`` leads from the previous shot into
    this one (``None``: the cut's default; ignored on the first shot). ``mute``
    drops the shot's own sound. ``dialogue`` lines become subtitles over the
    shot. ``metadata`` (prompt, seed, request hash, provider, model) goes into
    the timeline export.
    """

    id: str
    clip: Path
    clip_sha256: str
    trim_start: float | None = None
    trim_end: float | None = None
    transition: TransitionSpec | None = None
    mute: bool = False
    dialogue: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CutSettings:
    """The cut's format and finish.

    ``fit`` is one of :data:`FIT_MODES` (see ``stitch_video``). ``loudness`` is
    the integrated target in LUFS (``None``: leave levels alone); the true peak
    is held at or under -1 dBTP. ``fade_in``/``fade_out`` fade picture and sound
    from/to black at the cut's ends. ``music`` is laid under the whole cut at
    ``music_volume_db`` relative to the shots' sound, lowered under it when
    ``duck``. ``burn_subtitles`` draws the dialogue into the picture (which
    re-encodes the whole picture).
    """

    width: int
    height: int
    fps: int
    fit: str = "fit"
    transition: TransitionSpec = TransitionSpec("cut")
    loudness: float | None = -14.0
    fade_in: float = 0.0
    fade_out: float = 0.0
    music: Path | None = None
    music_volume_db: float = -12.0
    duck: bool = True
    burn_subtitles: bool = False

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.width % 2 or self.height % 2:
            raise ValueError(f"cut size must be positive and even, not {self.width}x{self.height}")
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, not {self.fps}")
        if self.fit not in FIT_MODES:
            raise ValueError(f"unknown fit {self.fit!r}; expected one of {', '.join(FIT_MODES)}")
        if self.fade_in < 0 or self.fade_out < 0:
            raise ValueError("fade_in and fade_out must be >= 0")


@dataclass(frozen=True)
class CutResult:
    """What a stitch wrote: the cut, its length in seconds, its SRT (if any dialogue), its OTIO."""

    output: Path
    duration: float
    srt: Path | None
    otio: Path


@dataclass(frozen=True)
class _Normalized:
    """A clip in the cut's format: picture pieces by name (head/body/tail) and sound."""

    key: str
    pieces: Mapping[str, Path]
    sound: Path


@dataclass(frozen=True)
class _Window:
    """A re-encoded stretch of picture: a transition or one of the cut's fades."""

    key: str
    path: Path
    shot_id: str
    event: str  # the step as reported to the hook
    step: str  # the step as named in an error
    build: Callable[[Path], list[str]]  # ffmpeg arguments writing the window to a path


def stitch_cut(
    shots: Sequence[CutShot],
    settings: CutSettings,
    *,
    work_dir: Path,
    output: Path,
    hook: Hook = ignore,
) -> CutResult:
    """Build the cut of ``shots`` at ``output``, with ``.srt`` and ``.otio`` beside it."""
    hook(StitchStarted("", str(output)))
    plan = plan_cut(shots, settings, [_probe_clip(shot) for shot in shots])
    for notice in plan.notices:
        hook(Notice("", notice))
    enc = Encoding(settings.width, settings.height, settings.fps)
    cache = _Cache(work_dir)
    with cache.scratch() as scratch, ThreadPoolExecutor(_workers()) as pool:
        normalized = _normalize_all(pool, plan, settings, enc, cache, hook)
        windows = _windows(plan, normalized, enc, cache)
        mixing = pool.submit(_mix_sound, plan, normalized, settings, scratch)
        hook(StitchStep("", "mixing audio"))
        _run_all(
            pool, [(w.shot_id, w.event, _render_window_job(w)) for w in windows.values()], hook
        )
        sound, audio_filter = mixing.result()
        cues = export.subtitle_cues(plan)
        burn = _write_burn_srt(cues, scratch) if settings.burn_subtitles and cues else None
        video_list = scratch / "picture.ffconcat"
        video_list.write_text(concat_list(_picture_pieces(plan, normalized, windows)))
        hook(StitchStep("", "joining"))
        _join(video_list, sound, audio_filter, output, enc, burn)
    srt = _write_subtitles(cues, output)
    timeline = export.build_timeline(plan, name=output.stem, metadata=_timeline_info(settings))
    otio_path = output.with_suffix(".otio")
    _write_atomic(otio_path, export.timeline_json(timeline))
    hook(StitchFinished("", str(output)))
    return CutResult(output=output, duration=plan.duration, srt=srt, otio=otio_path)


# -- probing -----------------------------------------------------------------


def _probe_clip(shot: CutShot) -> MediaInfo:
    try:
        info = probe(Path(shot.clip))
    except ShotlistError as exc:
        raise ShotlistError(f"shot {shot.id!r}: {exc}") from exc
    if not info.has_video or not info.width or not info.height:
        raise ShotlistError(f"shot {shot.id!r}: {shot.clip} has no picture")
    return info


# -- the cache -----------------------------------------------------------------


class _Cache:
    """Normalized clips and windows under ``work_dir``, keyed by content, published atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.normalized = root / "normalized"
        self.windows = root / "windows"
        for directory in (self.normalized, self.windows, root / "tmp"):
            directory.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def scratch(self) -> Iterator[Path]:
        path = Path(tempfile.mkdtemp(prefix="stitch-", dir=self.root / "tmp"))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def staging(self, final: Path) -> Path:
        """A fresh path beside ``final`` to build it in before publishing."""
        return final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.tmp")

    def publish(self, staged: Path, final: Path) -> None:
        """Move a staged folder into place; the caller removes it if another stitch won."""
        with suppress(OSError):  # the same content was published first; theirs is as good
            os.replace(staged, final)


def _key(kind: str, **parts: object) -> str:
    payload = json.dumps({"kind": kind, "v": _CACHE_VERSION, **parts}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


# -- normalizing ---------------------------------------------------------------


def _normalize_all(
    pool: ThreadPoolExecutor,
    plan: CutPlan,
    settings: CutSettings,
    enc: Encoding,
    cache: _Cache,
    hook: Hook,
) -> list[_Normalized]:
    entries = [_normalized_entry(t, settings, enc, cache) for t in plan.shots]
    jobs = [
        (t.shot.id, "normalizing", _normalize_job(t, settings.fit, enc, cache, entry))
        for t, entry in zip(plan.shots, entries, strict=True)
        if not _complete(entry)
    ]
    _run_all(pool, jobs, hook)
    return entries


def _normalized_entry(
    timing: ShotTiming, settings: CutSettings, enc: Encoding, cache: _Cache
) -> _Normalized:
    key = _key(
        "normalized",
        clip=timing.shot.clip_sha256,
        encoding=enc.key(),
        fit=settings.fit,
        start=timing.start_frame,
        frames=timing.frames,
        head=timing.head,
        tail=timing.tail,
        ffmpeg=ffmpeg_version(),
    )
    folder = cache.normalized / key
    names = piece_names(timing.frames, timing.head, timing.tail)
    return _Normalized(key, {name: folder / f"{name}.mp4" for name in names}, folder / "sound.wav")


def _complete(entry: _Normalized) -> bool:
    done = entry.sound.is_file() and all(p.is_file() for p in entry.pieces.values())
    if done:
        os.utime(entry.sound.parent)  # marks the entry as in use, for pruning by age
    return done


def _normalize_job(
    timing: ShotTiming, fit: str, enc: Encoding, cache: _Cache, entry: _Normalized
) -> Callable[[], None]:
    def job() -> None:
        final = entry.sound.parent
        staged = cache.staging(final)
        staged.mkdir()
        try:
            run_ffmpeg(
                _normalize_args(timing, fit, enc, staged),
                step=f"normalizing shot {timing.shot.id!r}",
                error=StitchError,
            )
            for index, name in enumerate(entry.pieces):
                (staged / f"piece{index}.mp4").rename(staged / f"{name}.mp4")
            _check_pieces(timing, staged, entry)
            shutil.rmtree(final, ignore_errors=True)  # an incomplete entry from a crash
            cache.publish(staged, final)
        finally:
            shutil.rmtree(staged, ignore_errors=True)

    return job


def _normalize_args(timing: ShotTiming, fit: str, enc: Encoding, out_dir: Path) -> list[str]:
    seek = ["-ss", f"{timing.start_frame / enc.fps:.6f}"] if timing.start_frame else []
    video_graph, video_out = normalize_video_args(
        fit, timing.source_size, timing.frames, timing.head, timing.tail, enc, out_dir
    )
    samples = round(timing.frames * 48_000 / enc.fps)
    audio_graph = normalize_audio_graph(timing.source.has_audio, samples)
    return [
        *seek, "-i", str(timing.shot.clip),
        "-filter_complex", f"{video_graph};{audio_graph}",
        *video_out, *normalize_audio_output(out_dir / "sound.wav"),
    ]  # fmt: skip


def _check_pieces(timing: ShotTiming, folder: Path, entry: _Normalized) -> None:
    """Make sure every piece has exactly its frames; a short piece would shift the cut."""
    expected = {"head": timing.head, "body": timing.body, "tail": timing.tail}
    for name in entry.pieces:
        frames = probe(folder / f"{name}.mp4").frames
        if frames != expected[name]:
            raise StitchError(
                f"normalizing shot {timing.shot.id!r}",
                (),
                f"the {name} has {frames} frames where {expected[name]} were expected",
            )


# -- windows -----------------------------------------------------------------


def _windows(
    plan: CutPlan, normalized: Sequence[_Normalized], enc: Encoding, cache: _Cache
) -> dict[tuple[int, str], _Window]:
    """The re-encoded windows, by (shot index, "in"/"out")."""
    windows: dict[tuple[int, str], _Window] = {}
    first, last = plan.shots[0], len(plan.shots) - 1
    if first.head:
        windows[0, "in"] = _fade_window(first, normalized[0], "in", enc, cache)
    for index in range(1, len(plan.shots)):
        timing = plan.shots[index]
        if timing.transition_frames:
            windows[index, "in"] = _transition_window(
                timing, normalized[index - 1], normalized[index], enc, cache
            )
    if plan.shots[last].tail:
        windows[last, "out"] = _fade_window(plan.shots[last], normalized[last], "out", enc, cache)
    return windows


def _transition_window(
    timing: ShotTiming, before: _Normalized, after: _Normalized, enc: Encoding, cache: _Cache
) -> _Window:
    key = _key(
        "transition",
        tail=before.key,
        head=after.key,
        type=timing.transition,
        frames=timing.transition_frames,
        encoding=enc.key(),
    )
    tail, head = before.pieces["tail"], after.pieces["head"]
    return _Window(
        key=key,
        path=cache.windows / f"{key}.mp4",
        shot_id=timing.shot.id,
        event="rendering transition",
        step=f"rendering the {timing.transition} into shot {timing.shot.id!r}",
        build=lambda out: transition_args(
            tail, head, timing.transition, timing.transition_frames, enc, out
        ),
    )


def _fade_window(
    timing: ShotTiming, entry: _Normalized, direction: str, enc: Encoding, cache: _Cache
) -> _Window:
    frames = timing.head if direction == "in" else timing.tail
    piece = entry.pieces["head" if direction == "in" else "tail"]
    key = _key("fade", piece=entry.key, direction=direction, frames=frames, encoding=enc.key())
    return _Window(
        key=key,
        path=cache.windows / f"{key}.mp4",
        shot_id=timing.shot.id,
        event=f"rendering fade {direction}",
        step=f"rendering the fade {direction} of shot {timing.shot.id!r}",
        build=lambda out: fade_args(piece, direction, frames, enc, out),
    )


def _render_window_job(window: _Window) -> Callable[[], None] | None:
    if window.path.is_file():
        os.utime(window.path)
        return None

    def job() -> None:
        staged = window.path.with_name(f".{window.key}.{uuid.uuid4().hex[:8]}.tmp.mp4")
        try:
            run_ffmpeg(window.build(staged), step=window.step, error=StitchError)
            os.replace(staged, window.path)
        finally:
            staged.unlink(missing_ok=True)

    return job


def _picture_pieces(
    plan: CutPlan, normalized: Sequence[_Normalized], windows: Mapping[tuple[int, str], _Window]
) -> list[Path]:
    """Every piece of the picture in order: windows where re-encoded, clip bodies between."""
    pieces = []
    for index, (timing, entry) in enumerate(zip(plan.shots, normalized, strict=True)):
        if (index, "in") in windows:
            pieces.append(windows[index, "in"].path)
        if timing.body:
            pieces.append(entry.pieces["body"])
        if (index, "out") in windows:
            pieces.append(windows[index, "out"].path)
    return pieces


# -- sound ---------------------------------------------------------------------


def _mix_sound(
    plan: CutPlan, normalized: Sequence[_Normalized], settings: CutSettings, scratch: Path
) -> tuple[Path, str | None]:
    """Mix the cut's sound to a WAV; returns it and the filter that sets its loudness."""
    mixed = scratch / "mixed.wav"
    measure = settings.loudness is not None
    args = mix_args(plan, [n.sound for n in normalized], settings, mixed, measure=measure)
    measured = _run_metered(args, "mixing the audio", measure)
    if settings.loudness is None or measured is None:
        return mixed, None
    decision = leveling(measured, settings.loudness)
    if decision is None:
        return mixed, None
    if not decision.limit:
        return mixed, decision.filter()
    return _limit(mixed, decision.gain_db, settings.loudness, plan, scratch), None


def _limit(mixed: Path, gain_db: float, target: float, plan: CutPlan, scratch: Path) -> Path:
    """Raise the loudness through the limiter, correcting the gain for what limiting took."""
    limited = scratch / "limited.wav"
    samples = plan.samples(plan.total_frames)
    for _attempt in range(3):
        args = limit_args(mixed, gain_db, samples, limited)
        measured = _run_metered(args, "limiting the audio", measure=True)
        assert measured is not None
        if abs(measured.integrated - target) <= LIMITED_TOLERANCE_LU:
            break
        gain_db += target - measured.integrated
    return limited


def _run_metered(args: list[str], step: str, measure: bool) -> Loudness | None:
    try:
        stderr = run_ffmpeg_capture(args, step=step)
    except FFmpegError as exc:
        raise StitchError(exc.step, exc.command, exc.stderr_tail) from exc
    if not measure:
        return None
    try:
        return parse_ebur128(stderr)
    except ValueError as exc:
        raise StitchError(f"measuring loudness after {step}", args, stderr[-2000:]) from exc


# -- joining and writing -------------------------------------------------------


def _join(
    video_list: Path,
    sound: Path,
    audio_filter: str | None,
    output: Path,
    enc: Encoding,
    subtitles: Path | None,
) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    staged = output.with_name(f".{output.stem}.{uuid.uuid4().hex[:8]}.tmp{output.suffix}")
    bundled = _has_fonts(_FONTS_DIR)
    fonts, font = (_FONTS_DIR, _FONT_FAMILY) if bundled else (None, None)
    try:
        run_ffmpeg(
            join_args(video_list, sound, audio_filter, staged, enc, subtitles, fonts, font),
            step="joining the cut",
            error=StitchError,
        )
        os.replace(staged, output)
    finally:
        staged.unlink(missing_ok=True)


def _has_fonts(folder: Path) -> bool:
    return folder.is_dir() and any(
        p.suffix.lower() in {".ttf", ".otf", ".ttc"} for p in folder.iterdir()
    )


def _write_burn_srt(cues: list[export.Cue], scratch: Path) -> Path:
    path = scratch / "subtitles.srt"
    path.write_text(export.srt_text(cues), encoding="utf-8")
    return path


def _write_subtitles(cues: list[export.Cue], output: Path) -> Path | None:
    path = output.with_suffix(".srt")
    if not cues:
        # A subtitle file left from an earlier cut would be shown over this one.
        path.unlink(missing_ok=True)
        return None
    _write_atomic(path, export.srt_text(cues))
    return path


def _write_atomic(path: Path, text: str) -> None:
    staged = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        staged.write_text(text, encoding="utf-8")
        os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)


def _timeline_info(settings: CutSettings) -> dict[str, Any]:
    return {
        "size": [settings.width, settings.height],
        "fps": settings.fps,
        "fit": settings.fit,
        "loudness": settings.loudness,
        "fade_in": settings.fade_in,
        "fade_out": settings.fade_out,
        "music": str(settings.music) if settings.music else None,
        "music_volume_db": settings.music_volume_db,
        "duck": settings.duck,
    }


# -- running jobs --------------------------------------------------------------


def _workers() -> int:
    return max(1, os.cpu_count() or 1)


def _run_all(
    pool: ThreadPoolExecutor,
    jobs: Sequence[tuple[str, str, Callable[[], None] | None]],
    hook: Hook,
) -> None:
    """Run ``(shot id, step, job)`` in the pool; events come from this thread only."""
    futures: list[Future[None]] = []
    for shot_id, step, job in jobs:
        if job is None:
            continue
        hook(StitchStep(shot_id, step))
        futures.append(pool.submit(job))
    done, pending = wait(futures, return_when=FIRST_EXCEPTION)
    for future in pending:
        future.cancel()
    wait(pending)
    for future in done:
        future.result()
