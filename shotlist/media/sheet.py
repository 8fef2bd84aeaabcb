"""Contact sheets of a shot's takes: one row per take, frames from its start, middle and end.

``sheet_args`` is pure (rows in, ffmpeg arguments and side files out); ``write_sheet``
takes the frames (lossless, by ``frame_png``), runs ffmpeg once and writes the PNG
atomically. Labels are drawn by libass with the bundled font, as the previz captions
are (the ffmpeg build has no drawtext).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shotlist import files
from shotlist.media import fonts, graph
from shotlist.media.ffmpeg import run_ffmpeg
from shotlist.media.frames import frame_png
from shotlist.media.probe import probe
from shotlist.providers.local.caption import ass_text

THUMB_WIDTH = 320
LABEL_WIDTH = 220
LABELS_NAME = "labels.ass"
PICKED_BACKGROUND = "0x1f5130"  # the picked take's label: dark green
OTHER_BACKGROUND = "0x202020"


@dataclass(frozen=True)
class SheetRow:
    """One take: its clip and the lines of its label."""

    clip: Path
    take: int
    seed: int
    picked: bool

    @property
    def label(self) -> tuple[str, ...]:
        return (f"take {self.take}" + (" (picked)" if self.picked else ""), f"seed {self.seed}")


def thumb_size(width: int, height: int) -> tuple[int, int]:
    """A thumbnail THUMB_WIDTH wide with the clip's shape (even height)."""
    return THUMB_WIDTH, max(2, round(THUMB_WIDTH * height / width / 2) * 2)


def sheet_script(rows: Sequence[SheetRow], row_height: int, width: int) -> str:
    """The ASS script that labels each row at its top left."""
    size = max(12, min(22, row_height // 6))
    events = []
    for index, row in enumerate(rows):
        x, y = 12, index * row_height + 10
        text = "\\N".join(ass_text(line) for line in row.label)
        events.append(f"Dialogue: 0,0:00:00.00,0:00:10.00,Label,,0,0,0,,{{\\pos({x},{y})}}{text}")
    return "\n".join(
        [
            "[Script Info]",
            "ScriptType: v4.00+",
            f"PlayResX: {width}",
            f"PlayResY: {row_height * len(rows)}",
            "WrapStyle: 2",
            "",
            "[V4+ Styles]",
            "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
            "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
            "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding",
            f"Style: Label,{fonts.FONT_FAMILY},{size},&H00FFFFFF,&H00FFFFFF,&H00000000,&H00000000,"
            "0,0,0,0,100,100,0,0,1,0,0,7,0,0,0,1",
            "",
            "[Events]",
            "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
            *events,
            "",
        ]
    )


def sheet_args(
    rows: Sequence[SheetRow],
    frames: Sequence[Sequence[Path]],
    thumb: tuple[int, int],
    work_dir: Path,
    dest: Path,
) -> list[str]:
    """ffmpeg arguments that lay ``frames`` (three PNGs per row) out beside their labels."""
    w, h = thumb
    lines = []
    for row, pictures in zip(rows, frames, strict=True):
        colour = PICKED_BACKGROUND if row.picked else OTHER_BACKGROUND
        cells = [
            graph.source("color", c=colour, s=f"{LABEL_WIDTH}x{h}", d=1).filter("format", pix_fmts="rgb24")
        ]
        for picture in pictures:
            still = graph.Input(graph.url(picture), {"f": "image2", "pattern_type": "none"}).stream("v")
            cell = still.filter("scale", w=w, h=h, flags="bicubic").filter("setsar", sar=1)
            cells.append(cell.filter("format", pix_fmts="rgb24"))
        lines.append(graph.merge("hstack", cells, inputs=len(cells)))
    grid = graph.merge("vstack", lines, inputs=len(lines)) if len(lines) > 1 else lines[0]
    labelled = grid.filter("ass", filename=str(work_dir / LABELS_NAME), fontsdir=str(fonts.FONT_DIR))
    sheet = labelled.filter("format", pix_fmts="rgb24")
    return graph.command(graph.output([sheet], graph.url(dest), {"frames:v": 1, "f": "image2", "c:v": "png"}))


def write_sheet(rows: Sequence[SheetRow], output: Path) -> Path:
    """Write the contact sheet of ``rows`` to ``output`` (PNG). Raises MediaError/FFmpegError."""
    info = probe(rows[0].clip)
    thumb = thumb_size(info.width or THUMB_WIDTH, info.height or THUMB_WIDTH * 9 // 16)
    with tempfile.TemporaryDirectory(prefix="shotlist-sheet-") as tmp:
        work = Path(tmp)
        frames = []
        for r, row in enumerate(rows):
            length = probe(row.clip).duration
            pictures = []
            for c, (at, before) in enumerate(((0.0, False), (length / 2, False), (None, False))):
                picture = work / f"{r}-{c}.png"
                picture.write_bytes(frame_png(row.clip, at=at, before=before))
                pictures.append(picture)
            frames.append(pictures)
        (work / LABELS_NAME).write_text(sheet_script(rows, thumb[1], LABEL_WIDTH + 3 * thumb[0]))
        part = work / "sheet.png"
        run_ffmpeg(
            sheet_args(rows, frames, thumb, work, part),
            step="drawing the contact sheet",
            env=fonts.write_fontconfig(work),
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        files.copy(part, output)
    return output
