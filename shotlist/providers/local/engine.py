"""The ``local`` provider: a free, offline, deterministic previz engine built on ffmpeg.

Each shot request becomes one ffmpeg run that draws a real animatic clip:

- **picture**: the shot's reference video (looped or cut to length), else its
  first reference image, else a procedural landscape painted from the seed
  and the prompt (``scene``); moved as the camera directs: ``motion`` draws
  the path of a window over the picture, ``framing`` films it cheaply (a
  still is scaled and tilted once per picture it shows, then cropped);
- **caption**: shot id, camera and prompt on the picture, dialogue as
  subtitles (``caption``, rendered by libass with a bundled font);
- **sound**: the audio reference, else seeded ambience when the request asks
  for audio (``sound``), else no audio stream;
- **continuity**: a ``first_frame`` image is the clip's first frame exactly and
  dissolves into the picture; a ``last_frame`` image dissolves in so the clip
  ends on it exactly (both fitted to the shot's size);
- **format**: exactly ``round(duration * fps)`` frames at the requested
  size, H.264 yuv420p + AAC 48 kHz stereo in MP4 with ``+faststart``.

The same request gives the same bytes: every source is seeded, encoders run
bit-exact with a fixed thread count, metadata is stripped, and libass sees
only the bundled font. Bump ``LOCAL_ENGINE_VERSION`` with any change that
alters output bytes: planning mixes it (and ``media.ffmpeg_version()``) into
the hash of local shots, so old renders are not reused.

``build_local_render`` is the pure part (request in, ffmpeg arguments and
side files out); ``render_local`` and ``LocalProvider`` are the effects.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from shotlist import files
from shotlist.errors import FFmpegError, ProviderError
from shotlist.media import fonts, graph
from shotlist.media.ffmpeg import run_ffmpeg, run_ffmpeg_async
from shotlist.media.graph import Stream
from shotlist.media.probe import decodes
from shotlist.providers.base import JobState, JobStatus
from shotlist.providers.capabilities import LOCAL_PROVIDER
from shotlist.providers.local.caption import caption_script
from shotlist.providers.local.framing import Framing, Parity, Picture, Tilt, chunks, framing, pictures
from shotlist.providers.local.motion import expression
from shotlist.providers.local.scene import render_plate, scene_for
from shotlist.providers.local.sound import ambience, reference_sound
from shotlist.providers.local.version import LOCAL_ENGINE_VERSION
from shotlist.request import MediaRef, ShotRequest

__all__ = [
    "LOCAL_ENGINE_VERSION",
    "LocalProvider",
    "LocalRender",
    "build_local_render",
    "render_local",
    "render_local_async",
]

PROVIDER = LOCAL_PROVIDER

# Encoder settings. x264's output depends on its thread count, so it is fixed
# (not derived from the machine) to keep bytes identical everywhere.
X264_PRESET = "veryfast"
X264_CRF = 20
X264_THREADS = 4
AAC_BITRATE = "192k"

# swscale's bitexact flag keeps its SIMD paths from changing pixels between CPUs.
SWS_FLAGS = "bicubic+accurate_rnd+bitexact"
BITEXACT = {"fflags": "+bitexact", "flags:v": "+bitexact", "flags:a": "+bitexact"}

# How long a poll of a running render waits for it to end before answering "running".
LONG_POLL_SECONDS = 0.5

ASS_NAME = "caption.ass"
PLATE_NAME = "plate.rgb"


@dataclass(frozen=True)
class LocalRender:
    """Everything one local render needs, decided before anything runs.

    ``files`` are written into the work directory first (name, content);
    ``env`` is added to ffmpeg's environment; ``args`` are ffmpeg's
    arguments without the executable.
    """

    args: tuple[str, ...]
    files: tuple[tuple[str, bytes], ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    frames: int = 0
    source: str = "procedural"  # "video", "image" or "procedural"


def frame_count(request: ShotRequest) -> int:
    """Frames in the clip: the duration rounded to whole frames (at least one)."""
    return max(1, round(request.duration * request.fps))


def _local(refs: tuple[MediaRef, ...]) -> MediaRef | None:
    """The first reference that is a local file (the engine is offline: URLs are skipped)."""
    return next((ref for ref in refs if ref.path is not None), None)


def _invalid(request: ShotRequest, message: str) -> ProviderError:
    return ProviderError(message, provider=PROVIDER, shot_id=request.id, kind="invalid")


def _check(request: ShotRequest) -> None:
    if request.width <= 0 or request.height <= 0 or request.width % 2 or request.height % 2:
        raise _invalid(request, f"size {request.size} must be positive and even (H.264 4:2:0)")
    if request.fps <= 0 or request.duration <= 0:
        raise _invalid(request, "duration and fps must be positive")


def _cover(
    picture: Stream, size: tuple[int, int], *, pix_fmt: str = "yuv420p", parity: Parity | None = None
) -> Stream:
    """Scale to fill ``size`` (cropping the overflow), converting to BT.709 4:2:0.

    ``parity``: the picture is for crops at offsets of that parity, its chroma sited to
    keep colour and brightness in register (see ``framing``).
    """
    w, h = size
    scaled = picture.filter(
        "scale",
        w=w,
        h=h,
        force_original_aspect_ratio="increase",
        flags=SWS_FLAGS,
        out_color_matrix="bt709",
        out_range="tv",
        **_sited(parity),
    )
    return scaled.filter("crop", w=w, h=h).filter("setsar", sar=1).filter("format", pix_fmts=pix_fmt)


def _sited(parity: Parity | None) -> dict[str, graph.Value]:
    """Scale options siting 4:2:0 chroma for crops at offsets of ``parity``.

    swscale centres a chroma sample on its 2x2 block of luma (128/256 of a luma pixel
    in). A crop at an odd offset starts its chroma at the sample one luma pixel before
    its first column, so the picture for it has each sample sited one luma pixel further
    along: the sample then lies where the crop's first 2x2 block does. (A scale to the
    same size and format ignores these: it only copies.)
    """
    if parity is None:
        return {}
    return {"out_h_chr_pos": 128 + 256 * parity[0], "out_v_chr_pos": 128 + 256 * parity[1]}


FRAME_BLEND = 1.0
"""Seconds over which a first/last frame image dissolves out of or into the picture (at most
a third of the shot)."""


def _with_frames(video: Stream, request: ShotRequest, frames: int) -> Stream:
    """``video`` with the request's first/last frame images over it.

    The first frame is fully opaque on frame 0 and fades out; the last fades in to be fully
    opaque on the final frame. Fitted like a reference image, converted like every picture.
    """
    fps = request.fps
    blend = min(FRAME_BLEND, request.duration / 3)
    end = (frames - 1) / fps
    # The last fade completes half a frame early, so the final frame is the image itself.
    last_start = round(max(0.0, end - blend - 0.5 / fps), 6)
    overlays: tuple[tuple[MediaRef | None, str, float], ...] = (
        (request.first_frame, "out", 0.0),
        (request.last_frame, "in", last_start),
    )
    if any(image is not None and image.path is not None for image, _, _ in overlays):
        video = _numbered(video, fps)
    for image, direction, start in overlays:
        if image is None or image.path is None:
            continue
        still = graph.Input(graph.url(image.path), {"f": "image2", "pattern_type": "none"}).stream("v")
        layer = _hold(_cover(still, (request.width, request.height), pix_fmt="yuva420p"), frames, fps).filter(
            "fade", t=direction, st=start, d=round(blend, 6), alpha=1
        )
        video = graph.merge("overlay", [video, layer], eof_action="pass", format="yuv420")
    return video


def _hold(picture: Stream, frames: int, fps: int) -> Stream:
    """Repeat a single picture for the whole shot (scaled once, not per frame)."""
    return _numbered(picture.filter("loop", loop=frames - 1, size=1, start=0), fps)


def _numbered(frames: Stream, fps: int) -> Stream:
    """``frames`` timed exactly by their number: frame n at n/fps seconds.

    Streams laid over each other (``overlay``) meet frame for frame only if their times
    agree exactly: a time rounded in another time base can fall after the other
    stream's end (``eof_action=pass`` then drops the layer from the last frame).
    """
    return frames.filter("settb", expr=f"1/{fps}").filter("setpts", "N")


@dataclass(frozen=True)
class _Picture:
    """Where the frames come from, before they are fitted to the frame and the camera moves."""

    kind: str  # "video", "image" or "procedural"
    source: Stream  # as decoded: a video at the shot's frame rate, or one still picture
    files: tuple[tuple[str, bytes], ...] = ()
    default_move: str | None = None  # procedural scenes move even when told nothing


def _picture(request: ShotRequest, work_dir: Path) -> _Picture:
    """The shot's picture: its reference video, else its first image, else a painted scene."""
    video, image = _local(request.videos), _local(request.images)
    if video is not None and video.path is not None:
        looped = graph.Input(graph.url(video.path), {"stream_loop": -1}).stream("v")
        return _Picture(kind="video", source=looped.filter("fps", fps=request.fps))
    if image is not None and image.path is not None:
        # image2 without a pattern: a file named "100%.png" is one file, not a sequence.
        still = graph.Input(graph.url(image.path), {"f": "image2", "pattern_type": "none"}).stream("v")
        return _Picture(kind="image", source=still)
    scene = scene_for(request.seed, request.source_prompt)
    # The plate is painted transposed (see scene.py): height x width as stored.
    plate = graph.Input(
        graph.url(work_dir / PLATE_NAME),
        {"f": "rawvideo", "pixel_format": "rgb24", "video_size": f"{request.height}x{request.width}"},
    ).stream("v")
    return _Picture(
        kind="procedural",
        source=plate.filter("transpose", 0),
        files=((PLATE_NAME, render_plate(scene, request.width, request.height)),),
        default_move=scene.default_move,
    )


# The window's per-frame scale (zooms) interpolates like a perspective warp does: bilinear.
WINDOW_SWS_FLAGS = "bilinear+accurate_rnd+bitexact"


def _filmed(picture: _Picture, request: ShotRequest, frames: int) -> Stream:
    """The shot's frames: the picture fitted, tilted and filmed through the camera's window
    (``local.framing``), one per output frame at the output's size."""
    fps = request.fps
    plan = framing(
        request.camera,
        request.width,
        request.height,
        frames,
        fps,
        request.seed,
        default_move=picture.default_move,
        moving=picture.kind == "video",
    )
    size = plan.size if plan is not None else (request.width, request.height)
    if picture.kind == "video":
        video = _numbered(picture.source.filter("trim", end_frame=frames), fps)
        video = _cover(video, size)
        if plan is not None and plan.tilt is not None:
            video = _perspective(video, plan.tilt, frames, per_frame=bool(plan.tilt.path))
    else:
        video = _held(picture.source, plan, size, frames, fps)
    return video if plan is None else _windowed(video, plan, request, frames)


def _perspective(picture: Stream, tilt: Tilt, frames: int, *, per_frame: bool) -> Stream:
    """``picture`` tilted: per frame (a video's path, a still's levels in turn) or once."""
    return picture.filter(
        "perspective",
        **tilt.options(frames),
        interpolation="linear",
        sense="source",
        eval="frame" if per_frame else "init",
    )


def _held(still: Stream, plan: Framing | None, size: tuple[int, int], frames: int, fps: int) -> Stream:
    """A still held for the whole shot: scaled and tilted once per picture it shows
    (``framing.pictures``: a parity of the crop, a tilt level), never once per frame."""
    shown = pictures(plan, frames)
    parities = sorted({picture.parity for picture in shown}, key=lambda p: p or (-1, -1))
    tilt = plan.tilt if plan is not None else None
    if tilt is None:
        sources = still.split(len(parities)) if len(parities) > 1 else [still]
        made = {p: _cover(source, size, parity=p) for p, source in zip(parities, sources, strict=True)}
    else:
        assert plan is not None
        levels = _tilted_levels(still, tilt, plan.tilt_size, fps)
        if plan.exact:
            # Each level warped once at the output's size, then scaled once per parity
            # (every level, shown with that parity or not: a few spare scales, one stream).
            branches = levels.split(len(parities)) if len(parities) > 1 else [levels]
            made = {p: _sited_scale(branch, size, p) for p, branch in zip(parities, branches, strict=True)}
        else:
            made = {None: levels}
    if len(set(shown)) == 1:
        return _hold(made[shown[0].parity], frames, fps)
    return _shown(made, shown, fps)


def _tilted_levels(still: Stream, tilt: Tilt, size: tuple[int, int], fps: int) -> Stream:
    """The still tilted to each level in turn: the frames of one warp, in order of first use."""
    count = len(tilt.levels)
    covered = _cover(still, size)
    if count == 1:
        return _perspective(covered, tilt, count, per_frame=False)
    return _perspective(_hold(covered, count, fps), tilt, count, per_frame=True)


def _sited_scale(picture: Stream, size: tuple[int, int], parity: Parity | None) -> Stream:
    """A 4:2:0 picture scaled to ``size``, its chroma sited for crops of ``parity``."""
    scaled = picture.filter("scale", w=size[0], h=size[1], flags=SWS_FLAGS, **_sited(parity))
    return scaled.filter("setsar", sar=1)


def _shown(made: dict[Parity | None, Stream], shown: tuple[Picture, ...], fps: int) -> Stream:
    """Each frame's own picture (``made``: per parity, the levels in order of first use),
    in runs of frames (``framing.chunks``) that each wait only for the pictures they
    show. Copies are references to a picture, not pictures."""
    parts = chunks(shown)
    uses = {p: sum(1 for part in parts for q, _ in part.needs if q == p) for p in made}
    branches = {p: iter(stream.split(uses[p]) if uses[p] > 1 else [stream]) for p, stream in made.items()}
    runs = []
    for part in parts:
        needed = [next(branches[p]).filter("trim", end_frame=count) for p, count in part.needs]
        row = needed[0] if len(needed) == 1 else graph.merge("concat", needed, n=len(needed), v=1, a=0)
        padded = _numbered(row, fps).filter("tpad", stop=part.end - part.start, stop_mode="clone")
        runs.append(padded.filter("shuffleframes", mapping=part.mapping))
    joined = runs[0] if len(runs) == 1 else graph.merge("concat", runs, n=len(runs), v=1, a=0)
    return _numbered(joined, fps)


def _windowed(picture: Stream, plan: Framing, request: ShotRequest, frames: int) -> Stream:
    """The output-sized window cropped from ``picture`` in each frame, after scaling the
    picture again per frame when the window's size changes."""
    if plan.zoom is not None:
        w, h = (expression(side, frames, "n") for side in plan.zoom)
        picture = picture.filter("scale", w=w, h=h, eval="frame", flags=WINDOW_SWS_FLAGS)
    if plan.offset is None:
        return picture
    x, y = (expression(side, frames, "n") for side in plan.offset)
    # exact: an odd offset is kept (its picture's chroma is sited for it, see framing);
    # otherwise the offsets are even already.
    cropped = picture.filter("crop", w=request.width, h=request.height, x=x, y=y, exact=int(plan.exact))
    return cropped.filter("setsar", sar=1)


def _sound(request: ShotRequest) -> Stream | None:
    """The audio reference looped to the shot, else ambience if the request asks for sound."""
    audio_ref = _local(request.audios)
    if audio_ref is not None and audio_ref.path is not None:
        looped = graph.Input(graph.url(audio_ref.path), {"stream_loop": -1}).stream("a")
        return reference_sound(looped, request.duration)
    if request.generate_audio:
        return ambience(request.seed, request.source_prompt, request.duration)
    return None


def _encoder_options(request: ShotRequest, frames: int, has_audio: bool) -> dict[str, graph.Value]:
    options: dict[str, graph.Value] = {
        "frames:v": frames,
        "r": request.fps,
        "c:v": "libx264", "preset": X264_PRESET, "crf": X264_CRF,
        "threads:v": X264_THREADS, "pix_fmt": "yuv420p",
        "colorspace": "bt709", "color_primaries": "bt709", "color_trc": "bt709",
        "color_range": "tv",
        **BITEXACT,
        "map_metadata": -1, "map_chapters": -1,
        "movflags": "+faststart",
        "f": "mp4",
    }  # fmt: skip
    if has_audio:
        options.update({"c:a": "aac", "b:a": AAC_BITRATE, "ar": 48000, "ac": 2})
    return options


def build_local_render(
    request: ShotRequest, dest: Path, work_dir: Path, *, font_dir: Path = fonts.FONT_DIR
) -> LocalRender:
    """The ffmpeg run that renders ``request`` into ``dest`` (pure: nothing is touched).

    Side files (the caption script, the font configuration, a procedural
    plate) are named relative to ``work_dir``, where the caller writes them.
    Raises ``ProviderError`` (kind ``invalid``) for a request the engine
    cannot render.
    """
    _check(request)
    if request.segments:
        return _build_segmented(request, dest, work_dir, font_dir)
    frames = frame_count(request)
    picture = _picture(request, work_dir)
    files = list(picture.files)
    video = _filmed(picture, request, frames)
    env: list[tuple[str, str]] = []
    script = caption_script(request)
    if script is not None:
        files.append((ASS_NAME, script.encode("utf-8")))
        conf = fonts.fontconfig_text(work_dir / "fontconfig-cache", font_dir)
        files.append((fonts.FONTS_CONF_NAME, conf.encode("utf-8")))
        env.extend(fonts.fontconfig_env(work_dir / fonts.FONTS_CONF_NAME).items())
        video = video.filter("ass", filename=str(work_dir / ASS_NAME), fontsdir=str(font_dir))
    if request.first_frame is not None or request.last_frame is not None:
        video = _with_frames(video, request, frames)
    sound = _sound(request)
    streams = [video] if sound is None else [video, sound]
    options = _encoder_options(request, frames, sound is not None)
    args = graph.command(graph.output(streams, graph.url(dest), options))
    return LocalRender(
        args=tuple(args), files=tuple(files), env=tuple(env), frames=frames, source=picture.kind
    )


def segment_request(request: ShotRequest, number: int) -> ShotRequest:
    """Segment ``number`` (0-based) of a multi-shot request as a shot of its own: its
    length, prompt, camera and lines, and a seed of its own so its scene differs."""
    segment = request.segments[number]
    digest = hashlib.sha256(f"shotlist-segment:{request.seed}:{number}".encode()).digest()
    return replace(
        request,
        id=f"{request.id} {number + 1}/{len(request.segments)}",
        duration=segment.duration,
        seed=int.from_bytes(digest[:4], "big"),
        camera=segment.camera,
        source_prompt=segment.source_prompt,
        dialogue=segment.dialogue,
        segments=(),
    )


def _build_segmented(request: ShotRequest, dest: Path, work_dir: Path, font_dir: Path) -> LocalRender:
    """A multi-shot request: each segment drawn as its own shot (picture, camera, caption),
    joined by hard cuts on the frames nearest their boundaries; one sound under them all."""
    frames = frame_count(request)
    bounds = [round(s.start * request.fps) for s in request.segments[1:]]
    edges = [0, *bounds, frames]
    files: list[tuple[str, bytes]] = []
    env: list[tuple[str, str]] = []
    parts: list[graph.Stream] = []
    kinds: list[str] = []
    for number in range(len(request.segments)):
        sub = segment_request(request, number)
        count = max(1, edges[number + 1] - edges[number])
        folder = f"segment{number + 1}"
        picture = _picture(sub, work_dir / folder)
        kinds.append(picture.kind)
        files += [(f"{folder}/{name}", content) for name, content in picture.files]
        video = _filmed(picture, sub, count)
        script = caption_script(sub)
        if script is not None:
            files.append((f"{folder}/{ASS_NAME}", script.encode("utf-8")))
            video = video.filter("ass", filename=str(work_dir / folder / ASS_NAME), fontsdir=str(font_dir))
        parts.append(video)
    if any(name.endswith(ASS_NAME) for name, _ in files):
        conf = fonts.fontconfig_text(work_dir / "fontconfig-cache", font_dir)
        files.append((fonts.FONTS_CONF_NAME, conf.encode("utf-8")))
        env.extend(fonts.fontconfig_env(work_dir / fonts.FONTS_CONF_NAME).items())
    # Numbered afresh: concat would otherwise place each segment's first frame on the last
    # one before it (a held picture has no frame duration), and the encoder would drop it.
    joined = graph.merge("concat", parts, n=len(parts), v=1, a=0).filter("setpts", f"N/({request.fps}*TB)")
    if request.first_frame is not None or request.last_frame is not None:
        joined = _with_frames(joined, request, frames)
    sound = _sound(request)
    streams = [joined] if sound is None else [joined, sound]
    options = _encoder_options(request, frames, sound is not None)
    args = graph.command(graph.output(streams, graph.url(dest), options))
    source = kinds[0] if len(set(kinds)) == 1 else "mixed"
    return LocalRender(args=tuple(args), files=tuple(files), env=tuple(env), frames=frames, source=source)


def _missing_reference(request: ShotRequest) -> ProviderError | None:
    for ref in _all_media(request):
        if ref.path is not None and not ref.path.is_file():
            return _invalid(request, f"reference {ref.name!r} not found: {ref.path}")
    return None


def _unreadable_reference(request: ShotRequest) -> ProviderError | None:
    """The first reference ffmpeg cannot decode, named: its own error only says that
    nothing was written."""
    for ref in _all_media(request):
        if ref.path is not None and not decodes(ref.path):
            return _invalid(request, f"reference {ref.name!r} is not a readable {ref.kind}: {ref.path}")
    return None


def _all_media(request: ShotRequest) -> tuple[MediaRef, ...]:
    frames = (request.first_frame, request.last_frame)
    return request.media + tuple(frame for frame in frames if frame is not None)


def _failed(request: ShotRequest, exc: FFmpegError) -> ProviderError:
    unreadable = _unreadable_reference(request)  # only on failure: no probing on the happy path
    if unreadable is not None:
        return unreadable
    detail = exc.stderr_tail.strip().splitlines()
    last = detail[-1] if detail else "no output"
    return ProviderError(
        f"ffmpeg failed while rendering the local previz: {last}",
        provider=PROVIDER,
        shot_id=request.id,
        kind="failed",
    )


@contextlib.contextmanager
def _workspace(work_dir: Path | None) -> Iterator[Path]:
    if work_dir is not None:
        yield work_dir  # _prepare creates it
        return
    with tempfile.TemporaryDirectory(prefix="shotlist-local-") as tmp:
        yield Path(tmp)


def _prepare(request: ShotRequest, dest: Path, work_dir: Path) -> tuple[LocalRender, Path]:
    """Check the references, build the run towards a temporary file and write its side files."""
    missing = _missing_reference(request)
    if missing is not None:
        raise missing
    part = files.staged(dest)
    render = build_local_render(request, part, work_dir)
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        for name, content in render.files:
            (work_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (work_dir / name).write_bytes(content)
    except OSError as exc:
        raise ProviderError(
            f"cannot write the render's files: {exc}", provider=PROVIDER, shot_id=request.id
        ) from exc
    return render, part


def _publish(request: ShotRequest, part: Path, dest: Path) -> None:
    try:
        os.replace(part, dest)
    except OSError as exc:
        raise ProviderError(
            f"cannot move the render into place: {exc}", provider=PROVIDER, shot_id=request.id
        ) from exc


def render_local(request: ShotRequest, dest: Path, *, work_dir: Path | None = None) -> None:
    """Render ``request`` into ``dest``, atomically; ``work_dir`` holds side files.

    Without ``work_dir`` a temporary directory is used and removed.
    Raises ``ProviderError`` (provider ``local``, the shot's id) on failure.
    """
    with _workspace(work_dir) as wd:
        render, part = _prepare(request, dest, wd)
        try:
            run_ffmpeg(render.args, step=f"rendering shot {request.id}", env=dict(render.env))
            _publish(request, part, dest)
        except FFmpegError as exc:
            raise _failed(request, exc) from exc
        finally:
            part.unlink(missing_ok=True)


async def render_local_async(
    request: ShotRequest,
    dest: Path,
    *,
    work_dir: Path,
    on_progress: Callable[[float], None] | None = None,
) -> None:
    """``render_local`` for an event loop: cancelling the task kills ffmpeg.

    ``on_progress`` receives the fraction of the clip written so far.
    """

    def progress(seconds: float) -> None:
        if on_progress is not None:
            on_progress(min(1.0, seconds / request.duration))

    # Painting a procedural plate and writing files take a moment: off the loop.
    prepare = asyncio.ensure_future(asyncio.to_thread(_prepare, request, dest, work_dir))
    try:
        render, part = await asyncio.shield(prepare)
    except asyncio.CancelledError:
        # A thread cannot be interrupted: let it finish, so that nothing writes
        # into the work directory after the caller has removed it.
        with contextlib.suppress(Exception):
            await prepare
        raise
    try:
        await run_ffmpeg_async(
            render.args,
            step=f"rendering shot {request.id}",
            env=dict(render.env),
            on_progress=progress,
        )
        _publish(request, part, dest)
    except FFmpegError as exc:
        raise _failed(request, exc) from exc
    finally:
        part.unlink(missing_ok=True)


@dataclass
class _Job:
    request: ShotRequest
    directory: Path
    state: JobState = JobState.QUEUED
    progress: float = 0.0
    error: ProviderError | None = None
    crash: BaseException | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def output(self) -> Path:
        return self.directory / "clip.mp4"


class LocalProvider:
    """The local previz engine behind the Provider protocol.

    Jobs live in this process only: renders run as ffmpeg subprocesses, at
    most ``max_parallel`` at once (default: one per CPU), each in its own
    directory under ``work_dir``. A job id this session does not know (after
    a crash or restart) polls as ``expired``; resubmitting is free.
    """

    name = PROVIDER

    def __init__(self, work_dir: Path, *, max_parallel: int | None = None) -> None:
        if max_parallel is not None and max_parallel < 1:
            raise ValueError("max_parallel must be at least 1")
        self.work_dir = Path(work_dir)
        self.max_parallel = max_parallel or os.cpu_count() or 1
        self._slots = asyncio.Semaphore(self.max_parallel)
        self._jobs: dict[str, _Job] = {}

    @staticmethod
    def job_id(request: ShotRequest, idempotency_key: str) -> str:
        basis = request.hash or hashlib.sha256(idempotency_key.encode()).hexdigest()
        return f"local-{basis[:16]}"

    async def submit(self, request: ShotRequest, idempotency_key: str) -> str:
        """Start rendering in the background; the same request while alive is the same job."""
        job_id = self.job_id(request, idempotency_key)
        known = self._jobs.get(job_id)
        if known is not None and known.state not in (JobState.FAILED, JobState.CANCELLED):
            return job_id
        directory = self.work_dir / job_id
        await asyncio.to_thread(shutil.rmtree, directory, True)
        job = _Job(request=request, directory=directory)
        job.task = asyncio.create_task(self._run(job_id, job), name=f"shotlist-local-{job_id}")
        self._jobs[job_id] = job
        return job_id

    async def _run(self, job_id: str, job: _Job) -> None:
        def progress(fraction: float) -> None:
            job.progress = fraction

        async with self._slots:
            job.state = JobState.RUNNING
            try:
                await render_local_async(
                    job.request, job.output, work_dir=job.directory, on_progress=progress
                )
            except ProviderError as exc:
                exc.job_id = job_id
                job.error, job.state = exc, JobState.FAILED
                return
            except asyncio.CancelledError:
                job.state = JobState.CANCELLED
                raise
            except Exception as exc:  # a bug: keep it for poll to re-raise, not the void
                job.crash, job.state = exc, JobState.FAILED
                return
            job.progress, job.state = 1.0, JobState.SUCCEEDED

    async def poll(self, request: ShotRequest, job_id: str) -> JobStatus:
        job = self._jobs.get(job_id)
        if job is None:
            return JobStatus(
                JobState.EXPIRED,
                error=ProviderError(
                    "this local render is not running any more (the session ended); submit it again",
                    provider=PROVIDER,
                    shot_id=request.id,
                    job_id=job_id,
                    kind="expired",
                    retryable=True,
                ),
            )
        if job.task is not None and not job.task.done():
            # Answer when the render ends, or after a moment if it does not: a short clip is
            # done sooner than any polling schedule would look (the engine learns from this).
            await asyncio.wait({job.task}, timeout=LONG_POLL_SECONDS)
        if job.crash is not None:
            raise job.crash
        if job.state is JobState.SUCCEEDED:
            return JobStatus(JobState.SUCCEEDED, progress=1.0, result_url=job.output.as_uri(), cost_usd=0.0)
        if job.state is JobState.FAILED:
            return JobStatus(JobState.FAILED, error=job.error, cost_usd=0.0)
        if job.state is JobState.QUEUED:
            return JobStatus(JobState.QUEUED, progress=0.0)
        return JobStatus(job.state, progress=job.progress)

    async def fetch(self, request: ShotRequest, job_id: str, status: JobStatus, dest: Path) -> None:
        """Move the finished clip to ``dest`` (atomically) and forget the job."""
        job = self._jobs.get(job_id)
        if job is None or job.state is not JobState.SUCCEEDED:
            raise ProviderError(
                "no finished local render to fetch",
                provider=PROVIDER,
                shot_id=request.id,
                job_id=job_id,
                kind="expired",
                retryable=True,
            )
        try:
            await asyncio.to_thread(_move_into_place, job.output, Path(dest))
        except OSError as exc:
            raise ProviderError(
                f"cannot store the rendered clip at {dest}: {exc}",
                provider=PROVIDER,
                shot_id=request.id,
                job_id=job_id,
                kind="download",
            ) from exc
        del self._jobs[job_id]
        await asyncio.to_thread(shutil.rmtree, job.directory, True)

    async def cancel(self, request: ShotRequest, job_id: str) -> None:
        """Stop the render (ffmpeg is killed) and remove its files."""
        job = self._jobs.pop(job_id, None)
        if job is None:
            return
        await _stop(job)
        await asyncio.to_thread(shutil.rmtree, job.directory, True)

    async def aclose(self) -> None:
        """Stop every render of this session and remove their files."""
        jobs, self._jobs = list(self._jobs.values()), {}
        for job in jobs:
            await _stop(job)
            await asyncio.to_thread(shutil.rmtree, job.directory, True)


async def _stop(job: _Job) -> None:
    task = job.task
    if task is not None and not task.done():
        task.cancel()
        # Wait for ffmpeg to be reaped; our own cancellation still propagates.
        await asyncio.wait([task])
    if job.state not in (JobState.SUCCEEDED, JobState.FAILED):
        job.state = JobState.CANCELLED


def _move_into_place(source: Path, dest: Path) -> None:
    """Move ``source`` to ``dest``: complete or not at all, across file systems too."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, dest)
        return
    except OSError:
        pass  # another file system: copy beside dest, then rename
    files.copy(source, dest)
    source.unlink(missing_ok=True)
