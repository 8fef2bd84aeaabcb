"""The sound track of a cut: normalized, joined, mixed, levelled and encoded, beside the picture.

Effects live here; the ffmpeg arguments and decisions are in ``audio``
(whose docstring explains the shape of the work). The result is an M4A in the
cache, keyed by everything mixed into it, which the join copies next to the
picture; a restitch that changes nothing audible reuses it.
"""

from __future__ import annotations

import functools
import os
from array import array
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from shotlist import files
from shotlist.cut.audio import (
    EDGE_FADE_SECONDS,
    JOIN_WINDOW_SAMPLES,
    LIMITED_TOLERANCE_LU,
    MIN_SPLICED_SAMPLES,
    Loudness,
    encode_args,
    encode_chunks,
    end_window_start,
    join_window_start,
    leveling,
    limit_args,
    mix_args,
    normalize_sound_args,
    normalize_sound_outputs,
    parse_ebur128,
    pcm_encode_args,
    pcm_encode_output,
    sound_window_output,
    splice_spans,
    splice_starts,
)
from shotlist.cut.cache import Cache, Job, batches, cache_key, cached, publish, render_entries, submit
from shotlist.cut.timeline import AUDIO_RATE, CutPlan, ShotTiming
from shotlist.cut.transitions import DIP_COLOURS
from shotlist.cut.types import CutSettings
from shotlist.errors import CutError, FFmpegError, MediaError, StitchError
from shotlist.events import Hook, StitchStep
from shotlist.media import graph
from shotlist.media.ffmpeg import ffmpeg_version, run_ffmpeg, run_ffmpeg_capture
from shotlist.media.mp4 import Mp4Unsupported, PacketSpan, write_movie

_BYTES_PER_SAMPLE = 4  # s16 stereo


@dataclass(frozen=True)
class _Piece:
    """A stretch of the joined shots' sound: ``samples`` from ``start`` of a PCM file."""

    path: Path | None  # None: silence (a muted shot)
    start: int
    samples: int


@dataclass(frozen=True)
class _Window:
    """The sound of a transition, rendered apart."""

    shot_id: str
    path: Path
    output: Callable[[Path], graph.Output]  # the ffmpeg output writing the window to a path


def start_sound(
    pool: ThreadPoolExecutor,
    plan: CutPlan,
    settings: CutSettings,
    cache: Cache,
    scratch: Path,
    hook: Hook,
) -> tuple[list[PacketSpan], list[Future[None]]]:
    """Start building the cut's sound, unless it is cached: the packets the cut's sound is
    made of (once the work is done), and the work to wait for."""
    sounds = [_sound_path(t, plan.fps, cache) for t in plan.shots]
    spliced = _splices(plan, settings)
    normalizing = submit(pool, _normalize_jobs(plan, sounds, encode=spliced), hook)
    if spliced:
        return _start_spliced(pool, plan, sounds, normalizing, cache, scratch, hook)
    windows = _windows(plan, sounds, cache)
    pieces = _pieces(plan, sounds, windows)
    track = _track_path(pieces, plan, settings, cache)
    if cached(track):
        return [PacketSpan(track)], normalizing
    missing = [w for w in windows.values() if not cached(w.path)]
    for window in missing:
        hook(StitchStep(window.shot_id, "rendering sound transition"))
    hook(StitchStep("", "mixing audio"))
    work = pool.submit(_build, plan, settings, pieces, missing, normalizing, scratch, track)
    return [PacketSpan(track)], [*normalizing, work]


# -- normalizing -----------------------------------------------------------------


def _sound_path(timing: ShotTiming, fps: int, cache: Cache) -> Path:
    key = cache_key(
        "sound",
        clip=timing.shot.clip_sha256,
        fps=fps,
        start=timing.start_frame,
        frames=timing.frames,
        ffmpeg=ffmpeg_version(),
    )
    return cache.sounds / f"{key}.pcm"


# Sound is quick to normalize, quicker than starting ffmpeg for a short clip: the sound of
# many clips is normalized in one run.
SOUND_BATCH_SECONDS = 120.0
SOUND_BATCH_CLIPS = 32


def _normalize_jobs(plan: CutPlan, sounds: Sequence[Path], *, encode: bool) -> list[Job]:
    """Jobs normalizing the sound not yet cached, several clips per ffmpeg run; with ``encode``
    (hard cuts: the shots' encodes are spliced), each shot's AAC is encoded in the same run."""
    todo = [(t, path) for t, path in zip(plan.shots, sounds, strict=True) if not cached(path)]
    weights = [plan.seconds(t.frames) for t, _ in todo]
    jobs = []
    for group in batches(todo, weights, SOUND_BATCH_SECONDS, SOUND_BATCH_CLIPS):
        ids = [t.shot.id for t, _ in group]
        jobs.append(Job(ids[0], "normalizing sound", _normalize_batch(group, plan, encode), tuple(ids[1:])))
    return jobs


def _normalize_batch(
    group: Sequence[tuple[ShotTiming, Path]], plan: CutPlan, encode: bool
) -> Callable[[], None]:
    def job() -> None:
        staged: list[tuple[Path, Path]] = []  # (building, final)
        outputs = []
        for timing, path in group:
            building = files.staged(path)
            staged.append((building, path))
            encoded = path.with_suffix(".m4a")
            encoding = None
            if encode and not cached(encoded):
                encoding = files.staged(encoded)
                staged.append((encoding, encoded))
            outputs += normalize_sound_outputs(
                timing.shot.clip,
                plan.seconds(timing.start_frame),
                timing.source.has_audio,
                plan.samples(timing.frames),
                building,
                encoding,
            )
        names = ", ".join(repr(t.shot.id) for t, _ in group)
        step = f"normalizing the sound of shot{'s' if len(group) > 1 else ''} {names}"
        try:
            run_ffmpeg(graph.command(*outputs), step=step, error=StitchError)
            for building, final in staged:
                publish(building, final)
        except StitchError:
            if len(group) == 1:
                raise
            # One clip spoils a shared run: normalized alone, the one at fault is named.
            for timing, path in group:
                if not cached(path):
                    _normalize_job(timing, plan, path)()
        finally:
            for building, _ in staged:
                building.unlink(missing_ok=True)

    return job


def _normalize_job(timing: ShotTiming, plan: CutPlan, path: Path) -> Callable[[], None]:
    def job() -> None:
        building = files.staged(path)
        args = normalize_sound_args(
            timing.shot.clip,
            plan.seconds(timing.start_frame),
            timing.source.has_audio,
            plan.samples(timing.frames),
            building,
        )
        _render(args, f"normalizing the sound of shot {timing.shot.id!r}", building, path)

    return job


# -- transitions and the joined sound ------------------------------------------------


def _windows(plan: CutPlan, sounds: Sequence[Path], cache: Cache) -> dict[int, _Window]:
    """The sound of each transition, by the index of the shot it leads into."""
    windows = {}
    for index, timing in enumerate(plan.shots):
        if not index or not timing.transition_frames:
            continue
        before = plan.shots[index - 1]
        tail = None if before.shot.mute else sounds[index - 1]
        head = None if timing.shot.mute else sounds[index]
        samples = plan.samples(timing.transition_frames)
        tail_start = plan.samples(before.frames) - samples
        dip = timing.transition in DIP_COLOURS
        key = cache_key(
            "sound-window",
            tail=tail and tail.name,
            head=head and head.name,
            tail_start=tail_start,
            samples=samples,
            dip=dip,
        )
        windows[index] = _Window(
            shot_id=timing.shot.id,
            path=cache.windows / f"{key}.pcm",
            output=functools.partial(sound_window_output, tail, tail_start, head, samples, dip),
        )
    return windows


def _pieces(plan: CutPlan, sounds: Sequence[Path], windows: Mapping[int, _Window]) -> list[_Piece]:
    """The shots' sound in order: each shot between its transitions, then each transition."""
    overlaps = [plan.samples(t.transition_frames) for t in plan.shots[1:]] + [0]
    pieces = []
    for index, (timing, sound) in enumerate(zip(plan.shots, sounds, strict=True)):
        if index in windows:
            pieces.append(_Piece(windows[index].path, 0, plan.samples(timing.transition_frames)))
        start = plan.samples(timing.transition_frames) if index else 0
        end = plan.samples(timing.frames) - overlaps[index]
        pieces.append(_Piece(None if timing.shot.mute else sound, start, end - start))
    return pieces


def _join(pieces: Sequence[_Piece], output: Path) -> None:
    """Write the pieces one after another: sample-exact, and only a copy of bytes."""
    with output.open("wb") as out:
        for piece in pieces:
            size = piece.samples * _BYTES_PER_SAMPLE
            if piece.path is None:
                out.write(bytes(size))
                continue
            with piece.path.open("rb") as source:
                source.seek(piece.start * _BYTES_PER_SAMPLE)
                data = source.read(size)
            # A source a little short (rounding at odd frame rates) is padded with silence.
            out.write(data + bytes(size - len(data)))


# -- hard cuts: the shots' own encodes spliced ---------------------------------------


def _splices(plan: CutPlan, settings: CutSettings) -> bool:
    """Whether the cut's sound is the shots' sound end to end, so their encodes can be spliced.

    Music, a loudness target and the cut's fades change the sound across the
    whole cut and transitions mix two shots; those need the whole-track encode.
    """
    whole_cut = settings.music is not None or settings.loudness is not None or plan.fade_in or plan.fade_out
    return not whole_cut and all(
        not t.transition_frames and not t.shot.mute and plan.samples(t.frames) >= MIN_SPLICED_SAMPLES
        for t in plan.shots
    )


@dataclass(frozen=True)
class _JoinWindow:
    """The sound around one join (or the cut's end), encoded apart and cached by what it holds."""

    shot_id: str
    path: Path  # the encode, in the cache
    pcm: Callable[[], bytes]  # the PCM to encode


def _start_spliced(
    pool: ThreadPoolExecutor,
    plan: CutPlan,
    sounds: Sequence[Path],
    normalizing: Sequence[Future[None]],
    cache: Cache,
    scratch: Path,
    hook: Hook,
) -> tuple[list[PacketSpan], list[Future[None]]]:
    """Hard cuts: the shots' own encodes spliced with an encode of the sound around each join.

    Each join's encode is cached by the two shots' sound and where the join falls in
    them, so a restitch after one shot changed encodes only the two joins beside it.
    """
    encodes = [sound.with_suffix(".m4a") for sound in sounds]
    starts = splice_starts([plan.samples(t.offset) for t in plan.shots])
    end = plan.samples(plan.total_frames)
    windows = _join_windows(plan, sounds, starts, end, cache)
    spans = splice_spans(starts, end, encodes, [w.path for w in windows[:-1]], windows[-1].path)
    if not normalizing and cached(*encodes, *(w.path for w in windows)):
        return spans, []
    hook(StitchStep("", "mixing audio"))
    work = pool.submit(_build_spliced, sounds, encodes, windows, normalizing, scratch)
    return spans, [*normalizing, work]


def _join_windows(
    plan: CutPlan, sounds: Sequence[Path], starts: Sequence[int], end: int, cache: Cache
) -> list[_JoinWindow]:
    """The window of every join, in order, then the window ending the track."""
    lengths = [plan.samples(t.frames) for t in plan.shots]
    windows = []
    for index in range(1, len(starts)):
        join = starts[index]
        lead = join - join_window_start(join)
        tail = (sounds[index - 1], starts[index - 1], lengths[index - 1])
        key = cache_key(
            "join-window",
            tail=tail[0].name,
            at=join - tail[1],
            length=tail[2],
            lead=lead,
            head=sounds[index].name,
            ffmpeg=ffmpeg_version(),
        )
        windows.append(
            _JoinWindow(
                plan.shots[index].shot.id,
                cache.windows / f"{key}.m4a",
                functools.partial(_join_pcm, *tail, join, lead, sounds[index]),
            )
        )
    samples = end - end_window_start(end)
    key = cache_key(
        "end-window",
        tail=sounds[-1].name,
        at=end - starts[-1],
        length=lengths[-1],
        samples=samples,
        ffmpeg=ffmpeg_version(),
    )
    ending = functools.partial(_tail, sounds[-1], starts[-1], lengths[-1], end, samples)
    windows.append(_JoinWindow(plan.shots[-1].shot.id, cache.windows / f"{key}.m4a", ending))
    return windows


def _join_pcm(tail: Path, tail_start: int, tail_length: int, join: int, lead: int, head: Path) -> bytes:
    """The PCM around a join as the cut plays it: the end of one shot, the start of the next.

    A shot's sound starts on the frame grid, up to 512 samples off its picture, so
    the sound before a join (or the cut's end) can end early (silence fills the
    gap) or run past it (it is cut there and faded out again, so it does not click).
    """
    before = _tail(tail, tail_start, tail_length, join, lead)
    after = _pcm(head, 0, JOIN_WINDOW_SAMPLES - lead).tobytes()
    return before + after + bytes(_BYTES_PER_SAMPLE * (JOIN_WINDOW_SAMPLES - lead) - len(after))


# Join windows are a fraction of a second each: many share an ffmpeg run.
JOIN_BATCH = 32


def _build_spliced(
    sounds: Sequence[Path],
    encodes: Sequence[Path],
    windows: Sequence[_JoinWindow],
    normalizing: Sequence[Future[None]],
    scratch: Path,
) -> None:
    """Encode what the splice needs and the cache lacks: shots' sound, and join windows."""
    for future in normalizing:
        future.result()
    missing = [(s, e) for s, e in zip(sounds, encodes, strict=True) if not cached(e)]
    todo = [w for w in windows if not cached(w.path)]
    groups = batches(todo, [1.0] * len(todo), float(JOIN_BATCH), JOIN_BATCH)
    with ThreadPoolExecutor(os.cpu_count() or 1) as encoders:
        shots = [encoders.submit(_encode_shot, *pair) for pair in missing]
        joins = [encoders.submit(_encode_windows, group, scratch) for group in groups]
        for future in [*shots, *joins]:
            future.result()


def _encode_shot(sound: Path, encoded: Path) -> None:
    building = files.staged(encoded)
    _render(pcm_encode_args(sound, building), "encoding a shot's sound", building, encoded)


def _encode_windows(group: Sequence[_JoinWindow], scratch: Path) -> None:
    """Encode the PCM of several join windows in one ffmpeg run."""

    def output(window: _JoinWindow, at: Path) -> graph.Output:
        pcm = scratch / f"{window.path.stem}.pcm"
        pcm.write_bytes(window.pcm())
        return pcm_encode_output(pcm, at)

    render_entries(group, _entry_path, output, lambda _: "encoding the sound at the joins")


def _entry_path(entry: _JoinWindow | _Window) -> Path:
    return entry.path


def _tail(sound: Path, start: int, length: int, until: int, samples: int) -> bytes:
    """The last ``samples`` of the cut before ``until`` from a shot whose sound is at ``start``."""
    first = until - samples - start
    tail = _pcm(sound, first, min(until - start, length) - first)
    if start + length > until:
        _fade_out(tail)
    return tail.tobytes() + bytes(_BYTES_PER_SAMPLE * samples - 2 * len(tail))


def _pcm(path: Path, start: int, samples: int) -> array[int]:
    """``samples`` of a shot's PCM from ``start``, interleaved s16 (fewer at the file's end)."""
    data = array("h")
    with path.open("rb") as source:
        source.seek(start * _BYTES_PER_SAMPLE)
        data.frombytes(source.read(samples * _BYTES_PER_SAMPLE))
    return data


def _fade_out(sound: array[int]) -> None:
    """Fade the end of interleaved stereo ``sound`` to silence (it was cut short)."""
    length = min(round(EDGE_FADE_SECONDS * AUDIO_RATE), len(sound) // 2)
    end = len(sound) // 2
    for step in range(length):
        gain = (length - 1 - step) / length
        at = 2 * (end - length + step)
        sound[at] = round(sound[at] * gain)
        sound[at + 1] = round(sound[at + 1] * gain)


def _splice(spans: Sequence[PacketSpan], track: Path, step: str) -> None:
    path = files.staged(track)
    try:
        write_movie(path, [], spans)
        publish(path, track)
    except (Mp4Unsupported, MediaError) as exc:
        raise StitchError(step, (), str(exc)) from exc
    finally:
        path.unlink(missing_ok=True)


# -- mixing, levelling, encoding --------------------------------------------------


def _track_path(pieces: Sequence[_Piece], plan: CutPlan, settings: CutSettings, cache: Cache) -> Path:
    """Where the encoded sound of this cut is kept: keyed by everything mixed into it."""
    try:
        music = files.sha256_file(settings.music) if settings.music is not None else None
    except OSError as exc:
        raise CutError(f"music {settings.music}: {exc.strerror or exc}") from exc
    key = cache_key(
        "track",
        pieces=[(p.path and p.path.name, p.start, p.samples) for p in pieces],
        mix=mix_args(Path("shots.pcm"), plan, settings, Path("mixed.wav"), measure=False),
        music=music,
        loudness=settings.loudness,
    )
    return cache.tracks / f"{key}.m4a"


def _build(
    plan: CutPlan,
    settings: CutSettings,
    pieces: Sequence[_Piece],
    windows: Sequence[_Window],
    normalizing: Sequence[Future[None]],
    scratch: Path,
    track: Path,
) -> None:
    """Join, mix, level and encode the cut's sound into ``track``."""
    for future in normalizing:
        future.result()
    _render_windows(windows)
    joined = scratch / "shots.pcm"
    _join(pieces, joined)
    mixed = scratch / "mixed.wav"
    target = settings.loudness
    args = mix_args(joined, plan, settings, mixed, measure=target is not None)
    measured = _run_metered(args, "mixing the audio", measure=target is not None)
    decision = leveling(measured, target) if measured and target is not None else None
    source, level = mixed, None
    if decision is not None and target is not None and decision.limit:
        source = _limit(mixed, decision.gain_db, target, plan, scratch)
    elif decision is not None:
        level = decision.gain_db
    _encode(source, level, plan.samples(plan.total_frames), scratch, track)


# A transition's sound is a fraction of a second of PCM, quicker to render than ffmpeg is to
# start: the windows share a run, a few runs on every core.
SOUND_WINDOWS_PER_RUN = 16


def _render_windows(windows: Sequence[_Window]) -> None:
    groups = batches(windows, [1.0] * len(windows), SOUND_WINDOWS_PER_RUN, SOUND_WINDOWS_PER_RUN)
    with ThreadPoolExecutor(os.cpu_count() or 1) as renderers:
        list(renderers.map(_render_group, groups))


def _render_group(group: Sequence[_Window]) -> None:
    """Render the sound windows of ``group`` in one ffmpeg run."""
    render_entries(group, _entry_path, _sound_window_output, _sound_windows_step)


def _sound_window_output(window: _Window, at: Path) -> graph.Output:
    return window.output(at)


def _sound_windows_step(group: Sequence[_Window]) -> str:
    if len(group) == 1:
        return f"rendering the sound into shot {group[0].shot_id!r}"
    return f"rendering the sound of {len(group)} transitions"


def _limit(mixed: Path, gain_db: float, target: float, plan: CutPlan, scratch: Path) -> Path:
    """Raise the loudness through the limiter, correcting the gain for what limiting took."""
    limited = scratch / "limited.wav"
    samples = plan.samples(plan.total_frames)
    for _attempt in range(3):
        measured = _run_metered(
            limit_args(mixed, gain_db, samples, limited), "limiting the audio", measure=True
        )
        if measured is None or abs(measured.integrated - target) <= LIMITED_TOLERANCE_LU:
            break
        gain_db += target - measured.integrated
    return limited


def _encode(source: Path, level: float | None, samples: int, scratch: Path, track: Path) -> None:
    """Encode to AAC in chunks on every core, then splice their packets into ``track``."""
    chunks = encode_chunks(samples, os.cpu_count() or 1)
    parts = [scratch / f"sound{index}.m4a" for index in range(len(chunks))]

    def encode(index: int) -> None:
        args = encode_args(source, level, chunks[index], parts[index])
        run_ffmpeg(args, step="encoding the audio", error=StitchError)

    with ThreadPoolExecutor(len(chunks)) as encoders:
        list(encoders.map(encode, range(len(chunks))))
    spans = [
        PacketSpan(part, chunk.keep_from, chunk.keep_until, shift=chunk.start_sample)
        for part, chunk in zip(parts, chunks, strict=True)
    ]
    _splice(spans, track, "encoding the audio")


# -- running ffmpeg -------------------------------------------------------------------


def _render(args: list[str], step: str, building: Path, final: Path) -> None:
    """Run ffmpeg writing ``building``, then move it into place at ``final``."""
    try:
        run_ffmpeg(args, step=step, error=StitchError)
        publish(building, final)
    finally:
        building.unlink(missing_ok=True)


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
