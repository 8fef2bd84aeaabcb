"""The cut: rendered shots in, one film out, with its subtitles and editor timeline.

The pipeline, each step in its own place::

    probe the clips ─► plan_cut: frames, windows, overlaps          timeline (pure)
    picture: normalize each clip ─► render its windows ─┐ in        this module, video
    sound:   normalize, join, mix, level, encode ───────┘ parallel  sound, audio
    join: picture pieces and sound packets copied ─► the cut        this module, media.mp4
    subtitles and timeline ─► beside the cut                        export (pure)
    the clips the timeline plays ─► out/<name>.media/               media_folder

The picture is never re-encoded as a whole: normalized clips are split at IDR
frames where transitions and fades begin, only those windows are re-encoded,
and the join copies every piece's samples into the cut (``media.mp4``: table
arithmetic and a byte copy, no muxer run per piece). Clips already in the cut's
format are joined straight from the clips, nothing written before. The sound is built
from sample-exact PCM and encoded once (``audio`` says why) while the
picture work runs.

``work_dir`` is a cache that outlives runs (``cache``): a clip's
normalized picture is kept under the clip's sha256 and every setting that
shapes it, its sound likewise, windows under the keys of their inputs, the
encoded sound under everything mixed into it. Restitching after one shot
changes re-normalizes that shot only and re-renders only the windows that
touch it.

The cut is written atomically: a failed stitch leaves the previous cut as it
was and raises :class:`~shotlist.errors.StitchError` naming the ffmpeg step.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from shotlist import files
from shotlist.cut import export
from shotlist.cut.cache import (
    Cache,
    Job,
    batches,
    cache_key,
    cached,
    publish,
    render_entries,
    submit,
    wait_all,
    workers,
)
from shotlist.cut.media_folder import publish_media
from shotlist.cut.sound import start_sound
from shotlist.cut.timeline import CutPlan, ShotTiming, plan_cut
from shotlist.cut.transitions import TRANSITION_TYPES
from shotlist.cut.types import FIT_MODES, CutResult, CutSettings, CutShot, TransitionSpec
from shotlist.cut.video import (
    WINDOW_VERSION,
    Encoding,
    concat_list,
    copy_picture_output,
    fade_output,
    join_args,
    normalize_picture_output,
    piece_names,
    transition_output,
)
from shotlist.errors import CutError, MediaError, StitchError
from shotlist.events import Hook, Notice, StitchFinished, StitchStarted, StitchStep, ignore
from shotlist.media import fonts, graph, mp4
from shotlist.media.ffmpeg import ffmpeg_version, run_ffmpeg
from shotlist.media.probe import MediaInfo, probe

__all__ = [
    "FIT_MODES",
    "TRANSITION_TYPES",
    "CutResult",
    "CutSettings",
    "CutShot",
    "TransitionSpec",
    "stitch_cut",
]


@dataclass(frozen=True)
class _Picture:
    """A clip's picture in the cut's format: its pieces by name (head, body, tail)."""

    key: str
    folder: Path
    pieces: Mapping[str, Path]


@dataclass(frozen=True)
class _Window:
    """A re-encoded stretch of picture: a transition or one of the cut's fades."""

    key: str
    path: Path
    shot_id: str
    event: str  # the step as reported to the hook
    step: str  # the step as named in an error
    output: Callable[[Path], graph.Output]  # the ffmpeg output writing the window to a path
    pixels: int  # frames times frame size: how much work it is


def stitch_cut(
    shots: Sequence[CutShot],
    settings: CutSettings,
    *,
    work_dir: Path,
    output: Path,
    hook: Hook = ignore,
) -> CutResult:
    """Build the cut of ``shots`` at ``output``, with ``.srt`` and ``.otio`` beside it.

    Reports its work to ``hook``: ``StitchStep`` events name the shot and the
    step ("normalizing", "normalizing sound", "rendering transition", "rendering
    sound transition", "rendering fade in", "rendering fade out", "mixing
    audio", "joining") and are sent only for work done, not for what the cache
    already held. Raises ``StitchError`` when an ffmpeg step fails and
    ``CutError`` when the shots cannot be laid out (a clip without
    picture, a trim that leaves nothing, transitions longer than a shot).
    """
    hook(StitchStarted("", str(output)))
    cache = Cache(work_dir)
    with cache.exclusive():
        cache.sweep_leftovers(output)
        try:
            return _stitch(shots, settings, cache, output, hook)
        except StitchError as exc:
            if not any(cache.pictures.iterdir()):
                raise
            # An intermediate the size check cannot fault (damaged in place) may be the cause:
            # one more try from an empty cache tells it from a real failure, and repairs it.
            hook(Notice("", f"the cut failed ({exc}); rebuilding its cache and trying again"))
            cache.clear()
            return _stitch(shots, settings, cache, output, hook)


def _stitch(
    shots: Sequence[CutShot], settings: CutSettings, cache: Cache, output: Path, hook: Hook
) -> CutResult:
    plan = plan_cut(shots, settings, [_probe_clip(shot, cache) for shot in shots])
    for notice in plan.notices:
        hook(Notice("", notice))
    enc = Encoding(settings.width, settings.height, settings.fps)
    cues = export.subtitle_cues(plan)
    with cache.scratch() as scratch, ThreadPoolExecutor(workers()) as pool:
        try:
            # The sound is mixed and encoded beside the picture work, not after it.
            sound, mixing = start_sound(pool, plan, settings, cache, scratch, hook)
            pieces = _render_picture(pool, plan, settings.fit, enc, cache, hook)
            burn = _write_burn_srt(cues, scratch) if settings.burn_subtitles and cues else None
            wait_all(mixing)
            hook(StitchStep("", "joining"))
            _join(pieces, sound, output, enc, burn, scratch)
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise
    cache.sweep()
    srt = _write_subtitles(cues, output)
    otio_path = output.with_suffix(".otio")
    # The timeline plays copies of the clips beside it, so out/ can travel without the cache.
    media = publish_media(plan, settings.music, output).timeline_media(otio_path)
    timeline = export.build_timeline(plan, settings, name=output.stem, media=media)
    files.write_text(otio_path, export.timeline_json(timeline))
    hook(StitchFinished("", str(output)))
    return CutResult(output=output, duration=plan.duration, srt=srt, otio=otio_path)


def _render_picture(
    pool: ThreadPoolExecutor, plan: CutPlan, fit: str, enc: Encoding, cache: Cache, hook: Hook
) -> list[Path]:
    """Normalize the clips and render the windows; returns the pieces of the picture in order."""
    copy = _copyable(plan, enc)
    if copy and _joinable_as_they_are(plan):
        return [Path(t.shot.clip) for t in plan.shots]
    pictures = [_picture_entry(t, fit, enc, cache, copy) for t in plan.shots]
    wait_all(submit(pool, _picture_jobs(plan, pictures, fit, enc, copy), hook))
    windows = _windows(plan, pictures, enc, cache)
    wait_all(submit(pool, _window_jobs(windows.values()), hook))
    return _picture_pieces(plan, pictures, windows)


# -- probing -----------------------------------------------------------------


def _probe_clip(shot: CutShot, cache: Cache) -> MediaInfo:
    """What the clip holds. Clips are named by their content hash, so a probe is kept: a
    restitch of 40 shots would otherwise spend most of its time opening them again."""
    known = cache.probes / f"{shot.clip_sha256}.json"
    info = _read_probe(known)
    if info is None:
        try:
            info = probe(Path(shot.clip))
        except MediaError as exc:
            raise CutError(f"shot {shot.id!r}: {exc}") from exc
        files.write_text(known, files.canonical_json(_probe_json(info)), durable=False)
    if not info.has_video or not info.width or not info.height:
        raise CutError(f"shot {shot.id!r}: {shot.clip} has no picture")
    return info


def _probe_json(info: MediaInfo) -> dict[str, Any]:
    fields = dataclasses.asdict(info)
    fields["fps"] = None if info.fps is None else [info.fps.numerator, info.fps.denominator]
    return fields


def _read_probe(path: Path) -> MediaInfo | None:
    try:
        fields = json.loads(path.read_text())
        if fields["fps"] is not None:
            fields["fps"] = Fraction(*fields["fps"])
        return MediaInfo(**fields)
    except (OSError, ValueError, TypeError, KeyError):
        return None  # absent, or written by another version: probe again


# -- normalizing ---------------------------------------------------------------


def _copyable(plan: CutPlan, enc: Encoding) -> bool:
    """Whether every clip's picture is already in the cut's format and they all share one set
    of H.264 parameters, with nothing to re-encode at their edges: hard cuts of whole clips
    of the cut's size and rate (as the local engine renders them). Their pictures are then
    joined as they are, never encoded again: quicker, and no generation lost. All or none,
    so every piece of a cut shares its parameters."""
    parameters = set()
    for timing in plan.shots:
        info = timing.source
        if not (
            info.video_codec == "h264"
            and info.pix_fmt == "yuv420p"
            and info.plain_picture
            and (info.width, info.height) == (enc.width, enc.height)
            and info.fps == enc.fps
            and timing.start_frame == 0
            and timing.frames == info.frames
            and not timing.head
            and not timing.tail
        ):
            return False
        parameters.add(info.video_extradata)
    return len(parameters) == 1 and None not in parameters


def _joinable_as_they_are(plan: CutPlan) -> bool:
    """Whether the clips' pictures (already in the cut's format) can be joined straight from
    the clips: MP4s the join can copy from, sharing a timescale. Then nothing is written
    before the join, not even a copy of each picture."""
    try:
        tracks = [mp4.read_track(Path(t.shot.clip), b"vide") for t in plan.shots]
    except MediaError:
        return False
    return len({(t.timescale, t.config) for t in tracks}) == 1


def _picture_entry(timing: ShotTiming, fit: str, enc: Encoding, cache: Cache, copy: bool) -> _Picture:
    key = cache_key(
        "picture",
        copy=copy,
        clip=timing.shot.clip_sha256,
        encoding=enc.key(),
        fit=fit,
        start=timing.start_frame,
        frames=timing.frames,
        head=timing.head,
        tail=timing.tail,
        ffmpeg=ffmpeg_version(),
    )
    folder = cache.pictures / key
    names = piece_names(timing.frames, timing.head, timing.tail)
    return _Picture(key, folder, {name: folder / f"{name}.mp4" for name in names})


# What one ffmpeg normalizes at most: about two seconds of 720p, and sixteen clips. Starting
# ffmpeg costs more than normalizing a short small clip, so short clips share a run; a long
# one has its own (several encoders at 720p would only hold more memory, not save time).
BATCH_PIXEL_FRAMES = 2 * 24 * 1280 * 720
BATCH_CLIPS = 16


# Copying a clip's picture costs next to nothing: many share a run.
BATCH_COPIES = 64


def _picture_jobs(
    plan: CutPlan, pictures: Sequence[_Picture], fit: str, enc: Encoding, copy: bool
) -> list[Job]:
    todo = [
        (t, picture)
        for t, picture in zip(plan.shots, pictures, strict=True)
        if not cached(picture.folder, *picture.pieces.values())
    ]
    weights = [0 if copy else t.frames * enc.width * enc.height for t, _ in todo]
    limit = BATCH_COPIES if copy else BATCH_CLIPS
    jobs = []
    for group in batches(todo, weights, BATCH_PIXEL_FRAMES, limit):
        ids = [t.shot.id for t, _ in group]
        event = "copying" if copy else "normalizing"
        jobs.append(Job(ids[0], event, _pictures_job(group, fit, enc, copy), more=tuple(ids[1:])))
    return jobs


def _pictures_job(
    group: Sequence[tuple[ShotTiming, _Picture]], fit: str, enc: Encoding, copy: bool
) -> Callable[[], None]:
    """Normalize (or copy) the pictures of ``group`` in one ffmpeg run."""
    if len(group) == 1 and not copy:
        return _picture_job(group[0][0], fit, enc, group[0][1])

    def job() -> None:
        buildings = [files.staged(picture.folder) for _, picture in group]
        try:
            outputs = []
            for (timing, _picture), building in zip(group, buildings, strict=True):
                building.mkdir()
                if copy:
                    outputs.append(copy_picture_output(timing.shot.clip, enc, building / "piece0.mp4"))
                else:
                    outputs.append(_normalize_output(timing, fit, enc, building))
            names = ", ".join(repr(t.shot.id) for t, _ in group)
            step = f"{'copying the picture of' if copy else 'normalizing'} shots {names}"
            run_ffmpeg(graph.command(*outputs), step=step, error=StitchError)
            for (timing, picture), building in zip(group, buildings, strict=True):
                _finish_picture(timing, building, picture, check=not copy)
        except StitchError:
            if copy:
                raise
            # One clip spoils a shared run: normalized alone, the one at fault is named.
            for timing, picture in group:
                if not cached(picture.folder, *picture.pieces.values()):
                    _picture_job(timing, fit, enc, picture)()
        finally:
            for building in buildings:
                shutil.rmtree(building, ignore_errors=True)

    return job


def _normalize_output(timing: ShotTiming, fit: str, enc: Encoding, building: Path) -> graph.Output:
    return normalize_picture_output(
        timing.shot.clip,
        timing.start_frame / enc.fps,
        fit,
        timing.source_size,
        timing.frames,
        timing.head,
        timing.tail,
        enc,
        building,
    )


def _finish_picture(timing: ShotTiming, building: Path, picture: _Picture, *, check: bool = True) -> None:
    """Name the pieces ffmpeg wrote in ``building``, check them and publish the entry.
    A copied picture is not checked: it has the clip's frames, which planning counted."""
    for index, name in enumerate(picture.pieces):
        (building / f"piece{index}.mp4").rename(building / f"{name}.mp4")
    if check:
        _check_pieces(timing, building, picture)
    _publish(building, picture)


def _picture_job(timing: ShotTiming, fit: str, enc: Encoding, picture: _Picture) -> Callable[[], None]:
    def job() -> None:
        building = files.staged(picture.folder)
        building.mkdir()
        try:
            args = graph.command(_normalize_output(timing, fit, enc, building))
            run_ffmpeg(args, step=f"normalizing shot {timing.shot.id!r}", error=StitchError)
            _finish_picture(timing, building, picture)
        finally:
            shutil.rmtree(building, ignore_errors=True)

    return job


def _publish(building: Path, picture: _Picture) -> None:
    if cached(picture.folder, *picture.pieces.values()):
        return  # another stitch published the same entry first; theirs is as good
    shutil.rmtree(picture.folder, ignore_errors=True)  # an entry that lost a piece
    with suppress(OSError):  # lost a race to publish
        publish(building, picture.folder)


def _check_pieces(timing: ShotTiming, folder: Path, picture: _Picture) -> None:
    """Make sure every piece has exactly its frames; a short piece would shift the cut."""
    expected = {"head": timing.head, "body": timing.body, "tail": timing.tail}
    for name in picture.pieces:
        frames = probe(folder / f"{name}.mp4").frames
        if frames != expected[name]:
            raise StitchError(
                f"normalizing shot {timing.shot.id!r}",
                (),
                f"the {name} has {frames} frames where {expected[name]} were expected",
            )


# -- windows -----------------------------------------------------------------


def _windows(
    plan: CutPlan, pictures: Sequence[_Picture], enc: Encoding, cache: Cache
) -> dict[tuple[int, str], _Window]:
    """The re-encoded windows, by (shot index, "in"/"out")."""
    windows: dict[tuple[int, str], _Window] = {}
    first, last = plan.shots[0], len(plan.shots) - 1
    if first.head:
        windows[0, "in"] = _fade_window(first, pictures[0], "in", enc, cache)
    for index in range(1, len(plan.shots)):
        timing = plan.shots[index]
        if timing.transition_frames:
            windows[index, "in"] = _transition_window(
                timing, pictures[index - 1], pictures[index], enc, cache
            )
    if plan.shots[last].tail:
        windows[last, "out"] = _fade_window(plan.shots[last], pictures[last], "out", enc, cache)
    return windows


def _transition_window(
    timing: ShotTiming, before: _Picture, after: _Picture, enc: Encoding, cache: Cache
) -> _Window:
    key = cache_key(
        "transition",
        tail=before.key,
        head=after.key,
        type=timing.transition,
        frames=timing.transition_frames,
        encoding=enc.key(),
        version=WINDOW_VERSION,
    )
    tail, head = before.pieces["tail"], after.pieces["head"]
    kind, frames = timing.transition, timing.transition_frames
    return _Window(
        key=key,
        path=cache.windows / f"{key}.mp4",
        shot_id=timing.shot.id,
        event="rendering transition",
        step=f"rendering the {timing.transition} into shot {timing.shot.id!r}",
        output=lambda out: transition_output(tail, head, kind, frames, enc, out),
        pixels=frames * enc.width * enc.height,
    )


def _fade_window(
    timing: ShotTiming, picture: _Picture, direction: str, enc: Encoding, cache: Cache
) -> _Window:
    frames = timing.head if direction == "in" else timing.tail
    piece = picture.pieces["head" if direction == "in" else "tail"]
    key = cache_key(
        "fade",
        piece=picture.key,
        direction=direction,
        frames=frames,
        encoding=enc.key(),
        version=WINDOW_VERSION,
    )
    return _Window(
        key=key,
        path=cache.windows / f"{key}.mp4",
        shot_id=timing.shot.id,
        event=f"rendering fade {direction}",
        step=f"rendering the fade {direction} of shot {timing.shot.id!r}",
        output=lambda out: fade_output(piece, direction, frames, enc, out),
        pixels=frames * enc.width * enc.height,
    )


# Windows are a dozen frames or so, each with its own single-threaded decoders and encoder
# (see Encoding.options). Starting ffmpeg costs little beside rendering even a small window
# (a few ms of CPU against 25 ms at 320x180, 170 ms at 720p), so windows share a run only up
# to about half a second of 480p. Larger ones run one per job: the pool then keeps both cores
# busy to the end (batches of eight left one idle while the last ran), and a run holds
# 130 MB at 720p where eight windows held 900 MB.
BATCH_WINDOW_PIXELS = 12 * 854 * 480
BATCH_WINDOWS = 8


def _window_jobs(windows: Iterable[_Window]) -> list[Job]:
    todo = [w for w in windows if not cached(w.path)]
    jobs = []
    for event in dict.fromkeys(w.event for w in todo):  # a batch is reported as one kind of work
        alike = [w for w in todo if w.event == event]
        weights = [w.pixels for w in alike]
        for group in batches(alike, weights, BATCH_WINDOW_PIXELS, BATCH_WINDOWS):
            more = tuple(w.shot_id for w in group[1:])
            jobs.append(Job(group[0].shot_id, event, _windows_job(group), more))
    return jobs


def _windows_job(group: Sequence[_Window]) -> Callable[[], None]:
    return functools.partial(render_entries, group, _window_path, _window_output, _windows_step)


def _window_path(window: _Window) -> Path:
    return window.path


def _window_output(window: _Window, at: Path) -> graph.Output:
    return window.output(at)


def _windows_step(group: Sequence[_Window]) -> str:
    return group[0].step if len(group) == 1 else f"rendering {len(group)} windows"


def _picture_pieces(
    plan: CutPlan, pictures: Sequence[_Picture], windows: Mapping[tuple[int, str], _Window]
) -> list[Path]:
    """Every piece of the picture in order: windows where re-encoded, clip bodies between."""
    pieces = []
    for index, (timing, picture) in enumerate(zip(plan.shots, pictures, strict=True)):
        if (index, "in") in windows:
            pieces.append(windows[index, "in"].path)
        if timing.body:
            pieces.append(picture.pieces["body"])
        if (index, "out") in windows:
            pieces.append(windows[index, "out"].path)
    return pieces


# -- joining and writing -------------------------------------------------------


def _join(
    pieces: Sequence[Path],
    sound: Sequence[mp4.PacketSpan],
    output: Path,
    enc: Encoding,
    subtitles: Path | None,
    scratch: Path,
) -> None:
    """Write the cut: the picture's pieces one after another, and the sound's packets.

    Both are copied, table arithmetic and a byte copy (``media.mp4``); ffmpeg's
    concat demuxer is the way only when subtitles are burnt in (the picture is then
    encoded again) or a piece is an MP4 the copy cannot join.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    building = files.staged(output)
    try:
        if subtitles is not None or not _join_by_copy(pieces, sound, building):
            _join_with_ffmpeg(pieces, _sound_file(sound, scratch), building, enc, subtitles, scratch)
        files.publish(building, output, durable=True)
    except MediaError as exc:
        raise StitchError("joining the cut", (), str(exc)) from exc
    finally:
        building.unlink(missing_ok=True)


def _join_by_copy(pieces: Sequence[Path], sound: Sequence[mp4.PacketSpan], building: Path) -> bool:
    """Write the cut by copying its pieces' samples; False when a piece is beyond the copy."""
    try:
        mp4.write_movie(building, [mp4.read_track(piece, b"vide") for piece in pieces], sound)
    except mp4.Mp4Unsupported:
        building.unlink(missing_ok=True)
        return False
    return True


def _sound_file(sound: Sequence[mp4.PacketSpan], scratch: Path) -> Path:
    """The sound as one file, for ffmpeg: the track itself, or its packets spliced into one."""
    if len(sound) == 1 and sound[0].start is None and sound[0].end is None and not sound[0].shift:
        return sound[0].path
    track = scratch / "sound.m4a"
    mp4.write_movie(track, [], sound)
    return track


def _join_with_ffmpeg(
    pieces: Sequence[Path], sound: Path, building: Path, enc: Encoding, subtitles: Path | None, scratch: Path
) -> None:
    video_list = scratch / "picture.ffconcat"
    video_list.write_text(concat_list(pieces))
    font_dir, font, env = None, None, None
    # The bundled font, so burnt-in subtitles render alike on machines without system fonts.
    if subtitles is not None and fonts.FONT_FILE.is_file():
        font_dir, font = fonts.FONT_DIR, fonts.FONT_FAMILY
        env = fonts.write_fontconfig(scratch)
    run_ffmpeg(
        join_args(video_list, sound, building, enc, subtitles, font_dir, font),
        step="joining the cut",
        error=StitchError,
        env=env,
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
    files.write_text(path, export.srt_text(cues))
    return path
