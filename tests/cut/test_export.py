"""Subtitles and the editor timeline: timed to the cut, loadable, and matching what was rendered."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import opentimelineio as otio
import pytest

from shotlist.cut.export import Cue, TimelineMedia, build_timeline, srt_text, subtitle_cues
from shotlist.cut.stitch import CutSettings, CutShot, TransitionSpec, stitch_cut
from shotlist.cut.timeline import CutPlan, plan_cut
from shotlist.media.ffmpeg import run_ffmpeg
from shotlist.media.probe import MediaInfo, probe

FPS = 24
SETTINGS = CutSettings(width=320, height=180, fps=FPS)


def info(seconds: float) -> MediaInfo:
    frames = round(seconds * FPS)
    return MediaInfo(seconds, 320, 180, None, "h264", "yuv420p", seconds, frames, None, None, None, None)


def plan(*shots: CutShot, lengths: tuple[float, ...], **settings: object) -> CutPlan:
    cut = CutSettings(width=320, height=180, fps=FPS, **settings)  # type: ignore[arg-type]
    return plan_cut(shots, cut, [info(s) for s in lengths])


def shot(shot_id: str, **fields: object) -> CutShot:
    return CutShot(id=shot_id, clip=Path(f"/clips/{shot_id}.mp4"), clip_sha256=shot_id * 8, **fields)  # type: ignore[arg-type]


# -- subtitles -------------------------------------------------------------------


def test_lines_share_the_span_their_shot_owns() -> None:
    cut = plan(
        shot("a", dialogue=("One.", "Two.", "Three.")),
        shot("b", dialogue=("Four.",), transition=TransitionSpec("crossfade", 1.0)),
        lengths=(3.0, 4.0),
    )

    # a owns 0-2.5 s (the crossfade runs 2-3 s and hands over at its midpoint), b 2.5-6 s
    assert subtitle_cues(cut) == [
        Cue(0, 833, "One."),
        Cue(833, 1666, "Two."),
        Cue(1666, 2500, "Three."),
        Cue(2500, 6000, "Four."),
    ]


def test_blank_lines_are_not_subtitles() -> None:
    cut = plan(shot("a", dialogue=("  ", "Hello.")), lengths=(2.0,))

    assert subtitle_cues(cut) == [Cue(0, 2000, "Hello.")]


def test_srt_numbers_cues_and_writes_hours() -> None:
    text = srt_text([Cue(0, 1500, "Hi."), Cue(3_725_004, 3_726_000, "Late.")])

    assert text == ("1\n00:00:00,000 --> 00:00:01,500\nHi.\n\n2\n01:02:05,004 --> 01:02:06,000\nLate.\n")


# -- the timeline ----------------------------------------------------------------


def test_clips_carry_their_in_and_out_points_and_transitions_their_overlap() -> None:
    cut = plan(
        shot("a", trim_start=0.5),
        shot("b", transition=TransitionSpec("dissolve", 0.5)),
        shot("c", trim_end=2.0, transition=TransitionSpec("wipeleft", 0.25)),
        lengths=(3.0, 3.0, 3.0),
    )

    track = build_timeline(cut, SETTINGS, name="film").tracks[0]
    a, dissolve, b, wipe, c = track

    assert [a.name, b.name, c.name] == ["a", "b", "c"]
    # visible ranges are the trims: a 0.5-3 s, b 0-3 s, c 0-2 s of their clips
    assert [(x.visible_range().start_time.value, x.visible_range().duration.value) for x in (a, b, c)] == [
        (12, 60),
        (0, 72),
        (0, 48),
    ]
    assert (dissolve.in_offset.value, dissolve.out_offset.value) == (6, 6)
    assert dissolve.transition_type == otio.schema.TransitionTypes.SMPTE_Dissolve
    assert (wipe.name, wipe.transition_type) == ("wipeleft", "SMPTE_Wipe")
    assert (wipe.in_offset.value, wipe.out_offset.value) == (3, 3)
    assert track.duration().value == cut.total_frames == 60 + 72 + 48 - 12 - 6


def test_clip_metadata_is_kept_under_shotlist() -> None:
    meta = {
        "prompt": "A lighthouse",
        "seed": 7,
        "request_hash": "abc",
        "provider": "local",
        "refs": (Path("x.png"),),
    }
    cut = plan(shot("a", metadata=meta, dialogue=("Hi.",)), lengths=(2.0,))

    clip = build_timeline(cut, SETTINGS, name="film").tracks[0][0]

    assert clip.metadata["shotlist"]["prompt"] == "A lighthouse"
    assert clip.metadata["shotlist"]["seed"] == 7
    assert clip.metadata["shotlist"]["provider"] == "local"
    assert clip.metadata["shotlist"]["request_hash"] == "abc"
    assert list(clip.metadata["shotlist"]["refs"]) == ["x.png"]
    assert clip.media_reference.target_url == "file:///clips/a.mp4"
    assert clip.media_reference.available_range.duration.value == 48


def test_the_sound_track_mirrors_the_picture_with_a_gap_where_a_shot_is_muted() -> None:
    cut = plan(
        shot("a"),
        shot("b", transition=TransitionSpec("crossfade", 0.5)),
        shot("c", mute=True, transition=TransitionSpec("crossfade", 0.5)),
        lengths=(2.0, 2.0, 2.0),
    )

    picture, sound = build_timeline(cut, SETTINGS, name="film").tracks

    assert (picture.kind, sound.kind) == (otio.schema.TrackKind.Video, otio.schema.TrackKind.Audio)
    # the sound cuts into the muted shot's silence (see export's docstring)
    assert [type(item).__name__ for item in sound] == ["Clip", "Transition", "Clip", "Gap"]
    assert sound.duration() == picture.duration()
    assert sound[1].metadata["fcp_xml"]["effect"]["effectid"] == "KGAudioTransCrossFade3dB"


def test_fades_are_transitions_from_and_to_black_at_the_ends_of_every_track() -> None:
    music = CutSettings(320, 180, FPS, fade_in=0.5, fade_out=1.0, music=Path("/refs/theme.mp3"))
    cut = plan(shot("a"), lengths=(3.0,), fade_in=0.5, fade_out=1.0)

    timeline = build_timeline(cut, music, name="film", media=TimelineMedia(music_seconds=10.0))

    assert [t.name for t in timeline.tracks] == ["Picture", "Sound", "Music"]
    for track in timeline.tracks[:2]:
        first, last = track[0], track[-1]
        assert (first.name, first.in_offset.value, first.out_offset.value) == ("fade_in", 0, 12)
        assert (last.name, last.in_offset.value, last.out_offset.value) == ("fade_out", 24, 0)
    assert {track.duration().value for track in timeline.tracks} == {72}
    bed = timeline.tracks[2][0]
    assert (bed.metadata["shotlist"]["fade_in"], bed.metadata["shotlist"]["fade_out"]) == (0.5, 1.0)


def test_the_music_bed_carries_its_level_and_ducking() -> None:
    settings = CutSettings(320, 180, FPS, music=Path("/refs/theme.mp3"), music_volume_db=-14.0, duck=True)
    cut = plan(shot("a"), shot("b"), lengths=(2.0, 2.0))

    timeline = build_timeline(cut, settings, name="film", media=TimelineMedia(music_seconds=3.0))
    bed = timeline.tracks[2]

    expected = {"role": "music", "volume_db": -14.0, "duck": True, "loudness": -14.0}
    assert bed[0].metadata["shotlist"] == {**expected, "fade_in": 0.0, "fade_out": 0.0}
    assert bed[0].media_reference.target_url == "file:///refs/theme.mp3"
    # three seconds of music under four of cut: the bed ends, silence follows
    assert [item.duration().value for item in bed] == [72, 24]


def test_transitions_carry_their_editor_effect_and_clips_their_fit() -> None:
    cut = plan(
        shot("a"),
        shot("b", transition=TransitionSpec("fade_black", 0.5)),
        shot("c", transition=TransitionSpec("slideup", 0.5)),
        lengths=(2.0, 2.0, 2.0),
    )

    track = build_timeline(cut, replace(SETTINGS, fit="fill"), name="film").tracks[0]
    dip, slide = track[1], track[3]

    assert dip.metadata["fcp_xml"]["effect"]["effectid"] == "Dip to Color Dissolve"
    assert dip.metadata["fcp_xml"]["effect"]["parameter"]["value"]["red"] == 0
    assert (slide.transition_type, slide.metadata["fcp_xml"]["effect"]["effectid"]) == (
        "SMPTE_Wipe",
        "Push Slide",
    )
    assert slide.metadata["cmx_3600"]["transition"] == "W002"
    assert {clip.metadata["shotlist"]["fit"] for clip in track.find_clips()} == {"fill"}


def test_clips_point_at_the_media_given_relative_to_the_timeline() -> None:
    cut = plan(shot("a"), lengths=(2.0,))
    media = TimelineMedia(clips={"a": "film.media/01-a.mp4"})

    timeline = build_timeline(cut, SETTINGS, name="film", media=media)

    assert [c.media_reference.target_url for c in timeline.find_clips()] == ["film.media/01-a.mp4"] * 2


# -- written beside a real cut ---------------------------------------------------


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CutShot]:
    folder = tmp_path_factory.mktemp("export-clips")
    made = {}
    for name, colour in (("open", "red"), ("middle", "green"), ("close", "blue")):
        clip = folder / f"{name}.mp4"
        run_ffmpeg(
            ["-f", "lavfi", "-i", f"color=c={colour}:s=320x180:r=24:d=2",
             "-c:v", "libx264", "-pix_fmt", "yuv420p", str(clip)],
            step="making a test clip",
        )  # fmt: skip
        digest = hashlib.sha256(clip.read_bytes()).hexdigest()
        made[name] = CutShot(id=name, clip=clip, clip_sha256=digest, metadata={"seed": len(made)})
    return made


def test_the_timeline_beside_the_cut_loads_and_matches_it(clips: dict[str, CutShot], tmp_path: Path) -> None:
    shots = [
        clips["open"],
        replace(clips["middle"], trim_start=0.25, transition=TransitionSpec("crossfade", 0.5)),
        replace(clips["close"], transition=TransitionSpec("fade_black", 1.0)),
    ]
    result = stitch_cut(
        shots,
        CutSettings(320, 180, FPS, loudness=None, fade_out=0.5),
        work_dir=tmp_path / "cache",
        output=tmp_path / "film.mp4",
    )

    assert result.otio == tmp_path / "film.otio"
    timeline = otio.adapters.read_from_file(str(result.otio))
    clips_in_order = list(timeline.video_tracks()[0].find_clips())
    assert [c.name for c in clips_in_order] == ["open", "middle", "close"]
    assert [c.metadata["shotlist"]["seed"] for c in clips_in_order] == [0, 1, 2]
    cut = probe(result.output)
    assert timeline.duration().to_seconds() == pytest.approx(cut.video_duration, abs=1 / FPS)
    assert [c.visible_range().duration.to_seconds() for c in clips_in_order] == [2.0, 1.75, 2.0]
    assert [t.name for t in timeline.tracks[0] if isinstance(t, otio.schema.Transition)] == [
        "crossfade",
        "fade_black",
        "fade_out",
    ]
