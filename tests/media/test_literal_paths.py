"""Paths reach ffmpeg in forms it takes literally: a project folder named like a pattern,
a protocol and a filter graph at once still renders and stitches."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from render_helpers import assert_cut, make_image, shotlist, write

from shotlist.media.ffmpeg import run_ffmpeg
from shotlist.media.probe import probe

# % starts a pattern for image and segment muxers, ":" a protocol or a filter option,
# "'" a quoted filter value, "," the next filter in a graph.
ODD = "100% film, o'clock: v2"

STORYBOARD = """\
    version: 1
    title: Odd folder
    references:
      still: "refs/50% still, 1:1's.png"
      theme: "refs/it's 4:20, 100%.wav"
    defaults: {size: 320x180, duration: 1, seed: 3, caption: true}
    shots:
      - id: still
        prompt: '@still at dusk. He says: "Not tonight."'
        camera: {move: push_in}
      - id: sea
        prompt: Waves break at dusk
        duration: 2
        transition: {type: crossfade, duration: 0.5}
    soundtrack: {music: "@theme"}
    cut: {size: 320x180, fps: 12, burn_subtitles: true, fade_out: 0.5}
    """


def make_tone(path: Path) -> Path:
    plain = path.parent.parent / "tone.wav"  # made outside, so only shotlist meets the odd name
    run_ffmpeg(["-f", "lavfi", "-i", "sine=f=220:d=3", str(plain)], step="making a test tone")
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(plain, path)
    return path


@pytest.mark.e2e  # a whole render and stitch, in a subprocess
def test_a_folder_named_like_ffmpeg_syntax_renders_and_stitches(tmp_path: Path) -> None:
    folder = tmp_path / ODD
    write(folder, STORYBOARD)
    image = make_image(tmp_path / "still.png", "orange")
    (folder / "refs").mkdir(parents=True)
    shutil.copy(image, folder / "refs" / "50% still, 1:1's.png")
    make_tone(folder / "refs" / "it's 4:20, 100%.wav")

    run = shotlist("render", "film.yaml", cwd=folder)

    assert run.returncode == 0, run.stderr
    assert_cut(folder / "out" / "film.mp4", seconds=2.5, fps=12, size="320x180")
    assert (folder / "out" / "film.srt").read_text(encoding="utf-8").count("Not tonight.") == 1


async def test_a_thumbnail_is_written_under_its_own_name_in_such_a_folder(tmp_path: Path) -> None:
    from shotlist.watchmode.session import make_thumbnail

    folder = tmp_path / ODD
    folder.mkdir()
    clip = tmp_path / "clip.mp4"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "testsrc2=s=640x360:r=12:d=1", "-pix_fmt", "yuv420p", str(clip)], step="clip"
    )

    await make_thumbnail(clip, folder / "100%d.jpg", at=0.5)

    assert [p.name for p in folder.iterdir()] == ["100%d.jpg"]
    assert probe(folder / "100%d.jpg").width == 320
