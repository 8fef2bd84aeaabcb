"""Camera vocabulary compiled to prompt language and to previz motion."""

from __future__ import annotations

import pytest

from shotlist.camera import (
    SPEED_FACTORS,
    LocalMotion,
    Move,
    Speed,
    append_camera,
    compile_camera_prompt,
    local_motion,
)
from shotlist.request import CameraDirection


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


def test_no_direction_holds_the_frame() -> None:
    assert local_motion(CameraDirection()) == LocalMotion(speed_factor=2.0)


def test_speeds_are_visibly_different() -> None:
    assert SPEED_FACTORS == {Speed.SLOW: 1.0, Speed.MEDIUM: 2.0, Speed.FAST: 3.5}
    travel = [
        local_motion(CameraDirection(move="pan_right", speed=s)).travel_x for s in ("slow", "medium", "fast")
    ]
    assert travel == [0.08, 0.16, 0.28]


def test_pan_left_travels_left_inside_the_source() -> None:
    motion = local_motion(CameraDirection(move="pan_left", speed="fast"))
    assert motion.travel_x == -0.28
    # The window (1/scale of the source) plus its travel never leaves the source.
    assert 1 / motion.start_scale + abs(motion.travel_x) <= 1.0 + 1e-4
    assert motion.start_scale == motion.end_scale == 1.3889


def test_dolly_in_and_out_zoom_opposite_ways() -> None:
    dolly_in = local_motion(CameraDirection(move="dolly_in", speed="slow"))
    dolly_out = local_motion(CameraDirection(move="dolly_out", speed="slow"))
    assert (dolly_in.start_scale, dolly_in.end_scale) == (1.0, 1.1)
    assert (dolly_out.start_scale, dolly_out.end_scale) == (1.1, 1.0)


def test_tilt_and_crane_move_vertically() -> None:
    assert local_motion(CameraDirection(move="tilt_up", speed="slow")).travel_y == 0.06
    crane = local_motion(CameraDirection(move="crane_down", speed="fast"))
    assert crane.travel_y == -0.28
    assert crane.end_scale > crane.start_scale


def test_handheld_shakes_and_overscans() -> None:
    motion = local_motion(CameraDirection(move="handheld", speed="fast"))
    assert motion.jitter == 0.014
    assert motion.jitter_hz == 1.3
    assert motion.start_scale == pytest.approx(1 / (1 - 2 * 0.014), abs=1e-4)


def test_orbit_and_dolly_zoom_sweep() -> None:
    assert local_motion(CameraDirection(move="orbit_left", speed="fast")).orbit_deg == -35.0
    assert local_motion(CameraDirection(move="dolly_zoom", speed="slow")).vertigo == 0.08


def test_dutch_angle_rolls_and_covers_the_corners() -> None:
    motion = local_motion(CameraDirection(angle="dutch"), aspect=16 / 9)
    assert motion.roll_deg == 8.0
    assert motion.start_scale == 1.2377


def test_low_angle_frames_from_below_and_close_up_zooms() -> None:
    motion = local_motion(CameraDirection(shot="close_up", angle="low"))
    assert motion.offset_y == 0.05
    assert motion.framing_scale == 1.9
