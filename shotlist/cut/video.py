"""ffmpeg arguments for the picture of a cut. Pure: builds argument lists, runs nothing.

The picture is built so that almost all of it is joined without re-encoding:

* each clip is normalized once into the cut's format with one fixed set of
  H.264 settings (:class:`Encoding`), so every piece shares a parameter set and
  the concat demuxer can join them with ``-c copy``;
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

# How a clip of another shape fills the frame (the four resize modes of editly):
#   fit        scale inside, pad with a blurred, darkened cover-scaled copy of the picture
#   letterbox  scale inside, pad with black bars
#   fill       scale to cover, crop the overflow (centred)
#   stretch    scale to exactly the frame, ignoring the aspect ratio

# Colour conversion pinned to BT.709 limited range, so every piece carries the same tags.
_SCALE_OPTIONS = "out_color_matrix=bt709:out_range=tv"
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

    def args(self, *, window: bool = False) -> list[str]:
        """Encoder arguments; ``window`` trades a little size for speed on short windows.

        The window settings only change the motion search, which x264 keeps out
        of the parameter sets, so windows still join the clips without re-encoding.
        """
        # Windows run several at a time, a dozen frames each: one thread apiece wastes least.
        speed = ["-x264-params", "subme=1:me=dia:rc-lookahead=5", "-threads", "1"] if window else []
        return [
            "-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf), *speed,
            "-profile:v", "high", "-pix_fmt", "yuv420p",
            "-g", str(2 * self.fps), "-forced-idr", "1",
            "-colorspace", "bt709", "-color_primaries", "bt709",
            "-color_trc", "bt709", "-color_range", "tv",
        ]  # fmt: skip

    def key(self) -> dict[str, object]:
        return {
            "size": [self.width, self.height],
            "fps": self.fps,
            "preset": self.preset,
            "crf": self.crf,
            "codec": "h264-high-yuv420p-bt709",
        }


def fit_filter(fit: str, source_size: tuple[int, int], enc: Encoding) -> str:
    """The filter chain from ``[0:v]`` to ``[v]``: frame rate, size, square pixels, yuv420p."""
    w, h = enc.width, enc.height
    sw, sh = source_size
    # Clone the last frame for a moment so rounding never leaves a shot a frame short;
    # -frames:v cuts the output at the exact count.
    head = f"[0:v]fps={enc.fps},tpad=stop_mode=clone:stop={enc.fps}"
    tail = "setsar=1,format=yuv420p[v]"
    if fit == "stretch" or abs(sw * h - sh * w) <= _ASPECT_TOLERANCE * max(sw * h, sh * w):
        return f"{head},scale={w}:{h}:{_SCALE_OPTIONS},{tail}"
    if fit == "fill":
        cover = f"scale={w}:{h}:force_original_aspect_ratio=increase:{_SCALE_OPTIONS}"
        return f"{head},{cover},crop={w}:{h},{tail}"
    inside = f"scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2:{_SCALE_OPTIONS}"
    if fit == "letterbox":
        return f"{head},{inside},pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black,{tail}"
    return f"{head},split=2[bg][fg];{_blurred_backdrop(w, h)};[fg]{inside}[fgs];" + (
        f"[bgs][fgs]overlay=(W-w)/2:(H-h)/2,{tail}"
    )


def _blurred_backdrop(w: int, h: int) -> str:
    # Blur at an eighth of the size: as soft as a large blur, at a fraction of the cost.
    bw, bh = max(2, w // 16 * 2), max(2, h // 16 * 2)
    radius = max(1, min(bw, bh) // 8)
    return (
        f"[bg]scale={bw}:{bh}:force_original_aspect_ratio=increase,crop={bw}:{bh},"
        f"boxblur={radius}:2,eq=brightness=-0.08:saturation=0.8,"
        f"scale={w}:{h}:{_SCALE_OPTIONS}[bgs]"
    )


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
    seek = ["-ss", f"{start:.6f}"] if start else []
    graph = fit_filter(fit, source_size, enc)
    args = [*seek, "-i", str(clip), "-filter_complex", graph, "-map", "[v]", *enc.args()]
    args += ["-frames:v", str(frames)]
    points = split_points(frames, head, tail)
    if not points:
        return [
            *args, "-video_track_timescale", str(enc.timescale),
            "-f", "mp4", str(out_dir / "piece0.mp4"),
        ]  # fmt: skip
    keyframes = "+".join(f"eq(n,{p})" for p in points)
    return [
        *args, "-force_key_frames", f"expr:{keyframes}",
        "-f", "segment", "-segment_frames", ",".join(map(str, points)),
        "-reset_timestamps", "1", "-segment_format", "mp4",
        "-segment_format_options", f"video_track_timescale={enc.timescale}",
        # The segment muxer expands the whole name as a pattern: a "%" in the folder
        # (a project in "100% film") must reach it as "%%", a literal percent sign.
        str(out_dir).replace("%", "%%") + "/piece%d.mp4",
    ]  # fmt: skip


def transition_args(
    tail: Path, head: Path, transition: str, frames: int, enc: Encoding, output: Path
) -> list[str]:
    """Render a transition window: the tail of one shot into the head of the next."""
    # Short pieces may not declare a frame rate, which xfade needs; fps= restates it.
    pts = f"setpts=PTS-STARTPTS,fps={enc.fps}"
    if transition in DIP_COLOURS and frames >= 2:
        graph = _dip_graph(pts, DIP_COLOURS[transition], frames)
    else:
        graph = (
            f"[0:v]{pts}[a];[1:v]{pts}[b];"
            f"[a][b]xfade=transition={XFADE_TRANSITIONS[transition]}"
            f":duration={frames / enc.fps:.6f}:offset=0,format=yuv420p[v]"
        )
    return [
        *_WINDOW_INPUT, "-i", str(tail), *_WINDOW_INPUT, "-i", str(head),
        "-filter_complex", graph, *_window_output(frames, enc, output),
    ]  # fmt: skip


def _dip_graph(pts: str, colour: str, frames: int) -> str:
    """The first shot fades to ``colour`` over the first half, the next fades in over the rest.

    xfade's fadeblack/fadewhite never reach the colour (at their darkest about a
    fifth of the next shot shows, early in the window); a dip is expected to pass
    through it at the midpoint. Both streams keep every frame and its timing; the
    overlay switches from one to the other halfway.
    """
    half = frames // 2
    return (
        f"[0:v]{pts},fade=t=out:s=0:n={half}:color={colour}[a];"
        f"[1:v]{pts},fade=t=in:s={half}:n={frames - half}:color={colour}[b];"
        f"[a][b]overlay=enable='gte(n,{half})',format=yuv420p[v]"
    )


def fade_args(piece: Path, direction: str, frames: int, enc: Encoding, output: Path) -> list[str]:
    """Render the cut's fade from black (``in``) or to black (``out``) over a head or tail."""
    # A fade out over n-1 frames ends on a black last frame; a fade in starts on one.
    length = frames if direction == "in" else max(1, frames - 1)
    fade = f"fade=t={direction}:s=0:n={length}"
    graph = f"[0:v]setpts=PTS-STARTPTS,fps={enc.fps},{fade},format=yuv420p[v]"
    return [
        *_WINDOW_INPUT, "-i", str(piece), "-filter_complex", graph,
        *_window_output(frames, enc, output),
    ]  # fmt: skip


# Decoding a dozen frames on one thread, and filtering them on one, costs least.
_WINDOW_INPUT = ("-threads", "1", "-filter_threads", "1")


def _window_output(frames: int, enc: Encoding, output: Path) -> list[str]:
    return [
        "-map", "[v]", *enc.args(window=True), "-frames:v", str(frames),
        "-video_track_timescale", str(enc.timescale), "-f", "mp4", str(output),
    ]  # fmt: skip


def concat_list(paths: Sequence[Path]) -> str:
    """An ffconcat script joining ``paths`` in order."""
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
    if subtitles is None:
        picture = ["-c:v", "copy"]
    else:
        picture = ["-vf", subtitles_filter(subtitles, fonts_dir, font), *enc.args()]
    return [
        "-f", "concat", "-safe", "0", "-i", str(video_list), "-i", str(sound),
        "-map", "0:v:0", "-map", "1:a:0", *picture, "-c:a", "copy",
        "-movflags", "+faststart", "-f", "mp4", str(output),
    ]  # fmt: skip


def subtitles_filter(srt: Path, fonts_dir: Path | None, font: str | None = None) -> str:
    """libass ``subtitles`` filter for ``srt``, with values escaped for a filter graph.

    ``fonts_dir`` adds fonts to the ones the system has (a fresh machine may have
    none); ``font`` names the family to draw with.
    """
    options = [f"filename={_filter_value(str(srt))}"]
    if fonts_dir is not None:
        options.append(f"fontsdir={_filter_value(str(fonts_dir))}")
    if font is not None:
        options.append(f"force_style={_filter_value(f'FontName={font},Outline=2,Shadow=0')}")
    return "subtitles=" + ":".join(options)


def _filter_value(value: str) -> str:
    # Two levels of parsing: the option string (\ ' : are special) inside the
    # filter graph (where the quoted value is taken literally, except for ').
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace(":", "\\:")
    return "'" + escaped.replace("'", "'\\''") + "'"
