"""The camera vocabulary of the storyboard format (DESIGN §1) and its compilations."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
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


# Local previz motion ------------------------------------------------------------------------

# How much faster each speed moves than "slow"; far enough apart to tell at a glance.
SPEED_FACTORS: dict[Speed, float] = {Speed.SLOW: 1.0, Speed.MEDIUM: 2.0, Speed.FAST: 3.5}

# A move without a speed moves at medium speed.
DEFAULT_SPEED = Speed.MEDIUM


@dataclass(frozen=True)
class LocalMotion:
    """How the local previz engine moves its virtual camera over one shot.

    The engine scales the source (reference image, video frame or procedural
    scene) to cover the frame, then shows a crop window that it animates from
    the first frame to the last (easing in and out):

    - ``start_scale``/``end_scale``: zoom of the window, 1.0 = the covered
      source fills the frame, 2.0 = half of it. They already include the
      overscan that ``travel_*``, ``offset_y``, ``jitter`` and ``roll_deg`` need,
      so the window never leaves the source.
    - ``travel_x``/``travel_y``: how far the window's centre moves over the shot,
      as a fraction of the covered source's width/height, centred on the
      middle; ``+x`` is the camera moving right, ``+y`` the camera moving up.
    - ``offset_y``: a constant vertical shift of the window's centre (angle):
      ``+`` frames from below (low angle), ``-`` from above (high angle).
    - ``roll_deg``: constant horizon tilt, ``+`` counter-clockwise (dutch angle).
    - ``orbit_deg``: sweep around the subject over the shot, ``+`` orbiting right;
      a 2D engine may fake it with a perspective skew growing to this angle.
    - ``jitter``: handheld shake amplitude as a fraction of the frame, at
      ``jitter_hz``; seeded by the engine so the same request shakes the same way.
    - ``vertigo``: dolly-zoom strength: the edges stretch by this fraction while
      the centre holds its size.
    - ``framing_scale``: the extra zoom the shot size asks of a wide source
      (1.0 for wide shots, more for close-ups); an engine framing a procedural
      scene may apply it, one animating a reference that is already framed may not.
    - ``speed_factor``: the speed multiplier used (1x slow, 2x medium, 3.5x fast).
    """

    start_scale: float = 1.0
    end_scale: float = 1.0
    travel_x: float = 0.0
    travel_y: float = 0.0
    offset_y: float = 0.0
    roll_deg: float = 0.0
    orbit_deg: float = 0.0
    jitter: float = 0.0
    jitter_hz: float = 0.0
    vertigo: float = 0.0
    framing_scale: float = 1.0
    speed_factor: float = 1.0


@dataclass(frozen=True)
class _Base:
    """One move's motion at slow speed (factor 1); local_motion scales it by speed."""

    zoom: float = 0.0  # end_scale - start_scale; negative pulls back
    travel_x: float = 0.0
    travel_y: float = 0.0
    orbit_deg: float = 0.0
    jitter: float = 0.0
    vertigo: float = 0.0


# Magnitudes at slow speed, chosen so that slow is visible but calm over a 5 s shot and
# fast (x3.5) stays inside what a 2D crop can show without the source running out.
_MOVE_BASES: dict[Move, _Base] = {
    Move.STATIC: _Base(),
    Move.PAN_LEFT: _Base(travel_x=-0.08),
    Move.PAN_RIGHT: _Base(travel_x=0.08),
    Move.TILT_UP: _Base(travel_y=0.06),
    Move.TILT_DOWN: _Base(travel_y=-0.06),
    Move.DOLLY_IN: _Base(zoom=0.10),
    Move.DOLLY_OUT: _Base(zoom=-0.10),
    Move.PUSH_IN: _Base(zoom=0.07),
    Move.PULL_OUT: _Base(zoom=-0.07),
    Move.TRUCK_LEFT: _Base(travel_x=-0.10),
    Move.TRUCK_RIGHT: _Base(travel_x=0.10),
    Move.PEDESTAL_UP: _Base(travel_y=0.07),
    Move.PEDESTAL_DOWN: _Base(travel_y=-0.07),
    Move.CRANE_UP: _Base(travel_y=0.08, zoom=-0.03),
    Move.CRANE_DOWN: _Base(travel_y=-0.08, zoom=0.03),
    Move.ORBIT_LEFT: _Base(orbit_deg=-10.0),
    Move.ORBIT_RIGHT: _Base(orbit_deg=10.0),
    Move.ZOOM_IN: _Base(zoom=0.15),
    Move.ZOOM_OUT: _Base(zoom=-0.15),
    Move.HANDHELD: _Base(jitter=0.004),
    Move.TRACKING: _Base(travel_x=0.06, jitter=0.001),
    Move.DOLLY_ZOOM: _Base(vertigo=0.08),
}

_FRAMING_SCALES: dict[ShotSize, float] = {
    ShotSize.EXTREME_WIDE: 1.0,
    ShotSize.WIDE: 1.0,
    ShotSize.FULL: 1.1,
    ShotSize.MEDIUM_WIDE: 1.25,
    ShotSize.MEDIUM: 1.4,
    ShotSize.MEDIUM_CLOSE_UP: 1.6,
    ShotSize.CLOSE_UP: 1.9,
    ShotSize.EXTREME_CLOSE_UP: 2.5,
}

# (vertical framing offset, horizon roll in degrees) per angle.
_ANGLE_FRAMING: dict[Angle, tuple[float, float]] = {
    Angle.EYE_LEVEL: (0.0, 0.0),
    Angle.LOW: (0.05, 0.0),
    Angle.HIGH: (-0.05, 0.0),
    Angle.OVERHEAD: (-0.08, 0.0),
    Angle.DUTCH: (0.0, 8.0),
}

_HANDHELD_HZ = 1.3  # a breathing operator's sway, not a vibration


def _cover_scale(motion: LocalMotion, aspect: float) -> float:
    """The smallest zoom at which the moving, shaking, rolled window stays inside the source."""
    reach_x = abs(motion.travel_x) + 2 * motion.jitter
    reach_y = abs(motion.travel_y) + 2 * abs(motion.offset_y) + 2 * motion.jitter
    need = 1.0 / (1.0 - max(reach_x, reach_y))
    if motion.roll_deg:
        # A rotated w x h window fits in the unrotated frame when scaled by this much.
        theta = math.radians(abs(motion.roll_deg))
        long_over_short = max(aspect, 1.0 / aspect)
        need *= math.cos(theta) + long_over_short * math.sin(theta)
    return need


def local_motion(camera: CameraDirection, aspect: float = 16 / 9) -> LocalMotion:
    """The previz engine's camera motion for a direction, for a frame of width/height ``aspect``.

    Speeds scale every move by ``SPEED_FACTORS`` (slow 1x, medium 2x, fast 3.5x);
    a move without a speed moves at medium. Values are rounded to 4 decimals so
    that equal directions give equal, readable numbers.
    """
    speed = Speed(camera.speed) if camera.speed else DEFAULT_SPEED
    factor = SPEED_FACTORS[speed]
    base = _MOVE_BASES[Move(camera.move)] if camera.move else _Base()
    offset_y, roll = _ANGLE_FRAMING[Angle(camera.angle)] if camera.angle else (0.0, 0.0)
    zoom = base.zoom * factor
    raw = LocalMotion(
        start_scale=1.0 + max(-zoom, 0.0),
        end_scale=1.0 + max(zoom, 0.0),
        travel_x=base.travel_x * factor,
        travel_y=base.travel_y * factor,
        offset_y=offset_y,
        roll_deg=roll,
        orbit_deg=base.orbit_deg * factor,
        jitter=base.jitter * factor,
        jitter_hz=_HANDHELD_HZ if base.jitter else 0.0,
        vertigo=base.vertigo * factor,
        framing_scale=_FRAMING_SCALES[ShotSize(camera.shot)] if camera.shot else 1.0,
        speed_factor=factor,
    )
    cover = _cover_scale(raw, aspect)
    return _rounded(replace(raw, start_scale=raw.start_scale * cover, end_scale=raw.end_scale * cover))


def _rounded(motion: LocalMotion) -> LocalMotion:
    values = {f.name: round(getattr(motion, f.name), 4) for f in fields(motion)}
    return LocalMotion(**values)
