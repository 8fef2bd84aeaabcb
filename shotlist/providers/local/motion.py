"""Camera moves of the local previz engine, as per-frame source windows.

A move is a path of a *window* over the source picture: the quadrilateral
of the source that is stretched onto the output frame in each frame. A
window that shrinks is a push in, one that slides left is a pan left, a
trapezoid is a low or high angle, a rotated one a dutch angle. How the
engine films a path cheaply (a tilted picture under an upright window) is
``framing``'s part.

Every quantity is an ``Expr``: one object that renders to ffmpeg's
expression language (evaluated by ffmpeg for each frame) and evaluates in
Python with the same formula, so that the window can be checked against the
picture's edges over every frame before ffmpeg runs. Nothing here touches
the disk.
"""

from __future__ import annotations

import math
import operator
import random
from collections.abc import Callable
from dataclasses import dataclass, replace

from shotlist.request import CameraDirection

# How far each speed moves the camera, relative to medium. Far enough apart
# that slow, medium and fast read differently in an animatic.
SPEED_AMOUNT = {"slow": 0.55, "medium": 1.0, "fast": 1.7}


@dataclass(frozen=True)
class Expr:
    """A per-frame quantity: its ffmpeg expression text and the same formula in Python.

    ``value`` takes the 0-based frame index. ``text`` refers to that index as
    ``ld(1)`` and to the eased progress as ``ld(0)``; ``expression`` stores
    both first, from whichever variable the filter counts frames with.
    ``number`` is set for constants, which fold so the text stays short.
    """

    text: str
    value: Callable[[int], float]
    number: float | None = None

    def __add__(self, other: Expr | float) -> Expr:
        return _binary(self, lift(other), "+", operator.add)

    def __radd__(self, other: float) -> Expr:
        return _binary(lift(other), self, "+", operator.add)

    def __sub__(self, other: Expr | float) -> Expr:
        return _binary(self, lift(other), "-", operator.sub)

    def __rsub__(self, other: float) -> Expr:
        return _binary(lift(other), self, "-", operator.sub)

    def __mul__(self, other: Expr | float) -> Expr:
        return _binary(self, lift(other), "*", operator.mul)

    def __rmul__(self, other: float) -> Expr:
        return _binary(lift(other), self, "*", operator.mul)

    def __truediv__(self, other: Expr | float) -> Expr:
        return _binary(self, lift(other), "/", operator.truediv)

    def __neg__(self) -> Expr:
        return const(0.0) - self


def const(value: float) -> Expr:
    """A constant, rounded so that ffmpeg and Python compute with the same number."""
    v = round(float(value), 6) + 0.0  # + 0.0 turns -0.0 into 0.0
    text = f"{v:.6f}".rstrip("0").rstrip(".")
    return Expr(f"({text})" if v < 0 else text, lambda _k: v, v)


def lift(x: Expr | float) -> Expr:
    return x if isinstance(x, Expr) else const(x)


def _binary(a: Expr, b: Expr, symbol: str, op: Callable[[float, float], float]) -> Expr:
    if a.number is not None and b.number is not None:
        return const(op(a.number, b.number))
    # Identities keep the expressions readable: x+0, x-0, x*1, x/1, 0+x, 1*x, x*0.
    if (symbol in "+-" and b.number == 0) or (symbol in "*/" and b.number == 1):
        return a
    if (symbol == "+" and a.number == 0) or (symbol == "*" and a.number == 1):
        return b
    if symbol == "*" and (a.number == 0 or b.number == 0):
        return const(0.0)
    av, bv = a.value, b.value
    return Expr(f"({a.text}{symbol}{b.text})", lambda k: op(av(k), bv(k)))


def sin(x: Expr) -> Expr:
    if x.number is not None:
        return const(math.sin(x.number))
    return Expr(f"sin({x.text})", lambda k: math.sin(x.value(k)))


def cos(x: Expr) -> Expr:
    if x.number is not None:
        return const(math.cos(x.number))
    return Expr(f"cos({x.text})", lambda k: math.cos(x.value(k)))


# The 0-based frame index, stored first by ``expression`` (filters name it differently:
# ``n`` in scale and crop, ``in`` counting from 1 in perspective).
FRAME = Expr("ld(1)", float)


def progress_text(frames: int) -> str:
    """Linear progress 0..1 over the shot, in ffmpeg syntax."""
    return f"clip(ld(1)/{max(frames - 1, 1)},0,1)"


def eased(frames: int) -> Expr:
    """Smoothstep of the shot's progress: camera moves start and stop gently."""

    def value(k: int) -> float:
        p = min(max(k / max(frames - 1, 1), 0.0), 1.0)
        return p * p * (3 - 2 * p)

    return Expr("ld(0)", value)


def ease_text(frames: int) -> str:
    p = progress_text(frames)
    return f"st(0,{p}*{p}*(3-2*{p}))"


def expression(expr: Expr, frames: int, index: str) -> str:
    """``expr`` as one ffmpeg expression for a filter whose frame index (0-based) is ``index``.

    The index and the eased progress are stored first, only where the formula reads them.
    """
    steps = []
    if "ld(1)" in expr.text or "ld(0)" in expr.text:
        steps.append(f"st(1,{index})")
    if "ld(0)" in expr.text:
        steps.append(ease_text(frames))
    return ";".join([*steps, expr.text])


def c_round(x: float) -> float:
    """Rounding as ffmpeg's ``round`` (C's): halves away from zero, unlike Python's ``round``."""
    return float(math.floor(x + 0.5) if x >= 0 else math.ceil(x - 0.5))


def rounded(x: Expr) -> Expr:
    """``x`` rounded to a whole number, in ffmpeg and in Python alike."""
    if x.number is not None:
        return const(c_round(x.number))
    value = x.value
    return Expr(f"round({x.text})", lambda k: c_round(value(k)))


@dataclass(frozen=True)
class Window:
    """The window over time. Offsets are fractions of the frame, zoom > 1 is tighter.

    ``keystone_v`` > 0 widens the window's top edge (a low angle: verticals
    converge upwards); ``keystone_h`` > 0 makes its left edge taller (a swing
    to the right, as in an orbit).
    """

    zoom_x: Expr
    zoom_y: Expr
    center_x: Expr
    center_y: Expr
    roll: Expr
    keystone_v: Expr
    keystone_h: Expr


def camera_window(
    camera: CameraDirection, frames: int, fps: int, seed: int, *, default_move: str | None = None
) -> Window:
    """The window's path for a camera direction over ``frames`` frames.

    ``default_move`` stands in when the direction names no move (the
    procedural scene moves even when the storyboard says nothing).
    Unknown moves read as static: the vocabulary is validated upstream.
    """
    move = camera.move or default_move or "static"
    amount = SPEED_AMOUNT.get(camera.speed or "medium", 1.0)
    rng = random.Random(f"camera:{seed}:{move}")
    e = eased(frames)
    path = _MOVES.get(move, _static)(e, amount, frames, fps, rng)
    return _with_angle(path, camera.angle, rng)


_Move = Callable[[Expr, float, int, int, random.Random], Window]


def _window(
    *,
    zoom: Expr | float = 1.0,
    zoom_y: Expr | float | None = None,
    cx: Expr | float = 0.0,
    cy: Expr | float = 0.0,
    roll: Expr | float = 0.0,
    kv: Expr | float = 0.0,
    kh: Expr | float = 0.0,
) -> Window:
    return Window(
        zoom_x=lift(zoom),
        zoom_y=lift(zoom if zoom_y is None else zoom_y),
        center_x=lift(cx),
        center_y=lift(cy),
        roll=lift(roll),
        keystone_v=lift(kv),
        keystone_h=lift(kh),
    )


def _from_to(e: Expr, start: float, end: float) -> Expr:
    return start + (end - start) * e


def _static(e: Expr, a: float, n: int, fps: int, rng: random.Random) -> Window:
    return _window()


def _scale_move(start: float, end: float) -> _Move:
    def move(e: Expr, a: float, n: int, fps: int, rng: random.Random) -> Window:
        return _window(zoom=_from_to(e, 1 + (start - 1) * a, 1 + (end - 1) * a))

    return move


def _slide(axis: str, travel: float, sign: int) -> _Move:
    """The window slides along ``axis``; sign +1 moves it right/down (content goes left/up)."""

    def move(e: Expr, a: float, n: int, fps: int, rng: random.Random) -> Window:
        d = travel * a / 2
        offset = _from_to(e, -sign * d, sign * d)
        return _window(cx=offset) if axis == "x" else _window(cy=offset)

    return move


def _crane(sign: int) -> _Move:
    """Rise (sign -1) or descend while tilting to keep the subject: slide plus keystone."""

    def move(e: Expr, a: float, n: int, fps: int, rng: random.Random) -> Window:
        d = 0.09 * a / 2
        return _window(
            cy=_from_to(e, -sign * d, sign * d),
            kv=_from_to(e, 0.0, sign * 0.12 * a),
            zoom=_from_to(e, 1.0, 1.0 + 0.05 * a),
        )

    return move


def _orbit(sign: int) -> _Move:
    """Circle the subject at a constant distance: a sweep and a perspective swing."""

    def move(e: Expr, a: float, n: int, fps: int, rng: random.Random) -> Window:
        d = 0.14 * a / 2
        return _window(
            cx=_from_to(e, -sign * d, sign * d),
            kh=_from_to(e, -sign * 0.08 * a, sign * 0.08 * a),
        )

    return move


def _wobble(rng: random.Random, fps: int, amplitude: float, low_hz: float, high_hz: float) -> Expr:
    """Two seeded sine waves of the frame index: smooth, repeatable shake."""
    total = const(0.0)
    for weight in (0.65, 0.35):
        omega = 2 * math.pi * rng.uniform(low_hz, high_hz) / fps
        phase = rng.uniform(0, 2 * math.pi)
        total = total + amplitude * weight * sin(omega * FRAME + phase)
    return total


def _handheld(e: Expr, a: float, n: int, fps: int, rng: random.Random) -> Window:
    return _window(
        zoom=1.0,
        cx=_wobble(rng, fps, 0.012 * a, 0.4, 1.3),
        cy=_wobble(rng, fps, 0.010 * a, 0.5, 1.6),
        roll=_wobble(rng, fps, 0.006 * a, 0.3, 0.9),
    )


def _tracking(e: Expr, a: float, n: int, fps: int, rng: random.Random) -> Window:
    """Follow a subject sideways: a steady (not eased) slide with a walking bob."""
    sign = 1 if rng.random() < 0.5 else -1
    d = 0.16 * a / 2
    linear = Expr(progress_text(n), lambda k: min(max(k / max(n - 1, 1), 0.0), 1.0))
    bob = 0.004 * a * sin((2 * math.pi * 1.8 / fps) * FRAME)
    return _window(cx=_from_to(linear, -sign * d, sign * d), cy=bob)


def _dolly_zoom(e: Expr, a: float, n: int, fps: int, rng: random.Random) -> Window:
    """Vertigo, flattened: the frame stretches unevenly, wider than it grows tall."""
    return _window(zoom=_from_to(e, 1.0, 1.0 + 0.3 * a), zoom_y=_from_to(e, 1.0, 1.0 + 0.12 * a))


_MOVES: dict[str, _Move] = {
    "static": _static,
    "dolly_in": _scale_move(1.0, 1.22),
    "push_in": _scale_move(1.0, 1.22),
    "dolly_out": _scale_move(1.22, 1.0),
    "pull_out": _scale_move(1.22, 1.0),
    "zoom_in": _scale_move(1.0, 1.35),
    "zoom_out": _scale_move(1.35, 1.0),
    # Panning right turns the camera right: the window moves right, content left.
    "pan_left": _slide("x", 0.12, -1),
    "pan_right": _slide("x", 0.12, +1),
    "truck_left": _slide("x", 0.16, -1),
    "truck_right": _slide("x", 0.16, +1),
    # Tilting up moves the window up (y grows downwards), content down.
    "tilt_up": _slide("y", 0.12, -1),
    "tilt_down": _slide("y", 0.12, +1),
    "pedestal_up": _slide("y", 0.16, -1),
    "pedestal_down": _slide("y", 0.16, +1),
    "crane_up": _crane(-1),
    "crane_down": _crane(+1),
    "orbit_left": _orbit(-1),
    "orbit_right": _orbit(+1),
    "handheld": _handheld,
    "tracking": _tracking,
    "dolly_zoom": _dolly_zoom,
}

MOVES = tuple(_MOVES)


def _with_angle(path: Window, angle: str | None, rng: random.Random) -> Window:
    """Add the static look of a camera angle: a keystone or a roll."""
    if angle == "low":
        return replace(path, keystone_v=path.keystone_v + 0.08)
    if angle == "high":
        return replace(path, keystone_v=path.keystone_v - 0.08)
    if angle == "overhead":
        return replace(path, keystone_v=path.keystone_v - 0.12)
    if angle == "dutch":
        tilt = 0.07 if rng.random() < 0.5 else -0.07
        return replace(path, roll=path.roll + tilt)
    return path


# Corners in the order of the perspective filter: top left, top right, bottom left, bottom right.
CORNERS = ((-1, -1), (1, -1), (-1, 1), (1, 1))


@dataclass(frozen=True)
class Corner:
    """One window corner: the window centre plus a spoke, scaled by the coverage factor."""

    cx: Expr
    cy: Expr
    dx: Expr
    dy: Expr


def corners(path: Window, width: int, height: int) -> list[Corner]:
    """The four window corners in pixels, before the coverage factor."""
    result = []
    for sx, sy in CORNERS:
        # A keystone widens one edge and narrows the opposite one.
        half_w = (0.5 * width) * (1 - sy * 0.5 * path.keystone_v) / path.zoom_x
        half_h = (0.5 * height) * (1 - sx * 0.5 * path.keystone_h) / path.zoom_y
        lx, ly = sx * half_w, sy * half_h
        c, s = cos(path.roll), sin(path.roll)
        result.append(
            Corner(
                cx=width * (0.5 + path.center_x),
                cy=height * (0.5 + path.center_y),
                dx=lx * c - ly * s,
                dy=lx * s + ly * c,
            )
        )
    return result


def coverage(cs: list[Corner], width: int, height: int, frames: int) -> float:
    """The extra zoom that keeps the window inside the picture in every frame.

    Scaling the spokes by 1/m keeps the centre; a spoke that would leave the
    picture needs m of at least its length over the room left on its side.
    """
    need = 1.0
    for k in range(frames):
        for c in cs:
            for centre, spoke, size in ((c.cx, c.dx, width), (c.cy, c.dy, height)):
                at, d = centre.value(k), spoke.value(k)
                room = (size - at) if d > 0 else at
                if d != 0:
                    need = max(need, abs(d) / max(room, 1e-6))
    # A hair more, so that rounding in ffmpeg never samples past an edge.
    return round(need * 1.002, 6) if need > 1.0 else 1.0


def is_still(camera: CameraDirection, *, default_move: str | None = None) -> bool:
    """True when the window never moves or warps (the filter can be skipped)."""
    move = camera.move or default_move or "static"
    return move == "static" and camera.angle in (None, "eye_level")
