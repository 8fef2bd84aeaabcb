"""The procedural scene of the local previz engine: a landscape plate from seed and prompt.

When a shot has no picture to move, the engine paints one: a sky gradient,
a sun or moon, and two to four silhouette layers (hills, mountains, dunes,
a forest, a city skyline, or the sea) in colours of a time of day. Words in
the prompt choose the time of day and the terrain (``night``, ``dusk``,
``sea``, ``city``...); the seed and the prompt choose everything else, so
different shots look different and the same shot always looks the same.

The plate is painted in pure Python, column by column: every column is a
few byte slices (sky, then each layer from its top edge down), which keeps
a 1280x720 plate at a few milliseconds. The bytes are therefore the
*transpose* of the picture (``width`` rows of ``height`` pixels, rgb24);
ffmpeg's ``transpose=0`` turns it upright.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from dataclasses import dataclass

RGB = tuple[int, int, int]

# Keyword -> time of day, checked in this order (the first match wins).
_TIMES: tuple[tuple[str, frozenset[str]], ...] = (
    ("night", frozenset({"night", "midnight", "moon", "moonlit", "moonlight", "stars", "starry"})),
    ("dusk", frozenset({"dusk", "sunset", "evening", "twilight", "golden"})),
    ("dawn", frozenset({"dawn", "sunrise", "morning", "daybreak"})),
    ("storm", frozenset({"storm", "stormy", "rain", "rainy", "fog", "foggy", "mist", "overcast"})),
    ("day", frozenset({"day", "noon", "afternoon", "sunny", "daylight"})),
)

_TERRAINS: tuple[tuple[str, frozenset[str]], ...] = (
    ("city", frozenset({"city", "street", "town", "building", "buildings", "skyline", "rooftop",
                        "rooftops", "downtown", "alley", "neon", "skyscraper", "skyscrapers"})),
    ("sea", frozenset({"sea", "ocean", "beach", "wave", "waves", "coast", "shore", "lake", "harbor",
                       "harbour", "boat", "ship", "water", "bay", "lighthouse"})),
    ("dunes", frozenset({"desert", "sand", "dune", "dunes", "sahara"})),
    ("forest", frozenset({"forest", "woods", "tree", "trees", "jungle", "pine", "pines"})),
    ("mountains", frozenset({"mountain", "mountains", "peak", "peaks", "cliff", "cliffs",
                             "valley", "alps", "ridge"})),
    ("hills", frozenset({"hill", "hills", "field", "fields", "meadow", "countryside"})),
)  # fmt: skip

# Sky top, sky at the horizon, sun (or moon), and the light's tint on the land.
_PALETTES: dict[str, tuple[RGB, RGB, RGB, RGB]] = {
    "night": ((6, 9, 28), (34, 44, 86), (232, 232, 214), (14, 18, 34)),
    "dusk": ((46, 34, 98), (250, 142, 72), (255, 214, 140), (52, 30, 58)),
    "dawn": ((88, 128, 196), (250, 198, 152), (255, 236, 190), (70, 76, 96)),
    "storm": ((58, 64, 76), (136, 142, 150), (200, 202, 206), (40, 44, 50)),
    "day": ((52, 118, 206), (182, 216, 240), (255, 250, 226), (96, 104, 112)),
}

# How much the light's tint darkens the land: little by day, most at night.
_SHADE = {"day": 0.3, "dawn": 0.35, "dusk": 0.45, "storm": 0.5, "night": 0.7}

_LAND: dict[str, RGB] = {
    "city": (40, 44, 56),
    "sea": (24, 62, 104),
    "dunes": (196, 150, 96),
    "forest": (26, 70, 40),
    "mountains": (70, 82, 104),
    "hills": (64, 108, 58),
}

# The gentle move a procedural shot makes when the storyboard names none.
DEFAULT_MOVES = ("push_in", "pull_out", "pan_left", "pan_right", "truck_left", "truck_right",
                 "tilt_up", "pedestal_down")  # fmt: skip


@dataclass(frozen=True)
class Layer:
    """One silhouette: its colour and its top edge per column, in pixels from the top."""

    color: RGB
    tops: tuple[float, ...]


@dataclass(frozen=True)
class Scene:
    time: str
    terrain: str
    sky_top: RGB
    sky_horizon: RGB
    sun: RGB
    sun_x: float  # fractions of the frame
    sun_y: float
    sun_r: float  # fraction of the frame height
    horizon: float  # fraction of the height where the sky meets the land
    stars: tuple[tuple[float, float, int], ...]  # x, y fractions and brightness
    default_move: str
    seed: int
    prompt: str


def scene_rng(seed: int, prompt: str, purpose: str) -> random.Random:
    """A random stream fixed by the shot's seed and prompt, one per purpose."""
    digest = hashlib.sha256(f"{purpose}\0{seed}\0{prompt}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def prompt_words(prompt: str) -> set[str]:
    return set(re.findall(r"[a-z]+", prompt.lower()))


def _pick(words: set[str], table: tuple[tuple[str, frozenset[str]], ...]) -> str | None:
    return next((name for name, keys in table if words & keys), None)


def _jitter(color: RGB, rng: random.Random, amount: int) -> RGB:
    r, g, b = (min(255, max(0, c + rng.randint(-amount, amount))) for c in color)
    return (r, g, b)


def scene_for(seed: int, prompt: str) -> Scene:
    """Choose the scene for a shot: keywords first, the seed for the rest."""
    rng = scene_rng(seed, prompt, "scene")
    words = prompt_words(prompt)
    time = _pick(words, _TIMES) or rng.choice(["day", "dusk", "dawn", "night", "storm"])
    terrain = _pick(words, _TERRAINS) or rng.choice(["hills", "mountains", "dunes", "forest"])
    top, horizon_color, sun, _land = _PALETTES[time]
    stars: tuple[tuple[float, float, int], ...] = ()
    if time == "night":
        stars = tuple((rng.random(), rng.random() * 0.55, rng.randint(120, 255)) for _ in range(160))
    return Scene(
        time=time,
        terrain=terrain,
        sky_top=_jitter(top, rng, 14),
        sky_horizon=_jitter(horizon_color, rng, 14),
        sun=sun,
        sun_x=rng.uniform(0.15, 0.85),
        sun_y=rng.uniform(0.18, 0.42) if time in ("day", "night") else rng.uniform(0.4, 0.55),
        sun_r=rng.uniform(0.05, 0.08),
        horizon=rng.uniform(0.55, 0.66),
        stars=stars,
        default_move=rng.choice(DEFAULT_MOVES),
        seed=seed,
        prompt=prompt,
    )


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    t = min(max(t, 0.0), 1.0)
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _gradient(top: RGB, bottom: RGB, height: int, start: float = 0.0) -> bytearray:
    """A column of ``height`` pixels blending top -> bottom; ``start`` shifts the ramp."""
    out = bytearray()
    for y in range(height):
        out += bytes(_mix(top, bottom, start + (1 - start) * y / max(height - 1, 1)))
    return out


def _ridge(rng: random.Random, width: int, base: float, rough: float, waves: int) -> list[float]:
    """A smooth, seeded skyline: a sum of sines around ``base`` (fractions of the height)."""
    parts = [
        (rng.uniform(0.5, 1.0) / (i + 1), rng.uniform(1.0, 2.2) * (i + 1), rng.uniform(0, 6.3))
        for i in range(waves)
    ]
    norm = sum(a for a, _, _ in parts)
    tops = []
    for x in range(width):
        u = x / width * 2 * math.pi
        tops.append(base - rough * sum(a * math.sin(f * u + p) for a, f, p in parts) / norm)
    return tops


def _skyline(rng: random.Random, width: int, base: float, rough: float) -> list[float]:
    """Rectangular buildings of seeded widths and heights."""
    tops: list[float] = []
    while len(tops) < width:
        span = max(2, int(width * rng.uniform(0.03, 0.09)))
        tops += [base - rough * rng.uniform(0.1, 1.0)] * span
    return tops[:width]


def _trees(rng: random.Random, width: int, base: float, rough: float) -> list[float]:
    """A rolling ridge of pointed tree tops."""
    ridge = _ridge(rng, width, base, rough * 0.4, 3)
    tops, x = [], 0
    while x < width:
        span = max(3, int(width * rng.uniform(0.012, 0.03)))
        peak = rough * rng.uniform(0.5, 1.0)
        for i in range(span):
            tops.append(-peak * (1 - abs(2 * i / span - 1)))
        x += span
    return [r + t for r, t in zip(ridge, tops[:width], strict=True)]


def _layer_tops(scene: Scene, rng: random.Random, depth: int, width: int) -> list[float]:
    """The top edge of layer ``depth`` (0 = farthest), as fractions of the height."""
    base = scene.horizon + depth * 0.09
    terrain = scene.terrain
    if terrain == "sea":
        # Far hills, then the flat sea from the horizon down.
        return _ridge(rng, width, scene.horizon, 0.06, 3) if depth == 0 else [scene.horizon] * width
    if terrain == "city":
        return _skyline(rng, width, base, 0.28 - depth * 0.06)
    if terrain == "forest" and depth > 0:
        return _trees(rng, width, base, 0.09)
    rough = {"mountains": 0.22, "dunes": 0.05, "hills": 0.08}.get(terrain, 0.08)
    return _ridge(rng, width, base, rough * (1 - depth * 0.25), 4 if terrain != "dunes" else 2)


def layers(scene: Scene, width: int, height: int) -> list[Layer]:
    """The silhouettes from back to front; far layers fade into the horizon haze."""
    rng = scene_rng(scene.seed, scene.prompt, "layers")
    land = _LAND[scene.terrain]
    tint = _PALETTES[scene.time][3]
    count = 2 if scene.terrain == "sea" else 3
    result = []
    for depth in range(count):
        near = (depth + 1) / count
        color = _mix(_mix(land, tint, _SHADE[scene.time]), scene.sky_horizon, 0.55 * (1 - near))
        tops = _layer_tops(scene, rng, depth, width)
        result.append(Layer(color=color, tops=tuple(t * height for t in tops)))
    return result


def render_plate(scene: Scene, width: int, height: int) -> bytes:
    """The scene as transposed rgb24 bytes: ``width`` runs of ``height`` pixels.

    Each column is the sky gradient with the sun and stars, then each layer
    from its top edge down, its top pixel blended by coverage so that edges
    are smooth.
    """
    sky = _gradient(scene.sky_top, scene.sky_horizon, height)
    silhouettes = layers(scene, width, height)
    fills = [_gradient(layer.color, _mix(layer.color, (0, 0, 0), 0.35), height) for layer in silhouettes]
    if scene.terrain == "sea":
        # Water mirrors the sky: bright at the horizon, deep below.
        fills[-1] = _gradient(
            _mix(silhouettes[-1].color, scene.sky_horizon, 0.5),
            _mix(silhouettes[-1].color, (0, 0, 0), 0.4),
            height,
            start=0.0,
        )
    stars = _stars_by_column(scene, width, height)
    columns = []
    for x in range(width):
        col = bytearray(sky)
        _draw_sun(col, scene, x, width, height)
        for y, level in stars.get(x, ()):
            col[3 * y : 3 * y + 3] = bytes((level, level, level))
        for layer, fill in zip(silhouettes, fills, strict=True):
            _draw_layer(col, fill, layer.tops[x], height)
        if scene.terrain == "sea":
            _draw_glint(col, scene, x, width, height)
        elif scene.terrain == "city" and scene.time in ("night", "dusk", "storm"):
            _draw_windows(col, scene, x, silhouettes[-1].tops[x], height)
        columns.append(bytes(col))
    return b"".join(columns)


def _stars_by_column(scene: Scene, width: int, height: int) -> dict[int, list[tuple[int, int]]]:
    by_column: dict[int, list[tuple[int, int]]] = {}
    for fx, fy, level in scene.stars:
        by_column.setdefault(int(fx * width), []).append((int(fy * height), level))
    return by_column


def _draw_sun(col: bytearray, scene: Scene, x: int, width: int, height: int) -> None:
    cx, cy, r = scene.sun_x * width, scene.sun_y * height, scene.sun_r * height
    dx = x + 0.5 - cx
    if abs(dx) >= r:
        return
    half = math.sqrt(r * r - dx * dx)
    top, bottom = cy - half, cy + half
    for y in range(max(0, int(top)), min(height, int(bottom) + 1)):
        # Coverage of this pixel by the disc, vertically: smooth top and bottom edges.
        cover = min(bottom, y + 1) - max(top, y)
        if cover > 0:
            under = (col[3 * y], col[3 * y + 1], col[3 * y + 2])
            col[3 * y : 3 * y + 3] = bytes(_mix(under, scene.sun, cover))


def _draw_glint(col: bytearray, scene: Scene, x: int, width: int, height: int) -> None:
    """The sun's reflection on the sea: broken bands widening towards the viewer."""
    horizon = int(scene.horizon * height) + 1
    dx = abs(x + 0.5 - scene.sun_x * width)
    r = scene.sun_r * height
    if dx >= 1.7 * r:
        return
    band = max(1, height // 120)
    for y in range(horizon, height):
        near = (y - horizon) / max(height - horizon, 1)
        reach = r * (0.5 + 1.2 * near)
        if dx < reach and (y // band) % 2 == 0:
            strength = 0.45 * (1 - dx / reach) * (1 - 0.6 * near)
            under = (col[3 * y], col[3 * y + 1], col[3 * y + 2])
            col[3 * y : 3 * y + 3] = bytes(_mix(under, scene.sun, strength))


def _draw_windows(col: bytearray, scene: Scene, x: int, top: float, height: int) -> None:
    """Lit windows on the nearest buildings: a grid, some cells on, chosen by the seed."""
    cell = max(3, height // 90)
    if (x // cell) % 2 == 0:
        return
    salt = scene.seed * 2654435761 % 2**32
    light = _mix(scene.sun, (255, 196, 110), 0.6)
    for y in range(int(top) + 2 * cell, height, 2 * cell):
        key = ((x // (2 * cell)) * 73856093 ^ (y // (2 * cell)) * 19349663 ^ salt) % 100
        if key < 30:
            for yy in range(y, min(y + cell, height)):
                col[3 * yy : 3 * yy + 3] = bytes(light)


def _draw_layer(col: bytearray, fill: bytearray, top: float, height: int) -> None:
    top = min(max(top, 0.0), float(height))
    first = int(top)
    if first >= height:
        return
    start = first + 1
    col[3 * start :] = fill[3 * start :]
    # The edge pixel: partly sky, partly land.
    cover = start - top
    under = (col[3 * first], col[3 * first + 1], col[3 * first + 2])
    land = (fill[3 * first], fill[3 * first + 1], fill[3 * first + 2])
    col[3 * first : 3 * first + 3] = bytes(_mix(under, land, cover))
