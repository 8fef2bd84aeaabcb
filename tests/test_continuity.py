"""Continuity in planning: the frame graph, its errors, and shots waiting on their parents."""

from __future__ import annotations

from pathlib import Path

import pytest
from render_helpers import make_image

from shotlist.errors import StoryboardError
from shotlist.planner import Lookup, build_plan
from shotlist.request import FrameFrom, MediaRef
from shotlist.storyboard.loader import load_storyboard


def film(folder: Path, shots: str, provider: str = "local") -> Path:
    path = folder / "film.yaml"
    path.write_text(f"version: 1\ndefaults: {{provider: {provider}}}\nshots:\n{shots}", encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(StoryboardError) as caught:
        build_plan(load_storyboard(path))
    return [str(p).replace(str(path), "film.yaml") for p in caught.value.problems]


def test_a_cycle_is_named_with_its_place(tmp_path: Path) -> None:
    path = film(
        tmp_path,
        "  - {id: a, prompt: A}\n"
        "  - id: b\n    prompt: B\n    first_frame: {shot: c}\n"
        "  - id: c\n    prompt: C\n    first_frame: {shot: b}\n",
    )
    assert problems(path) == ["film.yaml:7:18: shots[1].first_frame: shots form a cycle: b -> c -> b"]


def test_a_longer_cycle_through_last_frames_is_named_from_its_first_shot(tmp_path: Path) -> None:
    path = film(
        tmp_path,
        "  - {id: a, prompt: A, last_frame: {shot: c}}\n"
        "  - {id: b, prompt: B, first_frame: {shot: a}}\n"
        "  - {id: c, prompt: C, first_frame: {shot: b}}\n",
    )
    assert problems(path) == ["film.yaml:4:36: shots[0].last_frame: shots form a cycle: a -> c -> b -> a"]


def test_unknown_shot_ids_and_self_references_are_refused(tmp_path: Path) -> None:
    path = film(
        tmp_path,
        "  - {id: storm, prompt: A}\n"
        "  - {id: inside, prompt: B, first_frame: {shot: strom}}\n"
        "  - {id: self, prompt: C, last_frame: {shot: self}}\n",
    )
    assert problems(path) == [
        'film.yaml:5:42: shots[1].first_frame: unknown shot "strom"; did you mean "storm"?',
        'film.yaml:6:39: shots[2].last_frame: a shot cannot take a frame from itself ("self")',
    ]


def test_frames_that_are_not_images_are_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("not a picture")
    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 16)
    make_image(tmp_path / "real.png", "red")
    path = film(
        tmp_path,
        "  - {id: a, prompt: A, first_frame: notes.png}\n"
        "  - {id: b, prompt: B, first_frame: clip.mp4}\n"
        "  - {id: c, prompt: C, first_frame: missing.png}\n"
        "  - {id: d, prompt: D, first_frame: real.png}\n",
    )
    assert problems(path) == [
        "film.yaml:4:37: shots[0].first_frame: 'notes.png' is not an image file "
        "(its first bytes are no PNG, JPEG, WebP, GIF or BMP)",
        "film.yaml:5:37: shots[1].first_frame: 'clip.mp4' is a video, not an image: a frame is a picture",
        f"film.yaml:6:37: shots[2].first_frame: 'missing.png' does not exist "
        f"(looked for {tmp_path}/missing.png)",
    ]


def test_a_dependent_shot_waits_on_its_parent_with_its_cost(tmp_path: Path) -> None:
    path = film(
        tmp_path,
        "  - {id: b, prompt: B, duration: 5, first_frame: {shot: a}}\n  - {id: a, prompt: A, duration: 4}\n",
        provider="lumenfall",
    )
    plan = build_plan(load_storyboard(path))
    b = plan.shots[0]
    assert (b.status, b.waits_on, b.request.hash) == ("waiting", ("a",), "")
    assert b.estimated_cost_usd == pytest.approx(1.5 * 1365 * 768 / (1280 * 720))  # at 1K
    assert plan.total_estimated_cost_usd == pytest.approx(2.7 * 1365 * 768 / (1280 * 720))
    assert b.frames == (FrameFrom("first_frame", "a", "a", None, True, b.frames[0].where),)
    assert b.frames[0].where == f"{path}:4:50: shots[0].first_frame"
    shown = plan.to_json()["shots"][0]  # type: ignore[index]
    assert (shown["status"], shown["hash"], shown["waits_on"]) == ("waiting", None, ["a"])


def test_the_frame_is_hashed_into_the_dependent_request(tmp_path: Path) -> None:
    path = film(
        tmp_path,
        "  - {id: a, prompt: A, trim: {start: 0.5, end: 3}}\n"
        "  - {id: b, prompt: B, first_frame: {shot: a}, last_frame: {shot: a, at: 1.25}}\n"
        "  - {id: c, prompt: C, last_frame: {shot: a}}\n",
    )
    asked: list[tuple[str, FrameFrom]] = []
    content = {"version": "1"}

    def frame(clip_hash: str, need: FrameFrom) -> MediaRef:
        asked.append((clip_hash, need))
        sha256 = f"{need.spec}-{content['version']}".ljust(64, "0")
        return MediaRef("a frame", "image", sha256, path=tmp_path / "f.png")

    plain = build_plan(load_storyboard(path))
    a_hash = plain.shots[0].request.hash
    first = build_plan(load_storyboard(path), lookup=Lookup(cached=lambda h: h == a_hash, frame=frame))
    b, c = first.shots[1], first.shots[2]
    assert (b.status, c.status) == ("new", "new")
    assert [(h, n.spec) for h, n in asked] == [(a_hash, "before-3"), (a_hash, "at-1.25"), (a_hash, "at-0.5")]
    assert b.request.first_frame is not None
    assert b.request.last_frame is not None
    assert b.request.hash
    assert b.request.hash != c.request.hash
    again = build_plan(load_storyboard(path), lookup=Lookup(cached=lambda h: h == a_hash, frame=frame))
    assert again.shots[1].request.hash == b.request.hash  # the same frames: the same request
    content["version"] = "2"  # the parent was rendered again into other pixels
    changed = build_plan(load_storyboard(path), lookup=Lookup(cached=lambda h: h == a_hash, frame=frame))
    assert changed.shots[1].request.hash != b.request.hash  # a frame really changed


def test_lumenfall_refuses_a_last_frame_and_frames_mixed_with_references(tmp_path: Path) -> None:
    make_image(tmp_path / "keeper.png", "yellow")
    path = film(
        tmp_path,
        "  - {id: a, prompt: A, duration: 4}\n"
        "  - {id: b, prompt: B, duration: 4, last_frame: {shot: a}}\n"
        "  - {id: c, prompt: C @Image1, duration: 4, images: [keeper.png], first_frame: {shot: a}}\n",
        provider="lumenfall",
    )
    assert problems(path) == [
        "film.yaml:5:49: shots[1].last_frame: lumenfall seedance-2.0 documents no field for a last frame; "
        "drop it or choose a provider that takes one (local takes both)",
        "film.yaml:6:80: shots[2].first_frame: lumenfall seedance-2.0 cannot mix first/last frames with "
        "reference images or videos; use either the frames or the references in this shot",
    ]
