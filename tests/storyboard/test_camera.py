"""Camera vocabulary compiled to prompt language and to previz motion."""

from __future__ import annotations

import pytest

from shotlist.request import CameraDirection
from shotlist.storyboard.camera import (
    Move,
    append_camera,
    compile_camera_prompt,
)


def test_full_direction_reads_move_shot_then_angle() -> None:
    camera = CameraDirection(move="dolly_in", speed="slow", shot="extreme_wide", angle="low")
    assert compile_camera_prompt(camera) == "Camera: slow dolly in; extreme wide shot; low angle."


def test_no_direction_compiles_to_nothing() -> None:
    assert compile_camera_prompt(CameraDirection()) == ""


def test_speed_without_move_says_nothing() -> None:
    assert compile_camera_prompt(CameraDirection(speed="fast")) == ""


@pytest.mark.parametrize(
    ("move", "speed", "phrase"),
    [
        ("pan_left", "slow", "slow pan left"),
        ("crane_up", "fast", "fast crane up"),
        ("tilt_down", "medium", "steady tilt down"),
        ("truck_right", None, "truck right"),
        ("handheld", None, "handheld camera"),
        ("handheld", "fast", "shaky handheld camera"),
        ("static", "fast", "static camera"),
        ("dolly_zoom", None, "dolly zoom (vertigo effect)"),
        ("orbit_right", "slow", "slow orbit right around the subject"),
        ("tracking", "fast", "fast tracking shot"),
    ],
)
def test_each_move_reads_as_camera_language(move: str, speed: str | None, phrase: str) -> None:
    assert compile_camera_prompt(CameraDirection(move=move, speed=speed)) == f"Camera: {phrase}."


def test_every_move_compiles() -> None:
    for move in Move:
        assert compile_camera_prompt(CameraDirection(move=move.value)).startswith("Camera: ")


def test_shot_size_and_angle_alone() -> None:
    camera = CameraDirection(shot="medium_close_up", angle="dutch")
    assert compile_camera_prompt(camera) == "Camera: medium close-up; dutch angle."


def test_value_outside_vocabulary_is_refused() -> None:
    with pytest.raises(ValueError, match="dolly_inn"):
        compile_camera_prompt(CameraDirection(move="dolly_inn"))


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("A tower at dusk", "A tower at dusk. Camera: slow pan left."),
        ("A tower at dusk.  ", "A tower at dusk. Camera: slow pan left."),
        ('He says: "Not tonight."', 'He says: "Not tonight." Camera: slow pan left.'),
        ("", "Camera: slow pan left."),
    ],
)
def test_camera_language_follows_the_prompt(prompt: str, expected: str) -> None:
    assert append_camera(prompt, CameraDirection(move="pan_left", speed="slow")) == expected


def test_no_camera_leaves_the_prompt() -> None:
    assert append_camera("A tower at dusk ", CameraDirection()) == "A tower at dusk"
