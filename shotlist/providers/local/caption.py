"""Captions and dialogue subtitles of the local previz engine, as an ASS script.

The ffmpeg build has no ``drawtext``; it has libass (the ``ass`` filter),
which renders styled text with the bundled font (``media.fonts``). The script
is pure text built here; the engine writes it beside the render.

User text (ids, prompts, lines) goes through ``ass_text``: in ASS, ``{``
opens an override block and ``\\N``, ``\\n``, ``\\h`` are line breaks and hard
spaces, so braces are escaped and a backslash is kept literal by a
zero-width space after it.
"""

from __future__ import annotations

from shotlist.media.fonts import FONT_FAMILY
from shotlist.request import ShotRequest

ZERO_WIDTH_SPACE = "\u200b"
HEAD_COLOR = "{\\c&H78D6FF&}"  # warm yellow (ASS colours are BGR): the shot id line

_STYLE_FORMAT = (
    "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
    "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
    "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding"
)
_EVENT_FORMAT = "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text"


def ass_text(text: str) -> str:
    """``text`` as literal ASS dialogue text on one line."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    out = []
    for ch in flat:
        if ch == "\\":
            out.append("\\" + ZERO_WIDTH_SPACE)
        elif ch in "{}":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def ass_time(seconds: float) -> str:
    """ASS timestamps: h:mm:ss.cc."""
    centis = max(0, round(seconds * 100))
    h, rest = divmod(centis, 360_000)
    m, rest = divmod(rest, 6_000)
    s, cs = divmod(rest, 100)
    return f"{h}:{m:02d}:{s:02d}.{cs:02d}"


def _shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 1)]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:.") + "…"


def camera_label(request: ShotRequest) -> str:
    """The camera direction in words, e.g. ``dolly in, slow, close up``."""
    cam = request.camera
    parts = [p.replace("_", " ") for p in (cam.move, cam.speed, cam.shot, cam.angle) if p]
    return ", ".join(parts)


def caption_script(request: ShotRequest, *, max_prompt_lines: int = 3) -> str | None:
    """The ASS script for a shot, or None when it shows no text at all.

    The caption (shot id, camera, prompt) sits top left on a translucent box
    for the whole shot; dialogue lines share the shot's duration evenly and
    sit bottom centre, like subtitles.
    """
    show_caption = request.caption
    lines = [line for line in request.dialogue if line.strip()]
    if not show_caption and not lines:
        return None
    w, h = request.width, request.height
    # Sizes follow the picture's area, so portrait and landscape frames read alike.
    base = (w * h * 9 / 16) ** 0.5
    small = max(9, round(base * 0.036))
    large = max(10, round(base * 0.05))
    margin = max(4, round(base * 0.03))
    events = []
    if show_caption:
        # Roughly how many characters fit the caption box, so long prompts end in "…".
        per_line = max(10, int((w - 2 * margin) / (small * 0.55)))
        prompt = _shorten(" ".join(request.source_prompt.split()), per_line * max_prompt_lines)
        head = ass_text(request.id)
        label = camera_label(request)
        if label:
            head += "   " + ass_text(label)
        text = HEAD_COLOR + head + "{\\r}"
        if prompt:
            text += "\\N" + ass_text(prompt)
        events.append(_event(0.0, request.duration + 1.0, "Caption", text))
    for i, line in enumerate(lines):
        start = request.duration * i / len(lines)
        end = request.duration * (i + 1) / len(lines)
        events.append(_event(start, end, "Dialogue", ass_text(line)))
    return "\n".join(
        [
            "[Script Info]",
            "ScriptType: v4.00+",
            f"PlayResX: {w}",
            f"PlayResY: {h}",
            "WrapStyle: 0",
            "ScaledBorderAndShadow: yes",
            "YCbCr Matrix: TV.709",
            "",
            "[V4+ Styles]",
            _STYLE_FORMAT,
            # BorderStyle 3: an opaque box (OutlineColour) behind the text; alpha 0x50 of 0xFF.
            f"Style: Caption,{FONT_FAMILY},{small},&H00FFFFFF,&H00FFFFFF,&H50000000,"
            f"&H50000000,0,0,0,0,100,100,0,0,3,{max(1, small // 6)},0,7,{margin},{margin},"
            f"{margin},1",
            f"Style: Dialogue,{FONT_FAMILY},{large},&H00FFFFFF,&H00FFFFFF,&H00000000,"
            f"&H80000000,0,0,0,0,100,100,0,0,1,{max(1, large // 12)},{max(1, large // 20)},2,"
            f"{margin},{margin},{margin},1",
            "",
            "[Events]",
            _EVENT_FORMAT,
            *events,
            "",
        ]
    )


def _event(start: float, end: float, style: str, text: str) -> str:
    return f"Dialogue: 0,{ass_time(start)},{ass_time(end)},{style},,0,0,0,,{text}"
