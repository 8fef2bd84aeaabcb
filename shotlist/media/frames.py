"""Single frames of clips as lossless PNG: for continuity between shots and contact sheets."""

from __future__ import annotations

import tempfile
from pathlib import Path

from shotlist.errors import FFmpegError, MediaError
from shotlist.media import graph
from shotlist.media.ffmpeg import run_ffmpeg
from shotlist.media.probe import frame_index

# The scaler's flags for the one conversion a frame goes through (bit-exact, as the previz's).
SWS_FLAGS = "bicubic+accurate_rnd+full_chroma_int+bitexact"


def frame_png(clip: Path, *, at: float | None, before: bool = False) -> bytes:
    """One frame of ``clip``'s picture as a lossless PNG (RGB).

    ``at`` None is the last frame; else the frame shown at ``at`` seconds, or with
    ``before`` the last one shown before it (an out point is not part of the shot).
    PyAV finds the frame (``probe.frame_index``); ffmpeg's scaler converts it to RGB
    with the BT.709 limited-range matrix the clips are tagged with, the inverse of the
    conversion the local previz makes when it draws a picture into a clip, so a frame
    passed from shot to shot keeps its colours. Raises ``MediaError``.
    """
    index = frame_index(clip, at, before)
    with tempfile.TemporaryDirectory(prefix="shotlist-frame-") as tmp:
        out = Path(tmp) / "frame.png"
        picture = (
            graph.Input(graph.url(clip))
            .stream("v")
            .filter("select", expr=f"eq(n,{index})")
            .filter("scale", in_color_matrix="bt709", in_range="tv", flags=SWS_FLAGS)
            .filter("format", pix_fmts="rgb24")
        )
        args = graph.command(
            graph.output([picture], graph.url(out), {"frames:v": 1, "f": "image2", "c:v": "png"})
        )
        try:
            run_ffmpeg(args, step=f"taking a frame of {clip.name}")
            return out.read_bytes()
        except (FFmpegError, OSError) as exc:
            raise MediaError(f"{clip}: cannot take a frame ({exc})") from exc
