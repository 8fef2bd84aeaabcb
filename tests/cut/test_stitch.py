"""The cut, probed the way a viewer would notice: length, sync, loudness, picture, sound, cache."""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import re
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import pytest

from shotlist.cut import audio as stitch_audio
from shotlist.cut.audio import Leveling, Loudness, leveling, parse_ebur128
from shotlist.cut.stitch import (
    TRANSITION_TYPES,
    CutResult,
    CutSettings,
    CutShot,
    TransitionSpec,
    stitch_cut,
)
from shotlist.cut.timeline import plan_cut
from shotlist.errors import ShotlistError, StitchError
from shotlist.events import Event, StitchStep
from shotlist.media import mp4
from shotlist.media.ffmpeg import run_ffmpeg, run_ffmpeg_capture
from shotlist.media.probe import MediaInfo, probe

# Whole renders, stitches, servers or subprocesses: outside the fast core (pytest -m "not e2e").
pytestmark = pytest.mark.e2e

FPS = 24
FRAME = 1 / FPS
AUDIO_FRAME = 1024 / 48_000

# name -> (lavfi picture, lavfi sound or None); {d} is the length in seconds
CLIPS = {
    "red": ("color=c=red:s=320x180:r=24:d=2", "sine=f=1000:r=48000:d=2"),
    "blue": ("color=c=blue:s=320x180:r=24:d=2", "sine=f=2500:r=44100:d=2"),  # resampled, mono
    "green": ("color=c=green:s=320x180:r=24:d=1.5", None),  # no sound at all
    "white": ("color=c=white:s=320x180:r=24:d=2", "sine=f=1000:r=48000:d=2"),
    "orange": ("color=c=orange:s=320x180:r=24:d=2", "sine=f=700:r=48000:d=2"),
    # another size and frame rate: a yellow square with a blue band along its top
    "square": ("color=c=yellow:s=240x240:r=30:d=1.5,drawbox=y=0:h=40:w=240:c=blue:t=fill", None),
}


@dataclass(frozen=True)
class Media:
    folder: Path

    def shot(self, name: str, shot_id: str | None = None, **fields: object) -> CutShot:
        clip = self.folder / f"{name}.mp4"
        digest = hashlib.sha256(clip.read_bytes()).hexdigest()
        return CutShot(id=shot_id or name, clip=clip, clip_sha256=digest, **fields)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    folder = tmp_path_factory.mktemp("clips")
    for name, (picture, sound) in CLIPS.items():
        args = ["-f", "lavfi", "-i", picture]
        if sound:
            args += ["-f", "lavfi", "-i", sound, "-ac", "1" if "44100" in sound else "2"]
        run_ffmpeg(
            [
                *args,
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                str(folder / f"{name}.mp4"),
            ],
            step="making test clips",
        )
    # a music bed, low enough in pitch to tell apart from the shots' tones
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            "sine=f=150:r=48000:d=8",
            "-ac",
            "2",
            "-c:a",
            "aac",
            str(folder / "music.m4a"),
        ],
        step="making test music",
    )
    (folder / "broken.m4a").write_bytes(b"not audio at all" * 64)
    return Media(folder)


def settings(**fields: object) -> CutSettings:
    values: dict[str, object] = {"width": 320, "height": 180, "fps": FPS, "loudness": None}
    values.update(fields)
    return CutSettings(**values)  # type: ignore[arg-type]


Stitch = Callable[..., CutResult]


@pytest.fixture
def stitch(tmp_path: Path) -> Stitch:
    """``stitch(shots, settings, events)``: a cut in this test's folder; calls share a cache."""

    def run(shots: Sequence[CutShot], cut: CutSettings, events: list[Event] | None = None) -> CutResult:
        return stitch_cut(
            shots,
            cut,
            work_dir=tmp_path / ".shotlist" / "cut",
            output=tmp_path / "out" / "film.mp4",
            hook=(events.append if events is not None else lambda _e: None),
        )

    return run


# -- measuring -----------------------------------------------------------------


def mean_colour(
    path: Path, at: float, box: tuple[float, float, float, float] = (0, 0, 1, 1)
) -> tuple[float, ...]:
    """Mean (R, G, B) of the frame shown at ``at`` seconds, over a box given in fractions."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.time is not None and frame.time + FRAME / 2 > at:
                break
        rgb = frame.reformat(format="rgb24")
    plane, width, height = rgb.planes[0], rgb.width, rgb.height
    data = bytes(plane)
    x0, y0, x1, y1 = (
        int(box[0] * width),
        int(box[1] * height),
        int(box[2] * width),
        int(box[3] * height),
    )
    sums, count = [0, 0, 0], 0
    for y in range(y0, y1):
        row = data[y * plane.line_size + 3 * x0 : y * plane.line_size + 3 * x1]
        for channel in range(3):
            sums[channel] += sum(row[channel::3])
        count += x1 - x0
    return tuple(s / count for s in sums)


def loudness(path: Path) -> Loudness:
    return parse_ebur128(
        run_ffmpeg_capture(
            ["-i", str(path), "-map", "0:a", "-af", "ebur128=peak=true", "-f", "null", "-"],
            step="metering",
        )
    )


def level(path: Path, start: float, length: float, audio_filter: str = "anull") -> float:
    """Mean level in dB of the sound from ``start`` for ``length`` seconds (-inf for silence)."""
    stderr = run_ffmpeg_capture(
        ["-ss", str(start), "-t", str(length), "-i", str(path), "-map", "0:a",
         "-af", f"{audio_filter},volumedetect", "-f", "null", "-"],
        step="measuring a level",
    )  # fmt: skip
    found = re.search(r"mean_volume: (\S+) dB", stderr)
    assert found, stderr[-500:]
    return float(found.group(1))


def steps(events: Sequence[Event], name: str) -> list[str]:
    return [e.shot_id for e in events if isinstance(e, StitchStep) and e.step == name]


def assert_in_sync(info: MediaInfo, seconds: float) -> None:
    assert info.video_duration == pytest.approx(seconds, abs=FRAME)
    assert info.audio_duration == pytest.approx(info.video_duration, abs=AUDIO_FRAME)


# -- length and sync -----------------------------------------------------------


def test_hard_cuts_last_the_sum_of_the_shots_with_sound_in_sync(media: Media, stitch: Stitch) -> None:
    result = stitch([media.shot("red"), media.shot("blue"), media.shot("green")], settings())

    info = probe(result.output)
    assert_in_sync(info, 2.0 + 2.0 + 1.5)
    assert result.duration == pytest.approx(5.5)
    assert (info.width, info.height, info.fps, info.pix_fmt) == (320, 180, FPS, "yuv420p")
    assert (info.audio_codec, info.sample_rate, info.channels) == ("aac", 48_000, 2)


def test_each_transition_shortens_the_cut_by_its_duration(media: Media, stitch: Stitch) -> None:
    shots = [
        media.shot("red", trim_start=0.25),
        media.shot("blue", trim_end=1.5, transition=TransitionSpec("crossfade", 0.5)),
        media.shot("green", transition=TransitionSpec("fade_black", 0.25)),
        media.shot("white", transition=TransitionSpec("wipeleft", 0.5)),
    ]
    result = stitch(shots, settings(fade_in=0.25, fade_out=0.5, loudness=-16))

    expected = (1.75 + 1.5 + 1.5 + 2.0) - (0.5 + 0.25 + 0.5)
    assert_in_sync(probe(result.output), expected)


def parameter_sets(folder: Path) -> set[bytes]:
    """The distinct H.264 parameter sets (SPS/PPS) of every cached piece under ``folder``."""
    found = set()
    for piece in folder.rglob("*.mp4"):
        with av.open(str(piece)) as container:
            found.add(bytes(container.streams.video[0].codec_context.extradata))
    return found


def test_every_transition_type_renders(media: Media, stitch: Stitch, tmp_path: Path) -> None:
    kinds = [kind for kind in TRANSITION_TYPES if kind != "cut"]
    shots = [media.shot("red", "s0")] + [
        media.shot("blue" if i % 2 == 0 else "red", f"s{i + 1}", transition=TransitionSpec(kind, FRAME * 2))
        for i, kind in enumerate(kinds)
    ]

    result = stitch(shots, settings())

    frames = 48 * len(shots) - 2 * len(kinds)
    assert probe(result.output).frames == frames
    with av.open(str(result.output)) as cut:  # every copied piece decodes in place
        assert sum(1 for _ in cut.decode(video=0)) == frames
    # copy-joined pieces must share one SPS/PPS (frame rate included), or players misplay them
    assert len(parameter_sets(tmp_path / ".shotlist")) == 1


def test_pieces_of_other_shapes_and_fades_share_the_parameter_set(
    media: Media, stitch: Stitch, tmp_path: Path
) -> None:
    shots = [
        media.shot("red"),
        media.shot("square", transition=TransitionSpec("crossfade", 0.5)),
        media.shot("blue", transition=TransitionSpec("fade_black", 0.5)),
    ]
    stitch(shots, settings(fade_in=0.5, fade_out=0.5))

    assert len(list((tmp_path / ".shotlist").rglob("*.mp4"))) == 3 + 3 + 3 + 4  # 4 windows
    assert len(parameter_sets(tmp_path / ".shotlist")) == 1


def test_a_crossfade_midpoint_shows_both_shots(media: Media, stitch: Stitch) -> None:
    shots = [media.shot("red"), media.shot("blue", transition=TransitionSpec("crossfade", 1.0))]
    result = stitch(shots, settings())

    red, _, blue = mean_colour(result.output, 1.5)  # the transition runs from 1.0 s to 2.0 s
    assert 80 < red < 180
    assert 80 < blue < 180
    assert mean_colour(result.output, 0.5)[0] > 200
    assert mean_colour(result.output, 2.5)[2] > 200


def test_a_crossfade_moves_from_each_shots_own_colours_to_the_next(media: Media, stitch: Stitch) -> None:
    shots = [media.shot("red"), media.shot("blue", transition=TransitionSpec("crossfade", 1.0))]
    result = stitch(shots, settings())

    # A quarter of the way in, three parts red to one of blue; three quarters in, the reverse.
    # At the midpoint the two mix evenly, so only these show each colour kept in its place.
    early, late = mean_colour(result.output, 1.25), mean_colour(result.output, 1.75)
    assert early[0] > 150
    assert 30 < early[2] < 110
    assert late[2] > 150
    assert 30 < late[0] < 110
    assert max(early[1], late[1]) < 40  # no green from either


def test_fade_through_black_is_dark_at_its_midpoint(media: Media, stitch: Stitch) -> None:
    shots = [media.shot("red"), media.shot("white", transition=TransitionSpec("fade_black", 1.0))]
    result = stitch(shots, settings())

    assert max(mean_colour(result.output, 1.5)) < 40


def test_cut_fades_start_and_end_on_black_and_silence(media: Media, stitch: Stitch) -> None:
    result = stitch([media.shot("white")], settings(fade_in=0.5, fade_out=0.5))

    assert max(mean_colour(result.output, 0.0)) < 20
    assert min(mean_colour(result.output, 1.0)) > 230
    assert max(mean_colour(result.output, 2.0 - FRAME)) < 20
    assert level(result.output, 0.0, 0.05) < level(result.output, 0.8, 0.4) - 20


# -- sound ---------------------------------------------------------------------


def test_loudness_is_normalized_with_a_true_peak_ceiling(media: Media, stitch: Stitch) -> None:
    shots = [media.shot("red"), media.shot("blue"), media.shot("green")]
    result = stitch(shots, settings(loudness=-14.0, music=media.folder / "music.m4a"))

    measured = loudness(result.output)
    assert measured.integrated == pytest.approx(-14.0, abs=1.0)
    assert measured.true_peak <= -1.0


def test_a_muted_shot_is_silent_in_the_cut(media: Media, stitch: Stitch) -> None:
    shots = [media.shot("red", mute=True), media.shot("blue")]
    result = stitch(shots, settings())

    assert level(result.output, 0.1, 1.8) < -80
    assert level(result.output, 2.1, 1.8) > -30


def test_a_shot_without_sound_gets_a_silent_track(media: Media, stitch: Stitch) -> None:
    result = stitch([media.shot("green")], settings())

    info = probe(result.output)
    assert info.has_audio
    assert_in_sync(info, 1.5)
    assert level(result.output, 0, 1.5) < -80


def test_music_plays_under_the_cut_and_ducks_under_shot_sound(media: Media, stitch: Stitch) -> None:
    shots = [media.shot("red"), media.shot("green")]  # a tone for 2 s, then 1.5 s without sound
    result = stitch(shots, settings(music=media.folder / "music.m4a", music_volume_db=-6.0))

    music_only = "lowpass=f=300,lowpass=f=300"
    under_shot = level(result.output, 0.8, 1.0, music_only)
    alone = level(result.output, 2.5, 0.9, music_only)
    assert alone > -40
    assert under_shot < alone - 6


def test_music_without_ducking_keeps_its_level(media: Media, stitch: Stitch) -> None:
    shots = [media.shot("red"), media.shot("green")]
    result = stitch(shots, settings(music=media.folder / "music.m4a", duck=False))

    music_only = "lowpass=f=300,lowpass=f=300"
    under_shot = level(result.output, 0.8, 1.0, music_only)
    assert under_shot == pytest.approx(level(result.output, 2.5, 0.9, music_only), abs=1.5)


def decoded_sound(path: Path) -> list[float]:
    """The left channel of ``path``'s sound, decoded."""
    samples: list[float] = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            samples.extend(array("f", bytes(frame.planes[0]))[: frame.samples])
    return samples


def test_sound_encoded_in_parallel_chunks_matches_one_encoder(
    media: Media, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shots = [media.shot("red"), media.shot("blue", transition=TransitionSpec("crossfade", 0.5))]
    whole = stitch_cut(shots, settings(), work_dir=tmp_path / "a", output=tmp_path / "whole.mp4")
    monkeypatch.setattr(stitch_audio, "MIN_CHUNK_SECONDS", 1)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    chunked = stitch_cut(shots, settings(), work_dir=tmp_path / "b", output=tmp_path / "chunks.mp4")

    assert_in_sync(probe(chunked.output), 3.5)
    one, three = decoded_sound(whole.output), decoded_sound(chunked.output)
    assert len(one) == len(three)
    error = sum((a - b) ** 2 for a, b in zip(one, three, strict=True))
    signal = sum(a * a for a in one)
    assert 10 * math.log10(signal / error) > 30  # the seams are as clean as AAC itself


def test_sound_chunks_tile_the_packets_without_gap_or_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stitch_audio, "MIN_CHUNK_SECONDS", 1)
    chunks = stitch_audio.encode_chunks(10 * 48_000 + 123, 4)

    # each chunk's kept packets, as timestamps of the whole sound (the first is the priming)
    kept = [
        (
            chunk.start_sample + (-1024 if chunk.keep_from is None else chunk.keep_from),
            None if chunk.keep_until is None else chunk.start_sample + chunk.keep_until,
        )
        for chunk in chunks
    ]
    assert len(chunks) == 4
    assert kept[0][0] == -1024
    assert kept[-1][1] is None
    assert all(end == start for (_, end), (start, _) in itertools.pairwise(kept))
    assert all(chunk.start_sample % 1024 == 0 for chunk in chunks)  # one grid for every encoder


def test_the_same_cut_twice_is_byte_identical(media: Media, tmp_path: Path) -> None:
    shots = [media.shot("red"), media.shot("green", transition=TransitionSpec("crossfade", 0.5))]
    cut = settings(music=media.folder / "music.m4a", loudness=-16.0, fade_out=0.5)

    first = stitch_cut(shots, cut, work_dir=tmp_path / "a", output=tmp_path / "a.mp4")
    second = stitch_cut(shots, cut, work_dir=tmp_path / "b", output=tmp_path / "b.mp4")

    assert first.output.read_bytes() == second.output.read_bytes()


def test_loudness_second_pass_is_a_plain_gain_when_the_peak_allows() -> None:
    quiet = Loudness(integrated=-30.0, threshold=-40.0, lra=3.0, true_peak=-20.0)
    peaky = Loudness(integrated=-30.0, threshold=-40.0, lra=3.0, true_peak=-3.0)
    silent = Loudness(integrated=float("-inf"), threshold=-70.0, lra=0.0, true_peak=float("-inf"))

    assert leveling(quiet, -14.0) == Leveling(16.0, limit=False)
    assert leveling(peaky, -14.0) == Leveling(16.0, limit=True)
    assert leveling(silent, -14.0) is None


def test_peaky_sound_is_limited_to_the_true_peak_ceiling(tmp_path: Path, stitch: Stitch) -> None:
    clip = tmp_path / "clicks.mp4"
    clicks = "aevalsrc='0.02*sin(2*PI*440*t)+0.9*lt(mod(t\\,0.5)\\,0.002)':s=48000:d=4"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "color=c=gray:s=320x180:r=24:d=4", "-f", "lavfi", "-i", clicks,
         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip)],
        step="making a clip",
    )  # fmt: skip
    shot = CutShot(id="clicks", clip=clip, clip_sha256=hashlib.sha256(clip.read_bytes()).hexdigest())

    measured = loudness(stitch([shot], settings(loudness=-16.0)).output)

    assert measured.integrated == pytest.approx(-16.0, abs=1.0)
    assert measured.true_peak <= -1.0


# -- picture -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fit", "left_bar", "top_band"),
    [
        ("letterbox", "black", True),  # whole picture inside, black bars at the sides
        ("fit", "blurred", True),  # whole picture inside, a blurred copy at the sides
        ("fill", "picture", False),  # covers the frame: the top band is cropped away
        ("stretch", "picture", True),  # the whole square, squashed to the frame
    ],
)
def test_fit_modes_place_another_shape_in_the_frame(
    media: Media, stitch: Stitch, fit: str, left_bar: str, top_band: bool
) -> None:
    result = stitch([media.shot("square")], settings(fit=fit))

    assert (probe(result.output).width, probe(result.output).height) == (320, 180)
    r, g, b = mean_colour(result.output, 0.5, (0.0, 0.4, 0.1, 0.6))
    if left_bar == "black":
        assert max(r, g, b) < 20
    elif left_bar == "blurred":
        assert 60 < r < 240
        assert b < r
    else:
        assert min(r, g) > 200
        assert b < 60
    r, g, b = mean_colour(result.output, 0.5, (0.45, 0.0, 0.55, 0.08))
    assert (b > r) is top_band


def test_trim_picks_the_in_and_out_points(media: Media, stitch: Stitch) -> None:
    result = stitch([media.shot("red", trim_start=0.5, trim_end=1.25)], settings())

    assert_in_sync(probe(result.output), 0.75)


# -- subtitles -----------------------------------------------------------------


def test_dialogue_becomes_subtitles_timed_to_the_cut(media: Media, stitch: Stitch) -> None:
    shots = [
        media.shot("red", dialogue=("Not tonight.", "Maybe tomorrow.")),
        media.shot("green"),
        media.shot("blue", dialogue=("Who's there?",), transition=TransitionSpec("crossfade", 0.5)),
    ]
    result = stitch(shots, settings())

    assert result.srt == result.output.with_suffix(".srt")
    assert result.srt.read_text() == (
        "1\n00:00:00,000 --> 00:00:01,000\nNot tonight.\n\n"
        "2\n00:00:01,000 --> 00:00:02,000\nMaybe tomorrow.\n\n"
        # green runs 2.0-3.5 s; the crossfade 3.0-3.5 s hands over at 3.25 s
        "3\n00:00:03,250 --> 00:00:05,000\nWho's there?\n"
    )


def test_burnt_in_subtitles_draw_on_the_picture(media: Media, tmp_path: Path) -> None:
    shots = [media.shot("green", dialogue=("Not tonight.",))]
    odd = tmp_path / "it's: a [dir], really"  # characters a filter graph treats as syntax
    plain = stitch_cut(shots, settings(), work_dir=odd / "cache", output=odd / "plain.mp4")
    burnt = stitch_cut(shots, settings(burn_subtitles=True), work_dir=odd / "cache", output=odd / "burnt.mp4")

    bottom = (0.2, 0.75, 0.8, 0.95)
    assert mean_colour(burnt.output, 0.7, bottom) != pytest.approx(
        mean_colour(plain.output, 0.7, bottom), abs=2
    )
    assert mean_colour(burnt.output, 0.7, (0, 0, 1, 0.4)) == pytest.approx(
        mean_colour(plain.output, 0.7, (0, 0, 1, 0.4)), abs=2
    )


def test_a_cut_without_dialogue_removes_stale_subtitles(media: Media, stitch: Stitch) -> None:
    first = stitch([media.shot("red", dialogue=("Hello.",))], settings())
    assert first.srt is not None

    second = stitch([media.shot("red")], settings())

    assert second.srt is None
    assert not first.srt.exists()


# -- cache and failure -----------------------------------------------------------


def test_restitching_after_one_change_renormalizes_only_that_shot(media: Media, stitch: Stitch) -> None:
    crossfade = TransitionSpec("crossfade", 0.5)
    cut = settings(transition=crossfade, loudness=-16)
    names = ["red", "blue", "green", "white"]
    first: list[Event] = []
    stitch([media.shot(n) for n in names], cut, first)
    assert sorted(steps(first, "normalizing")) == sorted(names)

    again: list[Event] = []
    stitch([media.shot(n) for n in names], cut, again)
    assert steps(again, "normalizing") == []
    assert steps(again, "rendering transition") == []
    assert steps(again, "mixing audio") == []

    changed: list[Event] = []
    shots = [media.shot(n) for n in names]
    shots[1] = media.shot("orange", "blue")  # shot "blue" was rendered again: a new clip
    result = stitch(shots, cut, changed)

    assert steps(changed, "normalizing") == ["blue"]
    assert steps(changed, "normalizing sound") == ["blue"]
    assert sorted(steps(changed, "rendering transition")) == ["blue", "green"]
    assert steps(changed, "mixing audio") == [""]
    assert mean_colour(result.output, 2.5)[0] > 200  # the new clip is in the cut


def test_a_hard_cut_restitch_encodes_only_the_new_shot_and_its_two_joins_and_matches_a_cold_stitch(
    media: Media, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shotlist.cut.cache as cache_module
    import shotlist.cut.sound as sound_module
    import shotlist.cut.stitch as stitch_module

    runs: list[str] = []
    for module in (sound_module, stitch_module, cache_module):
        real = module.run_ffmpeg
        monkeypatch.setattr(
            module, "run_ffmpeg", lambda a, _r=real, **kw: runs.append(kw["step"]) or _r(a, **kw)
        )
    names = ["red", "blue", "white", "red", "blue"]
    shots = [media.shot(n, f"s{i}") for i, n in enumerate(names)]
    work = tmp_path / "cache"
    stitch_cut(shots, settings(), work_dir=work, output=tmp_path / "first.mp4")

    runs.clear()
    shots[2] = media.shot("orange", "s2")  # shot s2 rendered again: a new clip
    events: list[Event] = []
    again = stitch_cut(shots, settings(), work_dir=work, output=tmp_path / "again.mp4", hook=events.append)
    # one run normalizes (and encodes) the new shot's sound; the two joins beside it are
    # encoded (one run each, side by side); nothing else is encoded, and ffmpeg does not join
    assert runs == ["normalizing the sound of shot 's2'", *["encoding the sound at the joins"] * 2]
    assert steps(events, "normalizing") == steps(events, "copying") == []
    cold = stitch_cut(shots, settings(), work_dir=tmp_path / "cold", output=tmp_path / "cold.mp4")
    assert again.output.read_bytes() == cold.output.read_bytes()
    assert_in_sync(probe(again.output), 10.0)
    assert level(again.output, 5.0, 1.0) > -30  # orange's tone where white's was


def test_a_change_to_the_picture_alone_keeps_the_encoded_sound(media: Media, stitch: Stitch) -> None:
    shots = [media.shot(n) for n in ("red", "blue", "white")]
    stitch(shots, settings(transition=TransitionSpec("crossfade", 0.5)))

    events: list[Event] = []
    smaller_wipes = settings(width=256, height=144, transition=TransitionSpec("wipeleft", 0.5))
    result = stitch(shots, smaller_wipes, events)

    assert sorted(steps(events, "rendering transition")) == ["blue", "white"]
    assert steps(events, "rendering sound transition") == []
    assert steps(events, "mixing audio") == []
    assert_in_sync(probe(result.output), 3 * 2.0 - 2 * 0.5)


@pytest.mark.parametrize("fades", [0.0, 0.5], ids=["no-fades", "fades"])
def test_normalized_pieces_and_windows_are_joined_by_the_copy_not_by_ffmpeg(
    media: Media, stitch: Stitch, monkeypatch: pytest.MonkeyPatch, fades: float
) -> None:
    import shotlist.cut.stitch as stitch_module

    def no_ffmpeg(*args: object) -> None:
        raise AssertionError("the join fell back to ffmpeg")

    monkeypatch.setattr(stitch_module, "_join_with_ffmpeg", no_ffmpeg)
    cut = settings(transition=TransitionSpec("crossfade", 0.5), fade_in=fades, fade_out=fades)
    result = stitch([media.shot("red"), media.shot("square"), media.shot("white")], cut)

    assert_in_sync(probe(result.output), 2.0 + 1.5 + 2.0 - 2 * 0.5)
    assert mean_colour(result.output, 0.9)[0] > 200  # red, then the square, then white


def test_a_failed_step_leaves_the_previous_cut_and_names_the_step(media: Media, stitch: Stitch) -> None:
    good = stitch([media.shot("red"), media.shot("blue")], settings())
    before = good.output.read_bytes()

    with pytest.raises(StitchError) as caught:
        stitch([media.shot("red"), media.shot("green")], settings(music=media.folder / "broken.m4a"))

    assert caught.value.step == "mixing the audio"
    assert "broken.m4a" in str(caught.value)
    assert caught.value.command
    assert good.output.read_bytes() == before
    assert sorted(p.name for p in good.output.parent.iterdir()) == ["film.media", "film.mp4", "film.otio"]
    assert sorted(p.name for p in (good.output.parent / "film.media").iterdir()) == [
        "01-red.mp4",
        "02-blue.mp4",
    ]


def test_transitions_longer_than_a_shot_are_refused(media: Media, stitch: Stitch) -> None:
    shots = [
        media.shot("red"),
        media.shot("green", transition=TransitionSpec("crossfade", 1.0)),
        media.shot("blue", transition=TransitionSpec("crossfade", 1.0)),
    ]
    with pytest.raises(ShotlistError, match=r"shot 'green' shows 1\.500 s but the transitions"):
        stitch(shots, settings())


def test_the_plan_counts_frames_and_overlaps() -> None:
    info = MediaInfo(5.0, 320, 180, None, "h264", "yuv420p", 5.0, 120, None, None, None, None)
    shot = CutShot(id="a", clip=Path("a.mp4"), clip_sha256="0")
    shots = [
        shot,
        CutShot(id="b", clip=Path("b.mp4"), clip_sha256="1", trim_start=1.0, trim_end=9.0),
    ]

    plan = plan_cut(shots, settings(transition=TransitionSpec("dissolve", 0.5), fade_out=1.0), [info, info])

    a, b = plan.shots
    assert (a.frames, a.head, a.tail, a.offset) == (120, 0, 12, 0)
    assert (b.start_frame, b.frames, b.head, b.tail, b.offset) == (24, 96, 12, 24, 108)
    assert plan.total_frames == 120 + 96 - 12
    assert plan.notices == ("shot 'b': trim end 9 s is past the clip's end (5.000 s); using the clip's end",)


def test_settings_refuse_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown transition 'swirl'; expected one of cut, crossfade"):
        TransitionSpec("swirl", 1.0)
    with pytest.raises(ValueError, match="unknown fit 'zoom'"):
        settings(fit="zoom")
    with pytest.raises(ValueError, match="even"):
        settings(width=321)


def test_hard_cuts_splice_the_shots_own_sound_in_sync_and_identical_twice(
    media: Media, tmp_path: Path
) -> None:
    shots = [media.shot("red"), media.shot("blue"), media.shot("green"), media.shot("white")]

    first = stitch_cut(shots, settings(), work_dir=tmp_path / "a", output=tmp_path / "a.mp4")
    second = stitch_cut(shots, settings(), work_dir=tmp_path / "b", output=tmp_path / "b.mp4")

    assert_in_sync(probe(first.output), 7.5)
    assert len(decoded_sound(first.output)) == math.ceil(7.5 * 48_000 / 1024) * 1024
    assert level(first.output, 4.2, 1.0) < -60  # green has no sound
    assert level(first.output, 2.2, 1.5) > -30  # blue
    assert first.output.read_bytes() == second.output.read_bytes()


def test_spliced_sound_starts_each_shot_within_half_a_frame_and_tiles_the_packets() -> None:
    pictures = [0, 96_000, 192_000, 264_000]
    starts = stitch_audio.splice_starts(pictures)
    joins = [Path(f"j{i}") for i in range(3)]
    spans = stitch_audio.splice_spans(starts, 360_000, [Path(f"s{i}") for i in range(4)], joins, Path("e"))

    assert all(abs(s - p) <= 512 and s % 1024 == 0 for s, p in zip(starts, pictures, strict=True))
    # each span's packets as cut timestamps; together they cover the track once, in order
    cut = [(s.start + s.shift if s.start is not None else -1024, s.end) for s in spans]
    ends = [None if s.end is None else s.end + s.shift for s in spans]
    assert cut[0][0] == -1024
    assert ends[-1] is None
    assert all(end == start for end, (start, _) in zip(ends[:-1], cut[1:], strict=True))


def test_a_restitch_reads_each_clip_once_ever(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clips are content-addressed, so what a probe learnt is kept by their hash."""
    import shotlist.cut.stitch as stitch_module

    clip = tmp_path / "a.mp4"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "testsrc2=s=320x180:r=12:d=1", "-f", "lavfi", "-i", "sine=d=1",
         "-c:v", "libx264", "-c:a", "aac", "-shortest", str(clip)],
        step="making a clip",
    )  # fmt: skip
    shot = CutShot("a", clip, hashlib.sha256(clip.read_bytes()).hexdigest())
    settings = CutSettings(320, 180, 12, loudness=None)
    probes: list[Path] = []
    real_probe = stitch_module.probe
    monkeypatch.setattr(stitch_module, "probe", lambda path: probes.append(path) or real_probe(path))
    first = stitch_cut([shot], settings, work_dir=tmp_path / "work", output=tmp_path / "one.mp4")
    second = stitch_cut([shot], settings, work_dir=tmp_path / "work", output=tmp_path / "two.mp4")
    assert probes.count(clip) == 1
    assert first.duration == second.duration == pytest.approx(1.0)
    assert (tmp_path / "one.mp4").read_bytes() == (tmp_path / "two.mp4").read_bytes()


# -- pictures already in the cut's format ----------------------------------------------


def video_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.video[0]) if p.size]


def without_parameter_sets(packet: bytes) -> bytes:
    """An H.264 packet (4-byte lengths) without its SPS and PPS units."""
    kept, at = b"", 0
    while at < len(packet):
        end = at + 4 + int.from_bytes(packet[at : at + 4], "big")
        if packet[at + 4] & 31 not in (7, 8):
            kept += packet[at:end]
        at = end
    return kept


def test_hard_cuts_of_clips_in_the_cuts_format_join_their_pictures_as_they_are(
    media: Media, stitch: Stitch
) -> None:
    names = ["red", "blue", "white"]
    events: list[Event] = []
    result = stitch([media.shot(n) for n in names], settings(), events)

    # nothing normalized, nothing even copied before the join: the join reads the clips
    assert steps(events, "copying") == steps(events, "normalizing") == []
    # not one picture packet encoded again: the cut's are the clips', in order, byte for byte
    clips = [video_packets(media.folder / f"{n}.mp4") for n in names]
    expected = [p for c in clips for p in c]
    assert len(expected) == 144
    assert video_packets(result.output) == expected
    assert_in_sync(probe(result.output), 6.0)


def test_clips_the_join_cannot_read_as_they_are_have_their_pictures_copied_first(
    media: Media, stitch: Stitch, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shotlist.cut.stitch as stitch_module

    real = mp4.read_track

    def unreadable(path: Path, handler: bytes) -> mp4.Track:
        if handler == b"vide":
            raise mp4.Mp4Unsupported(f"{path}: pretend")
        return real(path, handler)

    monkeypatch.setattr(stitch_module.mp4, "read_track", unreadable)
    names = ["red", "blue", "white"]
    events: list[Event] = []
    result = stitch([media.shot(n) for n in names], settings(), events)

    assert sorted(steps(events, "copying")) == sorted(names)
    assert steps(events, "normalizing") == []
    # ffmpeg's concat demuxer joined them: it repeats the parameter sets in each clip's first packet
    clips = [video_packets(media.folder / f"{n}.mp4") for n in names]
    firsts = set(itertools.accumulate([0] + [len(c) for c in clips[:-1]]))
    expected = [p for c in clips for p in c]
    cut = video_packets(result.output)
    assert len(cut) == len(expected) == 144
    assert all(a == b for i, (a, b) in enumerate(zip(cut, expected, strict=True)) if i not in firsts)
    assert all(without_parameter_sets(cut[i]) == expected[i] for i in firsts)
    assert_in_sync(probe(result.output), 6.0)


def test_one_clip_in_another_format_makes_the_cut_normalize_every_picture(
    media: Media, stitch: Stitch
) -> None:
    events: list[Event] = []
    stitch([media.shot("red"), media.shot("square")], settings(), events)

    assert sorted(steps(events, "normalizing")) == ["red", "square"]
    assert steps(events, "copying") == []


def test_many_short_clips_are_normalized_several_per_run_with_an_event_each(
    media: Media, stitch: Stitch, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shotlist.cut.stitch as stitch_module

    runs: list[list[str]] = []
    real = stitch_module.run_ffmpeg
    monkeypatch.setattr(stitch_module, "run_ffmpeg", lambda args, **kw: runs.append(args) or real(args, **kw))
    shots = [media.shot(n, f"{n}-{i}") for i in range(4) for n in ("red", "square")]
    events: list[Event] = []
    result = stitch(shots, settings(), events)

    assert sorted(steps(events, "normalizing")) == sorted(s.id for s in shots)
    normalizing = [args for args in runs if "libx264" in args and "copy" not in args]
    assert len(normalizing) < len(shots)  # 8 clips, fewer ffmpeg runs
    assert probe(result.output).frames == 4 * (48 + 36)  # 2 s and 1.5 s at 24 fps


def test_many_transitions_are_rendered_several_per_run(
    media: Media, stitch: Stitch, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shotlist.cut.cache as cache_module
    import shotlist.cut.sound as sound_module
    import shotlist.cut.stitch as stitch_module

    runs: list[list[str]] = []
    for module in (stitch_module, sound_module, cache_module):
        real = module.run_ffmpeg
        monkeypatch.setattr(
            module, "run_ffmpeg", lambda args, real=real, **kw: runs.append(args) or real(args, **kw)
        )
    shots = [media.shot(n, f"{n}-{i}") for i in range(4) for n in ("red", "white")]
    events: list[Event] = []
    result = stitch(shots, settings(transition=TransitionSpec("crossfade", 0.5)), events)

    assert sorted(steps(events, "rendering transition")) == sorted(s.id for s in shots[1:])
    assert sorted(steps(events, "rendering sound transition")) == sorted(s.id for s in shots[1:])
    assert len([args for args in runs if any("xfade" in a for a in args)]) < 7  # 7 windows
    assert len([args for args in runs if any("amix" in a for a in args)]) < 7  # and their sound
    assert result.duration == pytest.approx(8 * 2.0 - 7 * 0.5)
    assert mean_colour(result.output, 2.9)[1] > 200  # white, between red ones
