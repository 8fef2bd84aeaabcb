"""The camera vocabulary of the storyboard format (DESIGN §1) and its prompt language.

Seedance-style providers take camera directions as words ("Camera: slow dolly in;
extreme wide shot."), compiled here. The local previz engine takes the same
structured ``CameraDirection`` and turns it into real motion itself
(``providers/local/motion.py``).
"""

from __future__ import annotations

from enum import StrEnum

from shotlist.request import CameraDirection


class Move(StrEnum):
    STATIC = "static"
    PAN_LEFT = "pan_left"
    PAN_RIGHT = "pan_right"
    TILT_UP = "tilt_up"
    TILT_DOWN = "tilt_down"
    DOLLY_IN = "dolly_in"
    DOLLY_OUT = "dolly_out"
    PUSH_IN = "push_in"
    PULL_OUT = "pull_out"
    TRUCK_LEFT = "truck_left"
    TRUCK_RIGHT = "truck_right"
    PEDESTAL_UP = "pedestal_up"
    PEDESTAL_DOWN = "pedestal_down"
    CRANE_UP = "crane_up"
    CRANE_DOWN = "crane_down"
    ORBIT_LEFT = "orbit_left"
    ORBIT_RIGHT = "orbit_right"
    ZOOM_IN = "zoom_in"
    ZOOM_OUT = "zoom_out"
    HANDHELD = "handheld"
    TRACKING = "tracking"
    DOLLY_ZOOM = "dolly_zoom"


class Speed(StrEnum):
    SLOW = "slow"
    MEDIUM = "medium"
    FAST = "fast"


class ShotSize(StrEnum):
    EXTREME_WIDE = "extreme_wide"
    WIDE = "wide"
    FULL = "full"
    MEDIUM_WIDE = "medium_wide"
    MEDIUM = "medium"
    MEDIUM_CLOSE_UP = "medium_close_up"
    CLOSE_UP = "close_up"
    EXTREME_CLOSE_UP = "extreme_close_up"


class Angle(StrEnum):
    EYE_LEVEL = "eye_level"
    LOW = "low"
    HIGH = "high"
    OVERHEAD = "overhead"
    DUTCH = "dutch"


# Prompt language ----------------------------------------------------------------------------
#
# Seedance-style models take camera direction as words in the prompt. The phrases are the
# ones their prompt guides use ("slow dolly in", "dutch angle"), so the model reads them as
# direction rather than as scene content.

_MOVE_PHRASES: dict[Move, str] = {
    Move.STATIC: "static camera",
    Move.PAN_LEFT: "pan left",
    Move.PAN_RIGHT: "pan right",
    Move.TILT_UP: "tilt up",
    Move.TILT_DOWN: "tilt down",
    Move.DOLLY_IN: "dolly in",
    Move.DOLLY_OUT: "dolly out",
    Move.PUSH_IN: "push in",
    Move.PULL_OUT: "pull out",
    Move.TRUCK_LEFT: "truck left",
    Move.TRUCK_RIGHT: "truck right",
    Move.PEDESTAL_UP: "pedestal up",
    Move.PEDESTAL_DOWN: "pedestal down",
    Move.CRANE_UP: "crane up",
    Move.CRANE_DOWN: "crane down",
    Move.ORBIT_LEFT: "orbit left around the subject",
    Move.ORBIT_RIGHT: "orbit right around the subject",
    Move.ZOOM_IN: "zoom in",
    Move.ZOOM_OUT: "zoom out",
    Move.HANDHELD: "handheld camera",
    Move.TRACKING: "tracking shot",
    Move.DOLLY_ZOOM: "dolly zoom (vertigo effect)",
}

# "medium dolly in" reads as a shot size; "steady" says the same speed in camera language.
_SPEED_WORDS: dict[Speed, str] = {Speed.SLOW: "slow", Speed.MEDIUM: "steady", Speed.FAST: "fast"}

# A handheld camera has no speed, but its shake has an intensity.
_HANDHELD_PHRASES: dict[Speed, str] = {
    Speed.SLOW: "gently swaying handheld camera",
    Speed.MEDIUM: "handheld camera",
    Speed.FAST: "shaky handheld camera",
}

_SHOT_PHRASES: dict[ShotSize, str] = {
    ShotSize.EXTREME_WIDE: "extreme wide shot",
    ShotSize.WIDE: "wide shot",
    ShotSize.FULL: "full shot",
    ShotSize.MEDIUM_WIDE: "medium wide shot",
    ShotSize.MEDIUM: "medium shot",
    ShotSize.MEDIUM_CLOSE_UP: "medium close-up",
    ShotSize.CLOSE_UP: "close-up",
    ShotSize.EXTREME_CLOSE_UP: "extreme close-up",
}

_ANGLE_PHRASES: dict[Angle, str] = {
    Angle.EYE_LEVEL: "eye-level angle",
    Angle.LOW: "low angle",
    Angle.HIGH: "high angle",
    Angle.OVERHEAD: "overhead top-down angle",
    Angle.DUTCH: "dutch angle",
}


def move_phrase(move: Move, speed: Speed | None) -> str:
    """The words for one move at one speed: ``"slow dolly in"``, ``"static camera"``."""
    if move is Move.STATIC:
        return _MOVE_PHRASES[move]  # a static camera has no speed
    if move is Move.HANDHELD:
        return _HANDHELD_PHRASES[speed or Speed.MEDIUM]
    phrase = _MOVE_PHRASES[move]
    return f"{_SPEED_WORDS[speed]} {phrase}" if speed else phrase


def compile_camera_prompt(camera: CameraDirection) -> str:
    """Seedance-style prompt language for a camera direction.

    ``"Camera: slow dolly in; extreme wide shot; low angle."`` -- move, shot size,
    angle, in that order, each only when set; ``""`` when nothing is set. A speed
    without a move says nothing and is left out. Raises ValueError for a value
    outside the vocabulary (the loader has already refused those).
    """
    parts: list[str] = []
    speed = Speed(camera.speed) if camera.speed else None
    if camera.move:
        parts.append(move_phrase(Move(camera.move), speed))
    if camera.shot:
        parts.append(_SHOT_PHRASES[ShotSize(camera.shot)])
    if camera.angle:
        parts.append(_ANGLE_PHRASES[Angle(camera.angle)])
    return f"Camera: {'; '.join(parts)}." if parts else ""


def append_camera(prompt: str, camera: CameraDirection) -> str:
    """``prompt`` followed by its camera language, as one prompt for a Seedance-style model.

    A prompt without closing punctuation gets a full stop first, so the camera
    sentence does not run into the scene ("...at dusk. Camera: slow dolly in.").
    """
    text = compile_camera_prompt(camera)
    body = prompt.rstrip()
    if not text:
        return body
    if not body:
        return text
    if body[-1] not in ".!?\"')]…":
        body += "."
    return f"{body} {text}"
