"""The hand-off to an editor, with the real parts: a storyboard rendered by the local previz
(real ffmpeg, 320x180), its ``out/`` moved elsewhere and opened there, and ``shotlist export``
converted by OpenTimelineIO's own adapters and read back."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import opentimelineio as otio
import pytest
from render_helpers import shotlist

from shotlist import files
from shotlist.cut.media_folder import publish_media
from shotlist.cut.timeline import CutPlan, plan_cut
from shotlist.cut.transitions import transition
from shotlist.cut.types import CutSettings, CutShot
from shotlist.media.probe import probe

pytestmark = pytest.mark.e2e

FPS = 24
STORYBOARD = """\
version: 1
defaults: {size: 320x180, duration: 2, seed: 5}
references:
  theme: refs/theme.mp3
shots:
  - {id: open, prompt: The harbour at dawn}
  - {id: dip, prompt: Gulls, transition: {type: fade_black, duration: 0.5}}
  - {id: wipe, prompt: A boat, transition: {type: wipeleft, duration: 0.5}}
  - {id: quiet, prompt: Fog, mute: true, transition: {type: crossfade, duration: 0.5}}
  - {id: slide, prompt: The quay, transition: {type: slideup, duration: 0.5}}
  - {id: white, prompt: Sunlight, transition: {type: dip_white, duration: 0.5}}
soundtrack: {music: "@theme", volume: -14, duck: true}
cut: {size: 320x180, fps: 24, fade_in: 0.5, fade_out: 0.5, fit: fill}
"""
SHOTS = ["open", "dip", "wipe", "quiet", "slide", "white"]
SOUNDING = [s for s in SHOTS if s != "quiet"]
TRANSITIONS = ["fade_black", "wipeleft", "crossfade", "slideup", "dip_white"]
EXAMPLE_MUSIC = Path(__file__).resolve().parents[2] / "examples" / "lighthouse" / "refs" / "theme.mp3"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("handoff")
    (folder / "refs").mkdir()
    shutil.copy(EXAMPLE_MUSIC, folder / "refs" / "theme.mp3")
    (folder / "film.yaml").write_text(STORYBOARD, encoding="utf-8")
    run = shotlist("render", "film.yaml", cwd=folder, timeout=300)
    assert run.returncode == 0, run.stderr
    for fmt in ("otioz", "edl", "fcp7xml", "fcpxml"):
        exported = shotlist("export", "film.yaml", "--format", fmt, cwd=folder)
        assert exported.returncode == 0, exported.stderr
    return folder


def cut_frames(project: Path) -> int:
    return round(probe(project / "out" / "film.mp4").video_duration * FPS)  # type: ignore[operator]


def local_file(url: str, base: Path) -> Path:
    parsed = urlparse(url)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else base / unquote(url)


def media_clips(track: Any) -> list[Any]:
    """The clips of a track that play a file (not an EDL's black)."""
    return [c for c in track.find_clips() if isinstance(c.media_reference, otio.schema.ExternalReference)]


# -- the portable timeline ---------------------------------------------------------------------


def test_the_timeline_opens_with_all_its_media_after_out_is_moved(project: Path, tmp_path: Path) -> None:
    frames = cut_frames(project)
    moved = tmp_path / "handed-over"
    shutil.copytree(project / "out", moved)

    timeline = otio.adapters.read_from_file(str(moved / "film.otio"))

    urls = [c.media_reference.target_url for c in timeline.find_clips()]
    assert all(not url.startswith(("file:", "/")) for url in urls)
    assert [url for url in urls if not (moved / unquote(url)).is_file()] == []
    picture, sound, music = timeline.tracks
    assert (picture.kind, sound.kind, music.kind) == ("Video", "Audio", "Audio")
    assert [c.name for c in picture.find_clips()] == SHOTS
    assert [c.name for c in sound.find_clips()] == SOUNDING
    assert [c.name for c in music.find_clips()] == ["theme"]
    assert timeline.duration().value == frames
    assert {t.duration().value for t in timeline.tracks} == {frames}


def test_the_media_folder_names_clips_for_people_and_links_the_cache(project: Path) -> None:
    folder = project / "out" / "film.media"

    names = sorted(p.name for p in folder.iterdir())

    assert names == [f"{n:02d}-{shot}.mp4" for n, shot in enumerate(SHOTS, start=1)] + ["music-theme.mp3"]
    assert all((folder / name).stat().st_nlink >= 2 for name in names if name.endswith(".mp4"))


def test_the_timeline_records_sound_fades_music_level_and_fit(project: Path) -> None:
    timeline = otio.adapters.read_from_file(str(project / "out" / "film.otio"))
    picture, _, music = timeline.tracks

    for track in timeline.tracks[:2]:
        assert (track[0].name, track[-1].name) == ("fade_in", "fade_out")
    assert [t.name for t in picture if isinstance(t, otio.schema.Transition)][1:-1] == TRANSITIONS
    assert music[0].metadata["shotlist"]["volume_db"] == -14
    assert music[0].metadata["shotlist"]["duck"] is True
    assert music[0].metadata["shotlist"]["fade_out"] == 0.5
    assert {c.metadata["shotlist"]["fit"] for c in picture.find_clips()} == {"fill"}
    assert list(timeline.metadata["shotlist"]["size"]) == [320, 180]


def test_otioz_bundles_timeline_and_media(project: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "film.otioz"
    shutil.copy(project / "out" / "film.otioz", bundle)
    (tmp_path / "x").mkdir()

    timeline = otio.adapters.read_from_file(str(bundle), extract_to_directory=str(tmp_path / "x"))

    files = {local_file(c.media_reference.target_url, tmp_path / "x") for c in timeline.find_clips()}
    assert len(files) == len(SHOTS) + 1
    assert all(f.is_file() and f.is_relative_to(tmp_path / "x") for f in files)


# -- editor formats, read back with the adapters ------------------------------------------------


def test_the_edl_reads_back_with_its_clips_wipes_and_sound(project: Path) -> None:
    path = project / "out" / "film.edl"
    text = path.read_text()

    timeline = otio.adapters.read_from_file(str(path), adapter_name="cmx_3600", rate=FPS)

    video, audio = timeline.tracks
    assert [c.name for c in media_clips(video)] == SHOTS
    assert [c.name for c in media_clips(audio)] == SOUNDING
    assert video.duration().value == cut_frames(project)
    kinds = [t.transition_type for t in video if isinstance(t, otio.schema.Transition)]
    # the wipe and the slide stay wipes (W001, W002); the dips are dissolves in an EDL
    dissolve, wipe = "SMPTE_Dissolve", "SMPTE_Wipe"
    assert kinds == [dissolve, wipe, dissolve, wipe, dissolve, dissolve]  # the last: the fade out
    assert " W001 012 " in text
    assert " W002 012 " in text
    assert all(local_file(c.media_reference.target_url, path.parent).is_file() for c in media_clips(video))


def test_fcp7_xml_reads_back_with_effects_sound_and_frame_size(project: Path) -> None:
    path = project / "out" / "film.xml"
    text = path.read_text()

    timeline = otio.adapters.read_from_file(str(path), adapter_name="fcp_xml")

    video, sound, music = timeline.tracks
    assert [c.name for c in video.find_clips()] == SHOTS
    assert [c.name for c in sound.find_clips()] == SOUNDING
    assert [c.name for c in music.find_clips()] == ["theme"]
    assert video.duration().value == sound.duration().value == cut_frames(project)
    effects = [t.name for t in video if isinstance(t, otio.schema.Transition)]
    assert effects == ["Cross Dissolve", *(transition(t).fcp_effect for t in TRANSITIONS), "Cross Dissolve"]
    assert "<effectid>Dip to Color Dissolve</effectid>" in text
    assert "<effectid>KGAudioTransCrossFade3dB</effectid>" in text
    assert "<width>320</width>" in text
    assert "<height>180</height>" in text
    assert all(local_file(c.media_reference.target_url, path.parent).is_file() for c in timeline.find_clips())


def test_fcpx_xml_reads_back_with_sound_and_frame_size(project: Path) -> None:
    path = project / "out" / "film.fcpxml"
    text = path.read_text()

    timeline = otio.adapters.read_from_file(str(path), adapter_name="fcpx_xml")

    video = [t for t in timeline.tracks if t.kind == "Video"]
    audio = [t for t in timeline.tracks if t.kind == "Audio"]
    assert [c.name for c in video[0].find_clips()] == SHOTS
    assert sorted(len(list(t.find_clips())) for t in audio) == [1, len(SOUNDING)]
    assert video[0].duration().value == cut_frames(project)
    # the muted shot's file has its sound, but the cut does not play it
    assert text.count('hasAudio="1"') == len(SOUNDING) + 1
    assert 'name="quiet"' in text
    assert 'width="320" height="180"' in text


# -- the command line ------------------------------------------------------------------------


def test_export_without_a_rendered_cut_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "film.yaml").write_text("version: 1\nshots:\n  - {id: a, prompt: x}\n", encoding="utf-8")

    run = shotlist("export", "film.yaml", "--format", "edl", cwd=tmp_path)

    assert run.returncode == 1
    assert run.errors == [f"error: no timeline at {tmp_path}/out/film.otio; render or stitch the cut first"]


def test_a_missing_nle_extra_is_one_line_naming_it(
    project: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    monkeypatch.setattr(otio.adapters, "available_adapter_names", lambda: ["otio_json", "otioz"])

    result = run_cli("export", "film.yaml", "--format", "fcp7xml")

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: exporting fcp7xml needs OpenTimelineIO's editor adapters: pip install 'shotlist[nle]'"
    ]


def test_an_edl_needs_a_timecode_frame_rate(tmp_path: Path) -> None:
    (tmp_path / "film.yaml").write_text(
        "version: 1\ndefaults: {size: 320x180, duration: 1}\nshots:\n  - {id: a, prompt: x}\n"
        "cut: {size: 320x180, fps: 12}\n",
        encoding="utf-8",
    )
    assert shotlist("render", "film.yaml", cwd=tmp_path).returncode == 0

    run = shotlist("export", "film.yaml", "--format", "edl", cwd=tmp_path)

    assert run.returncode == 1
    assert run.errors == [
        "error: an EDL counts in SMPTE timecode, which has no 12 fps; use a standard cut.fps"
        " (24, 25, 30, 50, 60) or export fcp7xml"
    ]


def test_an_unknown_format_is_a_usage_error(run_cli: Any) -> None:
    assert run_cli("export", "film.yaml", "--format", "avid").exit_code == 2


# -- the media folder on its own ------------------------------------------------------------


def test_media_is_copied_where_hard_links_fail_and_stale_files_go(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _plan_of(project)
    out = tmp_path / "film.mp4"
    stale = tmp_path / "film.media" / "07-gone.mp4"
    stale.parent.mkdir()
    stale.write_bytes(b"old")

    def no_links(src: Any, dst: Any) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    media = publish_media(plan, None, out)

    assert not stale.exists()
    assert sorted(p.name for p in media.folder.iterdir()) == [
        f"{n:02d}-{shot}.mp4" for n, shot in enumerate(SHOTS, start=1)
    ]
    assert all(p.stat().st_nlink == 1 for p in media.folder.iterdir())


def _plan_of(project: Path) -> CutPlan:
    """The cut's layout over the rendered clips (those in its media folder)."""
    folder = project / "out" / "film.media"
    shots = [
        CutShot(id=shot, clip=clip, clip_sha256=files.sha256_file(clip))
        for n, shot in enumerate(SHOTS, start=1)
        if (clip := folder / f"{n:02d}-{shot}.mp4")
    ]
    return plan_cut(shots, CutSettings(320, 180, FPS), [probe(s.clip) for s in shots])
