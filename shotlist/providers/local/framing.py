"""How the local engine films a camera path: a tilted picture under an upright window.

A camera path (``motion.Window``) changes two kinds of things over a shot.
The window's place and size (centre, zoom) keep it upright, and an upright
window is cheap to film: a crop per frame, after a scale only when the zoom
changes. Its tilt (roll, keystones) needs a perspective warp, several times
the cost of a scale, so the tilt is given to the picture instead, about the
picture's centre, and the upright window moves over the tilted picture:

- a still (a reference image, a painted plate) is warped once per *tilt
  level*: each frame's tilt rounded so that going to the next level moves no
  corner of the picture by more than ``TILT_STEP`` pixels. A static angle is
  one warp for the whole shot, an orbit a dozen or two, never one per frame;
- a moving picture (a reference video) is warped in every frame.

The tilted picture is shrunk about its centre until it lies inside the
source in every frame; the window's own coverage keeps it inside the tilted
picture.

In 4:2:0 a crop at an odd offset shifts the colour half a chroma pixel
against the brightness, which flickers and costs the encoder dearly. Over a
still scaled once (a pan), the window moves by whole pixels all the same:
the still is scaled once per *parity* of the crop's offsets, its chroma
sited for that parity, so each *picture* a shot shows is a parity and a tilt
level. A window over a picture scaled again in every frame (a zoom, a video)
moves by pairs of pixels instead, and its size by fours, so that a centred
zoom stays centred.

A still's pictures are made in order of first use and shown in runs of
frames (``chunks``), so the encoder starts on the first frames while later
pictures are still being made. Pure: numbers and ffmpeg expressions,
nothing runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shotlist.providers.local.motion import (
    Corner,
    Expr,
    Window,
    c_round,
    camera_window,
    const,
    corners,
    coverage,
    expression,
    is_still,
    rounded,
)
from shotlist.request import CameraDirection

TILT_STEP = 2.0
"""Pixels of the picture that a corner moves, at most, from one tilt level of a still to the next."""

NEW_PER_CHUNK = 4
"""Pictures a run of frames may need beyond those of the runs before it (see ``chunks``)."""

Point = tuple[float, float]
Parity = tuple[int, int]  # of a crop's x and y offsets: 0 even, 1 odd


@dataclass(frozen=True)
class Tilt:
    """The picture's tilt: the perspective filter's four source corners (top left, top
    right, bottom left, bottom right) in the picture's pixels.

    A still has ``levels``, the corners of each tilt it shows, in order of first use
    (each warped once), and, with more than one level, ``shown``: the level of every
    frame. A moving picture has ``path``: the corners as per-frame expressions, warped
    in every frame.
    """

    levels: tuple[tuple[Point, ...], ...] = ()
    shown: tuple[int, ...] = ()
    path: tuple[tuple[Expr, Expr], ...] = ()

    def options(self, frames: int) -> dict[str, str]:
        """The perspective filter's corner options (x0..y3): a moving picture's path, or one
        run of the filter over the levels (its i-th frame, ``in`` = i + 1, to level i)."""
        if self.path:
            return {
                f"{'xy'[axis]}{i}": expression(self.path[i][axis], frames, "in-1")
                for i in range(4)
                for axis in (0, 1)
            }
        return {
            f"{'xy'[axis]}{i}": _by_frame([level[i][axis] for level in self.levels])
            for i in range(4)
            for axis in (0, 1)
        }


@dataclass(frozen=True)
class Framing:
    """How a shot is filmed: the picture scaled once to ``size``, tilted, then an
    upright window of the output's size cropped from it in every frame.

    ``zoom`` (scale width and height) is set when the window's size changes, and the
    picture is scaled again in every frame; ``offset`` is the crop's top left corner,
    None when the window is the whole picture. Both are per-frame expressions of the
    frame index (ffmpeg's ``n``). ``exact``: the offsets are whole pixels, each parity
    of them shown by its own picture (``pictures``); otherwise they are even. A still is
    tilted at ``tilt_size``: for an exact window the output's size, each level then
    scaled to ``size`` once per parity (a scale costs less than a warp).
    """

    size: tuple[int, int]
    tilt: Tilt | None
    zoom: tuple[Expr, Expr] | None
    offset: tuple[Expr, Expr] | None
    exact: bool
    tilt_size: tuple[int, int]


@dataclass(frozen=True)
class Picture:
    """One still picture a shot shows: scaled for crops of ``parity`` (the odd pixels of
    their offsets; None for crops by pairs) and tilted to ``level`` (0 if untilted)."""

    parity: Parity | None
    level: int


@dataclass(frozen=True)
class Chunk:
    """A run of frames, from ``start`` to before ``end``, and the pictures it needs: for
    each parity (in the order given), its levels below the count.

    ``mapping`` (for ffmpeg's ``shuffleframes``) takes those pictures in that order, then
    ``end - start`` copies of the last, and shows each frame's own (``-1`` drops the rest).
    """

    start: int
    end: int
    needs: tuple[tuple[Parity | None, int], ...]
    mapping: str


def framing(
    camera: CameraDirection,
    width: int,
    height: int,
    frames: int,
    fps: int,
    seed: int,
    *,
    default_move: str | None = None,
    moving: bool = False,
) -> Framing | None:
    """How to film ``camera`` over a ``width`` x ``height`` picture; None when nothing moves.

    ``moving`` says the picture changes from frame to frame (a video): it is
    scaled in every frame anyway, and its tilt cannot be warped once per level.
    """
    if is_still(camera, default_move=default_move):
        return None
    path = camera_window(camera, frames, fps, seed, default_move=default_move)
    window = _upright(path)
    m = coverage(corners(window, width, height), width, height, frames)
    zoom_x, zoom_y = window.zoom_x * m, window.zoom_y * m
    zoom: tuple[Expr, Expr] | None = None
    if zoom_x.number is not None and zoom_y.number is not None:
        size = (_even(width * zoom_x.number), _even(height * zoom_y.number))
        scaled_w, scaled_h = const(size[0]), const(size[1])
    else:
        size = (width, height)
        # Sizes in steps of four: the crop's offsets are even, and a centred window
        # stays exactly centred.
        scaled_w = width + 4 * rounded((width * zoom_x - width) / 4)
        scaled_h = height + 4 * rounded((height * zoom_y - height) / 4)
        zoom = (scaled_w, scaled_h)
    grid = 1.0 if zoom is None and not moving else 2.0
    offset: tuple[Expr, Expr] | None = (
        grid * rounded(((0.5 + window.center_x) * scaled_w - width / 2) / grid),
        grid * rounded(((0.5 + window.center_y) * scaled_h - height / 2) / grid),
    )
    if zoom is None and size == (width, height):
        offset = None  # the window is the whole picture
    exact = grid == 1.0 and offset is not None
    tilt_size = (width, height) if exact else size
    tilt = _tilt(path, tilt_size, frames, moving)
    return Framing(size=size, tilt=tilt, zoom=zoom, offset=offset, exact=exact, tilt_size=tilt_size)


def pictures(plan: Framing | None, frames: int) -> tuple[Picture, ...]:
    """The picture every frame of a still shot shows: a parity of the crop (when the window
    moves by whole pixels) and a tilt level. A pan shows up to four, a static angle one."""
    tilt = plan.tilt if plan is not None else None
    return tuple(
        Picture(
            parity=_parity(plan, k) if plan is not None and plan.exact else None,
            level=tilt.shown[k] if tilt is not None and tilt.shown else 0,
        )
        for k in range(frames)
    )


def chunks(shown: tuple[Picture, ...]) -> tuple[Chunk, ...]:
    """How a still's pictures are shown: in runs of frames that each need at most
    ``NEW_PER_CHUNK`` pictures more than the runs before them.

    Levels are numbered in order of first use, so a run needs only the pictures first
    used by its end: the encoder starts on the first frames while later pictures are
    still to be made, and is never kept waiting long for the next.
    """
    parities = sorted({picture.parity for picture in shown}, key=lambda p: p or (-1, -1))
    counts = dict.fromkeys(parities, 0)
    boundaries: list[tuple[int, tuple[tuple[Parity | None, int], ...]]] = []
    made = 0  # pictures needed by the runs before the current one
    for k, picture in enumerate(shown):
        counts[picture.parity] = max(counts[picture.parity], picture.level + 1)
        if sum(counts.values()) - made > NEW_PER_CHUNK and k > (boundaries[-1][0] if boundaries else 0):
            boundaries.append((k, _needs(shown[:k], parities)))
            made = sum(count for _, count in boundaries[-1][1])
    starts = [0] + [k for k, _ in boundaries]
    ends = [k for k, _ in boundaries] + [len(shown)]
    needs = [needs for _, needs in boundaries] + [_needs(shown, parities)]
    return tuple(_chunk(shown, a, b, n) for a, b, n in zip(starts, ends, needs, strict=True))


def _needs(
    shown: tuple[Picture, ...], parities: list[Parity | None]
) -> tuple[tuple[Parity | None, int], ...]:
    """The pictures ``shown`` needs: per parity, the levels below the count."""
    counts = {p: 1 + max((s.level for s in shown if s.parity == p), default=-1) for p in parities}
    return tuple((p, counts[p]) for p in parities if counts[p])


def _chunk(
    shown: tuple[Picture, ...], start: int, end: int, needs: tuple[tuple[Parity | None, int], ...]
) -> Chunk:
    first: dict[Parity | None, int] = {}
    total = 0
    for parity, count in needs:
        first[parity], total = total, total + count
    mapping = [str(first[s.parity] + s.level) for s in shown[start:end]] + ["-1"] * total
    return Chunk(start=start, end=end, needs=needs, mapping=" ".join(mapping))


def _parity(plan: Framing, k: int) -> Parity:
    assert plan.offset is not None
    # Coverage keeps the offsets inside the picture with room to spare; the crop clamps
    # a negative one (a rounding at the edge) to 0.
    x, y = (max(0, int(side.value(k))) for side in plan.offset)
    return (x % 2, y % 2)


def _upright(path: Window) -> Window:
    """The window without its tilt: centre and zoom only."""
    zero = const(0.0)
    return Window(path.zoom_x, path.zoom_y, path.center_x, path.center_y, zero, zero, zero)


def _tilted(roll: Expr, keystone_v: Expr, keystone_h: Expr) -> Window:
    """A tilt of the whole picture, about its centre."""
    one, zero = const(1.0), const(0.0)
    return Window(one, one, zero, zero, roll, keystone_v, keystone_h)


def _tilt(path: Window, size: tuple[int, int], frames: int, moving: bool) -> Tilt | None:
    w, h = size
    parts = (path.roll, path.keystone_v, path.keystone_h)
    if all(part.number == 0 for part in parts):
        return None
    if all(part.number is not None for part in parts):
        return Tilt(levels=(_points(_tilted(*parts), w, h, 1.0),))  # one tilt, exact
    if moving:
        cs = corners(_tilted(*parts), w, h)
        s = coverage(cs, w, h, frames)
        return Tilt(path=tuple((c.cx + c.dx / s, c.cy + c.dy / s) for c in cs))
    return _levels(parts, w, h, frames)


def _levels(parts: tuple[Expr, Expr, Expr], w: int, h: int, frames: int) -> Tilt:
    """A still's tilt, rounded to levels at most ``TILT_STEP`` pixels apart, in order of use."""
    # How far a corner moves per unit of roll, of vertical and of horizontal keystone.
    steps = (TILT_STEP / (0.5 * math.hypot(w, h)), TILT_STEP / (0.25 * w), TILT_STEP / (0.25 * h))
    keys: dict[tuple[float, ...], int] = {}
    shown = []
    for k in range(frames):
        key = tuple(c_round(part.value(k) / step) for part, step in zip(parts, steps, strict=True))
        shown.append(keys.setdefault(key, len(keys)))
    tilts = [_tilted(*(const(n * step) for n, step in zip(key, steps, strict=True))) for key in keys]
    # One shrink for every level, so the picture's scale does not jump between them.
    s = max(coverage(corners(t, w, h), w, h, 1) for t in tilts)
    levels = tuple(_points(t, w, h, s) for t in tilts)
    return Tilt(levels=levels, shown=tuple(shown) if len(levels) > 1 else ())


def _points(tilt: Window, w: int, h: int, shrink: float) -> tuple[Point, ...]:
    """The tilt's four source corners, shrunk to lie inside the picture (at least ``shrink``)."""
    cs: list[Corner] = corners(tilt, w, h)
    s = max(shrink, coverage(cs, w, h, 1))
    return tuple((c.cx.value(0) + c.dx.value(0) / s, c.cy.value(0) + c.dy.value(0) / s) for c in cs)


def _by_frame(values: list[float]) -> str:
    """One expression giving ``values[i]`` on the (i+1)-th frame (``in``) of the filter."""
    text = const(values[-1]).text
    if all(const(v).text == text for v in values):
        return text  # this corner stays put (an orbit keeps its sweep's sides)
    for i in range(len(values) - 2, -1, -1):
        text = f"if(eq(in,{i + 1}),{const(values[i]).text},{text})"
    return text


def _even(x: float) -> int:
    return int(2 * c_round(x / 2))
