"""ffmpeg arguments for the picture of a cut, built with ``media.graph``. Pure: runs nothing.

The picture is built so that almost all of it is joined without re-encoding:

* each clip is normalized once into the cut's format with one fixed set of
  H.264 settings (:class:`Encoding`), so every piece shares a parameter set and
  the pieces can be joined without re-encoding (``media.mp4``);
* the normalized clip is split into pieces at IDR frames forced where
  transitions and fades begin and end (``head``, ``body``, ``tail``);
* only the windows are re-encoded: a transition is the tail of one shot and the
  head of the next through ``xfade``; a fade is a head or tail through ``fade``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shotlist.cut.transitions import DIP_COLOURS, XFADE_TRANSITIONS
from shotlist.media import graph
from shotlist.media.graph import Stream

# How a clip of another shape fills the frame (the four resize modes of editly):
#   fit        scale inside, pad with a blurred, darkened cover-scaled copy of the picture
#   letterbox  scale inside, pad with black bars
#   fill       scale to cover, crop the overflow (centred)
#   stretch    scale to exactly the frame, ignoring the aspect ratio

# Bump when windows are drawn or encoded differently: they are cached under it.
WINDOW_VERSION = 3

# Colour conversion pinned to BT.709 limited range, so every piece carries the same tags.
_SCALE_OPTIONS = {"out_color_matrix": "bt709", "out_range": "tv"}
# Aspect ratios closer than this are treated as equal: a plain scale, no bars or crop.
_ASPECT_TOLERANCE = 0.01


@dataclass(frozen=True)
class Encoding:
    """The one H.264 configuration every piece of a cut is encoded with.

    Pieces encoded apart can only be concatenated without re-encoding when their
    parameter sets match, so this is the single place the settings live; they
    take part in every cache key.
    """

    width: int
    height: int
    fps: int
    preset: str = "veryfast"
    crf: int = 18

    @property
    def timescale(self) -> int:
        # A whole number of ticks per frame, identical in every piece.
        return self.fps * 1000

    def options(self, *, window: bool = False) -> dict[str, graph.Value]:
        """Encoder options; ``window`` trades a little size for speed on short windows.

        The window settings only change decisions x264 keeps out of the parameter
        sets (the motion search to whole pixels, the partitions it tries, a fixed
        B-frame pattern, no psychovisual tuning), so windows still join the clips
        without re-encoding: a window is about 1 % larger, and a 720p crossfade window
        (decode, blend, encode) costs 0.19 CPU-s, against 0.21 with sub-pixel search and
        adaptive B-frames and about 0.3 with the preset's own analysis.
        """
        # Windows run several at a time, a dozen frames each: one thread apiece wastes least.
        analysis = "subme=0:me=dia:rc-lookahead=5:partitions=none:b-adapt=0:psy=0"
        speed: dict[str, graph.Value] = {"x264-params": analysis, "threads": 1} if window else {}
        return {
            "c:v": "libx264", "preset": self.preset, "crf": self.crf, **speed,
            "profile:v": "high", "pix_fmt": "yuv420p",
            "g": 2 * self.fps, "forced-idr": 1,
            "colorspace": "bt709", "color_primaries": "bt709",
            "color_trc": "bt709", "color_range": "tv",
        }  # fmt: skip

    def key(self) -> dict[str, object]:
        return {
            "size": [self.width, self.height],
            "fps": self.fps,
            "preset": self.preset,
            "crf": self.crf,
            "codec": "h264-high-yuv420p-bt709",
        }


def fit_picture(picture: Stream, fit: str, source_size: tuple[int, int], enc: Encoding) -> Stream:
    """``picture`` in the cut's format: frame rate, size (as ``fit`` says), square pixels, yuv420p."""
    w, h = enc.width, enc.height
    sw, sh = source_size
    # Clone the last frame for a moment so rounding never leaves a shot a frame short;
    # -frames:v cuts the output at the exact count.
    timed = picture.filter("fps", fps=enc.fps).filter("tpad", stop_mode="clone", stop=enc.fps)
    if fit == "stretch" or abs(sw * h - sh * w) <= _ASPECT_TOLERANCE * max(sw * h, sh * w):
        return _square(timed.filter("scale", w=w, h=h, **_SCALE_OPTIONS))
    if fit == "fill":
        cover = timed.filter("scale", w=w, h=h, force_original_aspect_ratio="increase", **_SCALE_OPTIONS)
        return _square(cover.filter("crop", w=w, h=h))
    if fit == "letterbox":
        bars = _inside(timed, w, h).filter("pad", w=w, h=h, x="(ow-iw)/2", y="(oh-ih)/2", color="black")
        return _square(bars)
    backdrop, front = timed.split()
    overlaid = graph.merge(
        "overlay", [_blurred_backdrop(backdrop, w, h), _inside(front, w, h)], x="(W-w)/2", y="(H-h)/2"
    )
    return _square(overlaid)


def _inside(picture: Stream, w: int, h: int) -> Stream:
    return picture.filter(
        "scale", w=w, h=h, force_original_aspect_ratio="decrease", force_divisible_by=2, **_SCALE_OPTIONS
    )


def _square(picture: Stream) -> Stream:
    return picture.filter("setsar", sar=1).filter("format", pix_fmts="yuv420p")


def _blurred_backdrop(picture: Stream, w: int, h: int) -> Stream:
    # Blur at an eighth of the size: as soft as a large blur, at a fraction of the cost.
    bw, bh = max(2, w // 16 * 2), max(2, h // 16 * 2)
    radius = max(1, min(bw, bh) // 8)
    small = picture.filter("scale", w=bw, h=bh, force_original_aspect_ratio="increase")
    blurred = small.filter("crop", w=bw, h=bh).filter("boxblur", luma_radius=radius, luma_power=2)
    dimmed = blurred.filter("eq", brightness=-0.08, saturation=0.8)
    return dimmed.filter("scale", w=w, h=h, **_SCALE_OPTIONS)


def split_points(frames: int, head: int, tail: int) -> list[int]:
    """Frame numbers where the normalized clip is cut into head, body and tail."""
    return sorted({p for p in (head, frames - tail) if 0 < p < frames})


def piece_names(frames: int, head: int, tail: int) -> list[str]:
    """Names of the pieces a normalization writes, in order."""
    names = [("head", head), ("body", frames - head - tail), ("tail", tail)]
    return [name for name, count in names if count > 0]


def normalize_picture_args(
    clip: Path,
    start: float,
    fit: str,
    source_size: tuple[int, int],
    frames: int,
    head: int,
    tail: int,
    enc: Encoding,
    out_dir: Path,
) -> list[str]:
    """Normalize a clip's picture into pieces ``piece0.mp4``, ``piece1.mp4``, ... in ``out_dir``.

    The pieces are those of :func:`piece_names`, each starting on an IDR frame.
    ``start`` is the trim in point in seconds.
    """
    return graph.command(
        normalize_picture_output(clip, start, fit, source_size, frames, head, tail, enc, out_dir)
    )


def normalize_picture_output(
    clip: Path,
    start: float,
    fit: str,
    source_size: tuple[int, int],
    frames: int,
    head: int,
    tail: int,
    enc: Encoding,
    out_dir: Path,
) -> graph.Output:
    """The output of :func:`normalize_picture_args`, to run with others in one ffmpeg."""
    source = graph.Input(graph.url(clip), {"ss": f"{start:.6f}"} if start else None)
    picture = fit_picture(source.stream("v"), fit, source_size, enc)
    options: dict[str, graph.Value] = {**enc.options(), "frames:v": frames}
    points = split_points(frames, head, tail)
    if not points:
        options.update({"video_track_timescale": enc.timescale, "f": "mp4"})
        return graph.output([picture], graph.url(out_dir / "piece0.mp4"), options)
    options.update(
        {
            "force_key_frames": "expr:" + "+".join(f"eq(n,{p})" for p in points),
            "f": "segment",
            "segment_frames": ",".join(map(str, points)),
            "reset_timestamps": 1,
            "segment_format": "mp4",
            "segment_format_options": f"video_track_timescale={enc.timescale}",
        }
    )
    return graph.output([picture], graph.numbered(out_dir, "piece%d.mp4"), options)


def copy_picture_output(clip: Path, enc: Encoding, output: Path) -> graph.Output:
    """A clip's picture as it is, already in the cut's format: its whole body piece, copied."""
    picture = graph.Input(graph.url(clip)).stream("v:0")
    options: dict[str, graph.Value] = {
        "c:v": "copy",
        "video_track_timescale": enc.timescale,
        "map_metadata": -1,
        "f": "mp4",
    }
    return graph.output([picture], graph.url(output), options)


def transition_args(
    tail: Path, head: Path, transition: str, frames: int, enc: Encoding, output: Path
) -> list[str]:
    """Render a transition window: the tail of one shot into the head of the next."""
    return graph.command(transition_output(tail, head, transition, frames, enc, output))


def transition_output(
    tail: Path, head: Path, transition: str, frames: int, enc: Encoding, output: Path
) -> graph.Output:
    """The output of :func:`transition_args`, to run with others in one ffmpeg."""
    before, after = _window_input(tail, enc), _window_input(head, enc)
    duration = f"{frames / enc.fps:.6f}"
    if transition in DIP_COLOURS and frames >= 2:
        picture = _dip(before, after, DIP_COLOURS[transition], frames)
    elif transition in _BLENDS:
        picture = _blend_planes(before, after, XFADE_TRANSITIONS[transition], duration)
    else:
        mixed = graph.merge(
            "xfade", [before, after], transition=XFADE_TRANSITIONS[transition], duration=duration, offset=0
        )
        picture = mixed.filter("format", pix_fmts="yuv420p")
    return _window_output(picture, frames, enc, output)


# Transitions that mix each pixel with the same pixel of the other shot, whatever its position:
# they can be drawn on each plane of yuv420p apart (see _blend_planes).
_BLENDS = frozenset({"crossfade"})


def _blend_planes(before: Stream, after: Stream, kind: str, duration: str) -> Stream:
    """xfade ``kind`` over yuv420p, plane by plane.

    xfade takes only formats whose planes share one size, so over yuv420p ffmpeg
    would convert both shots to 4:4:4 and the result back, which costs more than
    the blend itself. A blend reads no neighbours, so each plane can go through
    xfade as a grey picture of its own size.
    """
    planes = [picture.outputs("extractplanes", 3, "y+u+v") for picture in (before, after)]
    mixed = [
        graph.merge("xfade", pair, transition=kind, duration=duration, offset=0)
        for pair in zip(*planes, strict=True)
    ]
    return graph.merge("mergeplanes", mixed, map1s=1, map2s=2, format="yuv420p")


def _dip(before: Stream, after: Stream, colour: str, frames: int) -> Stream:
    """The first shot fades to ``colour`` over the first half, the next fades in over the rest.

    xfade's fadeblack/fadewhite never reach the colour (at their darkest about a
    fifth of the next shot shows, early in the window); a dip is expected to pass
    through it at the midpoint. Both streams keep every frame and its timing; the
    overlay switches from one to the other halfway.
    """
    half = frames // 2
    out = before.filter("fade", t="out", s=0, n=half, color=colour)
    into = after.filter("fade", t="in", s=half, n=frames - half, color=colour)
    return graph.merge("overlay", [out, into], enable=f"gte(n,{half})").filter("format", pix_fmts="yuv420p")


def fade_args(piece: Path, direction: str, frames: int, enc: Encoding, output: Path) -> list[str]:
    """Render the cut's fade from black (``in``) or to black (``out``) over a head or tail."""
    return graph.command(fade_output(piece, direction, frames, enc, output))


def fade_output(piece: Path, direction: str, frames: int, enc: Encoding, output: Path) -> graph.Output:
    """The output of :func:`fade_args`, to run with others in one ffmpeg."""
    # A fade out over n-1 frames ends on a black last frame; a fade in starts on one.
    length = frames if direction == "in" else max(1, frames - 1)
    faded = _window_input(piece, enc).filter("fade", t=direction, s=0, n=length)
    return _window_output(faded.filter("format", pix_fmts="yuv420p"), frames, enc, output)


# Decoding a dozen frames on one thread, and filtering them on one, costs least.
_WINDOW_INPUT = {"threads": 1, "filter_threads": 1}


def _window_input(piece: Path, enc: Encoding) -> Stream:
    # Short pieces may not declare a frame rate, which xfade needs; fps= restates it.
    picture = graph.Input(graph.url(piece), _WINDOW_INPUT).stream("v")
    return picture.filter("setpts", "PTS-STARTPTS").filter("fps", fps=enc.fps)


def _window_output(picture: Stream, frames: int, enc: Encoding, output: Path) -> graph.Output:
    options = {
        **enc.options(window=True),
        "frames:v": frames,
        "video_track_timescale": enc.timescale,
        "f": "mp4",
    }
    return graph.output([picture], graph.url(output), options)


def concat_list(paths: Sequence[Path]) -> str:
    """An ffconcat script joining ``paths`` in order.

    Written by hand: it is a file the concat demuxer reads, not ffmpeg arguments,
    and ffmpeg-python has no notion of it.
    """
    lines = ["ffconcat version 1.0"]
    for path in paths:
        quoted = str(path.resolve()).replace("'", "'\\''")
        lines.append(f"file '{quoted}'")
    return "\n".join(lines) + "\n"


def join_args(
    video_list: Path,
    sound: Path,
    output: Path,
    enc: Encoding,
    subtitles: Path | None = None,
    fonts_dir: Path | None = None,
    font: str | None = None,
) -> list[str]:
    """Join the picture pieces and the encoded sound into ``output``, both copied.

    With ``subtitles`` the picture is re-encoded to burn them in.
    """
    pieces = graph.Input(graph.url(video_list), {"f": "concat", "safe": 0})
    picture = pieces.stream("v:0")
    options: dict[str, graph.Value] = {"c:v": "copy"}
    if subtitles is not None:
        picture = picture.filter("subtitles", **subtitles_options(subtitles, fonts_dir, font))
        options = enc.options()
    track = graph.Input(graph.url(sound)).stream("a:0")
    options.update({"c:a": "copy", "movflags": "+faststart", "f": "mp4"})
    return graph.command(graph.output([picture, track], graph.url(output), options))


def subtitles_options(srt: Path, fonts_dir: Path | None, font: str | None = None) -> dict[str, str]:
    """libass ``subtitles`` filter options for ``srt`` (``media.graph`` escapes them).

    ``fonts_dir`` adds fonts to the ones the system has (a fresh machine may have
    none); ``font`` names the family to draw with.
    """
    options = {"filename": str(srt)}
    if fonts_dir is not None:
        options["fontsdir"] = str(fonts_dir)
    if font is not None:
        options["force_style"] = f"FontName={font},Outline=2,Shadow=0"
    return options
