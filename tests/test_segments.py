"""Multi-shot generations: a shot's ``segments`` planned, compiled per provider, rendered
by the local previz with real cuts, and marked in the cut's timeline and subtitles."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import av
import opentimelineio as otio
import pytest

from shotlist import pipeline
from shotlist.errors import StoryboardError
from shotlist.providers import capabilities as caps
from shotlist.request import CameraDirection
from shotlist.storyboard.multishot import SEEDANCE_MULTI_SHOT, Beat, compile_multishot

CHASE = """\
version: 1
defaults: {provider: lumenfall, seed: 3}
shots:
  - id: chase
    prompt: A red car on a cliff road at dusk
    segments:
      - {duration: 4, prompt: "Wide: the car speeds along the cliff road", camera: {move: tracking}}
      - {duration: 3, prompt: 'Close-up: the driver says "Hold on."'}
      - {duration: 5, prompt: "Aerial: the car vanishes into fog", camera: {move: crane_up, speed: slow}}
"""

CHASE_PROMPT = (
    "A red car on a cliff road at dusk. Multi-shot sequence: 3 shots in 12 s, a hard cut between each.\n"
    "Shot 1 (0-4 s): Wide: the car speeds along the cliff road. Camera: tracking shot.\n"
    'Shot 2 (4-7 s), cut to: Close-up: the driver says "Hold on."\n'
    "Shot 3 (7-12 s), cut to: Aerial: the car vanishes into fog. Camera: slow crane up."
)


def problems(path: Path) -> list[str]:
    with pytest.raises(StoryboardError) as caught:
        pipeline.plan(path)
    return [str(p) for p in caught.value.problems]


def test_the_wording_is_one_numbered_timecoded_beat_per_segment() -> None:
    beats = [
        Beat(0, 2.5, "A door opens", CameraDirection(move="push_in")),
        Beat(2.5, 6, "@hero steps in!"),
    ]
    assert compile_multishot(None, beats, SEEDANCE_MULTI_SHOT) == (
        "Multi-shot sequence: 2 shots in 6 s, a hard cut between each.\n"
        "Shot 1 (0-2.5 s): A door opens. Camera: push in.\n"
        "Shot 2 (2.5-6 s), cut to: @hero steps in!"
    )


def test_segments_compile_into_one_timecoded_prompt(write_storyboard: Any) -> None:
    plan = pipeline.plan(write_storyboard(CHASE))

    request = plan.shots[0].request
    assert request.prompt == CHASE_PROMPT
    assert request.duration == 12
    assert [(s.start, s.end) for s in request.segments] == [(0, 4), (4, 7), (7, 12)]
    assert request.dialogue == ("Hold on.",)
    assert plan.total_estimated_cost_usd == pytest.approx(
        0.30 * 12 * 1365 * 768 / (1280 * 720)
    )  # at 1K: 1365x768
    shown = plan.shots[0].to_json()["segments"]
    assert shown[0] == {
        "start": 0.0,
        "end": 4.0,
        "prompt": "Wide: the car speeds along the cliff road",
        "camera": {"move": "tracking"},
        "dialogue": [],
    }


def test_references_in_segments_take_the_providers_tokens(write_storyboard: Any) -> None:
    write_storyboard(b"\x89PNG\r\n\x1a\n", "car.png")
    film = write_storyboard(
        CHASE.replace("shots:", "references: {car: car.png}\nshots:").replace(
            "the car vanishes", "@car vanishes"
        )
    )

    request = pipeline.plan(film).shots[0].request

    assert "Shot 3 (7-12 s), cut to: Aerial: @Image1 vanishes into fog." in request.prompt
    assert [m.name for m in request.images] == ["car"]
    assert request.segments[2].source_prompt == "Aerial: car vanishes into fog"


def test_a_segment_sum_over_the_models_maximum_is_refused(write_storyboard: Any) -> None:
    film = write_storyboard(CHASE.replace("duration: 5,", "duration: 9,"))

    assert problems(film) == [
        "film.yaml:7:7: shots[0].segments: the segments add up to 16 s, outside what "
        "lumenfall seedance-2.0 can render (4 to 15 s)"
    ]


def test_an_explicit_duration_that_disagrees_is_an_error(write_storyboard: Any) -> None:
    film = write_storyboard(CHASE.replace("    prompt: A red car", "    duration: 10\n    prompt: A red car"))

    assert problems(film) == [
        "film.yaml:5:15: shots[0].duration: duration 10 s disagrees with the segments, which add up "
        "to 12 s; leave duration out (a shot with segments lasts as long as they do)"
    ]


def test_an_explicit_duration_that_agrees_is_fine(write_storyboard: Any) -> None:
    film = write_storyboard(CHASE.replace("    prompt: A red car", "    duration: 12\n    prompt: A red car"))

    assert pipeline.plan(film).shots[0].request.duration == 12


def test_a_model_that_cannot_take_segments_is_refused_at_plan_time(
    write_storyboard: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = caps.capabilities("lumenfall")
    plain = dataclasses.replace(record.models[0], multi_shot=None)
    monkeypatch.setitem(caps._BY_NAME, "lumenfall", dataclasses.replace(record, models=(plain,)))

    [line] = problems(write_storyboard(CHASE))

    assert line.startswith(
        "film.yaml:7:7: shots[0].segments: lumenfall seedance-2.0 cannot take segments (several shots "
        "in one generation); make each segment its own shot, or use a model that can ("
    )


def test_mistakes_inside_a_segment_name_the_segment(write_storyboard: Any) -> None:
    film = write_storyboard(
        CHASE.replace("camera: {move: tracking}", "camra: {move: tracking}").replace(
            "the car vanishes", "@boat vanishes"
        )
    )

    assert problems(film) == [
        'film.yaml:7:76: shots[0].segments[0].camra: unknown field; did you mean "camera"?',
    ]
    film = write_storyboard(CHASE.replace("the car vanishes", "@boat vanishes"))
    [line] = problems(film)
    assert line.startswith("film.yaml:9:31: shots[0].segments[2].prompt: unknown reference @boat")


def test_a_shot_needs_a_prompt_or_segments(write_storyboard: Any) -> None:
    film = write_storyboard("version: 1\nshots:\n  - id: a\n    segments: []\n  - id: b\n    seed: 1\n")

    assert problems(film) == [
        "film.yaml:4:15: shots[0].segments: expected a list of segments, each a mapping with duration "
        "and prompt (camera, dialogue), got an empty list",
        'film.yaml:5:5: shots[1]: required field "prompt" is missing',
    ]


def test_shots_without_segments_keep_their_request_hash(write_storyboard: Any) -> None:
    """Pinned: adding segments to the format re-renders nothing already rendered. (Issue 15 changed
    this hash once: Lumenfall bodies now carry the gateway's documented 1K tier, 1365x768, not 720p.)"""
    film = write_storyboard("version: 1\nshots:\n  - {id: a, prompt: The sea, seed: 1, provider: lumenfall}")

    assert pipeline.plan(film).shots[0].request.hash == (
        "f3cd71c9565e113a02c1b07d6e1fdfa2750f2f378884f8b3338083d877c3322c"
    )


# --- the local previz and the cut ----------------------------------------------------------

LOCAL = """\
version: 1
defaults: {provider: local, seed: 11, size: 320x180}
cut: {size: 320x180, fps: 24, loudness: null}
shots:
  - id: chase
    segments:
      - {duration: 4, prompt: "A desert road at noon", camera: {move: pan_right}}
      - {duration: 3, prompt: "A forest at night under the moon", dialogue: Hold on.}
      - {duration: 5, prompt: "Snowy mountains at dawn", camera: {move: crane_up}}
"""


def frame_changes(path: Path) -> list[float]:
    """Mean absolute difference of each frame from the one before (gray, 0-255)."""
    changes: list[float] = []
    previous: bytes | None = None
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            gray = frame.reformat(format="gray", width=80, height=45)
            plane = gray.planes[0]
            data = b"".join(bytes(plane)[y * plane.line_size : y * plane.line_size + 80] for y in range(45))
            if previous is not None:
                changes.append(sum(abs(a - b) for a, b in zip(data, previous, strict=True)) / len(data))
            previous = data
    return changes


@pytest.mark.e2e
def test_the_local_previz_cuts_at_each_segment_boundary(write_storyboard: Any, tmp_path: Path) -> None:
    film = write_storyboard(LOCAL)

    result = pipeline.render(film, env={"SHOTLIST_CACHE_DIR": str(tmp_path / "cache")})

    clip = result.shots[0].file
    changes = frame_changes(clip)
    assert len(changes) + 1 == 12 * 24
    cuts = sorted(range(len(changes)), key=lambda i: changes[i], reverse=True)[:2]
    # changes[i] is frame i+1 against frame i: the cuts land on frames 96 (4 s) and 168 (7 s).
    assert sorted(i + 1 for i in cuts) == [96, 168]
    elsewhere = max(c for i, c in enumerate(changes) if i + 1 not in (96, 168))
    assert min(changes[95], changes[167]) > 4 * elsewhere

    srt = result.output.with_suffix(".srt").read_text(encoding="utf-8")
    assert srt == "1\n00:00:04,000 --> 00:00:07,000\nHold on.\n"
    timeline = otio.adapters.read_from_file(str(result.output.with_suffix(".otio")))
    [marked] = list(timeline.video_tracks()[0].find_clips())
    assert [
        (m.name, m.marked_range.start_time.to_seconds(), m.marked_range.duration.to_seconds())
        for m in marked.markers
    ] == [
        ("segment 1: A desert road at noon", 0, 4),
        ("segment 2: A forest at night under the moon", 4, 3),
        ("segment 3: Snowy mountains at dawn", 7, 5),
    ]
    assert list(marked.markers[1].metadata["shotlist"]["dialogue"]) == ["Hold on."]


@pytest.mark.e2e
def test_the_lumenfall_request_holds_the_segments_in_order(write_storyboard: Any, tmp_path: Path) -> None:
    from lumenfall_server import LumenfallServer

    film = write_storyboard(CHASE)
    key = "sk-lf-segments-5be0d1a7"
    with LumenfallServer(api_key=key, polls_to_complete=1, clip_seconds_cap=1.0) as server:
        env = {
            "LUMENFALL_BASE_URL": server.base_url,
            "LUMENFALL_API_KEY": key,
            "SHOTLIST_CACHE_DIR": str(tmp_path / "cache"),
        }
        pipeline.render(film, env=env, stitch=False)
        [submit] = server.submits

    body = submit.body
    assert body["prompt"] == CHASE_PROMPT
    assert body["duration"] == 12
    lines = body["prompt"].splitlines()
    assert [line.split(":")[0] for line in lines[1:]] == [
        "Shot 1 (0-4 s)",
        "Shot 2 (4-7 s), cut to",
        "Shot 3 (7-12 s), cut to",
    ]
    assert json.dumps(body).count("Camera:") == 2
